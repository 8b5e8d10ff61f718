"""The full client against the fake VisualSnoop: signatures, clock skew, retries, special ids, faults.

Every test runs on the sync client and on the async one (``make_client``). Retry sleeps are recorded, never
slept. Capability checks are proven to happen before any I/O with a transport that records every request.
"""

from __future__ import annotations

import io
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.conftest import jpeg, solid
from visualsearch_sdk import ImageRecord
from visualsearch_sdk._exceptions import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ConflictError,
    InvalidQueryError,
    RateLimitError,
    ServerError,
    UnsupportedCapabilityError,
)
from visualsearch_sdk._retry import RetryPolicy
from visualsearch_sdk._samples import Sample
from visualsearch_sdk._serve import LoopbackServer
from visualsearch_sdk.capabilities import Capability
from visualsearch_sdk.local.app import LocalTransport
from visualsearch_sdk.preprocess import prepare_image
from visualsearch_sdk.providers._visualsnoop_auth import authorization_header, http_date, signed_path
from visualsearch_sdk.providers.visualsnoop import VisualSnoopOptions
from visualsearch_sdk.testing.fakes import FakeVisualSnoop

PUBLIC, SECRET = "e2e-public-key", "e2e-SECRET-0123456789"
MakeClient = Callable[..., Any]
SPECIAL_IDS = [
    "a/b",
    "what?x=1",
    "#hash",
    "with space",
    "café-ü-価格-🔑",
    "100%",
    "a+b&c=d;e",
    ".",
    "..",
    "x/../y",
    "trailing/",
    "%2F",
]


def _policy(max_retries: int, *, cap: float = 60.0) -> RetryPolicy:
    return RetryPolicy(max_retries=max_retries, initial_backoff=0, max_backoff=0, retry_after_cap=cap)


@pytest.fixture
def fake() -> Iterator[FakeVisualSnoop]:
    server = FakeVisualSnoop(public_key=PUBLIC, secret_key=SECRET)
    yield server
    server.close()


def _client(
    make_client: MakeClient,
    fake: FakeVisualSnoop,
    retries: int = 0,
    *,
    clock: Callable[[], float] | None = None,
    handler: Callable[[httpx.Request], httpx.Response] | None = None,
    url: str | None = None,
) -> Any:
    transport = LocalTransport(handler, close_handler=False) if handler is not None else fake.mount()
    options = VisualSnoopOptions(clock=clock) if clock is not None else None
    return make_client(url or fake.client_url(), transport=transport, retry=_policy(retries), options=options)


def _valid(request: httpx.Request) -> bool:
    """Whether ``request`` carries a correct VSHMAC signature for the test key pair."""
    path = signed_path(request.url.raw_path)
    expected = authorization_header(PUBLIC, SECRET, request.method, path, request.headers["date"])
    return request.headers["authorization"] == expected


# -- signatures and clocks -------------------------------------------------------------------------------


def test_retry_re_signs_with_a_fresh_date(make_client: MakeClient, fake: FakeVisualSnoop) -> None:
    start, ticks = time.time(), itertools.count()
    vs = _client(make_client, fake, 2, clock=lambda: start + 5 * next(ticks))
    fake.fail_next(503)
    vs.verify()
    first, second = fake.requests
    assert first.headers["date"] != second.headers["date"]
    assert first.headers["authorization"] != second.headers["authorization"]
    assert _valid(first) and _valid(second)  # each attempt is signed for its own date


def test_stale_date_is_refused_and_not_retried(make_client: MakeClient, fake: FakeVisualSnoop) -> None:
    vs = _client(make_client, fake, 3, clock=lambda: time.time() - 20 * 60)
    with pytest.raises(AuthenticationError) as caught:
        vs.get("anything")
    assert caught.value.status_code == 401 and "skew" in caught.value.message
    assert len(fake.requests) == 1


