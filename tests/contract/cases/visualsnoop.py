"""VisualSnoop through its fake: mounted in-process, and served on a loopback socket (signed on a wire)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tests.contract.cases import Case, Factory
from visualsearch_sdk._serve import LoopbackServer
from visualsearch_sdk.testing.fakes import FakeVisualSnoop


def _fake() -> FakeVisualSnoop:
    return FakeVisualSnoop(public_key="contract-public", secret_key="contract-s3cret")


def _mounted(tmp_path: Path) -> Iterator[Case]:
    fake = _fake()
    yield fake.client_url(), {"transport": fake.mount()}
    fake.close()


def _served(tmp_path: Path) -> Iterator[Case]:
    fake = _fake()
    with LoopbackServer(fake) as server:
        yield fake.client_url(base_url=server.url), {}
    fake.close()


CASES: dict[str, Factory] = {"visualsnoop-fake": _mounted, "visualsnoop-fake-socket": _served}
