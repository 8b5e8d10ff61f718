"""Bulk indexing with ``AsyncVisualSearch.index_many``: a lazy stream, N batches in flight, a progress bar.

    python examples/async_bulk.py                          # 500 generated images and one corrupt one
    python examples/async_bulk.py PHOTOS --url local:///tmp/index --concurrency 16

``index_many`` reads the records as it needs them (memory stays bounded whatever their number), cuts
batches of the provider's size, keeps ``concurrency`` of them in flight and calls ``progress(done,
failed)`` after each. Every record appears once in the report: succeeded, or failed with its own error;
one bad image does not stop the run. Without ``--url`` the client comes from the environment
(``VISUALSEARCH_URL``, a profile), else an in-memory index.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Iterator
from pathlib import Path

import anyio
from PIL import Image
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from visualsearch_sdk import AsyncVisualSearch, ImageRecord, IndexReport


def folder_records(root: Path) -> Iterator[ImageRecord]:
    """The JPEG and PNG files under ``root`` (ids: relative paths), read only when indexed."""
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in {".jpg", ".jpeg", ".png"}:
            yield ImageRecord(id=path.relative_to(root).as_posix(), image=path)


def generated_records(count: int) -> Iterator[ImageRecord]:
    """``count`` small generated images, then one deliberately corrupt one (a JPEG cut short)."""
    for n in range(count):
        colour = (n * 37 % 256, n * 91 % 256, n * 53 % 256)
        yield ImageRecord(
            id=f"generated/{n:05d}.png", image=Image.new("RGB", (96, 96), colour), metadata={"n": n}
        )
    whole = io.BytesIO()
    Image.new("RGB", (200, 200), "red").save(whole, "JPEG")
    yield ImageRecord(id="generated/corrupt.jpg", image=whole.getvalue()[:300])


async def index_all(vs: AsyncVisualSearch, records: Iterator[ImageRecord], concurrency: int) -> IndexReport:
    bar = Progress(
        TextColumn("indexing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        console=Console(stderr=True),  # stdout keeps the summary
    )
    with bar:
        task = bar.add_task("index", total=None, failed=0)
        return await vs.index_many(
            records,
            concurrency=concurrency,
            progress=lambda done, failed: bar.update(task, completed=done, failed=failed),
        )


def summarise(report: IndexReport) -> None:
    print(f"succeeded: {len(report.succeeded)}, failed: {len(report.failed)}")
    for failure in report.failed:  # error_type is the exception's class; reason is short and machine-readable
        print(f"  {failure.id}: {failure.error_type} ({failure.reason}): {failure.error}")
    if report.stopped_early:  # an authentication error stops the run; records not read are not reported
        print(f"stopped early: {report.stopped_early}")


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Index many images concurrently, with progress.")
    parser.add_argument("folder", type=Path, nargs="?", help="images to index (default: generated ones)")
    parser.add_argument("--count", type=int, default=500, help="how many images to generate")
    parser.add_argument("--concurrency", type=int, default=8, help="batches in flight at once")
    parser.add_argument("--url", help="provider URL (default: VISUALSEARCH_URL, a profile, or memory://)")
    args = parser.parse_args(argv)

    records = folder_records(args.folder) if args.folder else generated_records(args.count)
    vs = AsyncVisualSearch.from_url(args.url) if args.url else AsyncVisualSearch.from_env()
    async with vs:
        report = await index_all(vs, records, args.concurrency)
    summarise(report)


if __name__ == "__main__":
    anyio.run(main)
