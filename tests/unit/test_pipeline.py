"""The sans-IO pipeline driven by hand (values sent into the flow generators), and BulkRun bookkeeping."""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from visualsearch_sdk import (
    APIResponseError,
    AuthenticationError,
    ImageRecord,
    IndexReport,
    InvalidQueryError,
    RateLimitError,
    ServerError,
    UnsupportedCapabilityError,
    VisualSearchError,
)
from visualsearch_sdk._bulk import BulkRun
from visualsearch_sdk._core import Compute, Flow, Pipeline, Send, parse_color
from visualsearch_sdk.capabilities import Capability
from visualsearch_sdk.models import RecordFailure, SearchQuery
from visualsearch_sdk.providers.local import LocalAdapter

T = Any


def jpeg(colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 24), colour).save(buffer, "JPEG")
    return buffer.getvalue()


JPEG = jpeg()


def reply(request: httpx.Request, status: int, body: Any) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(), request=request)


class Driver:
    """Runs a flow by hand: ``Compute`` steps inline, ``Send`` steps answered by ``answer``."""

    def __init__(self, answer: Callable[[Send], httpx.Response | VisualSearchError]) -> None:
        self.answer = answer
        self.sent: list[Send] = []
        self.computed = 0

    def run(self, flow: Flow[T]) -> T:
        value: Any = None
        error: VisualSearchError | None = None
        while True:
            try:
                step = flow.send(value) if error is None else flow.throw(error)
            except StopIteration as stop:
                return stop.value
            value, error = None, None
            if isinstance(step, Compute):
                self.computed += 1
                value = step.fn()
                continue
            assert isinstance(step, Send)
            self.sent.append(step)
            outcome = self.answer(step)
            if isinstance(outcome, VisualSearchError):
                error = outcome
            else:
                value = outcome


def records(*ids: str, bad: frozenset[str] = frozenset()) -> list[ImageRecord]:
    return [ImageRecord(id=i, image=b"not an image" if i in bad else JPEG) for i in ids]


def server_error() -> ServerError:
    return ServerError("busy", provider="local", status_code=503)


@pytest.fixture
def pipeline() -> Pipeline:
    return Pipeline(LocalAdapter())


# -- index_batch -------------------------------------------------------------------------------------


def test_index_batch_steps(pipeline: Pipeline) -> None:
    flow = pipeline.index_batch(records("a"), upsert=True)
    step = next(flow)
    assert isinstance(step, Compute)
    ready, failed = step.fn()
    assert [r.id for r in ready] == ["a"] and failed == []
    send = flow.send((ready, failed))
    assert isinstance(send, Send)
    assert send.operation == "index"
    assert send.idempotent is False
    assert send.request.method == "POST" and send.request.url.path == "/v1/records"
    body = json.loads(send.request.content)
    assert body["upsert"] is True and [r["id"] for r in body["records"]] == ["a"]
    with pytest.raises(StopIteration) as stop:
        flow.send(reply(send.request, 200, {"results": [{"id": "a", "status": "ok"}]}))
    assert stop.value.value == IndexReport(succeeded=("a",))


def test_index_batch_provider_error_fails_every_record_in_order(pipeline: Pipeline) -> None:
    driver = Driver(lambda send: server_error())
    report = driver.run(pipeline.index_batch(records("c", "a", "b"), upsert=False))
    assert report.succeeded == ()
    assert [f.id for f in report.failed] == ["c", "a", "b"]
    assert all(isinstance(f.error, ServerError) for f in report.failed)
    assert all(f.reason == "ServerError" for f in report.failed)
    assert len(driver.sent) == 1


def test_index_batch_mixes_local_failures_and_provider_error_in_input_order(pipeline: Pipeline) -> None:
    driver = Driver(lambda send: RateLimitError("slow", provider="local", status_code=429, provider_code="q"))
    report = driver.run(
        pipeline.index_batch(records("a", "b", "c", "d", bad=frozenset({"b", "d"})), upsert=False)
    )
    assert [f.id for f in report.failed] == ["a", "b", "c", "d"]
    reasons = {f.id: f.reason for f in report.failed}
    assert reasons["a"] == reasons["c"] == "RateLimitError: q"
    assert reasons["b"] == reasons["d"] == "unreadable"
    sent = json.loads(driver.sent[0].request.content)
    assert [r["id"] for r in sent["records"]] == ["a", "c"]


def test_index_batch_all_images_bad_sends_nothing(pipeline: Pipeline) -> None:
    driver = Driver(lambda send: pytest.fail("nothing should be sent"))
    report = driver.run(pipeline.index_batch(records("x", "y", bad=frozenset({"x", "y"})), upsert=False))
    assert driver.sent == []
    assert [f.id for f in report.failed] == ["x", "y"]


def test_index_batch_record_not_reported(pipeline: Pipeline) -> None:
    def answer(send: Send) -> httpx.Response:
        return reply(send.request, 200, {"results": [{"id": "b", "status": "ok"}]})

    report = Driver(answer).run(pipeline.index_batch(records("a", "b", "c"), upsert=False))
    assert report.succeeded == ("b",)
    assert [f.id for f in report.failed] == ["a", "c"]
    assert all(f.reason == "not reported" for f in report.failed)
    assert all(isinstance(f.error, APIResponseError) for f in report.failed)
    assert report.total == 3


def test_index_batch_per_record_errors_and_order(pipeline: Pipeline) -> None:
    def answer(send: Send) -> httpx.Response:
        # The provider answers out of order, with one conflict.
        return reply(
            send.request,
            200,
            {
                "results": [
                    {"id": "c", "status": "ok"},
                    {"id": "a", "status": "error", "code": "conflict", "message": "exists"},
                    {"id": "b", "status": "ok"},
                ]
            },
        )

    report = Driver(answer).run(pipeline.index_batch(records("a", "b", "c"), upsert=False))
    assert report.succeeded == ("b", "c")
    assert [f.id for f in report.failed] == ["a"]
    assert report.failed[0].reason == "ConflictError: conflict"


def test_index_batch_bad_body_becomes_per_record_failures(pipeline: Pipeline) -> None:
    report = Driver(lambda send: reply(send.request, 200, {"nope": 1})).run(
        pipeline.index_batch(records("a", "b"), upsert=False)
    )
    assert [f.id for f in report.failed] == ["a", "b"]
    assert all(isinstance(f.error, APIResponseError) for f in report.failed)


def test_index_batch_reraises_authentication_error(pipeline: Pipeline) -> None:
    auth = AuthenticationError("no", provider="local", status_code=401)
    with pytest.raises(AuthenticationError):
        Driver(lambda send: auth).run(pipeline.index_batch(records("a"), upsert=False))


class _UrlOnlyAdapter(LocalAdapter):
    capabilities: ClassVar[frozenset[Capability]] = LocalAdapter.capabilities - {
        Capability.INDEX_FROM_BYTES,
        Capability.METADATA,
    }


def test_prepare_records_capability_failures() -> None:
    pipe = Pipeline(_UrlOnlyAdapter())
    items = [
        ImageRecord(id="bytes", image=JPEG),
        ImageRecord(id="meta", url="https://example.com/a.jpg", metadata={"k": 1}),
    ]
    ready, failed = pipe.prepare_records(items)
    assert ready == []
    assert [f.id for f in failed] == ["bytes", "meta"]
    assert all(isinstance(f.error, UnsupportedCapabilityError) for f in failed)


# -- other flows -------------------------------------------------------------------------------------


def test_count_flow(pipeline: Pipeline) -> None:
    driver = Driver(lambda send: reply(send.request, 200, {"count": 4}))
    assert driver.run(pipeline.count()) == 4
    assert driver.sent[0].idempotent is True
    assert driver.sent[0].request.url.path == "/v1/count"


