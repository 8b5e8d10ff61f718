"""Ingest throughput: 12-megapixel JPEG files to searchable records in the local engine, 1 and 2 workers.

Each record goes the whole way a user's would: read the file, decode at reduced scale, fit to STANDARD,
encode, send through the client pipeline to the in-process engine, decode, compute features, commit to
SQLite and update the matrix. The 2-worker run is compared with the 1-worker run measured in the same run.
Run: ``python benchmarks/bench_ingest.py [--images N]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_preprocess import make_photo

from visualsearch_sdk import ImageRecord, VisualSearch

__all__ = ["main"]


def _ingest(paths: list[Path], workers: int) -> float:
    with VisualSearch.from_url("memory://") as vs:
        vs.count()  # open the engine before the clock starts
        start = time.perf_counter()
        report = vs.index_many(
            (ImageRecord(id=p.name, image=str(p)) for p in paths), concurrency=workers, batch_size=2
        )
        elapsed = time.perf_counter() - start
        if not report.ok or len(report.succeeded) != len(paths):
            raise SystemExit(f"ingest failed: {report.failed[:3]}")
        if vs.search(image=str(paths[0]), limit=1).ids != [paths[0].name]:
            raise SystemExit("an ingested image is not found by itself")
    return len(paths) / elapsed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--images", type=int, default=16, help="number of distinct 12 MP JPEG files")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i in range(args.images):
            path = Path(folder) / f"photo-{i:03d}.jpg"
            path.write_bytes(make_photo(seed=1000 + i, orientation=6 if i % 3 == 0 else 1))
            paths.append(path)
        _ingest(paths[:2], 1)  # warm up imports and caches
        one = _ingest(paths, 1)
        two = _ingest(paths, 2)
    print(f"ingest 12 MP JPEG files -> searchable (local engine, {args.images} images)")
    print(f"  1 worker : {one:6.1f} images/s")
    print(f"  2 workers: {two:6.1f} images/s  ({two / one:.2f}x the 1-worker rate)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