@pytest.mark.parametrize("offset", [-14 * 60, 14 * 60])
def test_clock_skew_inside_the_window_is_accepted(
    make_client: MakeClient, fake: FakeVisualSnoop, offset: float
) -> None:
    vs = _client(make_client, fake, clock=lambda: time.time() + offset)
    vs.verify()
    assert list(vs.iter_records()) == []


def test_the_skew_window_is_configurable(make_client: MakeClient) -> None:
    strict = FakeVisualSnoop(public_key=PUBLIC, secret_key=SECRET, max_skew=30, clock=lambda: 1_000_000.0)
    _client(make_client, strict, clock=lambda: 1_000_029.0).verify()
    with pytest.raises(AuthenticationError):
        _client(make_client, strict, clock=lambda: 999_969.0).verify()
    strict.close()


@pytest.mark.parametrize("which", ["secret", "public"])
def test_wrong_key_is_an_authentication_error(
    make_client: MakeClient, fake: FakeVisualSnoop, which: str
) -> None:
    other = FakeVisualSnoop(
        public_key=PUBLIC if which == "secret" else "other-public",
        secret_key="wrong-secret" if which == "secret" else SECRET,
    )
    vs = _client(make_client, fake, 2, url=other.client_url())
    with pytest.raises(AuthenticationError) as caught:
        vs.search(id="x")
    assert caught.value.message == ("Invalid signature" if which == "secret" else "Unknown public key")
    assert len(fake.requests) == 1
    other.close()


def _tampered(fake: FakeVisualSnoop, how: str) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        headers, url = request.headers.copy(), request.url
        if how == "signature":
            sig = headers["authorization"]
            headers["authorization"] = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
        elif how == "date":
            headers["date"] = http_date(parsedate_to_datetime(headers["date"]).timestamp() + 1)
        elif how == "path":
            url = url.copy_with(raw_path=url.raw_path.replace(b"/image/victim", b"/image/other"))
        elif how == "method":
            return fake(httpx.Request("DELETE", url, headers=headers))
        return fake(httpx.Request(request.method, url, headers=headers, content=request.content))

    return handler


@pytest.mark.parametrize("how", ["signature", "date", "path", "method"])
def test_tampered_requests_are_refused(make_client: MakeClient, fake: FakeVisualSnoop, how: str) -> None:
    vs = _client(make_client, fake, 2, handler=_tampered(fake, how))
    with pytest.raises(AuthenticationError) as caught:
        vs.get("victim")
    assert caught.value.message == "Invalid signature"
    assert len(fake.requests) == 1


def test_the_secret_never_leaves_the_client(
    make_client: MakeClient,
    fake: FakeVisualSnoop,
    samples: tuple[Sample, ...],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="visualsearch_sdk")
    vs = _client(make_client, fake, 1)
    assert vs.index([ImageRecord(id=s.id, image=s.jpeg) for s in samples[:2]]).ok
    vs.search(image=samples[0].jpeg)
    wrong = FakeVisualSnoop(public_key=PUBLIC, secret_key="SECRET-but-wrong")
    with pytest.raises(AuthenticationError) as caught:
        _client(make_client, fake, url=wrong.client_url()).get(samples[0].id)
    texts = [repr(vs), vs.adapter.describe(), repr(vs.adapter.credentials), repr(vs.adapter.auth())]
    texts += [str(caught.value), repr(caught.value), repr(vars(caught.value)), caplog.text]
    for text in texts:
        assert SECRET not in text and "SECRET-but-wrong" not in text
    for request in fake.requests:  # HMAC: the secret is never on the wire
        assert SECRET.encode() not in request.url.raw_path + request.content
        assert SECRET not in str(request.headers)
    wrong.close()


# -- ids with reserved and non-ASCII characters, end to end ----------------------------------------------