def test_delete_flow_dedupes_and_batches() -> None:
    class Small(LocalAdapter):
        delete_batch_size: ClassVar[int] = 2

    pipe = Pipeline(Small())

    def answer(send: Send) -> httpx.Response | VisualSearchError:
        ids = json.loads(send.request.content)["ids"]
        if "e" in ids:
            return server_error()
        return reply(send.request, 200, {"deleted": ids[:1], "not_found": ids[1:]})

    driver = Driver(answer)
    report = driver.run(pipe.delete(["a", "b", "a", "c", "d", "e"]))
    assert [json.loads(s.request.content)["ids"] for s in driver.sent] == [["a", "b"], ["c", "d"], ["e"]]
    assert report.deleted == ("a", "c")
    assert report.not_found == ("b", "d")
    assert [f.id for f in report.failed] == ["e"]


def test_search_flow_computes_then_sends(pipeline: Pipeline) -> None:
    query = pipeline.make_query(
        image=JPEG,
        url=None,
        id=None,
        color=None,
        box=None,
        limit=5,
        offset=0,
        filter=None,
        fields=None,
        min_score=None,
    )

    def answer(send: Send) -> httpx.Response:
        body = json.loads(send.request.content)
        assert set(body) >= {"image", "limit", "offset"}
        return reply(send.request, 200, {"hits": [{"id": "z", "score": 0.25}], "total": 1})

    driver = Driver(answer)
    result = driver.run(pipeline.search(query, JPEG))
    assert driver.computed == 1
    assert result.ids == ["z"]
    assert result.hits[0].vendor_score == 0.25


def test_make_query_needs_exactly_one_mode(pipeline: Pipeline) -> None:
    common: dict[str, Any] = {
        "image": None,
        "url": None,
        "id": None,
        "color": None,
        "box": None,
        "limit": 10,
        "offset": 0,
        "filter": None,
        "fields": None,
        "min_score": None,
    }
    with pytest.raises(InvalidQueryError, match="got none"):
        pipeline.make_query(**common)
    with pytest.raises(InvalidQueryError, match="got id, color"):
        pipeline.make_query(**{**common, "id": "a", "color": "#fff"})
    with pytest.raises(UnsupportedCapabilityError):
        pipeline.make_query(**{**common, "url": "https://example.com/a.jpg"})
    with pytest.raises(InvalidQueryError, match="limit"):
        pipeline.make_query(**{**common, "id": "a", "limit": 0})
    with pytest.raises(InvalidQueryError, match="at most"):
        pipeline.make_query(**{**common, "id": "a", "offset": 9_999, "limit": 2})


# -- parse_color -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("#fa4d4d", (250, 77, 77)),
        ("fa4d4d", (250, 77, 77)),
        ("#FA4D4D", (250, 77, 77)),
        ("#f4d", (255, 68, 221)),
        ("000", (0, 0, 0)),
        ("  #ffffff ", (255, 255, 255)),
        ((1, 2, 3), (1, 2, 3)),
        ((0, 0, 0), (0, 0, 0)),
        ((255, 255, 255), (255, 255, 255)),
    ],
)
def test_parse_color(value: str | tuple[int, int, int], expected: tuple[int, int, int]) -> None:
    assert parse_color(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "#",
        "#ff",
        "#ffff",
        "#fffffff",
        "#ggg",
        "red",
        "rgb(1,2,3)",
        "##fff",
        (256, 0, 0),
        (-1, 0, 0),
        (1, 2),
        (1, 2, 3, 4),
        (1.0, 2, 3),
        ("1", 2, 3),
        [1, 2, 3],
        0xFFFFFF,
        None,
    ],
)
def test_parse_color_refuses(value: Any) -> None:
    with pytest.raises(InvalidQueryError):
        parse_color(value)


# -- paging ------------------------------------------------------------------------------------------


class _Paged(LocalAdapter):
    max_limit: ClassVar[int] = 10
    page_window: ClassVar[int] = 25


def query(limit: int = 10, offset: int = 0) -> SearchQuery:
    return SearchQuery(mode="id", id="a", limit=limit, offset=offset)


def test_page_queries_stop_at_the_window() -> None:
    pages = list(Pipeline(_Paged()).page_queries(query(), 10))
    assert [(p.offset, p.limit) for p in pages] == [(0, 10), (10, 10), (20, 5)]
    assert all(p.offset + p.limit <= 25 for p in pages)


