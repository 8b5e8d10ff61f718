"""Near-duplicate recall of the local engine's features: ``python benchmarks/eval_recall.py [--strict]``.

The index holds every base and every distractor (see ``benchmarks/_evalset.py``). Each base is queried through
every transform in ``TRANSFORMS``; a query succeeds at k when its base is among the k best records. Ranking is
the engine's math: a float32 matrix of unit vectors, the flip-aware query rows of ``query_features``, a record
scored by the maximum cosine over query rows and over its stored views, exact top-k. Every image is first fit
within 512x512 (LANCZOS) as the engine's preprocessing does.

Needs the photographs' packages (``pip install scikit-image matplotlib scikit-learn``); nothing is downloaded.
Exits 0, or with ``--strict`` 1 when a target is missed and 2 when the data is missing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

if __package__ in (None, ""):  # run as a script: make `benchmarks._evalset` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._evalset import TRANSFORMS, MissingDataError, build_evalset, fit_512
from visualsearch_sdk.local.features import DIM, FEATURE_VERSION, image_features, index_views, query_features

__all__ = ["main"]

TARGET_R1 = 0.93
TARGET_R10 = 0.96
_KS = (1, 10)


def _build_index(images: list[Image.Image], *, multi_view: bool) -> tuple[np.ndarray, np.ndarray, float]:
    """Stack every record's views; return the matrix, each row's record id and seconds per feature vector."""
    rows: list[np.ndarray] = []
    owners: list[int] = []
    t0 = time.perf_counter()
    for rec, img in enumerate(images):
        views = index_views(fit_512(img), multi_view=multi_view)
        rows.append(views)
        owners.extend([rec] * len(views))
    elapsed = time.perf_counter() - t0
    matrix = np.ascontiguousarray(np.concatenate(rows), dtype=np.float32)
    return matrix, np.asarray(owners, dtype=np.intp), elapsed / len(matrix)


def _ranks(queries: np.ndarray, matrix: np.ndarray, owners: np.ndarray, n_records: int, k: int) -> np.ndarray:
    """Top-k record ids for each query, shape (Q, k); ``queries`` is (Q, 2, DIM)."""
    q = queries.reshape(-1, DIM)
    sims = (q @ matrix.T).reshape(queries.shape[0], queries.shape[1], -1).max(axis=1)  # best query row
    per_record = np.full((queries.shape[0], n_records), -np.inf, dtype=np.float32)
    np.maximum.at(per_record.T, owners, sims.T)  # best view of each record
    top = np.argpartition(-per_record, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(per_record, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


def _evaluate(
    queries: dict[str, np.ndarray], matrix: np.ndarray, owners: np.ndarray, n_records: int
) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for name, q in queries.items():
        top = _ranks(q, matrix, owners, n_records, max(_KS))
        truth = np.arange(len(q))[:, None]  # bases are records 0..n_bases-1, in query order
        out[name] = {k: float((top[:, :k] == truth).any(axis=1).mean()) for k in _KS}
    total = sum(len(q) for q in queries.values())
    out["overall"] = {k: sum(out[n][k] * len(q) for n, q in queries.items()) / total for k in _KS}
    return out


def _table(results: dict[str, dict[str, dict[int, float]]]) -> str:
    modes = list(results)
    head = f"{'transform':<22}" + "".join(f"{m + ' R@1':>18}{m + ' R@10':>18}" for m in modes)
    lines = [head, "-" * len(head)]
    for name in next(iter(results.values())):
        cells = "".join(f"{results[m][name][1]:>18.3f}{results[m][name][10]:>18.3f}" for m in modes)
        lines.append(f"{name:<22}{cells}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Build the set, rank every transformed base, print the recall table; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="exit 1 when a recall target is missed")
    parser.add_argument("--bases", type=int, default=160, help="number of query bases (default 160)")
    parser.add_argument("--distractors", type=int, default=2200, help="distractor count (default 2200)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-multi-view", action="store_true", help="skip the multi_view index")
    args = parser.parse_args(argv)

    t_start = time.perf_counter()
    try:
        ev = build_evalset(n_bases=args.bases, n_distractors=args.distractors, seed=args.seed)
    except MissingDataError as exc:
        print(f"eval_recall: {exc}", file=sys.stderr)
        return 2 if args.strict else 0
    records = ev.bases + ev.distractors
    print(
        f"features {FEATURE_VERSION}, dim {DIM}; {ev.n_photos} photographs -> {len(ev.bases)} bases, "
        f"{len(ev.distractors)} distractors ({ev.n_photo_distractors} photo tiles, "
        f"{len(ev.distractors) - ev.n_photo_distractors} synthetic); {len(TRANSFORMS)} transforms "
        f"(built in {time.perf_counter() - t_start:.1f}s)"
    )

    queries: dict[str, np.ndarray] = {}
    t0 = time.perf_counter()
    n_query_images = 0
    for t_index, (name, transform) in enumerate(TRANSFORMS.items()):
        rng = np.random.default_rng([args.seed, t_index])
        rows = [query_features(fit_512(transform(base, rng))) for base in ev.bases]
        n_query_images += len(rows)
        queries[name] = np.stack(rows)
    per_query = (time.perf_counter() - t0) / n_query_images

    results: dict[str, dict[str, dict[int, float]]] = {}
    timings: list[str] = []
    for multi_view in (False, True) if not args.no_multi_view else (False,):
        matrix, owners, per_vec = _build_index(records, multi_view=multi_view)
        mode = "multi" if multi_view else "single"
        results[mode] = _evaluate(queries, matrix, owners, len(records))
        timings.append(f"{mode}: {matrix.shape[0]} rows, {per_vec * 1e3:.2f} ms per view")
    print(_table(results))

    big = fit_512(ev.bases[0].resize((512, 512)))
    t0 = time.perf_counter()
    for _ in range(50):
        image_features(big)
    per_512 = (time.perf_counter() - t0) / 50
    print(
        f"extraction: {per_512 * 1e3:.2f} ms per 512x512 image; index {'; '.join(timings)} "
        f"(includes crops); query {per_query * 1e3:.2f} ms per image incl. transform and mirror row"
    )
    total = time.perf_counter() - t_start
    print(f"targets: R@1 >= {TARGET_R1}, R@10 >= {TARGET_R10} overall, in every mode; total {total:.0f}s")

    missed = any(r["overall"][1] < TARGET_R1 or r["overall"][10] < TARGET_R10 for r in results.values())
    if missed:
        print("TARGET MISSED", file=sys.stderr)
    return 1 if (missed and args.strict) else 0


if __name__ == "__main__":
    raise SystemExit(main())
