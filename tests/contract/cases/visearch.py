"""ViSearch through its fake: mounted in-process, and served on a loopback socket.

ViSearch indexes images only from URLs it downloads, so each case also yields an ``ImageHost``: the suite
indexes every image by a URL of that host, which the fake resolves (no network).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tests.contract.cases import Case, Factory, ImageHost
from visualsearch_sdk._serve import LoopbackServer
from visualsearch_sdk.providers.visearch import ViSearchOptions
from visualsearch_sdk.testing.fakes import FakeViSearch
from visualsearch_sdk.testing.fakes._visearch_wire import FieldType

# The application's schema, as configured in ViSenze's dashboard (the samples' fields, plus the one the
# update test sets), and the client's view of it: value_map strings become these types.
SCHEMA: dict[str, FieldType] = {
    "category": "string",
    "colour": "string",
    "brand": "string",
    "price": "float",
    "sale": "string",
}
OPTIONS = ViSearchOptions(schema={"price": float, "sale": bool})


def _fake(host: ImageHost) -> FakeViSearch:
    # One /insert/status request settles a transaction: index(wait=True) then needs no sleep between polls.
    return FakeViSearch(
        access_key="contract-access",
        secret_key="contract-s3cret",
        schema=SCHEMA,
        url_resolver=host.resolve,
        settle_after_polls=1,
    )


def _mounted(tmp_path: Path) -> Iterator[Case]:
    host = ImageHost()
    fake = _fake(host)
    yield fake.client_url(), {"transport": fake.mount(), "options": OPTIONS}, host
    fake.close()


def _served(tmp_path: Path) -> Iterator[Case]:
    host = ImageHost()
    fake = _fake(host)
    with LoopbackServer(fake) as server:
        yield fake.client_url(base_url=server.url), {"options": OPTIONS}, host
    fake.close()


CASES: dict[str, Factory] = {"visearch-fake": _mounted, "visearch-fake-socket": _served}
