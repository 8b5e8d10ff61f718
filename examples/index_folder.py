"""Index a folder of images, then search it by an image, by an indexed id and by a colour.

    python examples/index_folder.py PHOTOS QUERY.jpg [--metadata products.csv] [--url local:///tmp/index]

Ids are the images' paths relative to PHOTOS (``dress/red.jpg``). Each image in a subfolder gets that folder's
name as ``category``; ``--metadata`` adds fields from a CSV whose ``id`` column holds those relative paths
(numbers become numbers, so range filters work). Without ``--url`` the client comes from the environment
(``VISUALSEARCH_URL``, or the ``VISUALSEARCH_PROFILE`` profile), else an in-memory index.
"""

from __future__ import annotations

import argparse
import csv
import math
from collections.abc import Iterator
from pathlib import Path

from visualsearch_sdk import Capability, ImageRecord, SearchResult, VisualSearch
from visualsearch_sdk.models import MetadataValue

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


def typed(cell: str) -> MetadataValue:
    """A CSV cell as a number when it reads as one, else as text."""
    for kind in (int, float):
        try:
            number = kind(cell)
        except ValueError:
            continue
        if math.isfinite(number):  # "nan" and "inf" stay text: no index stores them as numbers
            return number
    return cell


def read_metadata(path: Path | None) -> dict[str, dict[str, MetadataValue]]:
    """``{id: {field: value}}`` from a CSV with an ``id`` column; empty cells are left out."""
    if path is None:
        return {}
    with path.open(newline="", encoding="utf-8-sig") as handle:  # -sig: spreadsheets write a BOM
        rows = list(csv.DictReader(handle))
    return {row.pop("id"): {k: typed(v) for k, v in row.items() if v} for row in rows}


def folder_records(root: Path, metadata: dict[str, dict[str, MetadataValue]]) -> Iterator[ImageRecord]:
    """One record per image under ``root``; the image is read from disk when it is indexed."""
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            record_id = path.relative_to(root).as_posix()
            fields: dict[str, MetadataValue] = {"category": path.parent.name} if path.parent != root else {}
            fields.update(metadata.get(record_id, {}))
            yield ImageRecord(id=record_id, image=path, metadata=fields)


def show(title: str, result: SearchResult) -> None:
    print(f"{title}:")
    for rank, hit in enumerate(result.hits, 1):
        print(f"  {rank}. {hit.id}  score={hit.score:.3f}  {hit.metadata}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Index a folder of images, then search it.")
    parser.add_argument("folder", type=Path, help="the images; subfolder names become 'category'")
    parser.add_argument("query", type=Path, help="an image file to search with")
    parser.add_argument("--metadata", type=Path, help="a CSV: an id column, then one column per field")
    parser.add_argument("--color", default="#c8282d", help="a hex colour to search by (default: red)")
    parser.add_argument("--limit", type=int, default=5)
    parser.add_argument("--url", help="provider URL (default: VISUALSEARCH_URL, a profile, or memory://)")
    args = parser.parse_args(argv)

    vs = VisualSearch.from_url(args.url) if args.url else VisualSearch.from_env()
    with vs:
        records = folder_records(args.folder, read_metadata(args.metadata))
        report = vs.index(records, upsert=True)  # upsert: running it again replaces instead of failing
        print(f"indexed {len(report.succeeded)} images ({vs.provider}), {len(report.failed)} failed")
        for failure in report.failed:
            print(f"  {failure.id}: {failure.error_type} ({failure.reason})")

        by_image = vs.search(image=args.query, limit=args.limit)
        show(f"by image {args.query.name}", by_image)
        if by_image.hits:  # "more like this": the best match, searched by its id
            best = by_image.hits[0].id
            show(f"by id {best}", vs.search(id=best, limit=args.limit))
        if Capability.SEARCH_BY_COLOR in vs.capabilities:
            show(f"by colour {args.color}", vs.search(color=args.color, limit=args.limit))
        else:
            print(f"by colour: {vs.provider} cannot search by colour")


if __name__ == "__main__":
    main()
