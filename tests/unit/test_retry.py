"""RetryPolicy as a table, and the retry loop of both clients against a scripted MockTransport."""

from __future__ import annotations

import io
import json
import random
import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest
import tenacity
from PIL import Image

from visualsearch_sdk import (
    APIConnectionError,
    APIError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    AsyncVisualSearch,
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    VisualSearch,
)
from visualsearch_sdk._retry import not_sent
from visualsearch_sdk.providers.local import LocalAdapter

Reply = httpx.Response | Exception
Handler = Callable[[httpx.Request], httpx.Response]

NO_WAIT = RetryPolicy(max_retries=2, initial_backoff=0, max_backoff=0)


def _status(cls: type[APIStatusError], status: int, *, retry_after: float | None = None) -> APIStatusError:
    return cls("x", provider="local", status_code=status, retry_after=retry_after)


def _conn(*, sent: bool, timeout: bool = False) -> APIConnectionError:
    error = (APITimeoutError if timeout else APIConnectionError)("x", provider="local")
    error.not_sent = not sent  # type: ignore[attr-defined]
    return error


# -- the policy as a table ---------------------------------------------------------------------------

RETRYABLE_TABLE: list[tuple[str, BaseException, bool, bool]] = [
    # (label, error, idempotent, expected)
    ("429 write", _status(RateLimitError, 429), False, True),
    ("429 read", _status(RateLimitError, 429), True, True),
    ("500 read", _status(ServerError, 500), True, True),
    ("500 write", _status(ServerError, 500), False, False),
    ("503 read", _status(ServerError, 503), True, True),
    ("503 write", _status(ServerError, 503), False, False),
    ("408 read", _status(InvalidRequestError, 408), True, True),
    ("408 write", _status(InvalidRequestError, 408), False, False),
    ("400 read", _status(InvalidRequestError, 400), True, False),
    ("401 read", _status(AuthenticationError, 401), True, False),
    ("403 read", _status(AuthenticationError, 403), True, False),
    ("404 read", _status(NotFoundError, 404), True, False),
    ("409 read", _status(ConflictError, 409), True, False),
    ("422 read", _status(InvalidRequestError, 422), True, False),
    ("connect-not-sent write", _conn(sent=False), False, True),
    ("connect-not-sent read", _conn(sent=False), True, True),
    ("connection-reset read", _conn(sent=True), True, True),
    ("connection-reset write", _conn(sent=True), False, False),
    ("read-timeout read", _conn(sent=True, timeout=True), True, True),
    ("read-timeout write", _conn(sent=True, timeout=True), False, False),
    ("connect-timeout write", _conn(sent=False, timeout=True), False, True),
    ("bad body read", APIResponseError("x", provider="local"), True, False),
    ("plain ValueError", ValueError("x"), True, False),
    ("httpx error", httpx.ConnectError("x"), True, False),
]


@pytest.mark.parametrize(
    ("error", "idempotent", "expected"),
    [row[1:] for row in RETRYABLE_TABLE],
    ids=[row[0] for row in RETRYABLE_TABLE],
)
def test_is_retryable(error: BaseException, idempotent: bool, expected: bool) -> None:
    assert RetryPolicy().is_retryable(error, idempotent=idempotent) is expected


def test_not_sent() -> None:
    assert not_sent(_conn(sent=False))
    assert not not_sent(_conn(sent=True))
    assert not not_sent(APIConnectionError("x", provider="local"))  # unknown: assume it may have been sent
    assert not not_sent(_status(ServerError, 503))


def test_wait_honours_retry_after() -> None:
    policy = RetryPolicy(retry_after_cap=30)
    assert policy.wait_seconds(1, _status(RateLimitError, 429, retry_after=1)) == 1.0
    assert policy.wait_seconds(3, _status(ServerError, 503, retry_after=0)) == 0.0
    assert policy.wait_seconds(1, _status(RateLimitError, 429, retry_after=600)) == 30.0


