"""Local engine search latency: exact flip-aware top-10 at 10k and 100k records (d = features.DIM).

Baseline measured in the same run: the straightforward numpy implementation (a float64 query, which upcasts
the float32 matrix on every call, two matrix products for the query and its mirror, and a full argsort).
Targets: <= 1 ms per query at 10k records and <= 12 ms at 100k on 2 cores. Run:
``python benchmarks/bench_search.py [--strict]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

import numpy as np

from visualsearch_sdk.filters import F
from visualsearch_sdk.local import features
from visualsearch_sdk.local.engine import Engine, NewRecord

TARGETS_MS = {10_000: 1.0, 100_000: 12.0}


def _rows(n: int, seed: int) -> np.ndarray:
    rows = np.abs(np.random.default_rng(seed).normal(size=(n, features.DIM))).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def naive_top10(matrix: np.ndarray, query: np.ndarray, mirrored: np.ndarray) -> np.ndarray:
    scores = np.maximum(matrix @ query.astype(np.float64), matrix @ mirrored.astype(np.float64))
    return np.argsort(-scores)[:10]


def _measure(n: int, repeat: int) -> tuple[float, float, float]:
    """Median ms per query: the engine, the engine with a filter, and the naive baseline."""
    perm, sign = features.mirror_map()
    rows = _rows(n, seed=n)
    engine = Engine()
    for start in range(0, n, 5000):
        engine.add(
            [
                NewRecord(f"r{i}", rows[i][None, :], {"price": i % 500, "brand": "ABCD"[i % 4]})
                for i in range(start, min(n, start + 5000))
            ]
        )
    queries = _rows(16, seed=1)
    counter = iter(range(10**9))
    flt = (F("brand") == "A") & (F("price") < 250)
    ms = _median_ms(lambda: engine.search(queries[next(counter) % 16], limit=10), repeat)
    ms_filter = _median_ms(lambda: engine.search(queries[next(counter) % 16], limit=10, filter=flt), repeat)
    q0 = queries[0]
    ms_naive = _median_ms(lambda: naive_top10(rows, q0, sign * q0[perm]), max(5, repeat // 5))
    engine.close()
    return ms, ms_filter, ms_naive


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args(argv)
    failed = False
    print(f"{'records':>8} {'engine ms':>10} {'+filter ms':>11} {'naive ms':>9} {'speed-up':>9}  target")
    for n, target in TARGETS_MS.items():
        ms, ms_filter, ms_naive = _measure(n, args.repeat)
        ok = ms <= target
        failed |= not ok
        print(
            f"{n:>8} {ms:>10.2f} {ms_filter:>11.2f} {ms_naive:>9.2f} {ms_naive / ms:>8.1f}x  "
            f"<= {target} ms {'PASS' if ok else 'FAIL'}"
        )
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    raise SystemExit(main())
