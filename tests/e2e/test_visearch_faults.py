"""Fault injection against the fake ViSearch server: retries, timeouts, error codes inside HTTP 200, bulk
runs, and asynchronous indexing whose status reports failed images.

Every test runs on the sync client and on the async one (``make_client``). Retry sleeps are zero, and the
waits the clients ask for (retries, polling) are recorded by patching ``time.sleep`` and ``anyio.sleep``.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from PIL import Image

from tests.contract.cases import ImageHost
from visualsearch_sdk import ImageRecord
from visualsearch_sdk._exceptions import (
    APIConnectionError,
    APIError,
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
from visualsearch_sdk.models import IndexReport
from visualsearch_sdk.providers.visearch import ViSearchOptions
from visualsearch_sdk.testing.fakes import FakeViSearch
from visualsearch_sdk.testing.fakes.visearch import FIRST_TRANS_ID

MakeClient = Callable[..., Any]
OPTIONS = ViSearchOptions(schema={"price": float})


def _policy(max_retries: int, *, cap: float = 60.0) -> RetryPolicy:
    return RetryPolicy(max_retries=max_retries, initial_backoff=0, max_backoff=0, retry_after_cap=cap)


@pytest.fixture
def host() -> ImageHost:
    return ImageHost("https://images.faults.test/")


@pytest.fixture
def fake(host: ImageHost) -> Iterator[FakeViSearch]:
    server = FakeViSearch(url_resolver=host.resolve, settle_after_polls=1)
    yield server
    server.close()


def _client(make_client: MakeClient, fake: FakeViSearch, retries: int, **kwargs: Any) -> Any:
    return make_client(
        fake.client_url(), transport=fake.mount(), retry=_policy(retries), options=OPTIONS, **kwargs
    )


def _records(host: ImageHost, samples: tuple[Sample, ...], n: int = 3) -> list[ImageRecord]:
    return [ImageRecord(id=s.id, url=host.url_for(s.jpeg), metadata=s.metadata) for s in samples[:n]]


def _load(vs: Any, host: ImageHost, samples: tuple[Sample, ...], n: int = 3) -> list[str]:
    report = vs.index(_records(host, samples, n), wait=True)
    assert report.ok, report.failed
    return [s.id for s in samples[:n]]


def _paths(fake: FakeViSearch, suffix: str) -> list[Any]:
    return [r for r in fake.requests if r.url.path.rstrip("/").endswith(suffix)]


def _status_requests(fake: FakeViSearch) -> list[Any]:
    return [r for r in fake.requests if "/insert/status/" in r.url.path]


def _all_ids(report: IndexReport) -> list[str]:
    return list(report.succeeded) + [f.id for f in report.failed] + list(report.skipped)


def _png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


# -- 1. rate limits and 5xx ----------------------------------------------------------------------------


@pytest.mark.parametrize(("cap", "expected"), [(60.0, 1.0), (0.25, 0.25)])
def test_429_honours_retry_after(
    make_client: MakeClient,
    fake: FakeViSearch,
    host: ImageHost,
    samples: tuple[Sample, ...],
    waits: list[float],
    cap: float,
    expected: float,
) -> None:
    vs = make_client(fake.client_url(), transport=fake.mount(), retry=_policy(2, cap=cap))
    ids = _load(vs, host, samples)
    before = len(fake.requests)
    fake.fail_next(429, retry_after=1)
    assert vs.search(image=samples[0].jpeg).ids[0] == ids[0]
    assert len(fake.requests) - before == 2
    assert [w for w in waits if w > 0] == [expected]


def test_429_keeps_its_class_and_retry_after(make_client: MakeClient, fake: FakeViSearch) -> None:
    vs = _client(make_client, fake, 0)
    fake.fail_next(429, retry_after=3)
    with pytest.raises(RateLimitError) as caught:
        vs.search(color="#ff0000")
    assert (caught.value.status_code, caught.value.retry_after) == (429, 3.0)


@pytest.mark.parametrize("operation", ["search", "insert", "remove", "status"])
def test_two_503s_then_success_on_every_idempotent_operation(
    make_client: MakeClient,
    fake: FakeViSearch,
    host: ImageHost,
    samples: tuple[Sample, ...],
    operation: str,
) -> None:
    """Every ViSearch call is idempotent (VENDORS §1.7: insert and remove are upserts by im_name)."""
    vs = _client(make_client, fake, 3)
    ids = _load(vs, host, samples)
    before = len(fake.requests)
    if operation == "status":
        report = vs.index(_records(host, samples[3:], 1))
        fake.fail_next(503, times=2)
        assert vs.wait_for_indexing(report, poll_interval=0).succeeded == (samples[3].id,)
    else:
        fake.fail_next(503, times=2)
        if operation == "search":
            assert set(vs.search(id=ids[0], limit=5).ids) == set(ids[1:])
        elif operation == "insert":
            report = vs.index(_records(host, samples[3:], 2), wait=True)
            assert report.ok and len(report.succeeded) == 2
        else:
            assert vs.delete([ids[0]]).deleted == (ids[0],)
    assert len(fake.requests) - before >= 3


def test_503s_exhaust_retries(
    make_client: MakeClient, fake: FakeViSearch, host: ImageHost, samples: tuple[Sample, ...]
) -> None:
    vs = _client(make_client, fake, 1)
    ids = _load(vs, host, samples)
    before = len(fake.requests)
    fake.fail_next(503, times=2)
    with pytest.raises(ServerError) as caught:
        vs.search(id=ids[0])
    assert (caught.value.attempts, caught.value.status_code) == (2, 503)
    assert len(fake.requests) - before == 2
    assert vs.search(id=ids[0]).ids  # the fault is spent


def test_html_502_keeps_the_page(
    make_client: MakeClient, fake: FakeViSearch, samples: tuple[Sample, ...]
) -> None:
    vs = _client(make_client, fake, 2)
    fake.fail_next(502, html=True, times=3)
    with pytest.raises(ServerError) as caught:
        vs.search(image=samples[0].jpeg)
    assert "<center><h1>502 Bad Gateway</h1></center>" in caught.value.body
    assert caught.value.attempts == 3 and len(fake.requests) == 3


# -- 2. errors inside an HTTP 200 body ---------------------------------------------------------------------


@pytest.mark.parametrize("code", [31, 1001, 1105, 1106])
def test_retryable_codes_inside_http_200_are_retried(
    make_client: MakeClient, fake: FakeViSearch, host: ImageHost, samples: tuple[Sample, ...], code: int
) -> None:
    vs = _client(make_client, fake, 2)
    ids = _load(vs, host, samples)
    before = len(fake.requests)
    fake.fail_next(200, body=fake.fail_body(code, "uploadsearch"))
    assert vs.search(image=samples[0].jpeg).ids[0] == ids[0]
    assert len(fake.requests) - before == 2


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (11, AuthenticationError),
        (1101, NotFoundError),
        (1102, InvalidRequestError),
        (1104, InvalidRequestError),
    ],
)
def test_caller_errors_inside_http_200_are_not_retried(
    make_client: MakeClient,
    fake: FakeViSearch,
    samples: tuple[Sample, ...],
    code: int,
    cls: type[APIStatusError],
) -> None:
    vs = _client(make_client, fake, 3)
    fake.fail_next(200, body=fake.fail_body(code))
    with pytest.raises(cls) as caught:
        vs.search(image=samples[0].jpeg)
    error = caught.value
    assert type(error) is cls and error.provider_code == str(code) and error.attempts == 1
    assert error.message in error.body and len(fake.requests) == 1


def test_wrong_keys_are_an_authentication_error_answered_in_http_200(
    make_client: MakeClient, fake: FakeViSearch, samples: tuple[Sample, ...]
) -> None:
    wrong = FakeViSearch(secret_key="not-the-secret")
    vs = make_client(wrong.client_url(), transport=fake.mount(), retry=_policy(3))
    with pytest.raises(AuthenticationError) as caught:
        vs.search(color="#ff0000")
    assert caught.value.status_code == 401 and caught.value.provider_code == "11"
    assert len(fake.requests) == 1  # never retried
    with pytest.raises(AuthenticationError):
        vs.verify()
    right = _client(make_client, fake, 0)
    right.verify()  # the status of transaction 0: unknown (101), which proves the keys
    wrong.close()


def test_search_on_an_empty_application_finds_nothing(
    make_client: MakeClient, fake: FakeViSearch, samples: tuple[Sample, ...]
) -> None:
    vs = _client(make_client, fake, 0)
    assert vs.search(image=samples[0].jpeg).hits == ()  # 1107 "the app has no images"
    assert vs.search(color="#ff0000").hits == ()


# -- 3. timeouts and dropped connections -------------------------------------------------------------------


def test_timeout_and_drop_on_search_are_retried(
    make_client: MakeClient, fake: FakeViSearch, host: ImageHost, samples: tuple[Sample, ...]
) -> None:
    vs = _client(make_client, fake, 2)
    ids = _load(vs, host, samples)
    before = len(fake.requests)
    fake.timeout_next()
    fake.drop_next()
    assert vs.search(id=ids[0], limit=5).ids
    assert len(fake.requests) - before == 3


def test_timeout_exhausted(make_client: MakeClient, fake: FakeViSearch, samples: tuple[Sample, ...]) -> None:
    vs = _client(make_client, fake, 1)
    fake.timeout_next(times=2)
    with pytest.raises(APITimeoutError) as caught:
        vs.search(image=samples[0].jpeg)
    assert caught.value.attempts == 2


def test_dropped_insert_is_retried_and_indexes_once(
    make_client: MakeClient, fake: FakeViSearch, host: ImageHost, samples: tuple[Sample, ...]
) -> None:
    """An insert is an upsert keyed by im_name: retrying one that may have arrived cannot double a record."""
    vs = _client(make_client, fake, 2)
    fake.drop_next()
    report = vs.index(_records(host, samples, 4), wait=True)
    assert report.ok and report.succeeded == tuple(s.id for s in samples[:4])
    assert len(_paths(fake, "/insert")) == 2
    assert sorted(vs.search(image=samples[0].jpeg, limit=10).ids) == sorted(s.id for s in samples[:4])


def test_insert_failing_for_good_fails_each_record_once(
    make_client: MakeClient, fake: FakeViSearch, host: ImageHost, samples: tuple[Sample, ...]
) -> None:
    vs = _client(make_client, fake, 1)
    fake.drop_next(times=2)
    report = vs.index(_records(host, samples, 3))
    assert report.succeeded == () and len(_all_ids(report)) == len(set(_all_ids(report))) == 3
    assert all(isinstance(f.error, APIConnectionError) for f in report.failed)


# -- 4. asynchronous indexing -----------------------------------------------------------------------------


def test_status_reports_failed_images_each_with_its_vendor_code(
    make_client: MakeClient, fake: FakeViSearch, host: ImageHost, samples: tuple[Sample, ...]
) -> None:
    vs = _client(make_client, fake, 0)
    records = [
        ImageRecord(id="good-1", url=host.url_for(samples[0].jpeg), metadata={"price": 10.0}),
        ImageRecord(id="unreachable", url="https://images.faults.test/404.jpg"),  # 201: download failed
        ImageRecord(id="not-an-image", url=host.url_for(b"%PDF-1.7 not an image")),  # 202: format
        ImageRecord(id="tiny", url=host.url_for(_png((60, 40)))),  # 203: under 100 px a side
        ImageRecord(id="bytes-only", image=samples[2].jpeg),  # refused before any request
        ImageRecord(id="good-2", url=host.url_for(samples[1].jpeg)),
    ]
    report = vs.index(records)
    assert report.succeeded == ("good-1", "unreachable", "not-an-image", "tiny", "good-2")  # accepted
    assert [f.id for f in report.failed] == ["bytes-only"]
    assert "image bytes" in str(report.failed[0].error)
    assert len(report.transaction_ids) == 1 and int(report.transaction_ids[0]) >= FIRST_TRANS_ID > 2**53

    settled = vs.wait_for_indexing(report, poll_interval=0)
    assert settled.succeeded == ("good-1", "good-2")
    codes = {f.id: getattr(f.error, "provider_code", None) for f in settled.failed}
    assert codes == {"bytes-only": None, "unreachable": "201", "not-an-image": "202", "tiny": "203"}
    assert all(isinstance(settled_f.error, InvalidRequestError) for settled_f in settled.failed[1:])
    assert settled.failed[1].reason == "InvalidRequestError: 201"
    assert sorted(_all_ids(settled)) == sorted(r.id for r in records)
    assert set(vs.search(image=samples[0].jpeg, limit=10).ids) == {"good-1", "good-2"}


def test_status_is_read_through_every_error_page(
    make_client: MakeClient, fake: FakeViSearch, host: ImageHost, samples: tuple[Sample, ...]
) -> None:
    vs = _client(make_client, fake, 0)
    missing = [
        ImageRecord(id=f"gone-{i:03d}", url=f"https://images.faults.test/gone/{i}.jpg") for i in range(230)
    ]
    report = vs.index([*missing, *_records(host, samples, 2)])
    assert len(report.transaction_ids) == 3  # 232 records: three inserts of at most 100
    settled = vs.wait_for_indexing(report, poll_interval=0)
    assert settled.succeeded == tuple(s.id for s in samples[:2])
    assert sorted(f.id for f in settled.failed) == sorted(r.id for r in missing)
    pages = [(r.url.path.rsplit("/", 1)[-1], r.url.params["error_page"]) for r in _status_requests(fake)]
    assert pages == [
        (report.transaction_ids[0], "1"),
        (report.transaction_ids[1], "1"),
        (report.transaction_ids[2], "1"),
    ]  # 100, 100 and 30 failures: one page each at error_limit=100
    big = [ImageRecord(id=f"x{i:03d}", url=f"https://images.faults.test/x/{i}.jpg") for i in range(100)]
    fake.requests.clear()
    done = vs.index(big, wait=True)
    assert len(done.failed) == 100 and done.succeeded == ()
    assert [r.url.params["error_page"] for r in _status_requests(fake)] == ["1"]


def test_status_pages_when_the_server_pages_smaller(
    make_client: MakeClient, fake: FakeViSearch, host: ImageHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server decides the page size it uses (it echoes error_limit): every page is still read."""
    import visualsearch_sdk.providers.visearch as adapter_module

    monkeypatch.setattr(adapter_module, "ERROR_LIMIT", 7)
    vs = _client(make_client, fake, 0)
    missing = [ImageRecord(id=f"gone-{i}", url=f"https://images.faults.test/gone/{i}.jpg") for i in range(20)]
    settled = vs.index(missing, wait=True)
    assert sorted(f.id for f in settled.failed) == sorted(r.id for r in missing)
    assert [r.url.params["error_page"] for r in _status_requests(fake)] == ["1", "2", "3"]