def test_wait_ignores_negative_retry_after() -> None:
    policy = RetryPolicy(initial_backoff=1, max_backoff=1, rng=random.Random(0))
    wait = policy.wait_seconds(1, _status(RateLimitError, 429, retry_after=-5))
    assert 0.5 <= wait <= 1.0


def test_backoff_grows_and_stays_within_bounds() -> None:
    policy = RetryPolicy(initial_backoff=0.5, max_backoff=4.0, rng=random.Random(1234))
    for attempt in range(1, 12):
        ceiling = min(4.0, 0.5 * 2 ** (attempt - 1))
        samples = [
            policy.wait_seconds(attempt, ServerError("x", provider="p", status_code=503)) for _ in range(50)
        ]
        assert all(ceiling / 2 <= s <= ceiling for s in samples), (attempt, samples)
    means = [sum(policy.wait_seconds(a, None) for _ in range(200)) / 200 for a in (1, 2, 3, 4)]
    assert means == sorted(means) and means[3] > 2 * means[0]
    assert max(policy.wait_seconds(30, None) for _ in range(100)) <= 4.0


def test_zero_backoff() -> None:
    assert NO_WAIT.wait_seconds(1, None) == 0.0
    assert NO_WAIT.wait_seconds(5, None) == 0.0


def test_tenacity_kwargs() -> None:
    policy = RetryPolicy(max_retries=3, deadline=5.0)
    kwargs = policy.tenacity_kwargs(idempotent=True, sleep=time.sleep)
    assert kwargs["reraise"] is True
    assert kwargs["sleep"] is time.sleep
    attempts: list[int] = []

    def flaky() -> None:
        attempts.append(1)
        raise _status(ServerError, 503)

    kwargs["wait"] = tenacity.wait_none()
    with pytest.raises(ServerError):
        tenacity.Retrying(**kwargs)(flaky)
    assert len(attempts) == 4


# -- through a real client ---------------------------------------------------------------------------


class Script:
    """A MockTransport handler that answers from a list and records every request it saw."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, Exception):
            raise reply
        return reply

    @property
    def calls(self) -> int:
        return len(self.requests)


def ok(body: Any) -> httpx.Response:
    return httpx.Response(200, json=body)


def fail(status: int, *, retry_after: str | None = None) -> httpx.Response:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return httpx.Response(status, json={"error": {"code": "busy", "message": "try later"}}, headers=headers)


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 200, 10)).save(buffer, "JPEG")
    return buffer.getvalue()


INDEXED = {"results": [{"id": "a", "status": "ok"}]}


def sync_client(script: Script, policy: RetryPolicy = NO_WAIT) -> VisualSearch:
    return VisualSearch.from_url("memory://", transport=httpx.MockTransport(script), retry=policy)


def async_client(script: Script, policy: RetryPolicy = NO_WAIT) -> AsyncVisualSearch:
    return AsyncVisualSearch.from_url("memory://", transport=httpx.MockTransport(script), retry=policy)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record (and skip) every sleep of the retry loop, sync and async."""
    recorded: list[float] = []

    def fake_sleep(seconds: float) -> None:
        recorded.append(seconds)

    async def fake_async_sleep(seconds: float) -> None:
        recorded.append(seconds)

    monkeypatch.setattr(time, "sleep", fake_sleep)
    monkeypatch.setattr(anyio, "sleep", fake_async_sleep)
    return recorded


def test_index_is_not_idempotent_for_local() -> None:
    assert "index" not in LocalAdapter.idempotent
    assert {"search", "count"} <= LocalAdapter.idempotent


def test_two_503_then_success_on_count(sleeps: list[float]) -> None:
    script = Script(fail(503), fail(503), ok({"count": 7}))
    with sync_client(script) as client:
        assert client.count() == 7
    assert script.calls == 3
    assert sleeps == [0.0, 0.0]


def test_two_503_then_success_on_search(sleeps: list[float]) -> None:
    script = Script(fail(503), fail(502), ok({"hits": [{"id": "b", "score": 0.5}], "total": 1}))
    with sync_client(script) as client:
        result = client.search(id="a")
    assert result.ids == ["b"]
    assert script.calls == 3
    assert all(r.url.path == "/v1/search" for r in script.requests)