@pytest.mark.parametrize("where", ["in-process", "socket"])
def test_special_ids_round_trip(
    make_client: MakeClient, fake: FakeVisualSnoop, samples: tuple[Sample, ...], where: str
) -> None:
    server = LoopbackServer(fake).start() if where == "socket" else None
    try:
        if server is None:
            vs = _client(make_client, fake)
        else:
            vs = make_client(fake.client_url(base_url=server.url), retry=_policy(0))
        records = [ImageRecord(id=i, image=samples[n].jpeg) for n, i in enumerate(SPECIAL_IDS)]
        report = vs.index(records)
        assert report.succeeded == tuple(SPECIAL_IDS), report.failed
        for n, record_id in enumerate(SPECIAL_IDS):
            assert vs.get(record_id).id == record_id
            assert vs.search(image=samples[n].jpeg, limit=1).ids == [record_id]
            by_id = vs.search(id=record_id, limit=len(SPECIAL_IDS))
            assert record_id not in by_id.ids and len(by_id.hits) == len(SPECIAL_IDS) - 1
        assert sorted(r.id for r in vs.iter_records(page_size=5)) == sorted(SPECIAL_IDS)
        assert vs.index([records[0]], upsert=True).ok  # PUT with an encoded id
        report = vs.delete(SPECIAL_IDS)
        assert report.deleted == tuple(SPECIAL_IDS) and report.not_found == ()
    finally:
        if server is not None:
            server.stop()
    for request in fake.requests:  # every id travelled as exactly one path segment
        assert signed_path(request.url.raw_path).count("/") <= 4
        assert _valid(request)


# -- retry safety ----------------------------------------------------------------------------------------


class _LoseFirstResponse:
    """Handles the first write for real, then loses its response (a read timeout); later requests pass."""

    def __init__(self, fake: FakeVisualSnoop) -> None:
        self.fake, self.lost = fake, 0
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        response = self.fake(request)
        with self._lock:
            if request.method in ("POST", "PUT") and self.lost == 0:
                self.lost += 1
                raise httpx.ReadTimeout("response lost", request=request)
        return response


def test_a_lost_put_is_retried_and_succeeds(
    make_client: MakeClient, fake: FakeVisualSnoop, samples: tuple[Sample, ...]
) -> None:
    vs = _client(make_client, fake, 2, handler=_LoseFirstResponse(fake))
    report = vs.index([ImageRecord(id="p", image=samples[0].jpeg)], upsert=True)
    assert report.ok
    puts = [r for r in fake.requests if r.method == "PUT"]
    assert len(puts) == 2 and all(_valid(p) for p in puts)
    assert [r.id for r in vs.iter_records()] == ["p"]


def test_a_lost_post_with_an_id_is_retried_and_never_duplicates(
    make_client: MakeClient, fake: FakeVisualSnoop, samples: tuple[Sample, ...]
) -> None:
    """POST /image/{id} is retry-safe (VENDORS §3.3): the retry cannot add a second image, it is refused."""
    vs = _client(make_client, fake, 2, handler=_LoseFirstResponse(fake))
    report = vs.index([ImageRecord(id="p", image=samples[0].jpeg)])
    assert [type(f.error) for f in report.failed] == [ConflictError]  # documented: ambiguous after a loss
    assert [r.id for r in vs.iter_records()] == ["p"]
    assert [r.method for r in fake.requests[:2]] == ["POST", "POST"]


