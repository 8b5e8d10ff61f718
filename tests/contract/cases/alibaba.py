"""Alibaba Image Search through its fake: mounted in-process (ACS3), and on a loopback socket (RPC V2).

The samples' metadata goes to declared slots so every contract filter can be expressed: prices in cents in
``IntAttr``, the strings in ``StrAttr..StrAttr3``, the ``sale`` flag of the update test in ``IntAttr2``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tests.contract.cases import Case, Factory
from visualsearch_sdk._serve import LoopbackServer
from visualsearch_sdk.testing.fakes import FakeAlibaba

SLOTS = (
    "attributes=price:IntAttr,sale:IntAttr2,brand:StrAttr,category:StrAttr2,colour:StrAttr3"
    "&int_scales=price:100"
)


def _fake() -> FakeAlibaba:
    return FakeAlibaba(access_key_id="contract-ak", access_key_secret="contract-secret", instance="contract")


def _mounted(tmp_path: Path) -> Iterator[Case]:
    fake = _fake()
    yield f"{fake.client_url()}?{SLOTS}", {"transport": fake.mount()}
    fake.close()


def _served(tmp_path: Path) -> Iterator[Case]:
    fake = _fake()
    with LoopbackServer(fake) as server:
        yield f"{fake.client_url(base_url=server.url)}&signature=v2&{SLOTS}", {}
    fake.close()


CASES: dict[str, Factory] = {"alibaba-fake": _mounted, "alibaba-fake-socket": _served}
