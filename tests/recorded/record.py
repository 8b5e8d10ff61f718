"""Re-record the committed cassettes against the fakes: ``python -m tests.recorded.record [SETUP ...]``.

With no argument every setup that has a fake is recorded (the hand-built ones are left alone). Each writes
``cassettes/<provider>/<cassette>.yaml`` and ``<cassette>.expected.json`` (the normalised results the replay
tests compare against), then checks the new cassette with the leak guard.
"""

from __future__ import annotations

import sys

from tests.recorded._harness import record, write_expected
from tests.recorded._setups import ALL_SECRETS, SETUPS
from visualsearch_sdk.testing import find_leaks


def main(argv: list[str]) -> int:
    names = argv or [name for name, setup in SETUPS.items() if setup.fake is not None]
    unknown = [n for n in names if n not in SETUPS]
    if unknown:
        print(f"unknown setup(s): {', '.join(unknown)}; known: {', '.join(SETUPS)}", file=sys.stderr)
        return 2
    status = 0
    for name in names:
        setup = SETUPS[name]
        result = record(name)
        expected = write_expected(name, result)
        leaks = find_leaks(setup.path, secrets=ALL_SECRETS)
        for leak in leaks:
            print(f"LEAK {leak}", file=sys.stderr)
        status = status or (1 if leaks else 0)
        print(f"{name}: {setup.path} and {expected.name} ({len(result)} results)")
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
