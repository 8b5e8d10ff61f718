"""Fault injection against the fake Ximilar server: retries, timeouts, error mapping and bulk runs.

Every test runs on the sync client and on the async one (``make_client``). Retry sleeps are zero, and where
``Retry-After`` matters the waits are recorded by patching ``time.sleep`` and ``anyio.sleep``.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import pytest
import tenacity

from visualsearch_sdk import ImageRecord
from visualsearch_sdk._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    ServerError,
)
from visualsearch_sdk._retry import RetryPolicy
from visualsearch_sdk._samples import Sample
from visualsearch_sdk.local.app import LocalTransport
from visualsearch_sdk.models import IndexReport
from visualsearch_sdk.testing.fakes import FakeXimilar

TOKEN = "faults-ximilar-token"
MakeClient = Callable[..., Any]


def _policy(max_retries: int, *, cap: float = 60.0) -> RetryPolicy:
    return RetryPolicy(max_retries=max_retries, initial_backoff=0, max_backoff=0, retry_after_cap=cap)


@pytest.fixture
def fake() -> Iterator[FakeXimilar]:
    server = FakeXimilar(token=TOKEN, collection_id="faults")
    yield server
    server.close()


def _client(make_client: MakeClient, fake: FakeXimilar, retries: int, **kwargs: Any) -> Any:
    return make_client(fake.client_url(), transport=fake.mount(), retry=_policy(retries), **kwargs)


def _paths(fake: FakeXimilar, operation: str) -> list[httpx.Request]:
    return [r for r in fake.requests if r.url.path.rstrip("/").endswith("/" + operation)]


def _load(vs: Any, samples: tuple[Sample, ...], n: int = 3) -> list[str]:
    report = vs.index(ImageRecord(id=s.id, image=s.jpeg, metadata=s.metadata) for s in samples[:n])
    assert report.ok, report.failed
    return [s.id for s in samples[:n]]


def _all_ids(report: IndexReport) -> list[str]:
    return list(report.succeeded) + [f.id for f in report.failed] + list(report.skipped)


# -- 1. 429 with Retry-After -----------------------------------------------------------------------------


@pytest.mark.parametrize(("cap", "expected"), [(60.0, 1.0), (0.25, 0.25)])
def test_429_drf_throttle_honours_retry_after(
    make_client: MakeClient,
    fake: FakeXimilar,
    samples: tuple[Sample, ...],
    waits: list[float],
    cap: float,
    expected: float,
) -> None:
    """The auth/throttle layer answers DRF-style ``{"detail"}``: retried after Retry-After (capped)."""
    vs = make_client(fake.client_url(), transport=fake.mount(), retry=_policy(2, cap=cap))
    ids = _load(vs, samples)
    before = len(fake.requests)
    fake.fail_next(
        429, retry_after=1, body={"detail": "Request was throttled. Expected available in 1 second."}
    )
    result = vs.search(image=samples[0].jpeg)
    assert result.hits[0].id == ids[0]
    assert len(fake.requests) - before == 2
    assert [w for w in waits if w > 0] == [expected]


def test_429_status_envelope_honours_retry_after(
    make_client: MakeClient, fake: FakeXimilar, samples: tuple[Sample, ...], waits: list[float]
) -> None:
    vs = _client(make_client, fake, 2)
    ids = _load(vs, samples)
    before = len(fake.requests)
    fake.fail_next(429, retry_after=1)  # the fake's own error shape: {"status": {"code": 429, ...}}
    assert vs.search(image=samples[0].jpeg).hits[0].id == ids[0]
    assert len(fake.requests) - before == 2
    assert [w for w in waits if w > 0] == [1.0]


def test_429_status_envelope_error_class(
    make_client: MakeClient, fake: FakeXimilar, samples: tuple[Sample, ...]
) -> None:
    """Whatever its class, the 429 keeps its HTTP status and Retry-After."""
    vs = _client(make_client, fake, 0)
    fake.fail_next(429, retry_after=1)
    with pytest.raises(APIStatusError) as caught:
        vs.search(image=samples[0].jpeg)
    assert caught.value.status_code == 429
    assert caught.value.retry_after == 1.0
    assert caught.value.provider_code == "429"


# -- 2. 503s -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["count", "search"])
def test_two_503s_then_success(
    make_client: MakeClient,
    fake: FakeXimilar,
    samples: tuple[Sample, ...],
    waits: list[float],
    operation: str,
) -> None:
    vs = _client(make_client, fake, 3)
    ids = _load(vs, samples)
    before = len(fake.requests)
    fake.fail_next(503, times=2)
    if operation == "count":
        assert vs.count() == len(ids)
    else:
        result = vs.search(id=ids[0], limit=5)
        assert {h.id for h in result.hits} == set(ids[1:])
    assert len(fake.requests) - before == 3
    assert all(w == 0 for w in waits)


@pytest.mark.parametrize("operation", ["count", "search"])
def test_503s_exhaust_retries(
    make_client: MakeClient, fake: FakeXimilar, samples: tuple[Sample, ...], operation: str
) -> None:
    vs = _client(make_client, fake, 1)
    ids = _load(vs, samples)
    before = len(fake.requests)
    fake.fail_next(503, times=2)
    call: Callable[[], object] = vs.count if operation == "count" else functools.partial(vs.search, id=ids[0])
    with pytest.raises(ServerError) as caught:
        call()
    assert not isinstance(caught.value, tenacity.RetryError)
    assert caught.value.attempts == 2
    assert caught.value.status_code == 503
    assert len(fake.requests) - before == 2
    assert vs.count() == len(ids)  # the fault is spent: the next call goes through


# -- 3. timeouts -----------------------------------------------------------------------------------------


def test_timeout_on_search_is_retried(
    make_client: MakeClient, fake: FakeXimilar, samples: tuple[Sample, ...]
) -> None:
    vs = _client(make_client, fake, 2)
    ids = _load(vs, samples)
    before = len(fake.requests)
    fake.timeout_next()
    result = vs.search(id=ids[0], limit=5)
    assert {h.id for h in result.hits} == set(ids[1:])
    assert len(fake.requests) - before == 2


def test_timeout_on_search_exhausted(
    make_client: MakeClient, fake: FakeXimilar, samples: tuple[Sample, ...]
) -> None:
    vs = _client(make_client, fake, 1)
    fake.timeout_next(times=2)
    with pytest.raises(APITimeoutError) as caught:
        vs.search(image=samples[0].jpeg)
    assert caught.value.attempts == 2
    assert len(fake.requests) == 2


def test_timeout_on_insert_is_not_retried(
    make_client: MakeClient, fake: FakeXimilar, samples: tuple[Sample, ...]
) -> None:
    vs = _client(make_client, fake, 3)
    fake.timeout_next()
    batch = samples[:4]
    report = vs.index(ImageRecord(id=s.id, image=s.jpeg, metadata=s.metadata) for s in batch)
    assert report.succeeded == ()
    assert sorted(f.id for f in report.failed) == sorted(s.id for s in batch)
    assert len(_all_ids(report)) == len(set(_all_ids(report))) == len(batch)
    assert all(isinstance(f.error, APITimeoutError) for f in report.failed)
    assert all(f.error_type == "APITimeoutError" for f in report.failed)
    assert len(_paths(fake, "insert")) == 1
    assert len(fake.requests) == 1
    assert vs.count() == 0  # the timed-out request was never handled


# -- 4. errors inside a 200 body ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "text", "cls"),
    [
        (500, "unknown error", ServerError),
        (402, "aborted by error", ServerError),
        (412, "capacity exceeded", InvalidRequestError),
        (400, "bad request", InvalidRequestError),
    ],
)
def test_error_status_inside_http_200(
    make_client: MakeClient,
    fake: FakeXimilar,
    samples: tuple[Sample, ...],
    code: int,
    text: str,
    cls: type[APIStatusError],
) -> None:
    vs = _client(make_client, fake, 0)
    fake.fail_next(200, body={"status": {"code": code, "text": text}})
    with pytest.raises(cls) as caught:
        vs.search(image=samples[0].jpeg)
    error = caught.value
    assert type(error) is cls
    assert error.provider_code == str(code)
    assert error.status_code == code
    assert text in str(error)
    assert json.loads(error.body) == {"status": {"code": code, "text": text}}
    assert len(fake.requests) == 1


def test_error_status_inside_http_200_is_retried_for_search(
    make_client: MakeClient, fake: FakeXimilar, samples: tuple[Sample, ...]
) -> None:
    vs = _client(make_client, fake, 2)
    ids = _load(vs, samples)
    before = len(fake.requests)
    fake.fail_next(200, body={"status": {"code": 500, "text": "unknown error"}})
    result = vs.search(image=samples[0].jpeg)
    assert result.hits[0].id == ids[0]
    assert len(fake.requests) - before == 2


def test_wrong_query_record_inside_http_200_is_not_found(
    make_client: MakeClient, fake: FakeXimilar, samples: tuple[Sample, ...]
) -> None:
    vs = _client(make_client, fake, 0)
    fake.fail_next(200, body={"status": {"code": 403, "text": "wrong query record"}})
    with pytest.raises(NotFoundError) as caught:
        vs.search(id="no-such-id")
    assert caught.value.provider_code == "403"


# -- 5. HTML 502 -----------------------------------------------------------------------------------------


def test_html_502_keeps_the_page(
    make_client: MakeClient, fake: FakeXimilar, samples: tuple[Sample, ...]
) -> None:
    vs = _client(make_client, fake, 2)
    fake.fail_next(502, html=True, times=3)
    with pytest.raises(APIError) as caught:
        vs.search(image=samples[0].jpeg)
    error = caught.value
    assert isinstance(error, (ServerError, APIResponseError))
    assert not isinstance(error, json.JSONDecodeError)
    assert not isinstance(error.__cause__, json.JSONDecodeError) or isinstance(error, APIResponseError)
    assert "<center><h1>502 Bad Gateway</h1></center>" in error.body
    assert error.status_code == 502
    assert error.attempts == 3
    assert len(fake.requests) == 3


def test_html_502_then_success(
    make_client: MakeClient, fake: FakeXimilar, samples: tuple[Sample, ...]
) -> None:
    vs = _client(make_client, fake, 2)
    fake.fail_next(502, html=True)
    assert vs.count() == 0
    assert len(fake.requests) == 2


# -- 6. a dropped connection mid bulk run --------------------------------------------------------------


class _DropThirdInsert:
    """Forwards to the fake; the ``nth`` insert request is dropped (requests are served one at a time)."""

    def __init__(self, fake: FakeXimilar, nth: int = 3) -> None:
        self.fake, self.nth = fake, nth
        self.inserts = 0
        self.dropped_ids: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:  # serialised, so the planned drop hits exactly this request
            if request.url.path.rstrip("/").endswith("/insert"):
                self.inserts += 1
                if self.inserts == self.nth:
                    self.dropped_ids = [r["_id"] for r in json.loads(request.content)["records"]]
                    self.fake.drop_next()
            return self.fake(request)


def _bulk_records(samples: tuple[Sample, ...], n: int) -> list[ImageRecord]:
    return [
        ImageRecord(
            id=f"{samples[i % len(samples)].id}-v{i // len(samples)}",
            image=samples[i % len(samples)].jpeg,
            metadata={**samples[i % len(samples)].metadata, "variant": i // len(samples)},
        )
        for i in range(n)
    ]


def test_connection_dropped_mid_bulk_run(
    make_client: MakeClient, fake: FakeXimilar, samples: tuple[Sample, ...]
) -> None:
    records = _bulk_records(samples, 60)
    all_ids = {r.id for r in records}
    assert len(all_ids) == 60
    handler = _DropThirdInsert(fake)
    vs = make_client(
        fake.client_url(), transport=LocalTransport(handler, close_handler=False), retry=_policy(3)
    )
    report = vs.index_many(iter(records), batch_size=10, concurrency=3)

    reported = _all_ids(report)
    assert len(reported) == len(set(reported)) == 60
    assert set(reported) == all_ids
    assert report.stopped_early is None
    assert len(handler.dropped_ids) == 10
    inserts = [r for r in fake.requests if r.url.path.endswith("/insert")]
    if len(inserts) == 6:  # not retried: the dropped batch failed with APIConnectionError
        assert {f.id for f in report.failed} == set(handler.dropped_ids)
        for failure in report.failed:
            assert isinstance(failure.error, APIConnectionError)
            assert not isinstance(failure.error, APITimeoutError)
    else:  # retried: nothing may be doubled in the index
        assert len(inserts) == 7
    assert vs.count() == len(report.succeeded)
    for rid in report.succeeded:
        assert vs.get(rid).id == rid
    assert {r.id for r in vs.iter_records(page_size=25)} == set(report.succeeded)


def test_dropped_search_is_retried(
    make_client: MakeClient, fake: FakeXimilar, samples: tuple[Sample, ...]
) -> None:
    vs = _client(make_client, fake, 1)
    ids = _load(vs, samples)
    before = len(fake.requests)
    fake.drop_next()
    assert vs.search(image=samples[0].jpeg).hits[0].id == ids[0]
    assert len(fake.requests) - before == 2


def test_search_on_empty_collection_answers_no_hits(
    make_client: MakeClient, fake: FakeXimilar, samples: tuple[Sample, ...]
) -> None:
    vs = _client(make_client, fake, 0)
    assert vs.search(image=samples[0].jpeg).hits == ()


# -- 7. authentication failure stops a bulk run --------------------------------------------------------


def test_auth_failure_stops_bulk_run_early(
    make_client: MakeClient, fake: FakeXimilar, samples: tuple[Sample, ...]
) -> None:
    total = 200
    pulled = 0

    def source() -> Iterator[Mapping[str, Any]]:
        nonlocal pulled
        for i in range(total):
            pulled += 1
            sample = samples[i % len(samples)]
            yield {"id": f"auth-{i}", "image": sample.jpeg, "metadata": sample.metadata}

    wrong = FakeXimilar(token="the-wrong-token", collection_id="faults")
    vs = make_client(wrong.client_url(), transport=fake.mount(), retry=_policy(3))
    report = vs.index_many(source(), batch_size=10, concurrency=2)

    assert report.stopped_early is not None
    assert "authentication" in report.stopped_early
    assert not report.ok
    assert report.succeeded == ()
    reported = _all_ids(report)
    assert len(reported) == len(set(reported)), "a record was reported twice"
    assert pulled < total, "the whole input was consumed"
    assert len(reported) == pulled, "every record read is reported"
    assert all(isinstance(f.error, AuthenticationError) for f in report.failed)
    inserts = [r for r in fake.requests if r.url.path.endswith("/insert")]
    assert len(inserts) <= 2, "batches cut after the run stopped were sent"  # at most the two in flight
    inserts = _paths(fake, "insert")
    assert len(inserts) * 10 <= pulled  # no insert retried: an auth error is final
    assert len(inserts) < total // 10
    wrong.close()


def test_rate_limit_error_class_for_drf_429(make_client: MakeClient, fake: FakeXimilar) -> None:
    vs = _client(make_client, fake, 0)
    fake.fail_next(429, retry_after=3, body={"detail": "Request was throttled."})
    with pytest.raises(RateLimitError) as caught:
        vs.count()
    assert caught.value.retry_after == 3.0
    assert "throttled" in str(caught.value)
