"""The ViSearch keys never leak: not in reprs, errors, logs, results or reports; but they reach the wire, as
HTTP Basic, and only there (never in a URL, a form or a query string)."""

from __future__ import annotations

import base64
import logging
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.contract.cases import ImageHost
from visualsearch_sdk import ImageRecord
from visualsearch_sdk._exceptions import APIError, APITimeoutError, AuthenticationError, ServerError
from visualsearch_sdk._retry import RetryPolicy
from visualsearch_sdk._samples import Sample
from visualsearch_sdk.providers.visearch import ViSearchCredentials, ViSearchOptions
from visualsearch_sdk.testing.fakes import FakeViSearch

ACCESS = "acc-SECRET-4242424242"
SECRET = "sec-SECRET-1234567890"
WRONG = "sec-SECRET-WRONG-0987654321"
MakeClient = Callable[..., Any]


def _policy(max_retries: int = 0) -> RetryPolicy:
    return RetryPolicy(max_retries=max_retries, initial_backoff=0, max_backoff=0)


@pytest.fixture
def host() -> ImageHost:
    return ImageHost("https://images.secrets.test/")


@pytest.fixture
def fake(host: ImageHost) -> Iterator[FakeViSearch]:
    server = FakeViSearch(
        access_key=ACCESS, secret_key=SECRET, url_resolver=host.resolve, settle_after_polls=1
    )
    yield server
    server.close()


def _fragments(secret: str) -> list[str]:
    """The secret, its distinctive parts, and the Basic header value that carries it."""
    basic = base64.b64encode(f"{ACCESS}:{secret}".encode()).decode()
    return [secret, "SECRET-1234567890", "SECRET-4242424242", "0987654321", basic, basic[8:30]]


def _assert_clean(text: str, *secrets: str) -> None:
    for secret in secrets:
        for fragment in _fragments(secret):
            assert fragment not in text, f"secret fragment {fragment!r} leaked into {text[:300]!r}"


def _error_texts(error: BaseException) -> str:
    texts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current), repr(vars(current))]
        current = current.__cause__ or current.__context__
    texts.append("".join(traceback.format_exception(error)))
    return "\n".join(texts)


def test_keys_reach_the_wire_only(
    make_client: MakeClient,
    fake: FakeViSearch,
    host: ImageHost,
    samples: tuple[Sample, ...],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="visualsearch_sdk")
    vs = make_client(fake.client_url(), transport=fake.mount(), retry=_policy())
    texts = [repr(vs), str(vs), vs.adapter.describe(), repr(vs.adapter.credentials), repr(vs.adapter.auth())]
    records = [ImageRecord(id=s.id, url=host.url_for(s.jpeg), metadata=s.metadata) for s in samples[:4]]
    records.append(ImageRecord(id="gone", url="https://images.secrets.test/gone.jpg"))
    report = vs.index(records, wait=True)
    assert len(report.succeeded) == 4 and [f.id for f in report.failed] == ["gone"]
    texts += [repr(report), *(_error_texts(f.error) for f in report.failed)]
    result = vs.search(image=samples[0].jpeg, limit=3)
    again = vs.search(upload_id=result.upload_id or "", limit=3)
    objects = vs.search_objects(image=samples[1].jpeg)
    texts += [repr(result), repr(result.raw), repr(again.raw), repr(objects), repr(objects.raw)]
    texts += [repr(vs.update(samples[2].id, {"price": 1.0})), repr(vs.delete([samples[3].id, "missing"]))]
    debug = [
        r for r in caplog.records if r.name.startswith("visualsearch_sdk") and r.levelno == logging.DEBUG
    ]
    assert debug, "the SDK logged no request at DEBUG"
    texts += [r.getMessage() for r in caplog.records] + [caplog.text]
    _assert_clean("\n".join(texts), SECRET, ACCESS)

    basic = "Basic " + base64.b64encode(f"{ACCESS}:{SECRET}".encode()).decode()
    assert fake.requests
    for request in fake.requests:
        assert request.headers["authorization"] == basic
        assert SECRET not in str(request.url) and SECRET.encode() not in request.content


def test_auth_error_does_not_leak(
    make_client: MakeClient,
    fake: FakeViSearch,
    host: ImageHost,
    samples: tuple[Sample, ...],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = FakeViSearch(access_key=ACCESS, secret_key=WRONG)
    vs = make_client(wrong.client_url(), transport=fake.mount(), retry=_policy(2))
    with pytest.raises(AuthenticationError) as caught:
        vs.search(color="#00ff00")
    report = vs.index_many(
        [ImageRecord(id=s.id, url=host.url_for(s.jpeg)) for s in samples[:3]], batch_size=10, concurrency=1
    )
    assert report.stopped_early is not None
    texts = [_error_texts(caught.value), repr(report), report.stopped_early, repr(vs)]
    texts += [_error_texts(f.error) for f in report.failed] + [r.getMessage() for r in caplog.records]
    _assert_clean("\n".join(texts), WRONG, SECRET)
    wrong.close()


@pytest.mark.parametrize("fault", ["server", "timeout", "drop", "html"])
def test_transport_and_server_errors_do_not_leak(
    make_client: MakeClient,
    fake: FakeViSearch,
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
    texts = [_error_texts(caught.value)] + [r.getMessage() for r in caplog.records]
    _assert_clean("\n".join(texts), SECRET)


def test_options_and_credentials_reprs() -> None:
    creds = ViSearchCredentials(access_key=ACCESS, secret_key=SECRET)  # type: ignore[arg-type]
    options = ViSearchOptions(credentials=creds, schema={"price": float})
    texts = [
        repr(creds),
        str(creds),
        repr(options),
        str(options),
        creds.model_dump_json(),
        repr(creds.model_dump()),
    ]
    _assert_clean("\n".join(texts), SECRET, ACCESS)
    assert creds.secret_key.get_secret_value() == SECRET


def test_explicit_credentials_and_environment(make_client: MakeClient, fake: FakeViSearch) -> None:
    """Keys from ``ViSearchOptions`` or from the environment: the same header, hidden the same way."""
    options = ViSearchOptions(credentials=ViSearchCredentials(access_key=ACCESS, secret_key=SECRET))  # type: ignore[arg-type]
    vs = make_client("visearch://", options=options, transport=fake.mount(), retry=_policy())
    vs.verify()
    env = {"VISUALSEARCH_VISEARCH_ACCESS_KEY": ACCESS, "VISUALSEARCH_VISEARCH_SECRET_KEY": SECRET}
    from_env = make_client("visearch://", environ=env, transport=fake.mount(), retry=_policy())
    from_env.verify()
    _assert_clean(repr(vs) + repr(from_env) + repr(vs.adapter.credentials), SECRET, ACCESS)
    assert len({r.headers["authorization"] for r in fake.requests}) == 1
