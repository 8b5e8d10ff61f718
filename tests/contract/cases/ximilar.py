"""Ximilar through its fake: mounted in-process, and served on a loopback socket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tests.contract.cases import Case, Factory
from visualsearch_sdk._serve import LoopbackServer
from visualsearch_sdk.testing.fakes import FakeXimilar


def _mounted(tmp_path: Path) -> Iterator[Case]:
    fake = FakeXimilar(token="contract-ximilar-token", collection_id="contract")
    yield fake.client_url(), {"transport": fake.mount()}
    fake.close()


def _served(tmp_path: Path) -> Iterator[Case]:
    fake = FakeXimilar(token="contract-ximilar-token", collection_id="contract")
    with LoopbackServer(fake) as server:
        yield fake.client_url(base_url=server.url), {}
    fake.close()


CASES: dict[str, Factory] = {"ximilar-fake": _mounted, "ximilar-fake-socket": _served}
