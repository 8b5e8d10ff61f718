"""The full client against the fake Alibaba server: re-signing per attempt, throttling, errors per record.

Every test runs on the sync client and on the async one (``make_client``). Waits are recorded (and advance the
fake's flow-control clock) by patching ``time.sleep`` and ``anyio.sleep``, except in the one test that paces
real requests at a high QPS to stay fast.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw

from tests.conftest import AsyncDriver, record_waits
from visualsearch_sdk import ImageRecord
from visualsearch_sdk._exceptions import (
    AuthenticationError,
    InvalidQueryError,
    InvalidRequestError,
    RateLimitError,
)
from visualsearch_sdk._ratelimit import TokenBucket
from visualsearch_sdk._retry import RetryPolicy
from visualsearch_sdk.testing.fakes import FakeAlibaba

MakeClient = Callable[..., Any]
KEY, SECRET = "faults-ak", "faults-secret-value"


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> Iterator[FakeAlibaba]:
    server = FakeAlibaba(access_key_id=KEY, access_key_secret=SECRET, instance="faults", monotonic=clock)
    yield server
    server.close()


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> list[float]:
    """Every wait the clients asked for; nothing really sleeps, the fake's clock moves on instead."""

    def advance(seconds: float) -> None:
        clock.now += seconds

    return record_waits(monkeypatch, advance)


def _policy(retries: int) -> RetryPolicy:
    return RetryPolicy(max_retries=retries, initial_backoff=0, max_backoff=0)


def _client(
    make_client: MakeClient, fake: FakeAlibaba, retries: int = 3, url: str = "", **kwargs: Any
) -> Any:
    return make_client(url or fake.client_url(), transport=fake.mount(), retry=_policy(retries), **kwargs)


def _jpeg(n: int) -> bytes:
    image = Image.new("RGB", (240, 180), ((n * 53) % 256, (n * 97) % 256, 120))
    ImageDraw.Draw(image).ellipse([20 + n * 7, 30, 140 + n * 5, 150], fill=(240, 240, (n * 40) % 256))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _actions(fake: FakeAlibaba, action: str) -> list[httpx.Request]:
    return [r for r in fake.requests if r.headers.get("x-acs-action") == action]


def _nonce(request: httpx.Request) -> str:
    return request.headers.get("x-acs-signature-nonce") or request.url.params["SignatureNonce"]


# -- re-signing -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("signature", ["acs3", "v2"])
def test_every_attempt_is_signed_afresh(
    make_client: MakeClient, fake: FakeAlibaba, waits: list[float], signature: str
) -> None:
    """Three attempts, three nonces and three timestamps; a replay of any of them is refused."""
    vs = _client(make_client, fake, url=f"{fake.client_url()}?signature={signature}")
    ticks = itertools.count()
    vs.adapter.clock = lambda: dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=next(ticks))
    fake.fail_next(503, times=2)
    assert vs.count() == 0
    attempts = _actions(fake, "Detail")
    assert len(attempts) == 3
    assert len({_nonce(r) for r in attempts}) == 3
    dates = {r.headers.get("x-acs-date") or r.url.params["Timestamp"] for r in attempts}
    assert len(dates) == 3
    assert fake(attempts[-1]).json()["Code"] == "SignatureNonceUsed"


def test_writes_are_retried_and_re_signed_after_a_dropped_connection(
    make_client: MakeClient, fake: FakeAlibaba, waits: list[float]
) -> None:
    vs = _client(make_client, fake)
    fake.drop_next()
    report = vs.index([ImageRecord(id="d1", image=_jpeg(1), metadata={"a": 1})])
    assert report.ok, report.failed
    adds = _actions(fake, "AddImage")
    assert len(adds) == 2 and _nonce(adds[0]) != _nonce(adds[1])
    assert vs.get("d1").metadata == {"a": 1}


# -- throttling -------------------------------------------------------------------------------------------


