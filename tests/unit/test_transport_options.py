"""Client transport options: per-request timeouts, event hooks, the rate limiter, proxies, with_options."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import httpx
import pytest

from visualsearch_sdk import AsyncVisualSearch, ConfigurationError, RetryPolicy, VisualSearch
from visualsearch_sdk._ratelimit import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def count_handler(seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"count": 7})

    return httpx.MockTransport(handle)


def test_token_bucket_allows_a_burst_then_paces_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(5, clock=clock)
    assert [bucket.reserve() for _ in range(5)] == [0.0] * 5  # one second's worth at once
    waits = [bucket.reserve() for _ in range(3)]
    assert waits == pytest.approx([0.2, 0.4, 0.6])  # each later request is scheduled 1/rate after the last
    clock.now += 1.0  # time passes: the reservations are paid back before new tokens accrue
    assert bucket.reserve() == pytest.approx(0.0, abs=1e-9)


def test_token_bucket_is_shared_safely_by_threads() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, burst=1, clock=clock)
    waits: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(50):
            wait = bucket.reserve()
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 200 reservations at 10/s with no time passing: every slot 0.0, 0.1, ... 19.9 is handed out exactly once.
    assert sorted(round(w, 6) for w in waits) == [round(i / 10, 6) for i in range(200)]


def test_token_bucket_refuses_a_non_positive_rate() -> None:
    with pytest.raises(ValueError, match="max_qps"):
        TokenBucket(0)


def test_max_qps_makes_the_sync_client_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr("time.sleep", sleeps.append)
    seen: list[httpx.Request] = []
    with VisualSearch("memory://", transport=count_handler(seen), max_qps=2) as vs:
        for _ in range(4):
            assert vs.count() == 7
    assert len(seen) == 4
    assert len(sleeps) == 2 and all(s > 0.3 for s in sleeps)  # a burst of 2, then paced at 2/s


@pytest.mark.anyio
async def test_max_qps_makes_the_async_client_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    monkeypatch.setattr(anyio, "sleep", fake_sleep)
    seen: list[httpx.Request] = []
    async with AsyncVisualSearch("memory://", transport=count_handler(seen), max_qps=1) as vs:
        for _ in range(3):
            await vs.count()
    assert len(seen) == 3 and len(sleeps) == 2


def test_every_attempt_carries_the_timeout_and_calls_the_hooks() -> None:
    attempts: list[dict[str, Any]] = []
    answers = iter(
        [
            httpx.Response(503, json={"error": {"code": "busy", "message": "busy"}}),
            httpx.Response(200, json={"count": 3}),
        ]
    )

    def handle(request: httpx.Request) -> httpx.Response:
        attempts.append(dict(request.extensions["timeout"]))
        return next(answers)

    requests: list[httpx.Request] = []
    responses: list[int] = []
    retry = RetryPolicy(max_retries=2, initial_backoff=0, max_backoff=0)
    with VisualSearch(
        "local://:tok@127.0.0.1:9",
        transport=httpx.MockTransport(handle),
        timeout=2.5,
        retry=retry,
        on_request=requests.append,
        on_response=lambda r: responses.append(r.status_code),
    ) as vs:
        assert vs.count() == 3
    assert attempts == [{"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}] * 2
    assert len(requests) == 2 and responses == [503, 200]
    assert all("authorization" not in r.headers for r in requests)  # hooks see the request before auth


def test_with_options_borrows_the_pool_and_changes_only_what_it_is_told() -> None:
    timeouts: list[float] = []

    def handle(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"]["read"])
        return httpx.Response(200, json={"count": 1})

    vs = VisualSearch("memory://", transport=httpx.MockTransport(handle), timeout=30)
    quick = vs.with_options(timeout=1.5)
    assert quick._client() is vs._client()  # one connection pool
    quick.count()
    vs.count()
    assert timeouts == [1.5, 30.0]
    quick.close()  # borrowed: closing the copy leaves the original usable
    assert vs.count() == 1
    vs.close()


def test_with_options_on_an_in_process_index_sees_the_same_records(samples: Any) -> None:
    from visualsearch_sdk import ImageRecord

    with VisualSearch("memory://") as vs:
        vs.index([ImageRecord(id=samples[0].id, image=samples[0].jpeg)])
        assert vs.with_options(max_retries=0).count() == 1


def test_proxy_goes_to_the_client_the_sdk_builds_only() -> None:
    with pytest.raises(ConfigurationError, match="proxy"):
        VisualSearch("memory://", proxy="http://127.0.0.1:3128", transport=httpx.MockTransport(lambda r: r))
    vs = VisualSearch("local://127.0.0.1:9", proxy="http://127.0.0.1:3128")
    assert vs._http_kwargs()["proxy"] == "http://127.0.0.1:3128"
    vs.close()
