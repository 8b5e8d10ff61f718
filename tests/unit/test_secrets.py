"""A token in the provider URL is sent as a bearer header and shows up nowhere else."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

import httpx
import pytest

from visualsearch_sdk import (
    APIConnectionError,
    AuthenticationError,
    ConfigurationError,
    RetryPolicy,
    ServerError,
    VisualSearch,
    VisualSearchError,
)
from visualsearch_sdk._config import parse_provider_url
from visualsearch_sdk._logging import REDACTED, is_secret_name, redact_headers, redact_url

TOKEN = "s3cr3t-TOKEN"
URL = f"local://:{TOKEN}@127.0.0.1:9"
NO_WAIT = RetryPolicy(max_retries=1, initial_backoff=0, max_backoff=0)


class Recorder:
    """A MockTransport handler that records requests and answers with ``reply``."""

    def __init__(self, reply: Callable[[httpx.Request], httpx.Response]) -> None:
        self.reply = reply
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.reply(request)


def ok_handler(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/v1/count":
        return httpx.Response(200, json={"count": 3})
    return httpx.Response(200, json={"hits": [{"id": "a", "score": 0.9, "metadata": {"k": "v"}}], "total": 1})


def client_for(handler: Callable[[httpx.Request], httpx.Response]) -> VisualSearch:
    return VisualSearch.from_url(URL, transport=httpx.MockTransport(handler), retry=NO_WAIT)


def assert_clean(text: str) -> None:
    assert TOKEN not in text
    assert TOKEN.lower() not in text.lower()


def test_authorization_header_is_sent() -> None:
    recorder = Recorder(ok_handler)
    with client_for(recorder) as client:
        assert client.count() == 3
        client.search(id="x")
    assert len(recorder.requests) == 2
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in recorder.requests)
    assert all(r.url.host == "127.0.0.1" and r.url.port == 9 for r in recorder.requests)
    assert all(r.url.userinfo == b"" for r in recorder.requests)


def test_token_from_environment_is_sent() -> None:
    recorder = Recorder(ok_handler)
    environ = {"VISUALSEARCH_LOCAL_TOKEN": TOKEN}
    with VisualSearch.from_url(
        "local://127.0.0.1:9", environ=environ, transport=httpx.MockTransport(recorder)
    ) as client:
        client.count()
    assert recorder.requests[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_no_token_no_header() -> None:
    recorder = Recorder(ok_handler)
    with VisualSearch.from_url("local://127.0.0.1:9", transport=httpx.MockTransport(recorder)) as client:
        client.count()
    assert "authorization" not in recorder.requests[0].headers


def test_repr_of_client_and_options() -> None:
    with client_for(ok_handler) as client:
        assert "127.0.0.1:9" in repr(client)
        assert_clean(repr(client))
        assert_clean(str(client))
        assert_clean(repr(vars(client.adapter)))
        assert_clean(repr(client.client_options))
        assert_clean(repr(client.retry))


def test_provider_url_repr() -> None:
    parsed = parse_provider_url(URL)
    assert_clean(repr(parsed))
    assert_clean(str(parsed))
    assert "***@127.0.0.1" in repr(parsed)
    assert parsed.password is not None
    assert_clean(repr(parsed.password))
    assert_clean(str(parsed.password))
    both = parse_provider_url(f"local://{TOKEN}:{TOKEN}@127.0.0.1:9")
    assert_clean(repr(both))


@pytest.mark.parametrize(
    "reply",
    [
        lambda r: httpx.Response(401, json={"error": {"code": "unauthorized", "message": "wrong token"}}),
        lambda r: httpx.Response(503, content=b"<html>down</html>", headers={"content-type": "text/html"}),
        lambda r: httpx.Response(200, content=b"not json"),
        lambda r: httpx.Response(200, json={"hits": "nope"}),
    ],
    ids=["401", "503-html", "200-not-json", "200-wrong-shape"],
)
def test_errors_do_not_carry_the_token(reply: Callable[[httpx.Request], httpx.Response]) -> None:
    with client_for(reply) as client, pytest.raises(VisualSearchError) as info:
        client.search(id="x")
    error = info.value
    assert_clean(str(error))
    assert_clean(repr(error))
    assert_clean("".join(traceback.format_exception(type(error), error, error.__traceback__)))
    assert_clean(repr(vars(error)))


def test_connection_error_does_not_carry_the_token() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with client_for(refuse) as client, pytest.raises(APIConnectionError) as info:
        client.count()
    assert info.value.attempts == 2
    assert_clean(str(info.value))
    assert_clean(repr(vars(info.value)))


def test_authentication_error_is_raised_for_401() -> None:
    reply = Recorder(lambda r: httpx.Response(401, json={"error": {"code": "unauthorized", "message": "no"}}))
    with client_for(reply) as client, pytest.raises(AuthenticationError):
        client.count()
    assert len(reply.requests) == 1  # 401 is never retried


def test_debug_logs_are_clean(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="visualsearch_sdk")
    calls = {"n": 0}

    def flaky(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            return httpx.Response(503, json={"error": {"code": "busy", "message": "busy"}})
        return ok_handler(request)

    with client_for(flaky) as client:
        client.count()
        client.search(id="x")
    ours = [r for r in caplog.records if r.name.startswith("visualsearch_sdk")]
    assert len(ours) >= 3, "the client logs every response at DEBUG"
    assert any("503" in r.getMessage() for r in ours)
    for record in caplog.records:
        assert_clean(record.getMessage())
        assert_clean(repr(record.args))
    assert_clean(caplog.text)


def test_search_result_raw_is_clean() -> None:
    with client_for(ok_handler) as client:
        result = client.search(id="x")
    assert result.raw is not None
    assert_clean(repr(result.raw))
    assert_clean(repr(result))
    assert_clean(result.model_dump_json())


@pytest.mark.parametrize(
    "environ",
    [
        {"VISUALSEARCH_LOCAL_MULTI_VIEW": TOKEN},
        {"VISUALSEARCH_MAX_RETRIES": TOKEN},
        {"VISUALSEARCH_TIMEOUT": TOKEN},
    ],
)
def test_configuration_errors_do_not_echo_values(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError) as info:
        VisualSearch.from_env(environ=environ)
    error = info.value
    assert_clean(str(error))
    assert_clean(repr(error))
    # The pydantic error (which does hold the input) is suppressed, not chained.
    assert error.__cause__ is None and error.__suppress_context__
    assert_clean("".join(traceback.format_exception(type(error), error, error.__traceback__)))


def test_refused_http_base_url_does_not_echo_the_token() -> None:
    with pytest.raises(ConfigurationError, match="refusing plain http") as info:
        VisualSearch.from_url(f"local://:{TOKEN}@search.example.com:80")
    assert_clean(str(info.value))


def test_server_error_body_kept_but_no_token() -> None:
    reply = Recorder(lambda r: httpx.Response(500, json={"error": {"code": "boom", "message": "kaput"}}))
    with client_for(reply) as client, pytest.raises(ServerError) as info:
        client.count()
    assert "kaput" in info.value.body
    assert_clean(info.value.body)


# -- redact_url / redact_headers ---------------------------------------------------------------------


def test_redact_url_drops_userinfo_and_secret_params() -> None:
    redacted = redact_url(f"https://user:{TOKEN}@api.example.com/v1/search?api_key={TOKEN}&q=shoes&page=2")
    assert_clean(redacted)
    parsed = httpx.URL(redacted)
    assert parsed.userinfo == b""
    assert parsed.params["api_key"] == REDACTED
    assert parsed.params["q"] == "shoes"
    assert parsed.params["page"] == "2"
    assert parsed.host == "api.example.com" and parsed.path == "/v1/search"


@pytest.mark.parametrize(
    "name", ["token", "access_token", "Signature", "x-acs-signature-nonce", "AccessKeyId", "password", "sign"]
)
def test_redact_url_secret_param_names(name: str) -> None:
    parsed = httpx.URL(redact_url(httpx.URL("https://h.example/p", params={name: TOKEN})))
    assert parsed.params[name] == REDACTED


def test_redact_url_without_query_is_unchanged() -> None:
    assert redact_url("https://api.example.com/v1/count") == "https://api.example.com/v1/count"


def test_redact_headers() -> None:
    headers = httpx.Headers(
        {
            "Authorization": f"Bearer {TOKEN}",
            "X-Api-Key": TOKEN,
            "Cookie": f"session={TOKEN}",
            "X-Acs-Signature-Nonce": "n",
            "Content-Type": "application/json",
            "User-Agent": "visualsearch_sdk/0.1",
        }
    )
    redacted = redact_headers(headers)
    assert_clean(repr(redacted))
    assert redacted["authorization"] == REDACTED
    assert redacted["x-api-key"] == REDACTED
    assert redacted["cookie"] == REDACTED
    assert redacted["x-acs-signature-nonce"] == REDACTED
    assert redacted["content-type"] == "application/json"
    assert redacted["user-agent"] == "visualsearch_sdk/0.1"


@pytest.mark.parametrize(
    ("name", "secret"),
    [("Authorization", True), ("X-Ximilar-Token", True), ("accept", False), ("limit", False)],
)
def test_is_secret_name(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret
