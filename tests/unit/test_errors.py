"""Mapping responses onto the error tree: statuses, HTML pages, bodies of the wrong shape, Retry-After."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from visualsearch_sdk import (
    APIError,
    APIResponseError,
    APIStatusError,
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    VisualSearch,
    VisualSearchError,
)
from visualsearch_sdk.providers._base import json_body, retry_after_seconds, status_error
from visualsearch_sdk.providers.local import LocalAdapter

BASE = "http://local.visualsearch.invalid/"
NO_RETRY = RetryPolicy(max_retries=0)


def response(
    status: int,
    body: Any = None,
    *,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    method: str = "POST",
    path: str = "v1/search?api_key=shh",
) -> httpx.Response:
    request = httpx.Request(method, BASE + path)
    if content is None:
        return httpx.Response(status, json=body, headers=headers, request=request)
    return httpx.Response(status, content=content, headers=headers, request=request)


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, InvalidRequestError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, NotFoundError),
        (409, ConflictError),
        (413, InvalidRequestError),
        (422, InvalidRequestError),
        (429, RateLimitError),
        (500, ServerError),
        (503, ServerError),
        (418, InvalidRequestError),
        (599, ServerError),
    ],
)
def test_status_maps_to_class(status: int, cls: type[APIStatusError]) -> None:
    error = LocalAdapter().error_for(response(status, error_body("some_code", "it went wrong")))
    assert type(error) is cls
    assert error.status_code == status
    assert error.provider == "local"
    assert error.provider_code == "some_code"
    assert error.message == "it went wrong"
    assert error.method == "POST"
    assert json.loads(error.body) == error_body("some_code", "it went wrong")


def test_conflict_is_an_invalid_request() -> None:
    assert issubclass(ConflictError, InvalidRequestError)
    assert issubclass(ConflictError, APIStatusError)


@pytest.mark.parametrize("status", [200, 201, 204])
def test_success_is_no_error(status: int) -> None:
    assert LocalAdapter().error_for(response(status, {"count": 1})) is None


def test_request_id_is_kept() -> None:
    error = LocalAdapter().error_for(
        response(500, error_body("boom", "x"), headers={"x-request-id": "rid-1"})
    )
    assert error.request_id == "rid-1"
    assert "request_id=rid-1" in str(error)


def test_html_502_page() -> None:
    html = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    error = LocalAdapter().error_for(response(502, content=html, headers={"content-type": "text/html"}))
    assert isinstance(error, ServerError)
    assert error.status_code == 502
    assert "502 Bad Gateway" in error.body
    assert error.message == "HTTP 502 Bad Gateway"
    assert error.provider_code is None


def test_json_error_without_the_error_envelope() -> None:
    error = LocalAdapter().error_for(response(500, {"detail": "oops"}))
    assert isinstance(error, ServerError)
    assert "oops" in error.body


def test_string_error_message() -> None:
    error = LocalAdapter().error_for(response(400, {"error": "bad thing"}))
    assert isinstance(error, InvalidRequestError)
    assert error.message == "bad thing"


def test_error_status_with_broken_json_body_keeps_status() -> None:
    broken = response(503, content=b"Service Unavailable", headers={"content-type": "application/json"})
    error = LocalAdapter().error_for(broken)
    assert isinstance(error, ServerError)
    assert error.body == "Service Unavailable"


def test_error_without_code_has_no_provider_code() -> None:
    error = LocalAdapter().error_for(response(404, {"error": {"message": "gone"}}))
    assert isinstance(error, NotFoundError)
    assert error.provider_code is None


def call(handler: Callable[[httpx.Request], httpx.Response], operation: str = "count") -> object:
    """Run one client operation against ``handler`` (no retries)."""
    with VisualSearch.from_url("memory://", transport=httpx.MockTransport(handler), retry=NO_RETRY) as client:
        if operation == "count":
            return client.count()
        if operation == "search":
            return client.search(id="x")
        return client.get("x")


def test_html_502_through_the_client_is_never_a_json_error() -> None:
    html = b"<html><body><h1>502 Bad Gateway</h1></body></html>"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, content=html, headers={"content-type": "text/html"})

    with pytest.raises(ServerError) as info:
        call(handler)
    assert not isinstance(info.value, json.JSONDecodeError)
    assert "<h1>502 Bad Gateway</h1>" in info.value.body
    assert isinstance(info.value.__context__, (type(None), VisualSearchError))


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"<html>ok</html>", "text/html"),
        (b"not json at all", "application/json"),
        (b"\xff\xfe\x00garbage", "application/octet-stream"),
    ],
)
def test_200_not_json_is_response_error(content: bytes, content_type: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=content, headers={"content-type": content_type})

    with pytest.raises(APIResponseError) as info:
        call(handler)
    error = info.value
    assert error.status_code == 200
    assert error.body == content.decode("utf-8", errors="replace")
    assert error.method == "GET"
    assert error.url == BASE + "v1/count"
    assert f"(GET {BASE}v1/count)" in str(error)


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("count", {"count": "many"}),
        ("count", {"total": 3}),
        ("search", {"hits": [{"id": "a"}]}),
        ("search", {"hits": [{"id": "a", "score": 7.5}]}),
        ("search", {"results": []}),
        ("get", {"metadata": {}}),
    ],
)
def test_200_wrong_shape_is_response_error(operation: str, body: Any) -> None:
    raw = json.dumps(body)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=raw.encode(), headers={"content-type": "application/json"})

    with pytest.raises(APIResponseError) as info:
        call(handler, operation)
    assert info.value.body == raw
    assert info.value.method is not None
    assert info.value.url is not None and info.value.url.startswith(BASE)
    assert isinstance(info.value.__cause__, Exception)


def test_200_json_list_names_method_and_url() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[1, 2, 3])

    with pytest.raises(APIResponseError) as info:
        call(handler)
    assert info.value.body == "[1,2,3]" or json.loads(info.value.body) == [1, 2, 3]
    assert info.value.method == "GET"
    assert info.value.url == BASE + "v1/count"


def test_status_error_message_has_method_and_url_without_query_secrets() -> None:
    error = LocalAdapter().error_for(response(401, error_body("unauthorized", "wrong token")))
    text = str(error)
    assert f"POST {BASE}v1/search" in text
    assert "shh" not in text and "api_key" not in text
    assert "HTTP 401" in text and "code=unauthorized" in text
    assert text.startswith("[local] wrong token")


def test_json_body_raises_response_error() -> None:
    with pytest.raises(APIResponseError, match="expected JSON, got text/plain") as info:
        json_body("local", response(200, content=b"hello", headers={"content-type": "text/plain"}))
    assert info.value.body == "hello"
    assert isinstance(info.value.__cause__, ValueError)


def test_status_error_explicit_class_and_status() -> None:
    error = status_error("local", response(200, {}), message="quota", cls=RateLimitError, status_code=429)
    assert isinstance(error, RateLimitError)
    assert error.status_code == 429


def test_api_error_str() -> None:
    assert str(APIError("boom", provider="p")) == "[p] boom"
    assert str(APIError("boom", provider="p", method="GET", url="https://x/y", attempts=3)) == (
        "[p] boom (GET https://x/y) after 3 attempts"
    )


# -- Retry-After -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", 1.0), ("0", 0.0), ("2.5", 2.5), ("-3", 0.0), ("", None), (None, None), ("soon", None)],
)
def test_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert retry_after_seconds(value) == expected


def test_retry_after_http_date() -> None:
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=120)
    seconds = retry_after_seconds(format_datetime(when, usegmt=True))
    assert seconds is not None and 100 <= seconds <= 121


def test_retry_after_http_date_in_the_past() -> None:
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_retry_after_http_date_with_unknown_zone() -> None:
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 -0000") == 0.0


def test_retry_after_reaches_the_error() -> None:
    error = LocalAdapter().error_for(response(429, error_body("rate", "slow"), headers={"retry-after": "7"}))
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 7.0
