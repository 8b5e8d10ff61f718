"""In-process fake vendor servers: ``handler(httpx.Request) -> httpx.Response`` over the local engine.

Mount one with ``fake.mount()`` (a ``LocalTransport``) or ``httpx.MockTransport(fake)``, or serve it on a
loopback socket with ``visualsearch_sdk._serve.LoopbackServer(fake)``. Every fake shares the fault injection
of :class:`FaultInjector` (``fail_next``, ``drop_next``, ``timeout_next``, ``delay``, ``requests``).
"""

from __future__ import annotations

from visualsearch_sdk.testing.fakes._base import FakeVendor
from visualsearch_sdk.testing.fakes._faults import DroppedConnection, FaultInjector, SimulatedTimeout
from visualsearch_sdk.testing.fakes.alibaba import FakeAlibaba
from visualsearch_sdk.testing.fakes.visearch import FakeViSearch
from visualsearch_sdk.testing.fakes.visualsnoop import FakeVisualSnoop
from visualsearch_sdk.testing.fakes.ximilar import FakeXimilar

__all__ = [
    "DroppedConnection",
    "FakeAlibaba",
    "FakeVendor",
    "FakeViSearch",
    "FakeVisualSnoop",
    "FakeXimilar",
    "FaultInjector",
    "SimulatedTimeout",
]
