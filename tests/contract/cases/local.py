"""The local backend: in memory, in a folder, and served on loopback with a bearer token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tests.contract.cases import Case, Factory
from visualsearch_sdk._serve import LoopbackServer
from visualsearch_sdk.local.app import LocalApp


def _memory(tmp_path: Path) -> Iterator[Case]:
    yield "memory://", {}


def _persistent(tmp_path: Path) -> Iterator[Case]:
    yield f"local://{(tmp_path / 'index').as_posix()}", {}


def _served(tmp_path: Path) -> Iterator[Case]:
    app = LocalApp(None, token="contract-token")
    with LoopbackServer(app) as server:
        yield f"local://:contract-token@127.0.0.1:{server.port}", {}
    app.close()


CASES: dict[str, Factory] = {"local-memory": _memory, "local-path": _persistent, "local-served": _served}
