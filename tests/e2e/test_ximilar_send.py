"""``VisualSearch.send`` / ``AsyncVisualSearch.send``: vendor-only requests through the client's machinery.

Against the fake Ximilar, on the sync client and on the async one (``make_client``): credentials are attached,
idempotent requests are retried, others are not once they may have arrived, and vendor error bodies raise the
same typed errors as any other call.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from visualsearch_sdk import ImageRecord, InvalidQueryError
from visualsearch_sdk._exceptions import (
    APIConnectionError,
    APITimeoutError,
    InvalidRequestError,
    NotFoundError,
    ServerError,
)
from visualsearch_sdk._retry import RetryPolicy
from visualsearch_sdk._samples import Sample
from visualsearch_sdk.filters import F
from visualsearch_sdk.models import SearchQuery
from visualsearch_sdk.providers.ximilar import XimilarAdapter
from visualsearch_sdk.testing.fakes import FakeXimilar

TOKEN = "send-ximilar-token"
MakeClient = Callable[..., Any]


@pytest.fixture
def fake() -> Iterator[FakeXimilar]:
    server = FakeXimilar(token=TOKEN, collection_id="send")
    yield server
    server.close()


@pytest.fixture
def vs(make_client: MakeClient, fake: FakeXimilar, samples: tuple[Sample, ...]) -> Any:
    policy = RetryPolicy(max_retries=2, initial_backoff=0, max_backoff=0)
    client = make_client(fake.client_url(), transport=fake.mount(), retry=policy)
    report = client.index(ImageRecord(id=s.id, image=s.jpeg, metadata=s.metadata) for s in samples[:6])
    assert report.ok, report.failed
    return client


def _adapter(vs: Any) -> XimilarAdapter:
    adapter = vs.adapter
    assert isinstance(adapter, XimilarAdapter)
    return adapter


def _calls(fake: FakeXimilar, operation: str) -> list[httpx.Request]:
    return [r for r in fake.requests if r.url.path.rstrip("/").endswith("/" + operation)]


def test_send_attaches_credentials_and_returns_the_answer(
    vs: Any, fake: FakeXimilar, samples: tuple[Sample, ...]
) -> None:
    adapter = _adapter(vs)
    response = vs.send(adapter.build_random(3, filter=F("category") == samples[0].metadata["category"]))
    assert isinstance(response, httpx.Response)
    records = adapter.parse_records(response)
    assert 1 <= len(records) <= 3
    assert all(r.metadata["category"] == samples[0].metadata["category"] for r in records)
    sent = _calls(fake, "random")[-1]
    assert sent.headers["authorization"] == f"Token {TOKEN}"
    assert sent.headers["collection-id"] == "send"


def test_idempotent_send_is_retried(vs: Any, fake: FakeXimilar, samples: tuple[Sample, ...]) -> None:
    adapter = _adapter(vs)
    fake.fail_next(503)
    query = SearchQuery(mode="id", id=samples[0].id)
    response = vs.send(adapter.build_near_duplicates(query, radius=1.0), idempotent=True)
    hits = adapter.parse_near_duplicates(response, query)
    assert hits[0].id == samples[0].id
    assert len(_calls(fake, "nearDuplicates")) == 2


@pytest.mark.parametrize("fault", ["timeout", "drop", "503"])
def test_non_idempotent_send_is_not_retried_once_sent(
    vs: Any, fake: FakeXimilar, samples: tuple[Sample, ...], fault: str
) -> None:
    adapter = _adapter(vs)
    before = vs.count()
    {"timeout": fake.timeout_next, "drop": fake.drop_next, "503": lambda: fake.fail_next(503)}[fault]()
    request = adapter.build_delete_by_filter(F("category") == samples[0].metadata["category"])
    expected = {"timeout": APITimeoutError, "drop": APIConnectionError, "503": ServerError}[fault]
    with pytest.raises(expected) as caught:
        vs.send(request)
    assert caught.value.attempts == 1
    assert len(_calls(fake, "deleteByFilter")) == 1
    assert vs.count() == before  # the faulted request was never handled


def test_same_fault_with_idempotent_is_retried(vs: Any, fake: FakeXimilar) -> None:
    adapter = _adapter(vs)
    fake.timeout_next()
    assert adapter.parse_count(vs.send(adapter.build_count(), idempotent=True)) == 6
    assert len(_calls(fake, "getRecordCount")) == 2


def test_vendor_error_body_is_mapped(vs: Any, fake: FakeXimilar) -> None:
    adapter = _adapter(vs)
    # The fake answers 403 "wrong query record" for an unknown _id: by id, that is NotFoundError.
    with pytest.raises(NotFoundError) as caught:
        vs.send(adapter.build_near_duplicates(SearchQuery(mode="id", id="no-such-id")))
    assert caught.value.provider_code == "403"
    assert caught.value.provider == "ximilar"
    assert "wrong query record" in str(caught.value)
    assert TOKEN not in str(caught.value) and TOKEN not in caught.value.body
    # An error inside an HTTP 200 body raises too, keeping the code and the body.
    fake.fail_next(200, body={"status": {"code": 412, "text": "capacity exceeded"}})
    with pytest.raises(InvalidRequestError) as inside:
        vs.send(adapter.build_random(1), idempotent=True)
    assert inside.value.status_code == 412
    assert json.loads(inside.value.body)["status"]["code"] == 412


def test_relative_url_resolves_against_the_base_url(vs: Any, fake: FakeXimilar) -> None:
    adapter = _adapter(vs)
    path = adapter.endpoint.path.lstrip("/") + "getRecordCount"
    response = vs.send(httpx.Request("GET", path), idempotent=True)
    assert adapter.parse_count(response) == 6


def test_another_origin_or_an_async_body_is_refused_before_io(vs: Any, fake: FakeXimilar) -> None:
    before = len(fake.requests)
    with pytest.raises(InvalidQueryError, match="only to this client's provider"):
        vs.send(httpx.Request("POST", "https://collector.example/steal", json={}))

    async def chunks() -> Any:
        yield b"{}"

    url = _adapter(vs).endpoint.join("random")
    with pytest.raises(InvalidQueryError, match="send again on a retry"):
        vs.send(httpx.Request("POST", url, content=chunks()))
    with pytest.raises(InvalidQueryError):
        vs.send("https://api.ximilar.com/")
    assert len(fake.requests) == before
