"""Record a setup's scenario against its fake on loopback, and replay a cassette through the real adapters."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio.from_thread

from tests.conftest import AsyncDriver
from tests.recorded._scenarios import SCENARIOS
from tests.recorded._setups import SETUPS, Images, Setup
from visualsearch_sdk import AsyncVisualSearch, VisualSearch
from visualsearch_sdk._serve import LoopbackServer
from visualsearch_sdk.testing.cassettes import cassette

RECORDED_HEADER = (
    "Recorded against {what} served on loopback, by `python -m tests.recorded.record {name}`\n"
    "(scenario `{scenario}` in tests/recorded/_scenarios.py; expected results in {expected}).\n"
    "Credentials scrubbed, image bytes replaced by their SHA-256, the loopback origin rewritten to the\n"
    "vendor's (visualsearch_sdk.testing.cassettes). Re-record with the same command; do not edit by hand."
)


def expected_path(cassette_path: Path) -> Path:
    """``flow.yaml`` -> ``flow.expected.json``: the setup, the scenario and its normalised results."""
    return cassette_path.with_name(cassette_path.name.removesuffix(".yaml") + ".expected.json")


def record(name: str, path: Path | None = None, *, scrub: bool = True) -> dict[str, Any]:
    """Run the setup's scenario against its fake on a loopback socket, recording ``path`` (default: the
    committed cassette); returns the normalised results. The fake is stopped afterwards."""
    setup = SETUPS[name]
    if setup.fake is None or setup.record_url is None:
        raise ValueError(f"setup {name!r} is hand-built: there is nothing to record it against")
    path = path or setup.path
    images = Images()
    handler = setup.fake(images)
    what = f"the fake {type(handler).__name__} ({type(handler).__module__})"
    header = RECORDED_HEADER.format(
        what=what, name=name, scenario=setup.scenario, expected=expected_path(path).name
    )
    path.unlink(missing_ok=True)
    try:
        with LoopbackServer(handler) as server:
            url = setup.record_url(handler, server.url)
            with (
                cassette(
                    path,
                    provider=setup.provider,
                    record_mode="once",
                    header=header,
                    origin=setup.origin,
                    scrub=scrub,
                    environ=setup.record_environ,
                ),
                VisualSearch(url, environ=setup.record_environ, **setup.client_kwargs()) as vs,
            ):
                return SCENARIOS[setup.scenario](vs, images)
    finally:
        handler.close()


def write_expected(name: str, result: dict[str, Any], path: Path | None = None) -> Path:
    setup = SETUPS[name]
    target = expected_path(path or setup.path)
    body = {"setup": name, "scenario": setup.scenario, "result": result}
    target.write_text(json.dumps(body, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return target


@contextmanager
def _client(setup: Setup, environ: dict[str, str], flavour: str) -> Iterator[Any]:
    if flavour == "sync":
        with VisualSearch(setup.replay_url, environ=environ, **setup.client_kwargs()) as vs:
            yield vs
        return
    with anyio.from_thread.start_blocking_portal("asyncio") as portal:
        driver = AsyncDriver(
            AsyncVisualSearch(setup.replay_url, environ=environ, **setup.client_kwargs()), portal
        )
        try:
            yield driver
        finally:
            driver.close()


def replay(path: Path, name: str, flavour: str) -> tuple[dict[str, Any], Any]:
    """Replay a cassette (record mode ``none``) through the setup's scenario with placeholder credentials;
    returns the normalised results and the tape."""
    setup = SETUPS[name]
    with (
        cassette(path, provider=setup.provider, record_mode="none", environ={}) as tape,
        _client(setup, tape.environ, flavour) as vs,
    ):
        return SCENARIOS[setup.scenario](vs, Images()), tape
