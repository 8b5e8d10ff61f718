"""Every committed cassette replays offline, sync and async, through the real adapters, to its results.

The cassettes in ``cassettes/<provider>/`` were recorded against the fake vendors on loopback
(``python -m tests.recorded.record``) or hand-built from the vendors' documented examples; each has an
``.expected.json`` naming its setup and scenario (``_setups.py``, ``_scenarios.py``) and the normalised
results. A replay runs with record mode ``none``, placeholder credentials and no network.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.recorded._harness import expected_path, replay
from tests.recorded._setups import CASSETTES, SETUPS

CASSETTE_FILES = sorted(CASSETTES.glob("*/*.yaml"))


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def test_there_are_cassettes_for_local_and_ximilar() -> None:
    providers = {path.parent.name for path in CASSETTE_FILES}
    assert {"local", "ximilar"} <= providers


@pytest.mark.parametrize("path", CASSETTE_FILES, ids=_id)
def test_each_cassette_says_how_it_was_made(path: Path) -> None:
    head = path.read_text(encoding="utf-8").splitlines()[0]
    assert head.startswith(("# Recorded against the fake", "# Hand-built from the documented")), head
    assert expected_path(path).is_file(), f"{path.name} has no {expected_path(path).name}"


@pytest.mark.parametrize("name", [n for n, s in SETUPS.items()], ids=str)
def test_each_setup_has_its_committed_cassette(name: str) -> None:
    setup = SETUPS[name]
    assert setup.path.is_file(), f"record it: python -m tests.recorded.record {name}"
    expected = json.loads(expected_path(setup.path).read_text(encoding="utf-8"))
    assert (expected["setup"], expected["scenario"]) == (name, setup.scenario)


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("path", CASSETTE_FILES, ids=_id)
def test_replay_gives_the_expected_results(path: Path, flavour: str, no_network: list[object]) -> None:
    expected = json.loads(expected_path(path).read_text(encoding="utf-8"))
    result, tape = replay(path, expected["setup"], flavour)
    assert result == expected["result"]
    assert tape.all_played, "the scenario made fewer calls than the cassette holds"
    assert not tape.recording
    assert no_network == []
