"""Record against the fake on loopback, stop the fake, replay with the same code: identical results.

For every setup with a fake (every provider whose adapter and fake have landed, Alibaba with its new nonce
and timestamp on every request and ViSearch with its multipart upload included): the recording goes to a
temporary cassette, the fake is stopped, and the same scenario replays it sync and async, with placeholder
credentials and no network, giving the normalised results the recording gave. The fresh cassette passes the
leak guard.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.recorded._harness import record, replay
from tests.recorded._setups import ALL_SECRETS, SETUPS
from tests.recorded.conftest import NetworkAttempt, block_network
from visualsearch_sdk.testing import find_leaks

RECORDABLE = [name for name, setup in SETUPS.items() if setup.fake is not None]


@pytest.mark.parametrize("name", RECORDABLE)
def test_record_then_replay_sync_and_async(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / f"{name}.yaml"
    recorded = record(name, path)  # the fake is stopped when this returns
    assert recorded, "the scenario returned nothing"
    assert find_leaks(path, secrets=ALL_SECRETS) == []

    attempts = block_network(monkeypatch)
    for flavour in ("sync", "async"):
        replayed, tape = replay(path, name, flavour)
        assert replayed == recorded, f"{flavour} replay differs from the recording"
        assert tape.all_played
    assert attempts == []


def test_the_network_block_does_block(no_network: list[object]) -> None:
    with pytest.raises(NetworkAttempt):
        httpx.get("http://127.0.0.1:9/", timeout=1)
    assert no_network, "the guard saw no attempt"


def test_a_request_missing_from_the_cassette_fails_without_reaching_the_network(
    tmp_path: Path, no_network: list[object]
) -> None:
    from vcr.errors import CannotOverwriteExistingCassetteException  # type: ignore[import-untyped]

    from visualsearch_sdk import VisualSearch
    from visualsearch_sdk.testing import cassette

    setup = SETUPS["ximilar"]
    with (
        cassette(setup.path, provider="ximilar", record_mode="none", environ={}) as tape,
        VisualSearch(setup.replay_url, environ=tape.environ, max_retries=0) as vs,
        pytest.raises(CannotOverwriteExistingCassetteException),
    ):
        vs.search(id="not-in-the-cassette")
    assert no_network == []