def test_denied_requests_are_retried_after_x_acs_retry_after(
    make_client: MakeClient, clock: Clock, waits: list[float]
) -> None:
    """The instance allows 2 QPS: beyond it, HTTP 403 DeniedRequest with x-acs-retry-after (ms); the client
    waits that long and succeeds (here with client-side pacing turned off on purpose)."""
    fake = FakeAlibaba(access_key_id=KEY, access_key_secret=SECRET, instance="faults", qps=2, monotonic=clock)
    statuses: list[int] = []
    vs = _client(
        make_client, fake, retries=5, max_qps=1e6, on_response=lambda r: statuses.append(r.status_code)
    )
    for _ in range(5):
        assert vs.count() == 0  # Detail is not a search: not limited
    results = [_exists(vs, f"p{i}") for i in range(5)]
    assert results == [False] * 5
    assert statuses.count(403) == 3
    assert [w for w in waits if w > 0] == [0.5, 0.5, 0.5]
    fake.close()


def _exists(vs: Any, record_id: str) -> bool:
    from visualsearch_sdk import NotFoundError

    try:
        vs.get(record_id)
    except NotFoundError:
        return False
    return True


def test_pacing_at_the_purchased_qps_avoids_denials(
    make_client: MakeClient, clock: Clock, waits: list[float]
) -> None:
    """The URL's ``qps`` (the instance's purchased QPS) paces the client by default, a little under it: no
    DeniedRequest. The client's bucket and the fake's share one clock, which only the recorded waits move."""
    fake = FakeAlibaba(
        access_key_id=KEY, access_key_secret=SECRET, instance="faults", qps=10, monotonic=clock
    )
    statuses: list[int] = []
    vs = _client(make_client, fake, retries=0, on_response=lambda r: statuses.append(r.status_code))
    client = vs._client if isinstance(vs, AsyncDriver) else vs
    assert client.adapter.default_max_qps == pytest.approx(9.0)
    client._bucket = TokenBucket(9.0, clock=clock)
    for i in range(14):
        assert not _exists(vs, f"p{i}")
    assert statuses == [200] * 14
    paced = [w for w in waits if w > 0]
    assert len(paced) == 14 - 9 and all(w == pytest.approx(1 / 9) for w in paced)  # 9 = 10 x 0.9
    fake.close()


def test_throttling_surfaces_as_rate_limit_error_when_retries_run_out(
    make_client: MakeClient, fake: FakeAlibaba, waits: list[float]
) -> None:
    vs = _client(make_client, fake, retries=1)
    fake.fail_next(403, times=2)
    with pytest.raises(RateLimitError) as caught:
        vs.count()
    error = caught.value
    assert (error.status_code, error.provider_code, error.attempts) == (403, "DeniedRequest", 2)
    assert error.request_id and "qps" in error.message.lower()
    fake.fail_next(400, body={"RequestId": "R", "Code": "Throttling.User", "Message": "slow down"})
    assert vs.count() == 0  # a gateway throttle is retried too


# -- errors -----------------------------------------------------------------------------------------------


def test_authentication_errors_are_not_retried(make_client: MakeClient, fake: FakeAlibaba) -> None:
    url = fake.client_url().replace(SECRET, "not-the-secret")
    vs = _client(make_client, fake, url=url)
    with pytest.raises(AuthenticationError) as caught:
        vs.count()
    assert caught.value.provider_code == "SignatureDoesNotMatch" and caught.value.attempts == 1
    assert "not-the-secret" not in str(caught.value) and SECRET not in str(caught.value)
    skewed = _client(make_client, fake)
    skewed.adapter.clock = lambda: dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=20)
    with pytest.raises(AuthenticationError, match="clock") as late:
        skewed.count()
    assert late.value.provider_code == "InvalidTimeStamp.Expired"


def test_custom_content_overflow_is_reported_per_record(make_client: MakeClient, fake: FakeAlibaba) -> None:
    vs = _client(make_client, fake)
    records = [
        ImageRecord(id="ok-1", image=_jpeg(1), metadata={"note": "short"}),
        ImageRecord(id="too-big", image=_jpeg(2), metadata={"note": "é" * 4100}),
        ImageRecord(id="ok-2", image=_jpeg(3), metadata={"note": "also short"}),
    ]
    report = vs.index(records)
    assert report.succeeded == ("ok-1", "ok-2")
    [failure] = report.failed
    assert failure.id == "too-big" and isinstance(failure.error, InvalidQueryError)
    assert "CustomContent" in str(failure.error) and "4096" in str(failure.error)
    assert len(_actions(fake, "AddImage")) == 2  # refused before any I/O
    assert vs.count() == 2


