"""Shared fixtures: environment isolation, images made with Pillow at run time, sync and async clients."""

from __future__ import annotations

import functools
import inspect
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import pytest
from PIL import Image

from visualsearch_sdk import AsyncVisualSearch, VisualSearch
from visualsearch_sdk._samples import Sample, make_samples

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's VISUALSEARCH_* variables, config file or working directory."""
    import os

    for key in list(os.environ):
        if key.startswith("VISUALSEARCH_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def reference_vectors() -> Callable[[str], list[dict[str, Any]]]:
    """``load(name)`` -> the vectors in ``shared/reference/vectors/<name>``; skips if the folder is absent."""
    folder = REPO_ROOT.parent / "shared" / "reference" / "vectors"
    if not folder.is_dir():
        pytest.skip(f"reference vectors not found at {folder}")

    def load(name: str) -> list[dict[str, Any]]:
        import json

        data = json.loads((folder / name).read_text(encoding="utf-8"))
        assert isinstance(data, list), f"{name} must hold a JSON list"
        return data

    return load


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@functools.cache
def _samples() -> tuple[Sample, ...]:
    return tuple(make_samples())


@pytest.fixture(scope="session")
def samples() -> tuple[Sample, ...]:
    """24 distinct product-like JPEGs with metadata (category, colour, brand, price)."""
    return _samples()


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def solid(colour: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> Image.Image:
    return Image.new("RGB", size, colour)


class AsyncDriver:
    """Runs an ``AsyncVisualSearch`` in a real event loop (a blocking portal) behind the sync API.

    The contract suite is written once, against the sync API; through this driver every test runs on the
    async client too, awaiting the real coroutines and async iterators.
    """

    def __init__(self, client: AsyncVisualSearch, portal: anyio.from_thread.BlockingPortal) -> None:
        self._client = client
        self._portal = portal

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if inspect.isasyncgenfunction(attr):

            async def collect(*args: Any, **kwargs: Any) -> list[Any]:
                return [item async for item in attr(*args, **kwargs)]

            return lambda *a, **k: iter(self._portal.call(functools.partial(collect, *a, **k)))
        if inspect.iscoroutinefunction(attr):
            return lambda *a, **k: self._portal.call(functools.partial(attr, *a, **k))
        return attr

    def close(self) -> None:
        self._portal.call(self._client.aclose)


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_client(flavour: str) -> Iterator[Callable[..., Any]]:
    """``make_client(url, **kwargs)`` -> a sync client, or an async one behind ``AsyncDriver``."""
    opened: list[Any] = []
    with anyio.from_thread.start_blocking_portal("asyncio") as portal:

        def make(url: str = "memory://", **kwargs: Any) -> Any:
            if flavour == "sync":
                client: Any = VisualSearch.from_url(url, **kwargs)
            else:
                client = AsyncDriver(AsyncVisualSearch.from_url(url, **kwargs), portal)
            opened.append(client)
            return client

        yield make
        for client in opened:
            client.close()


def record_waits(
    monkeypatch: pytest.MonkeyPatch, on_wait: Callable[[float], None] | None = None
) -> list[float]:
    """Record every wait the clients ask for (``time.sleep``, ``anyio.sleep``) instead of sleeping."""
    recorded: list[float] = []
    real_anyio_sleep = anyio.sleep

    def sync_sleep(seconds: float) -> None:
        recorded.append(float(seconds))
        if on_wait is not None:
            on_wait(float(seconds))

    async def async_sleep(seconds: float) -> None:
        sync_sleep(seconds)
        await real_anyio_sleep(0)

    monkeypatch.setattr("time.sleep", sync_sleep)
    monkeypatch.setattr(anyio, "sleep", async_sleep)
    return recorded


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every wait the clients asked for (``time.sleep``, ``anyio.sleep``); nothing really sleeps."""
    return record_waits(monkeypatch)
