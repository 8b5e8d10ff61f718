"""The Ximilar token never leaks: not in reprs, errors, logs, results or reports; but it reaches the wire."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from visualsearch_sdk import ImageRecord
from visualsearch_sdk._exceptions import APIError, APITimeoutError, AuthenticationError, ServerError
from visualsearch_sdk._retry import RetryPolicy
from visualsearch_sdk._samples import Sample
from visualsearch_sdk.providers.ximilar import XimilarCredentials, XimilarOptions
from visualsearch_sdk.testing.fakes import FakeXimilar

SHORT = "tok-SECRET-1234567890"
LONG = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJTRUNSRVQtand0LXVzZXIifQ.SECRET-jwt-signature-0123456789abcdef"
WRONG = "tok-SECRET-WRONG-0987654321"
MakeClient = Callable[..., Any]

assert len(LONG) >= 70 and len(SHORT) < 70


def _policy(max_retries: int = 0) -> RetryPolicy:
    return RetryPolicy(max_retries=max_retries, initial_backoff=0, max_backoff=0)


@pytest.fixture(params=["token", "jwt"])
def token(request: pytest.FixtureRequest) -> str:
    return SHORT if request.param == "token" else LONG


@pytest.fixture
def fake(token: str) -> Iterator[FakeXimilar]:
    server = FakeXimilar(token=token, collection_id="secrets")
    yield server
    server.close()


def _fragments(secret: str) -> list[str]:
    """The secret and pieces of it long enough to identify it (a JWT's parts, the distinctive middle)."""
    parts = [secret, *(p for p in secret.split(".") if len(p) >= 12)]
    return [*parts, "SECRET-1234567890", "SECRET-jwt-signature", "0987654321"]


def _assert_clean(text: str, *secrets: str) -> None:
    for secret in secrets:
        for fragment in _fragments(secret):
            if fragment in secret:
                assert fragment not in text, f"secret fragment {fragment!r} leaked into {text[:300]!r}"


def _error_texts(error: BaseException) -> str:
    """``str``/``repr`` of the error, its attributes and its whole chain, and the formatted traceback."""
    texts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current), repr(vars(current))]
        current = current.__cause__ or current.__context__
    texts.append("".join(traceback.format_exception(error)))
    return "\n".join(texts)


def test_token_reaches_the_wire_only(
    make_client: MakeClient,
    fake: FakeXimilar,
    token: str,
    samples: tuple[Sample, ...],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="visualsearch_sdk")
    vs = make_client(fake.client_url(), transport=fake.mount(), retry=_policy())
    texts = [repr(vs), str(vs), vs.adapter.describe(), repr(vs.adapter.credentials), repr(vs.adapter)]

    records = [ImageRecord(id=s.id, image=s.jpeg, metadata=s.metadata) for s in samples[:4]]
    report = vs.index(records)
    assert report.ok
    dup = vs.index_many([records[0]], batch_size=10, concurrency=1)  # a per-record failure
    assert len(dup.failed) == 1
    texts += [
        repr(report),
        repr(dup),
        *(str(f.error) for f in dup.failed),
        *(repr(f.error) for f in dup.failed),
    ]
    texts += [_error_texts(f.error) for f in dup.failed]

    result = vs.search(image=samples[0].jpeg, limit=3)
    assert result.hits[0].id == samples[0].id
    by_id = vs.search(id=samples[1].id, limit=3)
    texts += [repr(result), repr(result.raw), str(result.raw), repr(by_id), repr(by_id.raw)]
    texts += [repr(vs.get(samples[2].id)), repr(vs.delete([samples[3].id, "missing"])), str(vs.count())]
    texts += [repr(list(vs.iter_records(page_size=2)))]

    debug = [
        r for r in caplog.records if r.name.startswith("visualsearch_sdk") and r.levelno == logging.DEBUG
    ]
    assert debug, "the SDK logged no request at DEBUG"
    texts += [r.getMessage() for r in caplog.records] + [repr(r.args) for r in caplog.records]
    texts.append(caplog.text)

    _assert_clean("\n".join(texts), token)

    scheme = "JWT" if len(token) >= 70 else "Token"
    assert fake.requests, "the fake saw no request"
    for request in fake.requests:
        assert request.headers["authorization"] == f"{scheme} {token}"
        assert request.headers["collection-id"] == "secrets"
        assert token not in str(request.url)


