"""What every fake vendor server shares: its index, its mount, and how ``visualsearch serve`` builds it.

A fake is a callable ``httpx.Request -> httpx.Response`` over a :class:`~visualsearch_sdk.local.engine.Engine`
opened on first use. It can be mounted in-process (:meth:`FakeVendor.mount`) or served on a loopback socket
(``visualsearch_sdk._serve.LoopbackServer(fake)``); :meth:`FakeVendor.client_url` is the provider URL our SDK
takes for it, with the credentials it accepts.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from visualsearch_sdk.local.engine import Engine, LazyEngine
from visualsearch_sdk.testing.fakes._faults import FaultInjector

if TYPE_CHECKING:
    from typing_extensions import Self

    from visualsearch_sdk.local.app import LocalTransport

__all__ = ["FakeVendor"]


class FakeVendor(FaultInjector, abc.ABC):
    """Base class of the fake vendor servers (fault injection from :class:`FaultInjector`)."""

    face: str
    """The ``visualsearch serve --face`` name and the provider URL scheme."""

    def __init__(self, *, path: str | Path | None = None) -> None:
        super().__init__()
        self._lazy = LazyEngine(path)

    @classmethod
    @abc.abstractmethod
    def for_serving(cls, *, path: Path | None, token: str | None) -> Self:
        """The fake that ``visualsearch serve --face NAME [--token T]`` runs (T in the vendor's own form)."""

    @abc.abstractmethod
    def client_url(self, base_url: str | None = None) -> str:
        """The provider URL for this fake, with the credentials it accepts (and ``base_url=`` when given)."""

    @abc.abstractmethod
    def __call__(self, request: httpx.Request) -> httpx.Response:
        """Answer one request as the vendor would."""

    @property
    def engine(self) -> Engine:
        """The index, opened on first use (constructors never do I/O)."""
        return self._lazy.get()

    def close(self) -> None:
        """Close the index if it was opened (an in-memory index is then gone)."""
        self._lazy.close()

    def mount(self) -> LocalTransport:
        """A transport serving this fake in-process; closing it leaves the fake's index open."""
        from visualsearch_sdk.local.app import LocalTransport

        return LocalTransport(self, close_handler=False)


def with_base_url(url: str, base_url: str | None) -> str:
    """``url`` with ``base_url=`` appended as a query parameter (percent-encoded) when given."""
    if base_url is None:
        return url
    from urllib.parse import quote

    return f"{url}{'&' if '?' in url else '?'}base_url={quote(base_url, safe=':/')}"
