"""``visualsearch serve`` as a real process on a real loopback socket, driven by both clients."""

from __future__ import annotations

import os
import select
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e._helpers import image, index_url
from visualsearch_sdk import (
    APIConnectionError,
    AsyncVisualSearch,
    AuthenticationError,
    ImageRecord,
    NotFoundError,
    VisualSearch,
)
from visualsearch_sdk._retry import RetryPolicy

TOKEN = "s3rve-t0ken"
QUICK_RETRY = RetryPolicy(max_retries=2, initial_backoff=0.01)


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str
    port: int


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("VISUALSEARCH_")}


def _start(*args: str) -> Served:
    process = subprocess.Popen(
        [sys.executable, "-m", "visualsearch_sdk.cli", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_clean_env(),
    )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 30)
    line = process.stdout.readline().strip() if ready else ""
    if not line.startswith("local://"):
        _stop(process)
        pytest.fail(f"serve printed {line!r}, stderr: {process.stderr.read() if process.stderr else ''}")
    return Served(process, line, int(line.rsplit(":", 1)[1]))


def _stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[int, str]:
    """Stop the server with ``sig`` (killing it after a timeout); its exit code and stderr."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        _, stderr = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
    return process.returncode, stderr


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = _start("--path", str(tmp_path_factory.mktemp("served") / "idx"), "--token", TOKEN)
    try:
        yield server
    finally:
        _stop(server.process)


def _records(first: int, last: int, prefix: str) -> list[ImageRecord]:
    return [
        ImageRecord(id=f"{prefix}-{n}", image=image(n), metadata={"n": n, "set": prefix})
        for n in range(first, last)
    ]


def test_first_line_is_the_provider_url(served: Served) -> None:
    assert served.url == f"local://:{TOKEN}@127.0.0.1:{served.port}"
    assert served.port > 0


def test_sync_client_over_the_socket(served: Served) -> None:
    with VisualSearch.from_url(served.url) as vs:
        vs.verify()
        assert vs.index(_records(0, 6, "sync")).ok
        assert vs.count() >= 6
        top = vs.search(image=image(4), limit=3).hits[0]
        assert (top.id, top.metadata) == ("sync-4", {"n": 4, "set": "sync"})
        assert top.score > 0.99
        assert vs.get("sync-2").metadata == {"n": 2, "set": "sync"}
        assert vs.update("sync-2", {"n": 20, "set": None}).metadata == {"n": 20}
        assert vs.delete(["sync-5", "nope"]).not_found == ("nope",)
        with pytest.raises(NotFoundError):
            vs.get("sync-5")
        assert "sync-5" not in {r.id for r in vs.iter_records(page_size=2)}


@pytest.mark.anyio
async def test_async_client_over_the_socket(served: Served) -> None:
    async with AsyncVisualSearch.from_url(served.url) as vs:
        report = await vs.index_many(_records(10, 50, "async"), concurrency=3, batch_size=8)
        assert report.ok and len(report.succeeded) == 40
        assert await vs.count() >= 40
        result = await vs.search(image=image(17), limit=5, filter={"set": "async"})
        assert result.hits[0].id == "async-17"
        assert all(hit.id.startswith("async-") for hit in result.hits)
        hits = [hit.id async for hit in vs.iter_search(id="async-11", page_size=7, filter={"set": "async"})]
        assert sorted(hits) == sorted(f"async-{n}" for n in range(10, 50) if n != 11)


@pytest.mark.parametrize("auth", ["wrong-token@", ":wrong-token@", ""])
def test_wrong_or_missing_token_is_an_authentication_error(served: Served, auth: str) -> None:
    with VisualSearch.from_url(f"local://{auth}127.0.0.1:{served.port}") as vs:
        with pytest.raises(AuthenticationError) as info:
            vs.count()
        assert info.value.status_code == 401
        assert info.value.attempts == 1  # never retried
        assert "wrong-token" not in str(info.value) and TOKEN not in str(info.value)


@pytest.mark.anyio
async def test_async_wrong_token_is_an_authentication_error(served: Served) -> None:
    async with AsyncVisualSearch.from_url(f"local://:nope@127.0.0.1:{served.port}") as vs:
        with pytest.raises(AuthenticationError):
            await vs.search(color="#ff0000")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_nothing_listening_fails_on_first_use_not_at_construction() -> None:
    url = f"local://:{TOKEN}@127.0.0.1:{_free_port()}"
    vs = VisualSearch.from_url(url, retry=QUICK_RETRY)  # no I/O yet, so nothing to fail
    try:
        with pytest.raises(APIConnectionError) as info:
            vs.count()
        assert info.value.attempts == 3  # never reached the server, so safe to retry
        assert TOKEN not in str(info.value)
    finally:
        vs.close()


@pytest.mark.anyio
async def test_async_nothing_listening_fails_on_first_use() -> None:
    vs = AsyncVisualSearch.from_url(f"local://127.0.0.1:{_free_port()}", retry=QUICK_RETRY)
    try:
        with pytest.raises(APIConnectionError):
            await vs.count()
        # index() reports every record instead of raising: the connection error is the record's failure.
        report = await vs.index(_records(0, 2, "x"))
        assert report.succeeded == ()
        assert [type(f.error) for f in report.failed] == [APIConnectionError, APIConnectionError]
    finally:
        await vs.aclose()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_server_stops_cleanly_and_its_index_persists(tmp_path: Path, sig: int) -> None:
    path = tmp_path / "idx"
    server = _start("--path", str(path))
    try:
        with VisualSearch.from_url(server.url) as vs:
            assert vs.index(_records(0, 3, "kept")).ok
    finally:
        code, stderr = _stop(server.process, sig)
    assert code == 0, stderr
    assert "serving the local engine's own API" in stderr
    with VisualSearch.from_url(index_url(path)) as vs:
        assert vs.count() == 3
        assert vs.search(image=image(1), limit=1).hits[0].id == "kept-1"


def test_serve_refuses_an_index_of_another_feature_version(tmp_path: Path) -> None:
    path = tmp_path / "idx"
    with VisualSearch.from_url(index_url(path)) as vs:
        vs.index(_records(0, 1, "old"))
    db = sqlite3.connect(path / "index.sqlite3")
    try:
        with db:
            db.execute("UPDATE meta SET value = 'vsf-0-old' WHERE key = 'feature_version'")
    finally:
        db.close()
    done = subprocess.run(
        [sys.executable, "-m", "visualsearch_sdk.cli", "serve", "--port", "0", "--path", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        env=_clean_env(),
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""  # no URL: nothing is served
    assert "error:" in done.stderr and "vsf-0-old" in done.stderr


def test_serve_on_a_taken_port_is_a_clear_error(served: Served) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "visualsearch_sdk.cli", "serve", "--port", str(served.port)],
        capture_output=True,
        text=True,
        timeout=30,
        env=_clean_env(),
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "error:" in done.stderr and str(served.port) in done.stderr


def test_an_encoded_answer_reaches_the_client_as_encoded() -> None:
    """A handler's gzip body goes on the wire as gzip, so the client's decoding matches the header."""
    import gzip

    import httpx

    from visualsearch_sdk._serve import LoopbackServer

    def handler(request: httpx.Request) -> httpx.Response:
        body = gzip.compress(b'{"hello": "world"}')
        return httpx.Response(200, headers={"content-encoding": "gzip"}, content=body)

    with LoopbackServer(handler) as server, httpx.Client() as client:
        response = client.get(f"{server.url}/anything")
    assert response.headers["content-encoding"] == "gzip"
    assert response.json() == {"hello": "world"}
