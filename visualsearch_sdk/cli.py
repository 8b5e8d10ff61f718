"""The ``visualsearch`` command: demo, index, search, get, delete, count, info, serve.

Every command but ``demo`` works against the provider named by ``--url``, else ``VISUALSEARCH_URL`` or the
``VISUALSEARCH_PROFILE`` profile, else a persistent local index in ``./visualsearch-index``. ``--json``
prints machine-readable output for scripts.
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import math
import os
import re
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from visualsearch_sdk._client import VisualSearch
from visualsearch_sdk._exceptions import ConflictError, VisualSearchError
from visualsearch_sdk.capabilities import Capability
from visualsearch_sdk.models import ImageRecord, IndexReport, MetadataValue, SearchResult

if TYPE_CHECKING:
    from visualsearch_sdk.testing.fakes._base import FakeVendor

__all__ = ["app", "main"]

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Visual search from the command line.")
out = Console()
err = Console(stderr=True)
DEFAULT_INDEX = "local:visualsearch-index"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
# CSV cells that become numbers: plain decimal notation only, so "NaN", "Infinity", "1_000" and codes with
# leading zeros such as "007" stay strings.
_INT_RE = re.compile(r"-?(?:0|[1-9][0-9]*)")
_FLOAT_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|-?\.[0-9]+(?:[eE][-+]?[0-9]+)?")

UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url", help="Provider URL (default: VISUALSEARCH_URL, a profile, or ./visualsearch-index)."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _client(url: str | None) -> VisualSearch:
    if url:
        return VisualSearch.from_url(url)
    if os.environ.get("VISUALSEARCH_URL") or os.environ.get("VISUALSEARCH_PROFILE"):
        return VisualSearch.from_env()
    return VisualSearch.from_url(DEFAULT_INDEX)


def _fail(exc: VisualSearchError) -> typer.Exit:
    # Messages quote user input (ids, field names, paths): escaped, so "[...]" is printed, never markup.
    err.print(f"[bold red]error:[/] {type(exc).__name__}: {escape(str(exc))}")
    return typer.Exit(code=2)


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n")


def _result_table(title: str, result: SearchResult) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("id", style="bold")
    table.add_column("score", justify="right")
    table.add_column("metadata")
    for rank, hit in enumerate(result.hits, 1):
        meta = ", ".join(f"{k}={v}" for k, v in sorted(hit.metadata.items()))
        table.add_row(str(rank), escape(hit.id), f"{hit.score:.3f}", escape(meta))
    return table


def _result_json(result: SearchResult) -> dict[str, Any]:
    return {
        "provider": result.provider,
        "total": result.total,
        "query_box": result.query_box,
        "hits": [hit.model_dump(exclude_none=True) for hit in result.hits],
    }


def _save_samples(samples: Sequence[Any], folder: Path) -> None:
    """The demo's images as JPEG files, plus a CSV that ``visualsearch index`` reads (metadata included)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fields = list(samples[0].metadata)
        with (folder / "products.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "image", *fields])
            for sample in samples:
                (folder / f"{sample.id}.jpg").write_bytes(sample.jpeg)
                writer.writerow([sample.id, f"{sample.id}.jpg", *(sample.metadata[f] for f in fields)])
    except OSError as exc:
        raise typer.BadParameter(f"cannot write the samples to {folder}: {exc}") from exc


def _report_json(report: IndexReport) -> dict[str, Any]:
    return {
        "succeeded": len(report.succeeded),
        "skipped": len(report.skipped),
        "failed": [
            {"id": f.id, "error": f.error_type, "reason": f.reason, "message": str(f.error)}
            for f in report.failed
        ],
        "stopped_early": report.stopped_early,
    }


@app.command()
def demo(
    json_out: JsonOpt = False,
    save_images: Annotated[
        Path | None,
        typer.Option(
            "--save-images",
            help="Write the 24 sample images and a products.csv (id,image,metadata) to this folder; no demo.",
        ),
    ] = None,
) -> None:
    """Index 24 sample product images into a temporary local index and search it four ways."""
    from PIL import Image, ImageEnhance

    from visualsearch_sdk._samples import make_samples

    samples = make_samples()
    if save_images is not None:
        _save_samples(samples, save_images)
        out.print(
            f"wrote 24 images and products.csv to {escape(str(save_images))}; try:\n"
            f"  visualsearch index {escape(str(save_images / 'products.csv'))}\n"
            f"  visualsearch search --image {escape(str(save_images / (samples[0].id + '.jpg')))} --limit 5"
        )
        return
    with (
        tempfile.TemporaryDirectory(prefix="visualsearch-demo-") as folder,
        VisualSearch.from_url(f"local://{Path(folder).as_posix()}") as vs,
    ):
        report = vs.index(ImageRecord(id=s.id, image=s.jpeg, metadata=s.metadata) for s in samples)
        # The query: a sample photographed again — cropped, smaller, a little darker.
        original = Image.open(io.BytesIO(samples[7].jpeg))
        query = ImageEnhance.Brightness(original.crop((30, 20, 380, 390)).resize((240, 253))).enhance(0.85)
        searches = [
            (
                f"1. search by image: a re-shot of {samples[7].id!r} (cropped, resized, darker)",
                vs.search(image=query, limit=5),
            ),
            ("2. search by id: more like 'dress-red'", vs.search(id="dress-red", limit=5)),
            ("3. search by colour: #c8282d (red)", vs.search(color="#c8282d", limit=5)),
            (
                "4. by image of 'bag-green', filtered: brand == 'Aurora' and price <= 150",
                vs.search(image=samples[8].jpeg, filter={"brand": "Aurora", "price": {"$lte": 150}}, limit=5),
            ),
        ]
        if json_out:
            _print_json(
                {
                    "indexed": len(report.succeeded),
                    "searches": [{"title": title, **_result_json(result)} for title, result in searches],
                }
            )
            return
        out.print(
            f"[bold]Indexed {len(report.succeeded)} sample images[/] into a temporary local index "
            f"({vs.count()} records, provider {vs.provider!r}, no network).\n"
        )
        for title, result in searches:
            out.print(_result_table(title, result))
            out.print()
        out.print(
            "Next: [bold]visualsearch index ./my-photos[/] then [bold]visualsearch search --image q.jpg[/]"
        )


def _csv_records(path: Path) -> Iterator[ImageRecord | dict[str, Any]]:
    try:
        yield from _csv_rows(path)
    except UnicodeDecodeError as exc:
        raise typer.BadParameter(f"{path} is not a UTF-8 CSV file") from exc


def _csv_rows(path: Path) -> Iterator[ImageRecord | dict[str, Any]]:
    # utf-8-sig: spreadsheet exports start with a byte-order mark, which would hide the 'id' column.
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        fieldnames = reader.fieldnames
        if not fieldnames or "id" not in fieldnames or not ({"image", "url"} & set(fieldnames)):
            raise typer.BadParameter(f"{path} needs an 'id' column and an 'image' or 'url' column")
        for row in reader:
            image = row.pop("image", "") or None
            url = row.pop("url", "") or None
            record_id = row.pop("id", "")
            metadata = {key: _typed(value) for key, value in row.items() if key and value not in ("", None)}
            resolved = str((path.parent / image).resolve()) if image else None
            yield {"id": record_id, "image": resolved, "url": url, "metadata": metadata}


def _typed(value: str) -> MetadataValue:
    if _INT_RE.fullmatch(value):
        return int(value)
    if _FLOAT_RE.fullmatch(value):
        number = float(value)
        if math.isfinite(number):  # "1e999" overflows to inf, which no index can store
            return number
    return value


def _folder_records(root: Path) -> Iterator[ImageRecord]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            yield ImageRecord(id=path.relative_to(root).as_posix(), image=str(path))


@app.command()
def index(
    source: Annotated[
        Path, typer.Argument(help="A folder of images, or a CSV with id, image and metadata columns.")
    ],
    url: UrlOpt = None,
    report_file: Annotated[
        Path, typer.Option("--report", help="Where failures are written (JSON lines).")
    ] = Path("visualsearch-failures.jsonl"),
    upsert: Annotated[
        bool, typer.Option(help="Replace records that exist already instead of skipping them.")
    ] = False,
    concurrency: Annotated[int, typer.Option(min=1, max=64)] = 4,
    json_out: JsonOpt = False,
) -> None:
    """Index a folder or a CSV; re-running skips ids that are indexed already."""
    if not source.exists():
        raise typer.BadParameter(f"{source} does not exist")
    try:
        with _client(url) as vs:
            existing: set[str] = set()
            if not upsert and Capability.LIST in vs.capabilities:
                existing = {record.id for record in vs.iter_records(page_size=1000)}
            records: Iterator[ImageRecord | dict[str, Any]]
            if source.is_dir():
                records = _folder_records(source)
            elif source.suffix.lower() in IMAGE_SUFFIXES:  # one image: indexed under its file name
                records = iter([ImageRecord(id=source.name, image=str(source))])
            else:
                records = _csv_records(source)
            skipped: list[str] = []

            def fresh() -> Iterator[ImageRecord | dict[str, Any]]:
                for record in records:
                    rid = record.id if isinstance(record, ImageRecord) else str(record.get("id"))
                    if rid in existing:
                        skipped.append(rid)
                    else:
                        yield record

            with Progress(
                TextColumn("indexing"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[failed]} failed"),
                TimeElapsedColumn(),
                console=err,
                disable=json_out,
            ) as bar:
                task = bar.add_task("index", total=None, failed=0)
                report = vs.index_many(
                    fresh(),
                    concurrency=concurrency,
                    upsert=upsert,
                    progress=lambda done, failed: bar.update(task, completed=done, failed=failed),
                )
    except VisualSearchError as exc:
        raise _fail(exc) from exc
    conflicts = [f.id for f in report.failed if isinstance(f.error, ConflictError)]
    failed = [f for f in report.failed if not isinstance(f.error, ConflictError)]
    report = IndexReport(
        succeeded=report.succeeded,
        failed=tuple(failed),
        skipped=(*skipped, *conflicts),
        stopped_early=report.stopped_early,
    )
    if not failed:
        report_file.unlink(
            missing_ok=True
        )  # a report left by an earlier run would describe failures no longer true
    else:
        with report_file.open("w", encoding="utf-8") as handle:
            for f in failed:
                handle.write(
                    json.dumps(
                        {"id": f.id, "error": f.error_type, "reason": f.reason, "message": str(f.error)},
                        ensure_ascii=False,
                    )
                    + "\n"
                )
    if json_out:
        _print_json(_report_json(report))
    else:
        out.print(
            f"indexed {len(report.succeeded)}, skipped {len(report.skipped)} (already indexed), "
            f"failed {len(failed)}" + (f" -> {escape(str(report_file))}" if failed else "")
        )
        if report.stopped_early:
            err.print(f"[bold red]{escape(str(report.stopped_early))}[/]")
    if report.stopped_early:
        raise typer.Exit(code=2)


def _box(value: str | None) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        return tuple(float(part) for part in value.split(","))
    except ValueError as exc:
        raise typer.BadParameter("--box is x1,y1,x2,y2") from exc


@app.command()
def search(
    image: Annotated[Path | None, typer.Option(help="Query image file.")] = None,
    image_url: Annotated[str | None, typer.Option("--image-url", help="Query image URL.")] = None,
    id: Annotated[str | None, typer.Option("--id", help="Search by an indexed id.")] = None,
    color: Annotated[str | None, typer.Option(help="Search by a hex colour, e.g. '#fa4d4d'.")] = None,
    box: Annotated[str | None, typer.Option(help="x1,y1,x2,y2 in the image's pixels.")] = None,
    limit: int = 10,
    offset: int = 0,
    filter: Annotated[
        str | None, typer.Option(help='A MongoDB-style JSON filter: \'{"brand": "A"}\'.')
    ] = None,
    fields: Annotated[str | None, typer.Option(help="Comma-separated metadata fields to return.")] = None,
    min_score: Annotated[float | None, typer.Option(help="Drop hits scoring below this (0..1).")] = None,
    url: UrlOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Search by image, image URL, id or colour."""
    try:
        parsed_filter = json.loads(filter) if filter else None
    except ValueError as exc:
        raise typer.BadParameter("--filter must be JSON") from exc
    try:
        with _client(url) as vs:
            result = vs.search(
                image=str(image) if image else None,
                url=image_url,
                id=id,
                color=color,
                box=_box(box),
                limit=limit,
                offset=offset,
                filter=parsed_filter,
                fields=fields.split(",") if fields else None,
                min_score=min_score,
            )
    except VisualSearchError as exc:
        raise _fail(exc) from exc
    if json_out:
        _print_json(_result_json(result))
    else:
        of = f" of {result.total}" if result.total is not None else ""  # some providers do not count
        out.print(_result_table(f"{len(result.hits)}{of} results ({result.provider})", result))


@app.command()
def get(record_id: str, url: UrlOpt = None, json_out: JsonOpt = False) -> None:
    """Show one record."""
    try:
        with _client(url) as vs:
            record = vs.get(record_id)
    except VisualSearchError as exc:
        raise _fail(exc) from exc
    if json_out:
        _print_json(record.model_dump())
    else:
        out.print(f"[bold]{escape(record.id)}[/] {escape(json.dumps(record.metadata, ensure_ascii=False))}")


@app.command()
def delete(ids: list[str], url: UrlOpt = None, json_out: JsonOpt = False) -> None:
    """Delete records by id."""
    try:
        with _client(url) as vs:
            report = vs.delete(ids)
    except VisualSearchError as exc:
        raise _fail(exc) from exc
    failed = [{"id": f.id, "error": f.error_type, "message": str(f.error)} for f in report.failed]
    if json_out:
        _print_json({"deleted": report.deleted, "not_found": report.not_found, "failed": failed})
    else:
        out.print(f"deleted {len(report.deleted)}, not found {len(report.not_found)}, failed {len(failed)}")
    if failed:
        raise typer.Exit(code=2)


@app.command()
def count(url: UrlOpt = None, json_out: JsonOpt = False) -> None:
    """Count the indexed records."""
    try:
        with _client(url) as vs:
            total = vs.count()
    except VisualSearchError as exc:
        raise _fail(exc) from exc
    _print_json({"count": total}) if json_out else out.print(str(total))


@app.command()
def info(url: UrlOpt = None, json_out: JsonOpt = False) -> None:
    """Show the provider, where it is and what it can do (no network call)."""
    try:
        vs = _client(url)
    except VisualSearchError as exc:
        raise _fail(exc) from exc
    caps = sorted(c.value for c in vs.capabilities)
    if json_out:
        _print_json({"provider": vs.provider, "where": vs.adapter.describe(), "capabilities": caps})
    else:
        out.print(f"provider: [bold]{vs.provider}[/] ({escape(vs.adapter.describe())})")
        out.print("capabilities: " + ", ".join(caps))


@app.command()
def capabilities(json_out: JsonOpt = False) -> None:
    """What every built-in provider can do, as declared by its adapter (a Markdown table, or JSON)."""
    from visualsearch_sdk import _matrix

    if json_out:
        matrix = _matrix.capability_matrix()
        _print_json({name: sorted(c.value for c in caps) for name, caps in matrix.items()})
    else:
        print(_matrix.render_markdown())


_FAKES = "visualsearch_sdk.testing.fakes"
FACES: dict[str, tuple[str, str | None]] = {
    # face -> (what it speaks, the fake class serving it; None for the local engine's own API)
    "local": ("the local engine's own API", None),
    "ximilar": ("a fake of Ximilar's similarity API v2", f"{_FAKES}.ximilar:FakeXimilar"),
    "visearch": ("a fake of ViSenze's ViSearch API v1", f"{_FAKES}.visearch:FakeViSearch"),
    "alibaba": ("a fake of Alibaba Cloud Image Search 2020-12-14", f"{_FAKES}.alibaba:FakeAlibaba"),
    "visualsnoop": ("a fake of VisualSnoop's API v1", f"{_FAKES}.visualsnoop:FakeVisualSnoop"),
}


def _fake_class(target: str) -> type[FakeVendor]:
    module, _, name = target.partition(":")
    cls: type[FakeVendor] = getattr(importlib.import_module(module), name)
    return cls


@app.command()
def serve(
    face: Annotated[str, typer.Option(help=f"Which wire API to speak: {', '.join(FACES)}.")] = "local",
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1 (0 picks a free one).")] = 8765,
    path: Annotated[Path | None, typer.Option(help="Index folder (default: in memory).")] = None,
    token: Annotated[
        str | None,
        typer.Option(
            help="Require this credential: a bearer token for local, the vendor's own form for a fake "
            "(ximilar: the API token).",
            envvar="VISUALSEARCH_SERVE_TOKEN",
        ),
    ] = None,
    multi_view: bool = False,
) -> None:
    """Serve the local engine on 127.0.0.1; the first line printed is the provider URL to use.

    ``--face NAME`` serves the engine behind a fake of that vendor's API instead; the URL printed then carries
    the credentials the fake accepts and ``base_url=http://127.0.0.1:PORT``.
    """
    from visualsearch_sdk._serve import LoopbackServer
    from visualsearch_sdk.local.app import LocalApp

    if face not in FACES:
        raise typer.BadParameter(f"unknown face {face!r}; available: {', '.join(FACES)}")
    description, target = FACES[face]
    handler: LocalApp | FakeVendor
    if target is not None:
        if multi_view:
            raise typer.BadParameter("--multi-view applies to --face local only")
        handler = _fake_class(target).for_serving(path=path, token=token)
    else:
        handler = LocalApp(str(path) if path else None, multi_view=multi_view, token=token)
    try:
        _ = handler.engine  # open (and check) the index now: an unusable one is refused before serving
    except VisualSearchError as exc:
        raise _fail(exc) from exc
    try:
        server = LoopbackServer(handler, port=port)
    except OSError as exc:  # the port is taken, or not ours to bind
        handler.close()
        err.print(
            f"[bold red]error:[/] cannot listen on 127.0.0.1:{port}: {escape(str(exc.strerror or exc))}"
        )
        raise typer.Exit(code=2) from exc
    if isinstance(handler, LocalApp):
        auth = f":{token}@" if token else ""
        url = f"local://{auth}127.0.0.1:{server.port}"
    else:  # the fake's credentials, and where it listens
        url = handler.client_url(base_url=f"http://127.0.0.1:{server.port}")
    # SIGTERM (kill, docker stop, Popen.terminate) stops as cleanly as Ctrl-C: socket and index are closed.
    previous = _on_sigterm(_interrupt)
    try:
        print(url, flush=True)
        where = "in memory" if path is None else escape(str(path))
        err.print(f"serving {description} ({where}); Ctrl-C stops")
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        handler.close()
        _on_sigterm(previous)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _on_sigterm(handler: Any) -> Any:
    """Install ``handler`` for SIGTERM (main thread only) and return the previous one."""
    if handler is None or threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, handler)


def main() -> None:
    """Entry point of the ``visualsearch`` script."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
