"""Run every benchmark in one go: ``python benchmarks/run.py [--strict] [--skip-recall]``.

Each benchmark prints its own table with ratios against a baseline measured in the same run. The recall
evaluation needs real photographs from the ``eval`` extra (``pip install -e ".[eval]"``); without it, it
says what to install and is skipped.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_bulk_ximilar
import bench_ingest
import bench_preprocess
import bench_search
import eval_recall


def main() -> int:
    parser = argparse.ArgumentParser(description="Run every benchmark.")
    parser.add_argument("--strict", action="store_true", help="exit 1 if any target is missed")
    parser.add_argument("--skip-recall", action="store_true", help="skip the recall evaluation")
    args = parser.parse_args()
    flags = ["--strict"] if args.strict else []
    suites = [
        ("preprocessor", lambda: bench_preprocess.main(flags)),
        ("local search", lambda: bench_search.main(flags)),
        ("ingest", lambda: bench_ingest.main([])),
        ("bulk index into fake Ximilar", lambda: bench_bulk_ximilar.main(flags)),
    ]
    if not args.skip_recall:
        suites.append(("near-duplicate recall", lambda: eval_recall.main(flags)))
    status = 0
    for name, run in suites:
        print(f"\n=== {name} ===", flush=True)
        start = time.perf_counter()
        status |= run()
        print(f"({name}: {time.perf_counter() - start:.0f} s)", flush=True)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