def test_429_retry_after_is_honoured(sleeps: list[float]) -> None:
    script = Script(fail(429, retry_after="1"), ok({"count": 1}))
    policy = RetryPolicy(max_retries=2, initial_backoff=5, max_backoff=5)
    with sync_client(script, policy) as client:
        assert client.count() == 1
    assert script.calls == 2
    assert sleeps == [1.0]


def test_429_retry_after_is_capped(sleeps: list[float]) -> None:
    script = Script(fail(429, retry_after="3600"), ok({"count": 1}))
    with sync_client(script, RetryPolicy(max_retries=1, retry_after_cap=2.5)) as client:
        assert client.count() == 1
    assert sleeps == [2.5]


def test_429_on_index_is_retried(sleeps: list[float]) -> None:
    script = Script(fail(429, retry_after="0"), ok(INDEXED))
    with sync_client(script) as client:
        report = client.index([{"id": "a", "image": jpeg()}])
    assert report.ok and report.succeeded == ("a",)
    assert script.calls == 2


def test_503_on_index_is_not_retried(sleeps: list[float]) -> None:
    script = Script(fail(503), ok(INDEXED))
    with sync_client(script) as client:
        report = client.index([{"id": "a", "image": jpeg()}])
    assert script.calls == 1
    assert sleeps == []
    assert report.succeeded == ()
    assert [f.id for f in report.failed] == ["a"]
    assert isinstance(report.failed[0].error, ServerError)
    assert report.failed[0].error.attempts == 1


def test_exhausted_retries_raise_the_mapped_error(sleeps: list[float]) -> None:
    script = Script(fail(503))
    policy = RetryPolicy(max_retries=3, initial_backoff=0, max_backoff=0)
    with sync_client(script, policy) as client, pytest.raises(ServerError) as info:
        client.count()
    assert not isinstance(info.value, tenacity.RetryError)
    assert info.value.status_code == 503
    assert info.value.attempts == 4
    assert script.calls == 4
    assert "after 4 attempts" in str(info.value)
    assert len(sleeps) == 3


def test_max_retries_zero_means_one_attempt(sleeps: list[float]) -> None:
    script = Script(fail(503))
    with sync_client(script, RetryPolicy(max_retries=0)) as client, pytest.raises(ServerError) as info:
        client.count()
    assert info.value.attempts == 1
    assert script.calls == 1
    assert sleeps == []


def test_non_retryable_4xx_is_raised_at_once(sleeps: list[float]) -> None:
    script = Script(httpx.Response(404, json={"error": {"code": "not_found", "message": "no"}}))
    with sync_client(script) as client, pytest.raises(NotFoundError) as info:
        client.get("x")
    assert script.calls == 1
    assert info.value.attempts == 1
    assert info.value.provider_code == "not_found"


def test_connect_error_on_index_is_retried(sleeps: list[float]) -> None:
    script = Script(httpx.ConnectError("refused"), ok(INDEXED))
    with sync_client(script) as client:
        report = client.index([{"id": "a", "image": jpeg()}])
    assert report.ok
    assert script.calls == 2


def test_connect_errors_exhausted_on_count(sleeps: list[float]) -> None:
    script = Script(httpx.ConnectError("refused"))
    with sync_client(script) as client, pytest.raises(APIConnectionError) as info:
        client.count()
    assert not isinstance(info.value, APITimeoutError)
    assert info.value.attempts == 3
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert script.calls == 3


def test_read_timeout_on_count_is_retried_then_timeout_error(sleeps: list[float]) -> None:
    script = Script(httpx.ReadTimeout("slow"))
    with sync_client(script) as client, pytest.raises(APITimeoutError) as info:
        client.count()
    assert info.value.attempts == 3
    assert info.value.method == "GET"
    assert info.value.url is not None and info.value.url.endswith("/v1/count")
    assert script.calls == 3


def test_read_timeout_then_success_on_count(sleeps: list[float]) -> None:
    script = Script(httpx.ReadTimeout("slow"), ok({"count": 2}))
    with sync_client(script) as client:
        assert client.count() == 2
    assert script.calls == 2