def test_polling_sleeps_between_status_requests(
    make_client: MakeClient, host: ImageHost, samples: tuple[Sample, ...], waits: list[float]
) -> None:
    slow = FakeViSearch(url_resolver=host.resolve, settle_after_polls=3)
    vs = _client(make_client, slow, 0)
    report = vs.index(_records(host, samples, 3))
    assert vs.search(color="#ff0000").hits == ()  # nothing is searchable before the transaction is processed
    settled = vs.wait_for_indexing(report, poll_interval=0.5)
    assert settled.ok and len(_status_requests(slow)) == 3
    assert waits == [0.5, 0.5]  # the client shell slept between the polls (time.sleep / anyio.sleep)
    assert vs.search(image=samples[1].jpeg, limit=1).ids == [samples[1].id]
    slow.close()


def test_wait_times_out_and_can_wait_again(
    make_client: MakeClient, host: ImageHost, samples: tuple[Sample, ...]
) -> None:
    slow = FakeViSearch(url_resolver=host.resolve, settle_after_polls=4)
    vs = _client(make_client, slow, 0)
    report = vs.index(_records(host, samples, 2))
    with pytest.raises(APITimeoutError, match="still running"):
        vs.wait_for_indexing(report, timeout=0, poll_interval=1)
    assert vs.wait_for_indexing(report, timeout=60, poll_interval=0).ok
    slow.close()


