"""Ximilar through its fake: mounted in-process, and served on a loopback socket.

Each case also yields an ``ImageHost``: the fake downloads ``_url`` query images (and records) from it, so the
suite's search-by-URL test runs without any network.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tests.contract.cases import Case, Factory, ImageHost
from visualsearch_sdk._serve import LoopbackServer
from visualsearch_sdk.testing.fakes import FakeXimilar


def _fake(host: ImageHost) -> FakeXimilar:
    return FakeXimilar(token="contract-ximilar-token", collection_id="contract", url_resolver=host.resolve)


def _mounted(tmp_path: Path) -> Iterator[Case]:
    host = ImageHost()
    fake = _fake(host)
    yield fake.client_url(), {"transport": fake.mount()}, host
    fake.close()


def _served(tmp_path: Path) -> Iterator[Case]:
    host = ImageHost()
    fake = _fake(host)
    with LoopbackServer(fake) as server:
        yield fake.client_url(base_url=server.url), {}, host
    fake.close()


CASES: dict[str, Factory] = {"ximilar-fake": _mounted, "ximilar-fake-socket": _served}