def test_read_timeout_on_index_is_not_retried(sleeps: list[float]) -> None:
    script = Script(httpx.ReadTimeout("slow"), ok(INDEXED))
    with sync_client(script) as client:
        report = client.index([{"id": "a", "image": jpeg()}])
    assert script.calls == 1
    assert isinstance(report.failed[0].error, APITimeoutError)


def test_each_retry_sends_the_same_request_body(sleeps: list[float]) -> None:
    script = Script(fail(503), ok({"hits": [], "total": 0}))
    with sync_client(script) as client:
        client.search(color="#ff0000", limit=3)
    first, second = (json.loads(r.content) for r in script.requests)
    assert first == second == {"limit": 3, "offset": 0, "color": "ff0000"}


def test_a_wait_that_would_end_past_the_deadline_is_not_slept(sleeps: list[float]) -> None:
    script = Script(fail(503), fail(503), ok({"count": 7}))
    policy = RetryPolicy(max_retries=10, initial_backoff=1.2, max_backoff=1.2, deadline=0.5)
    with sync_client(script, policy) as client, pytest.raises(ServerError) as info:
        client.count()  # the first wait (0.6-1.2 s) would end past the 0.5 s deadline: raise, do not sleep
    assert script.calls == 1 and sleeps == []
    assert info.value.attempts == 1


def test_deadline_stops_retrying(sleeps: list[float]) -> None:
    script = Script(fail(503))
    policy = RetryPolicy(max_retries=10, initial_backoff=0, max_backoff=0, deadline=0.0)
    with sync_client(script, policy) as client, pytest.raises(ServerError) as info:
        client.count()
    assert script.calls == 1
    assert info.value.attempts == 1


# -- the async twins ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_async_two_503_then_success_on_count(sleeps: list[float]) -> None:
    script = Script(fail(503), fail(503), ok({"count": 7}))
    async with async_client(script) as client:
        assert await client.count() == 7
    assert script.calls == 3
    assert sleeps == [0.0, 0.0]


@pytest.mark.anyio
async def test_async_429_retry_after_is_honoured(sleeps: list[float]) -> None:
    script = Script(fail(429, retry_after="1"), ok({"count": 1}))
    async with async_client(script, RetryPolicy(max_retries=2, initial_backoff=5, max_backoff=5)) as client:
        assert await client.count() == 1
    assert sleeps == [1.0]


@pytest.mark.anyio
async def test_async_503_on_index_is_not_retried(sleeps: list[float]) -> None:
    script = Script(fail(503), ok(INDEXED))
    async with async_client(script) as client:
        report = await client.index([{"id": "a", "image": jpeg()}])
    assert script.calls == 1
    assert isinstance(report.failed[0].error, ServerError)


@pytest.mark.anyio
async def test_async_exhausted_retries_raise_the_mapped_error(sleeps: list[float]) -> None:
    script = Script(fail(503))
    async with async_client(script, RetryPolicy(max_retries=3, initial_backoff=0, max_backoff=0)) as client:
        with pytest.raises(ServerError) as info:
            await client.count()
    assert not isinstance(info.value, tenacity.RetryError)
    assert info.value.attempts == 4
    assert script.calls == 4


@pytest.mark.anyio
async def test_async_connect_error_on_index_is_retried(sleeps: list[float]) -> None:
    script = Script(httpx.ConnectError("refused"), ok(INDEXED))
    async with async_client(script) as client:
        report = await client.index([{"id": "a", "image": jpeg()}])
    assert report.ok
    assert script.calls == 2


@pytest.mark.anyio
async def test_async_read_timeout_on_count_ends_as_timeout_error(sleeps: list[float]) -> None:
    script = Script(httpx.ReadTimeout("slow"))
    async with async_client(script) as client:
        with pytest.raises(APITimeoutError) as info:
            await client.count()
    assert isinstance(info.value, APIError)
    assert info.value.attempts == 3
    assert script.calls == 3