def test_auth_error_does_not_leak(
    make_client: MakeClient,
    fake: FakeXimilar,
    token: str,
    samples: tuple[Sample, ...],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = FakeXimilar(token=WRONG, collection_id="secrets")
    vs = make_client(wrong.client_url(), transport=fake.mount(), retry=_policy(2))
    with pytest.raises(AuthenticationError) as caught:
        vs.count()
    report = vs.index_many(
        [ImageRecord(id=s.id, image=s.jpeg) for s in samples[:3]], batch_size=10, concurrency=1
    )
    assert report.stopped_early is not None
    assert all(isinstance(f.error, AuthenticationError) for f in report.failed)
    texts = [_error_texts(caught.value), repr(report), report.stopped_early, repr(vs)]
    texts += [_error_texts(f.error) for f in report.failed]
    texts += [r.getMessage() for r in caplog.records]
    _assert_clean("\n".join(texts), WRONG, token)
    assert fake.requests[0].headers["authorization"] == f"Token {WRONG}"
    wrong.close()


@pytest.mark.parametrize("fault", ["server", "timeout", "drop", "html"])
def test_transport_and_server_errors_do_not_leak(
    make_client: MakeClient,
    fake: FakeXimilar,
    token: str,
    samples: tuple[Sample, ...],
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    vs = make_client(fake.client_url(), transport=fake.mount(), retry=_policy(1))
    if fault == "server":
        fake.fail_next(503, times=2)
    elif fault == "timeout":
        fake.timeout_next(times=2)
    elif fault == "drop":
        fake.drop_next(times=2)
    else:
        fake.fail_next(502, html=True, times=2)
    with pytest.raises(APIError) as caught:
        vs.search(image=samples[0].jpeg)
    if fault in ("server", "html"):
        assert isinstance(caught.value, ServerError)
    elif fault == "timeout":
        assert isinstance(caught.value, APITimeoutError)
    assert caught.value.attempts == 2

    fake.timeout_next()  # and a failed insert, reported per record
    report = vs.index([ImageRecord(id=s.id, image=s.jpeg) for s in samples[:2]])
    assert len(report.failed) == 2
    texts = [_error_texts(caught.value), repr(report)]
    texts += [_error_texts(f.error) + f.reason for f in report.failed]
    texts += [r.getMessage() for r in caplog.records]
    _assert_clean("\n".join(texts), token)
    assert all(r.headers["authorization"].endswith(" " + token) for r in fake.requests)


def test_options_and_credentials_reprs(token: str) -> None:
    creds = XimilarCredentials(token=token, collection_id="secrets")
    options = XimilarOptions(credentials=creds, service="fashion")
    texts = [repr(creds), str(creds), repr(options), str(options), repr(creds.token), str(creds.token)]
    texts += [
        creds.model_dump_json(),
        options.model_dump_json(),
        repr(creds.model_dump()),
        repr(options.model_dump()),
    ]
    _assert_clean("\n".join(texts), token)
    assert creds.token.get_secret_value() == token


def test_explicit_credentials_client(make_client: MakeClient, fake: FakeXimilar, token: str) -> None:
    """A client built from ``XimilarOptions`` (not from the URL) sends the same header and hides it too."""
    options = XimilarOptions(
        credentials=XimilarCredentials(token=token, collection_id="secrets"),
    )
    vs = make_client("ximilar://", options=options, transport=fake.mount(), retry=_policy())
    assert vs.count() == 0
    _assert_clean(repr(vs) + repr(vs.adapter.credentials), token)
    scheme = "JWT" if len(token) >= 70 else "Token"
    assert fake.requests[-1].headers["authorization"] == f"{scheme} {token}"
