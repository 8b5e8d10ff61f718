"""Bulk indexing: ``index_many`` into the fake Ximilar on a loopback socket, 50 ms per request.

The fake (``visualsearch_sdk.testing.fakes.FakeXimilar``) runs in a **subprocess** behind ``LoopbackServer``
with ``fake.delay(0.05)``, so the server's CPU is never counted as the client's, and the client's CPU time
(``time.process_time()`` of this process, all threads) divided by the requests it sent is the client
pipeline's cost per request: preprocessing 10 tiny JPEGs, base64 and JSON, the HTTP exchange, parsing the
answer. Each insert carries Ximilar's maximum of 10 records.

Server side, every record really is stored with the features of its image and is searchable (checked at the
end). The records reuse 300 distinct 16x16 JPEGs under unique ids; the server process computes the features of
each distinct image once and reuses them for its repeats (a cache wrapped around the fake's feature call in
that process only). Without the cache, feature extraction (about 1 ms per record, 10 ms per insert, in one
Python process sharing the machine's cores with the client) would cap the server near 100 inserts/s and the
benchmark would measure the fake, not the client; ``--no-feature-cache`` shows that.

Baseline measured in the same run: a serial client (``concurrency=1``) on a smaller sample (default 300
records, extrapolated as records/s). Targets: 8 workers >= 7x the serial rate and >= 1,300 records/s; 32
workers >= 25x and >= 4,800 records/s; client CPU <= 1.5 ms per request; p95 request latency at 8 workers
<= 2x the server's 50 ms (timed by the client's ``on_request``/``on_response`` hooks around each attempt).
Run: ``python benchmarks/bench_bulk_ximilar.py [--strict] [--records N]``.
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from visualsearch_sdk import ImageRecord, VisualSearch
from visualsearch_sdk.preprocess import prepare_image
from visualsearch_sdk.providers.ximilar import XimilarAdapter

__all__ = ["main"]

DELAY = 0.05  # seconds the fake waits before answering each request
DISTINCT = 300  # distinct tiny JPEGs, reused under unique ids
TOKEN, COLLECTION = "bench-token", "bench-collection"
CPU_TARGET_MS = 1.5
LATENCY_FACTOR = 2.0
TARGETS = {8: (7.0, 1_300.0), 32: (25.0, 4_800.0)}  # workers -> (x serial, records/s)


def tiny_jpeg(i: int) -> bytes:
    """A distinct 16x16 JPEG: a flat colour with a gradient stripe whose row depends on ``i``."""
    img = Image.new("RGB", (16, 16), ((i * 37) % 256, (i * 91) % 256, (i * 13) % 256))
    for x in range(16):
        img.putpixel((x, i % 16), (255 - x * 8, x * 8, (i * 5) % 256))
        img.putpixel((i // 16 % 16, x), (x * 16, 255 - x * 16, (i * 7) % 256))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


# -- the server subprocess ---------------------------------------------------------------------------------


def _serve(delay: float, cache: bool) -> None:
    """Serve a FakeXimilar on 127.0.0.1, print its port, and stop when stdin closes (then print its CPU)."""
    from visualsearch_sdk._serve import LoopbackServer
    from visualsearch_sdk.testing.fakes import FakeXimilar

    if cache:
        _cache_features()
    fake = FakeXimilar(token=TOKEN, collection_id=COLLECTION)
    fake.delay(delay)
    with LoopbackServer(fake) as server:
        print(server.port, flush=True)
        sys.stdin.read()
    print(f"{time.process_time()} {len(fake.requests)}", flush=True)
    fake.close()


def _cache_features() -> None:
    """Compute the features of each distinct image once in this process (keyed by the encoded bytes)."""
    from visualsearch_sdk.testing.fakes import ximilar

    real = ximilar.features
    lock = threading.Lock()
    images: dict[str, Image.Image] = {}
    views: dict[int, Any] = {}
    load = ximilar.FakeXimilar._load

    def cached_load(self: Any, record: Any) -> Image.Image:
        key = record.get("_base64")
        if not isinstance(key, str):
            return load(self, record)
        with lock:
            found = images.get(key)
        if found is None:
            found = load(self, record)
            with lock:
                found = images.setdefault(key, found)
        return found

    class _Features:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        @staticmethod
        def index_views(img: Image.Image, *, multi_view: bool) -> Any:
            with lock:
                found = views.get(id(img))
            if found is None:
                found = real.index_views(img, multi_view=multi_view)
                with lock:
                    views[id(img)] = found
            return found

    ximilar.FakeXimilar._load = cached_load  # type: ignore[method-assign]
    ximilar.features = _Features()  # type: ignore[assignment]


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int

    @classmethod
    def start(cls, delay: float, cache: bool) -> Server:
        args = [sys.executable, str(Path(__file__).resolve()), "--serve-fake", str(delay)]
        if not cache:
            args.append("--no-feature-cache")
        process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.isdigit():
            process.kill()
            raise SystemExit(f"the fake server did not start (printed {line!r})")
        return cls(process, int(line))

    def stop(self) -> tuple[float, int]:
        """Stop the server; its process CPU seconds and the requests it saw."""
        try:
            out, _ = self.process.communicate(input="", timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            return float("nan"), 0
        cpu, requests = out.split()
        return float(cpu), int(requests)


# -- the client side ---------------------------------------------------------------------------------------


@dataclass
class Run:
    workers: int
    records: int
    seconds: float
    cpu_seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.records / self.seconds

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_seconds * 1000 / self.requests

    def p(self, q: float) -> float:
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[int(q) - 1]


def _records(prefix: str, n: int, images: list[bytes]) -> Iterator[ImageRecord]:
    for i in range(n):
        yield ImageRecord(id=f"{prefix}-{i}", image=images[i % len(images)], metadata={"n": i})


def _index(url: str, prefix: str, n: int, workers: int, images: list[bytes]) -> Run:
    """Index ``n`` records, ``workers`` batches at a time; wall time, client CPU and request latencies."""
    local = threading.local()
    latencies: list[float] = []

    def on_request(request: httpx.Request) -> None:  # called in the thread that then sends the attempt
        local.started = time.perf_counter()

    def on_response(response: httpx.Response) -> None:
        latencies.append((time.perf_counter() - local.started) * 1000)  # list.append is atomic

    with VisualSearch.from_url(url, on_request=on_request, on_response=on_response) as vs:
        vs.verify()  # open a connection (and import everything) before the clock starts
        latencies.clear()
        cpu, start = time.process_time(), time.perf_counter()
        report = vs.index_many(_records(prefix, n, images), concurrency=workers)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    if not report.ok or len(report.succeeded) != n:
        raise SystemExit(f"{prefix}: {len(report.failed)} records failed, e.g. {report.failed[:2]}")
    return Run(workers, n, seconds, cpu, latencies)


def _check(url: str, total: int, images: list[bytes]) -> None:
    """Every record is stored, and an indexed image finds itself at distance 0."""
    with VisualSearch.from_url(url) as vs:
        count = vs.count()
        if count != total:
            raise SystemExit(f"the fake holds {count} records, expected {total}")
        hit = vs.search(image=images[7], limit=1).hits[0]
        if hit.vendor_score != 0.0:
            raise SystemExit(f"an indexed image does not find itself (best: {hit.id} at {hit.vendor_score})")


def _preprocess_ms(images: list[bytes]) -> float:
    """Client CPU ms to prepare 10 of the images as the pipeline does (provider preset, Ximilar's limits)."""
    for image in images[:10]:
        prepare_image(image, preset=XimilarAdapter.preset, limits=XimilarAdapter.limits)
    cpu = time.process_time()
    for image in images:
        prepare_image(image, preset=XimilarAdapter.preset, limits=XimilarAdapter.limits)
    return (time.process_time() - cpu) * 1000 / len(images) * 10


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--records", type=int, default=10_000, help="records per concurrent run")
    parser.add_argument("--serial", type=int, default=300, help="records of the serial baseline")
    parser.add_argument(
        "--no-feature-cache", action="store_true", help="let the fake compute features for every record"
    )
    parser.add_argument("--serve-fake", type=float, metavar="DELAY", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_fake is not None:
        _serve(args.serve_fake, cache=not args.no_feature_cache)
        return 0

    images = [tiny_jpeg(i) for i in range(DISTINCT)]
    server = Server.start(DELAY, cache=not args.no_feature_cache)
    url = f"ximilar://{TOKEN}@/{COLLECTION}?service=products&base_url=http://127.0.0.1:{server.port}"
    try:
        warm = _index(url, "warm", DISTINCT, 8, images)  # the server sees every distinct image once
        serial = _index(url, "serial", min(args.serial, args.records), 1, images)
        runs = {w: _index(url, f"c{w}", args.records, w, images) for w in TARGETS}
        _check(url, warm.records + serial.records + sum(r.records for r in runs.values()), images)
    finally:
        server_cpu, server_requests = server.stop()

    failed = False

    def verdict(ok: bool) -> str:
        nonlocal failed
        failed |= not ok
        return "PASS" if ok else "FAIL"

    cache = "features of each distinct image computed once" if not args.no_feature_cache else "no cache"
    print(
        f"bulk index into the fake Ximilar on loopback: {DELAY * 1000:.0f} ms per request, 10 records "
        f"per insert, 16x16 JPEGs ({DISTINCT} distinct; server: {cache})"
    )
    print(
        f"  serial baseline: {serial.records} records at concurrency 1, extrapolated as records/s; "
        f"the others: {args.records} records"
    )
    header = f"{'workers':>8} {'records/s':>10} {'vs serial':>10} {'p50 ms':>7} {'p95 ms':>7}"
    print(f"{header} {'cpu ms/req':>11}")
    for run in (serial, *runs.values()):
        print(
            f"{run.workers:>8} {run.rate:>10.0f} {run.rate / serial.rate:>9.1f}x "
            f"{run.p(50):>7.1f} {run.p(95):>7.1f} {run.cpu_ms_per_request:>11.2f}"
        )
    for workers, (ratio, rate) in TARGETS.items():
        run = runs[workers]
        got = run.rate / serial.rate
        ok = got >= ratio and run.rate >= rate
        print(
            f"  {workers} vs 1 workers: {got:.1f}x, {run.rate:.0f} records/s "
            f"(target >= {ratio:.0f}x and >= {rate:,.0f} records/s) {verdict(ok)}"
        )
    cpu = max(r.cpu_ms_per_request for r in runs.values())
    print(
        f"  client CPU per request (worst of 8/32 workers): {cpu:.2f} ms "
        f"(target <= {CPU_TARGET_MS} ms) {verdict(cpu <= CPU_TARGET_MS)}"
    )
    share = _preprocess_ms(images)
    print(f"    of which preprocessing (10 fitting JPEGs: header read, metadata stripped): {share:.2f} ms")
    p95, limit = runs[8].p(95), LATENCY_FACTOR * DELAY * 1000
    print(f"  p95 latency at 8 workers: {p95:.1f} ms (target <= {limit:.0f} ms) {verdict(p95 <= limit)}")
    if server_requests:
        print(
            f"  (server process, not counted above: {server_cpu * 1000 / server_requests:.2f} ms CPU per "
            f"request over {server_requests} requests, start-up included)"
        )
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    raise SystemExit(main())