def test_an_add_with_a_server_assigned_id_is_never_retried_once_sent(
    make_client: MakeClient, fake: FakeVisualSnoop, samples: tuple[Sample, ...]
) -> None:
    """VENDORS §3.3: ``POST /image`` adds an image on every call, so it is sent at most once."""
    vs = _client(make_client, fake, 3)
    if not hasattr(vs, "send"):
        pytest.skip("this client has no send() for vendor-only requests")
    image = prepare_image(samples[0].jpeg, limits=vs.adapter.limits)
    fake.fail_next(503)
    with pytest.raises(ServerError):
        vs.send(vs.adapter.build_add_image(image))
    fake.drop_next()
    with pytest.raises(APIConnectionError):
        vs.send(vs.adapter.build_add_image(image))
    assert [r.method for r in fake.requests] == ["POST", "POST"]  # one attempt each
    new_id = vs.adapter.parse_added_id(vs.send(vs.adapter.build_add_image(image)))
    assert fake.requests[-1].url.raw_path == b"/api/v1/image"
    assert [r.id for r in vs.iter_records()] == [new_id]
    collection = vs.adapter.parse_collection(vs.send(vs.adapter.build_verify()))
    assert collection["collection_id"] == "6b7c9142" and collection["user"] == "fake@example.com"


def test_timeout_on_search_is_retried(
    make_client: MakeClient, fake: FakeVisualSnoop, samples: tuple[Sample, ...]
) -> None:
    vs = _client(make_client, fake, 2)
    assert vs.index([ImageRecord(id="s", image=samples[0].jpeg)]).ok
    before = len(fake.requests)
    fake.timeout_next()
    assert vs.search(image=samples[0].jpeg).ids == ["s"]
    assert len(fake.requests) - before == 2


def test_timeouts_exhaust_retries(make_client: MakeClient, fake: FakeVisualSnoop) -> None:
    vs = _client(make_client, fake, 1)
    fake.timeout_next(times=2)
    with pytest.raises(APITimeoutError) as caught:
        vs.get("x")
    assert caught.value.attempts == 2


def test_429_honours_retry_after(make_client: MakeClient, fake: FakeVisualSnoop, waits: list[float]) -> None:
    vs = _client(make_client, fake, 2)
    fake.fail_next(429, retry_after=3)
    vs.verify()
    assert [w for w in waits if w > 0] == [3.0]
    fake.fail_next(429, retry_after=1, times=3)
    with pytest.raises(RateLimitError) as caught:
        vs.verify()
    assert caught.value.retry_after == 1.0 and caught.value.message == "Too Many Requests"


def test_html_502_keeps_the_page(make_client: MakeClient, fake: FakeVisualSnoop) -> None:
    vs = _client(make_client, fake, 1)
    fake.fail_next(502, html=True, times=2)
    with pytest.raises(ServerError) as caught:
        vs.search(id="x")
    assert "<h1>502 Bad Gateway</h1>" in caught.value.body and caught.value.attempts == 2


def test_an_error_inside_a_200_answer_is_raised_and_retried(
    make_client: MakeClient, fake: FakeVisualSnoop
) -> None:
    vs = _client(make_client, fake, 1)
    fake.fail_next(200, body={"status": 500, "message": "Internal error"})
    vs.verify()  # retried
    fake.fail_next(200, body={"status": 404, "message": "Not found"})
    with pytest.raises(APIError) as caught:
        vs.get("x")
    assert getattr(caught.value, "status_code", None) == 404


def test_auth_failure_stops_a_bulk_run(
    make_client: MakeClient, fake: FakeVisualSnoop, samples: tuple[Sample, ...]
) -> None:
    wrong = FakeVisualSnoop(public_key=PUBLIC, secret_key="not-the-secret")
    vs = _client(make_client, fake, 3, url=wrong.client_url())
    records = (ImageRecord(id=f"r{i}", image=samples[i % 24].jpeg) for i in range(100))
    report = vs.index_many(records, concurrency=2)
    assert report.stopped_early is not None and report.succeeded == ()
    assert all(isinstance(f.error, AuthenticationError) for f in report.failed)
    assert len(fake.requests) < 100
    wrong.close()


# -- refused before any I/O ------------------------------------------------------------------------------


class _Recorder:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(500, json={"status": 500, "message": "no request was expected"})