def test_page_queries_cap_page_size_at_max_limit() -> None:
    pages = list(Pipeline(_Paged()).page_queries(query(limit=3, offset=4), 500))
    assert [(p.offset, p.limit) for p in pages] == [(4, 10), (14, 10), (24, 1)]


def test_page_queries_default_to_query_limit() -> None:
    pages = list(Pipeline(_Paged()).page_queries(query(limit=7), None))
    assert [(p.offset, p.limit) for p in pages] == [(0, 7), (7, 7), (14, 7), (21, 4)]


def test_page_queries_past_the_window_is_empty() -> None:
    assert list(Pipeline(_Paged()).page_queries(query(limit=1, offset=25), 10)) == []


def test_is_last_page() -> None:
    from visualsearch_sdk import SearchHit, SearchResult

    def result(n: int, total: int | None) -> SearchResult:
        return SearchResult(
            hits=tuple(SearchHit(id=str(i), score=0.5) for i in range(n)), total=total, provider="l"
        )

    assert Pipeline.is_last_page(query(limit=10), result(9, None))
    assert not Pipeline.is_last_page(query(limit=10), result(10, None))
    assert Pipeline.is_last_page(query(limit=10, offset=10), result(10, 20))
    assert not Pipeline.is_last_page(query(limit=10, offset=10), result(10, 21))


# -- BulkRun -----------------------------------------------------------------------------------------

_ID = st.sampled_from(["a", "b", "c", "d", "e", "f"])
_VALID = st.builds(lambda i: {"id": i, "url": f"https://example.com/{i}.jpg"}, _ID)
_INVALID = st.one_of(
    st.builds(lambda i: {"id": i}, _ID),  # neither image nor url
    st.builds(lambda i: {"id": i, "url": "ftp://nope"}, _ID),
    st.just({"id": "", "url": "https://example.com/x.jpg"}),
    st.just({"url": "https://example.com/x.jpg"}),
    st.just({"id": "x", "url": "https://example.com/x.jpg", "extra": 1}),
)
_ITEM = st.one_of(_VALID, _VALID, _INVALID, st.builds(lambda i: ImageRecord(id=i, image=b"x"), _ID))
_OUTCOME = st.sampled_from(["ok", "half", "crash"])


def _expected_ids(items: list[Any]) -> Counter[str]:
    ids: Counter[str] = Counter()
    for n, item in enumerate(items, start=1):
        rid = item.id if isinstance(item, ImageRecord) else item.get("id")
        ids[rid if rid else f"<item {n}>"] += 1
    return ids


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(_ITEM, max_size=30), size=st.integers(1, 5), outcomes=st.lists(_OUTCOME, min_size=1))
def test_bulk_run_never_drops_or_duplicates(items: list[Any], size: int, outcomes: list[str]) -> None:
    progress: list[tuple[int, int]] = []
    run = BulkRun(iter(items), batch_size=size, progress=lambda done, bad: progress.append((done, bad)))
    batch_ids: list[str] = []
    for n, batch in enumerate(run.batches()):
        assert 1 <= len(batch) <= size
        batch_ids.extend(r.id for r in batch)
        outcome = outcomes[n % len(outcomes)]
        if outcome == "crash":
            run.crashed(batch, ServerError("busy", provider="local", status_code=503))
        elif outcome == "half":
            good, bad = batch[::2], batch[1::2]
            failures = tuple(RecordFailure(id=r.id, error=server_error(), reason="ServerError") for r in bad)
            run.finished(batch, IndexReport(succeeded=tuple(r.id for r in good), failed=failures))
        else:
            run.finished(batch, IndexReport(succeeded=tuple(r.id for r in batch)))
    report = run.report()
    reported = Counter([*report.succeeded, *(f.id for f in report.failed)])
    assert reported == _expected_ids(items)
    assert report.total == len(items)
    assert len(batch_ids) == len(set(batch_ids)), "an id is sent at most once per run"
    assert report.stopped_early is None
    if progress:
        assert progress[-1][0] <= len(items)
        assert [p[0] for p in progress] == sorted(p[0] for p in progress)


