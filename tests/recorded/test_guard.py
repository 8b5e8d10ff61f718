"""The leak guard over the committed cassettes, and proof that it can fail.

Every committed cassette, decoded (YAML strings, ``!!binary`` and base64 bodies, URL-encoding), holds none of
the credentials any setup records with, none of the shapes of a vendor credential, and only placeholders in
credential-named fields. Recording the same scenarios with scrubbing disabled, the guard finds every one of
those credentials: it is not vacuous.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.recorded._harness import record
from tests.recorded._setups import ALL_SECRETS, CASSETTES, SETUPS
from visualsearch_sdk.testing import assert_no_leaks, find_leaks

RECORDABLE = [name for name, setup in SETUPS.items() if setup.fake is not None]


def test_committed_cassettes_hold_no_credential() -> None:
    paths = sorted(CASSETTES.rglob("*.yaml"))
    assert paths
    assert_no_leaks(paths, secrets=ALL_SECRETS, environ={})


@pytest.mark.parametrize("name", RECORDABLE)
def test_without_scrubbing_the_guard_finds_every_credential(name: str, tmp_path: Path) -> None:
    path = tmp_path / "unscrubbed.yaml"
    record(name, path, scrub=False)
    for secret in SETUPS[name].secrets:
        found = find_leaks(path, secrets=[secret], environ={})
        assert any(leak.kind == "a credential used to record" for leak in found), f"missed {secret[:4]}…"
    shapes = find_leaks(path, environ={})  # no known secret: the shapes and the field checks alone
    assert shapes, "an unscrubbed cassette passed the pattern checks"


@pytest.mark.parametrize("name", RECORDABLE)
def test_with_scrubbing_the_same_recording_is_clean(name: str, tmp_path: Path) -> None:
    path = tmp_path / "scrubbed.yaml"
    record(name, path)
    secrets = (*SETUPS[name].secrets, *SETUPS[name].signing_secrets)
    environ = {f"VISUALSEARCH_RECORDED_TOKEN_{i}": secret for i, secret in enumerate(secrets)}
    assert find_leaks(path, secrets=secrets, environ=environ) == []