def test_a_lost_transaction_is_not_found(make_client: MakeClient, fake: FakeViSearch) -> None:
    vs = _client(make_client, fake, 0)
    lost = IndexReport(succeeded=("a",), transaction_ids=("12345",))
    with pytest.raises(NotFoundError) as caught:
        vs.wait_for_indexing(lost, poll_interval=0)
    assert caught.value.provider_code == "101"


# -- 5. authentication failure stops a bulk run ----------------------------------------------------------


def test_auth_failure_stops_bulk_run_early(
    make_client: MakeClient, fake: FakeViSearch, host: ImageHost, samples: tuple[Sample, ...]
) -> None:
    total, pulled = 1000, 0

    def source() -> Iterator[Mapping[str, Any]]:
        nonlocal pulled
        for i in range(total):
            pulled += 1
            yield {"id": f"auth-{i}", "url": host.url_for(samples[i % len(samples)].jpeg)}

    wrong = FakeViSearch(access_key="someone-else")
    vs = make_client(wrong.client_url(), transport=fake.mount(), retry=_policy(3))
    report = vs.index_many(source(), batch_size=100, concurrency=2)
    assert report.stopped_early is not None and "authentication" in report.stopped_early
    assert report.succeeded == () and pulled < total and len(_all_ids(report)) == pulled
    assert all(isinstance(f.error, AuthenticationError) for f in report.failed)
    assert len(_paths(fake, "/insert")) * 100 <= pulled
    wrong.close()


def test_errors_never_escape_as_httpx_or_json_errors(
    make_client: MakeClient, fake: FakeViSearch, samples: tuple[Sample, ...]
) -> None:
    vs = _client(make_client, fake, 0)
    fake.fail_next(200, body="{not json")
    with pytest.raises(APIError) as caught:
        vs.search(image=samples[0].jpeg)
    assert type(caught.value).__module__ == "visualsearch_sdk._exceptions"
