"""The user-facing example (``examples/testing``) passes offline, as its own test suite, with no credentials.

It tests a small app function two ways, with ``vs_fake`` and by replaying its committed cassette; run here
in a child pytest so it sees exactly what a user's suite would (the plugin from its entry point, no
``tests/conftest.py``), with the network blocked in the child and no ``VISUALSEARCH_*`` variable set.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from visualsearch_sdk.testing import find_leaks

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "testing"

# Run in the child before pytest: any socket connect or DNS lookup fails the run.
_NO_NETWORK = """
import socket, sys, pytest
def refuse(*args, **kwargs):
    raise AssertionError(f"the example tried to reach the network: {args!r}")
socket.getaddrinfo = refuse
socket.create_connection = refuse
sys.exit(pytest.main(sys.argv[1:]))
"""


def test_the_example_suite_passes_offline() -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("VISUALSEARCH_")}
    result = subprocess.run(
        [sys.executable, "-c", _NO_NETWORK, str(EXAMPLE), "-p", "no:cacheprovider", "-q", "-rA"],
        capture_output=True,
        text=True,
        env=environ,
        cwd=EXAMPLE.parents[1],
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    passed = [line for line in result.stdout.splitlines() if line.startswith("PASSED examples/testing/")]
    assert len(passed) == 4, result.stdout
    for name in ("local_backend", "on_the_fake", "is_retried", "replayed"):
        assert any(name in line for line in passed), name


def test_the_example_cassette_is_committed_and_clean() -> None:
    cassettes = sorted((EXAMPLE / "cassettes").rglob("*.yaml"))
    assert [c.name for c in cassettes] == ["test_similar_within_budget_replayed.yaml"]
    assert find_leaks(cassettes[0], secrets=["fake-ximilar-token"], environ={}) == []
