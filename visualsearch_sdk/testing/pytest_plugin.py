"""pytest fixtures for testing an app built on this SDK offline: ``vs_local``, ``vs_fake``, ``vs_cassette``.

Installed with the SDK as the ``visualsearch`` plugin (entry point ``pytest11``); every fixture name starts
with ``vs_`` so it cannot collide with a project's own. Nothing here is imported until a fixture is used, so
the plugin costs nothing in test suites that do not use it (and needs vcrpy only for ``vs_cassette``).

* ``vs_local``: a fresh in-memory local client (``VisualSearch("memory://")``); ``vs_local_async``: the
  async one.
* ``vs_fake("ximilar")``: a client wired to that vendor's fake, and the fake itself for fault injection
  (``fake.fail_next(429, retry_after=1)``): ``vs, fake, url = vs_fake("ximilar")``. ``asynchronous=True``
  gives an ``AsyncVisualSearch``; ``served=True`` serves the fake on a loopback socket instead of mounting it
  in-process; other keyword arguments go to the fake (``vs_fake("ximilar", service="fashion")``).
* ``vs_cassette()``: a context manager replaying (or recording) this test's cassette, by default
  ``cassettes/<test module>/<test name>.yaml`` beside the test file. ``VISUALSEARCH_RECORD`` (or
  ``--vs-record``) picks the record mode; in replay, missing credential variables of the provider are set to
  placeholders for the duration of the test, so the same test code runs in CI without secrets.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

if TYPE_CHECKING:
    from visualsearch_sdk import AsyncVisualSearch, VisualSearch
    from visualsearch_sdk.testing.cassettes import Tape
    from visualsearch_sdk.testing.fakes import FakeVendor

__all__ = ["FAKES", "FakeClient"]

_FAKES = "visualsearch_sdk.testing.fakes"
FAKES: dict[str, str] = {
    "ximilar": f"{_FAKES}.ximilar:FakeXimilar",
    "visearch": f"{_FAKES}.visearch:FakeViSearch",
    "visualsnoop": f"{_FAKES}.visualsnoop:FakeVisualSnoop",
    "alibaba": f"{_FAKES}.alibaba:FakeAlibaba",
}
"""Provider name -> the fake vendor class ``vs_fake`` builds (imported on first use)."""

_MODE_KEY = pytest.StashKey[str]()


class FakeClient(NamedTuple):
    """What ``vs_fake`` gives: the client, the fake behind it, and the provider URL the client uses."""

    client: Any
    """A ``VisualSearch`` (or an ``AsyncVisualSearch`` with ``asynchronous=True``)."""
    fake: FakeVendor
    url: str


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("visualsearch", "visualsearch_sdk offline testing")
    group.addoption(
        "--vs-record",
        dest="vs_record",
        default=None,
        choices=("none", "once", "new_episodes", "all"),
        help="record mode of vs_cassette (overrides VISUALSEARCH_RECORD; default none: replay only)",
    )
    parser.addini(
        "vs_cassette_dir",
        "folder of vs_cassette cassettes, relative to the rootdir "
        "(default: 'cassettes' beside each test file)",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Read the mode now: an autouse fixture may clear VISUALSEARCH_* from the environment before each test.
    config.stash[_MODE_KEY] = config.getoption("vs_record", None) or os.environ.get("VISUALSEARCH_RECORD", "")


def _close_async(client: AsyncVisualSearch) -> None:
    import anyio

    anyio.run(client.aclose)


@pytest.fixture
def vs_local() -> Iterator[VisualSearch]:
    """A fresh in-memory local client, closed after the test."""
    from visualsearch_sdk import VisualSearch

    with VisualSearch("memory://") as client:
        yield client


@pytest.fixture
def vs_local_async() -> Iterator[AsyncVisualSearch]:
    """A fresh in-memory local ``AsyncVisualSearch``, closed after the test."""
    from visualsearch_sdk import AsyncVisualSearch

    client = AsyncVisualSearch("memory://")
    yield client
    _close_async(client)


def _fake_class(provider: str) -> type[FakeVendor]:
    target = FAKES.get(provider)
    if target is None:
        raise ValueError(f"no fake for provider {provider!r}; use one of {', '.join(FAKES)}")
    module, _, name = target.partition(":")
    cls: type[FakeVendor] = getattr(importlib.import_module(module), name)
    return cls


@pytest.fixture
def vs_fake() -> Iterator[Callable[..., FakeClient]]:
    """``vs_fake(provider, *, asynchronous=False, served=False, client_kwargs=None, **fake_kwargs)``.

    Returns ``FakeClient(client, fake, url)``; clients, servers and fakes are closed after the test.
    """
    import httpx

    from visualsearch_sdk import AsyncVisualSearch, VisualSearch
    from visualsearch_sdk._serve import LoopbackServer

    cleanup: list[Callable[[], None]] = []

    def make(
        provider: str,
        *,
        asynchronous: bool = False,
        served: bool = False,
        client_kwargs: dict[str, Any] | None = None,
        **fake_kwargs: Any,
    ) -> FakeClient:
        fake = _fake_class(provider)(**fake_kwargs)
        cleanup.append(fake.close)
        kwargs = dict(client_kwargs or {})
        if served:
            server = LoopbackServer(fake).start()
            cleanup.append(server.stop)
            url = fake.client_url(base_url=server.url)
            if asynchronous and "transport" not in kwargs and "http_client" not in kwargs:
                # The fixture closes the client after the test, outside the test's event loop: with no
                # connection kept alive between requests, there is nothing bound to that loop left to close.
                kwargs["transport"] = httpx.AsyncHTTPTransport(
                    limits=httpx.Limits(max_keepalive_connections=0)
                )
        else:
            url = fake.client_url()
            kwargs.setdefault("transport", fake.mount())
        if asynchronous:
            aclient = AsyncVisualSearch(url, **kwargs)
            cleanup.append(lambda: _close_async(aclient))
            return FakeClient(aclient, fake, url)
        client = VisualSearch(url, **kwargs)
        cleanup.append(client.close)
        return FakeClient(client, fake, url)

    yield make
    for close in reversed(cleanup):
        close()


def _default_directory(request: pytest.FixtureRequest) -> Path:
    configured = str(request.config.getini("vs_cassette_dir") or "")
    module = Path(str(request.node.path))
    if configured:
        return Path(str(request.config.rootpath)) / configured / module.stem
    return module.parent / "cassettes" / module.stem


@pytest.fixture
def vs_cassette(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., contextlib.AbstractContextManager[Tape]]:
    """``with vs_cassette(name=None, *, provider=None, **options) as tape:`` replays (or records) traffic.

    ``name`` defaults to the test's name; the file lives in ``cassettes/<test module>/`` beside the test file
    (or under the ``vs_cassette_dir`` ini option). Options are those of
    :func:`visualsearch_sdk.testing.cassettes.cassette`.
    """
    from visualsearch_sdk.testing.cassettes import cassette, record_mode, safe_name

    mode = record_mode(given=request.config.stash.get(_MODE_KEY, "") or None, environ={})

    @contextlib.contextmanager
    def open_cassette(name: str | None = None, **options: Any) -> Iterator[Tape]:
        options.setdefault("record_mode", mode)
        options.setdefault("directory", _default_directory(request))
        with cassette(name or safe_name(request.node.name), **options) as tape:
            for key, value in tape.placeholders.items():
                monkeypatch.setenv(key, value)
            yield tape

    return open_cassette
