"""Near-duplicate recall of the local engine's features: ``python benchmarks/eval_recall.py [--strict]``.

The index holds every base and every distractor (see ``benchmarks/_evalset.py``). Each base is queried through
every transform in ``TRANSFORMS``; a query succeeds at k when its base is among the k best records. Everything
goes through the real client, as a user's images would: the preprocessor (STANDARD: fit 512x512, JPEG q75),
the local wire API and the engine's flip-aware exact search (with and without the multi-view index).

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

from benchmarks._evalset import TRANSFORMS, MissingDataError, build_evalset
from visualsearch_sdk import ImageRecord, VisualSearch
from visualsearch_sdk.local.features import DIM, FEATURE_VERSION, image_features

__all__ = ["main"]

TARGET_R1 = 0.93
TARGET_R10 = 0.96
_KS = (1, 10)


def _index(images: list[Image.Image], *, multi_view: bool) -> tuple[VisualSearch, float]:
    """Index every record through the real client (preprocessor, wire API, engine); seconds per record."""
    vs = VisualSearch.from_url(f"memory://?multi_view={'true' if multi_view else 'false'}")
    t0 = time.perf_counter()
    report = vs.index_many(
        (ImageRecord(id=f"r{i}", image=img) for i, img in enumerate(images)), concurrency=2
    )
    if not report.ok:
        raise SystemExit(f"indexing failed: {report.failed[:3]}")
    return vs, (time.perf_counter() - t0) / len(images)


def _evaluate(
    vs: VisualSearch, queries: dict[str, list[Image.Image]]
) -> tuple[dict[str, dict[int, float]], float]:
    """Recall@k per transform (base i is record ``r{i}``) and seconds per query."""
    out: dict[str, dict[int, float]] = {}
    t0 = time.perf_counter()
    for name, images in queries.items():
        found = dict.fromkeys(_KS, 0)
        for i, image in enumerate(images):
            ids = vs.search(image=image, limit=max(_KS)).ids
            for k in _KS:
                found[k] += f"r{i}" in ids[:k]
        out[name] = {k: found[k] / len(images) for k in _KS}
    n_queries = sum(len(q) for q in queries.values())
    out["overall"] = {k: sum(out[n][k] * len(q) for n, q in queries.items()) / n_queries for k in _KS}
    return out, (time.perf_counter() - t0) / n_queries


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

    queries: dict[str, list[Image.Image]] = {}
    for t_index, (name, transform) in enumerate(TRANSFORMS.items()):
        rng = np.random.default_rng([args.seed, t_index])
        queries[name] = [transform(base, rng) for base in ev.bases]

    results: dict[str, dict[str, dict[int, float]]] = {}
    timings: list[str] = []
    for multi_view in (False, True) if not args.no_multi_view else (False,):
        vs, per_record = _index(records, multi_view=multi_view)
        mode = "multi" if multi_view else "single"
        results[mode], per_query = _evaluate(vs, queries)
        vs.close()
        timings.append(
            f"{mode}: {per_record * 1e3:.1f} ms per record indexed, {per_query * 1e3:.1f} ms per query"
        )
    print(_table(results))

    big = ev.bases[0].resize((512, 512))
    t0 = time.perf_counter()
    for _ in range(50):
        image_features(big)
    per_512 = (time.perf_counter() - t0) / 50
    print(
        f"feature extraction: {per_512 * 1e3:.2f} ms per 512x512 image; end to end through the client: "
        + "; ".join(timings)
    )
    total = time.perf_counter() - t_start
    print(f"targets: R@1 >= {TARGET_R1}, R@10 >= {TARGET_R10} overall, in every mode; total {total:.0f}s")

    missed = any(r["overall"][1] < TARGET_R1 or r["overall"][10] < TARGET_R10 for r in results.values())
    if missed:
        print("TARGET MISSED", file=sys.stderr)
    return 1 if (missed and args.strict) else 0


if __name__ == "__main__":
    raise SystemExit(main())