def test_update_on_an_instance_without_update_image(make_client: MakeClient, clock: Clock) -> None:
    fake = FakeAlibaba(access_key_id=KEY, access_key_secret=SECRET, instance="faults", update_image=False)
    vs = _client(make_client, fake)
    assert vs.index([ImageRecord(id="u", image=_jpeg(4), metadata={"a": 1})]).ok
    with pytest.raises(InvalidRequestError, match="UpdateImage") as caught:
        vs.update("u", {"a": 2})
    assert caught.value.provider_code == "UnsupportedOperationType"
    assert len(_actions(fake, "UpdateImage")) == 1  # a 500 that retrying cannot fix: not retried
    fake.close()


def test_nothing_secret_is_logged(
    make_client: MakeClient, fake: FakeAlibaba, caplog: pytest.LogCaptureFixture, waits: list[float]
) -> None:
    vs = _client(make_client, fake, url=f"{fake.client_url()}?signature=v2")
    with caplog.at_level(logging.DEBUG, logger="visualsearch_sdk"):
        fake.fail_next(500)
        vs.count()
    text = caplog.text
    signature = _actions(fake, "Detail")[-1].url.params["Signature"]
    assert len(caplog.records) >= 2  # both attempts were logged
    assert SECRET not in text and signature not in text


def test_an_echoed_string_to_sign_never_carries_the_sts_token(make_client: MakeClient) -> None:
    """SignatureDoesNotMatch echoes the server's string to sign, which holds the RPC V2 SecurityToken: the
    error keeps the explanation but not the token."""
    token = "STS.sensitiveTokenValue+/="
    fake = FakeAlibaba(access_key_id=KEY, access_key_secret=SECRET, security_token=token, instance="faults")
    url = fake.client_url().replace(SECRET, "not-the-secret") + "?signature=v2"
    vs = make_client(url, transport=fake.mount(), environ={"VISUALSEARCH_ALIBABA_SECURITY_TOKEN": token})
    with pytest.raises(AuthenticationError) as caught:
        vs.count()
    error = caught.value
    assert "server string to sign" in error.message and "SecurityToken" in error.message
    for text in (str(error), error.body):
        assert "sensitiveTokenValue" not in text and "not-the-secret" not in text
    fake.close()


def test_nothing_secret_is_logged_by_httpx_either(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """RPC V2 signs in the query string, and httpx logs every request URL at INFO: redacted there too."""
    token = "STS.loggedTokenValue"
    fake = FakeAlibaba(access_key_id=KEY, access_key_secret=SECRET, security_token=token, instance="faults")
    url = f"{fake.client_url()}?signature=v2"
    vs = make_client(url, transport=fake.mount(), environ={"VISUALSEARCH_ALIBABA_SECURITY_TOKEN": token})
    with caplog.at_level(logging.DEBUG):  # every logger, httpx's included
        vs.count()
    sent = _actions(fake, "Detail")[-1].url.params
    httpx_lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert httpx_lines and all("HTTP Request" in line for line in httpx_lines)  # httpx did log the request
    for secret in (SECRET, token, sent["Signature"], sent["AccessKeyId"]):
        assert secret not in caplog.text
    caplog.clear()
    guard = next(f for f in logging.getLogger("httpx").filters if type(f).__name__ == "_RedactURLs")
    logging.getLogger("httpx").removeFilter(guard)
    try:  # the check can fail: without the guard, httpx's line carries the credentials
        with caplog.at_level(logging.DEBUG):
            vs.count()
        assert token in caplog.text and KEY in caplog.text
    finally:
        logging.getLogger("httpx").addFilter(guard)
    fake.close()