def test_every_unsupported_call_fails_before_a_request_is_sent(make_client: MakeClient) -> None:
    recorder = _Recorder()
    url = FakeVisualSnoop(public_key=PUBLIC, secret_key=SECRET).client_url()
    vs = make_client(url, transport=httpx.MockTransport(recorder), retry=_policy(0))
    img = jpeg(solid((10, 20, 30)))
    refused: list[tuple[Callable[[], object], str]] = [
        (lambda: vs.search(url="https://example.com/a.jpg"), "search_by_url"),
        (lambda: vs.search(url="https://example.com/a.jpg", box=(0, 0, 5, 5)), "search_by_url"),
        (lambda: vs.search(color="#fa4d4d"), "search_by_color"),
        (lambda: vs.search(image=img, filter={"brand": "A"}), "filters"),
        (lambda: vs.search(id="x", filter={"price": {"$lt": 3}}), "filters"),
        (lambda: vs.search(image=img, fields=["brand"]), "metadata"),
        (lambda: vs.search(image=img, min_score=0.5), "min_score"),
        (lambda: vs.update("x", {"brand": "A"}), "index_update"),
        (vs.count, "count"),
    ]
    for call, capability in refused:
        with pytest.raises(UnsupportedCapabilityError) as caught:
            call()
        assert caught.value.capability == capability
    with pytest.raises(InvalidQueryError):
        vs.get("x" * 101)  # VisualSnoop ids are at most 100 characters
    with_meta = vs.index([ImageRecord(id="m", image=img, metadata={"brand": "A"})])
    by_url = vs.index([ImageRecord(id="u", url="https://example.com/a.jpg")])
    too_long = vs.index([ImageRecord(id="y" * 101, image=img)])
    for report, cls in ((with_meta, UnsupportedCapabilityError), (by_url, UnsupportedCapabilityError)):
        assert report.succeeded == () and isinstance(report.failed[0].error, cls)
    assert "drop_metadata=True" in str(with_meta.failed[0].error)
    assert isinstance(too_long.failed[0].error, InvalidQueryError)
    assert recorder.requests == []
    assert Capability.SERVER_CROP not in vs.capabilities


def test_drop_metadata_indexes_the_image_only(
    make_client: MakeClient, fake: FakeVisualSnoop, samples: tuple[Sample, ...]
) -> None:
    vs = _client(make_client, fake)
    records = [ImageRecord(id=s.id, image=s.jpeg, metadata=s.metadata) for s in samples[:3]]
    assert vs.index(records, drop_metadata=True).succeeded == tuple(s.id for s in samples[:3])
    assert vs.index_many(
        [ImageRecord(id="more", image=samples[3].jpeg, metadata={"a": 1})], drop_metadata=True
    ).ok
    assert vs.get(samples[0].id).metadata == {}


def test_a_box_is_cropped_on_the_client_before_upload(
    make_client: MakeClient, fake: FakeVisualSnoop, samples: tuple[Sample, ...]
) -> None:
    vs = _client(make_client, fake)
    assert vs.index([ImageRecord(id=s.id, image=s.jpeg) for s in (samples[9], samples[14])]).ok
    left, right = (Image.open(io.BytesIO(s.jpeg)).convert("RGB") for s in (samples[9], samples[14]))
    canvas = Image.new("RGB", (1200, 400), (255, 255, 255))
    canvas.paste(left.resize((400, 400)), (0, 0))
    canvas.paste(right.resize((800, 400)), (400, 0))
    result = vs.search(image=jpeg(canvas), box=(400, 0, 1200, 400), limit=1)
    assert result.ids == [samples[14].id]
    assert result.query_box is not None and all(
        abs(a - b) <= 4 for a, b in zip(result.query_box, (400, 0, 1200, 400))
    )
    uploaded = Image.open(io.BytesIO(fake.requests[-1].content))
    assert fake.requests[-1].url.raw_path.endswith(b"/search")
    assert abs(uploaded.width / uploaded.height - 2.0) < 0.05  # the 800x400 crop, not the 3:1 canvas