def test_bulk_run_duplicate_and_invalid_reasons() -> None:
    items: list[Any] = [
        {"id": "a", "url": "https://e.com/a.jpg"},
        {"id": "a", "url": "https://e.com/b.jpg"},
        {"id": "b"},
        7,
    ]
    run = BulkRun(items, batch_size=10)
    batches = list(run.batches())
    assert [[r.id for r in b] for b in batches] == [["a"]]
    run.finished(batches[0], IndexReport(succeeded=("a",)))
    report = run.report()
    assert report.succeeded == ("a",)
    assert [(f.id, f.reason) for f in report.failed] == [
        ("a", "duplicate id"),
        ("b", "invalid record"),
        ("<item 4>", "invalid record"),
    ]
    assert all(isinstance(f.error, InvalidQueryError) for f in report.failed)


def _source(n: int) -> Iterator[dict[str, str]]:
    return iter([{"id": str(i), "url": f"https://e.com/{i}.jpg"} for i in range(n)])


def test_bulk_run_authentication_error_stops_the_run() -> None:
    run = BulkRun(_source(10), batch_size=2)
    batches = run.batches()
    first = next(batches)
    run.crashed(first, AuthenticationError("bad token", provider="local", status_code=401))
    assert list(batches) == []
    report = run.report()
    assert report.stopped_early is not None and "authentication failed" in report.stopped_early
    assert not report.ok
    assert [f.id for f in report.failed] == ["0", "1"]
    assert all(isinstance(f.error, AuthenticationError) for f in report.failed)


def test_bulk_run_stop_leaves_unread_input_unread() -> None:
    source = _source(10)
    run = BulkRun(source, batch_size=2)
    batches = run.batches()
    first = next(batches)
    run.crashed(first, AuthenticationError("bad token", provider="local", status_code=401))
    assert list(batches) == []
    reported = {*run.report().succeeded, *(f.id for f in run.report().failed)}
    left = [item["id"] for item in source]
    assert sorted(reported | set(left), key=int) == [str(i) for i in range(10)]


def test_preset_none_sends_the_original_and_a_bad_preset_fails_at_construction() -> None:
    from visualsearch_sdk import ConfigurationError, VisualSearch

    assert VisualSearch("memory://")._pipeline.preset == "STANDARD"  # the adapter's
    assert VisualSearch("memory://", preset=None)._pipeline.preset is None  # the original, not the default
    assert VisualSearch("memory://").with_options(preset=None)._pipeline.preset is None
    assert VisualSearch("memory://", preset=(64, 64, 80))._pipeline.preset == (64, 64, 80)
    for bad in ("LOW", (0, 10, 80), (10, 10, 101)):
        with pytest.raises(ConfigurationError, match="preset"):
            VisualSearch("memory://", preset=bad)  # type: ignore[arg-type]


def test_an_absent_capability_is_named_in_words_and_by_its_enum_name() -> None:
    from visualsearch_sdk import UnsupportedCapabilityError, VisualSearch

    vs = VisualSearch("visualsnoop://pub:sec@visualsnoop.com/api/v1")
    with pytest.raises(
        UnsupportedCapabilityError, match=r"does not support metadata filters \(Capability.FILTERS\)"
    ):
        vs.search(id="x", filter={"a": 1})


def test_index_many_takes_one_record_as_index_does() -> None:
    from visualsearch_sdk import ImageRecord, VisualSearch
    from visualsearch_sdk._samples import make_samples

    sample = make_samples()[0]
    with VisualSearch("memory://") as vs:
        report = vs.index_many(ImageRecord(id="one", image=sample.jpeg))  # type: ignore[arg-type]
        assert report.succeeded == ("one",) and not report.failed
        report = vs.index_many({"id": "two", "image": sample.jpeg})  # type: ignore[arg-type]
        assert report.succeeded == ("two",) and vs.count() == 2
