"""VSHMAC, VisualSnoop's request signature (VENDORS.md §3.2), as small pure steps and an ``httpx.Auth``.

Every request, GET included, carries::

    Date: Mon, 26 Jan 2015 10:00:00 GMT                       (RFC 1123, GMT)
    Authorization: VSHMAC <public_key>:<base64 HMAC-SHA1(secret_key.strip(), METHOD\\nPATH\\nDATE)>
    X-Visualsnoop-Client-Version: 0.2                         (not signed)

``PATH`` is the percent-encoded path exactly as it goes on the wire, without the query string (which is not
signed, and neither is the body). The official client's ``base64.encodestring`` is gone since Python 3.9; its
output, stripped as the client did, is plain ``b64encode`` output, so signatures are byte-identical.

:class:`VisualSnoopHmacAuth` works with any ``httpx.Client``, and a ``requests`` flavour
(``VisualSnoopRequestsAuth``, a ``requests.auth.AuthBase``) is built on first use for code that uses requests,
as the official client did. ``requests`` is optional: ``pip install 'visualsearch_sdk[requests]'``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import importlib
import time
from collections.abc import Callable, Generator
from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from visualsearch_sdk._exceptions import ConfigurationError

__all__ = [
    "CLIENT_VERSION",
    "Clock",
    "VisualSnoopHmacAuth",
    "authorization_header",
    "http_date",
    "signature",
    "signed_path",
    "string_to_sign",
]

CLIENT_VERSION = "0.2"
"""Sent as ``X-Visualsnoop-Client-Version``, as the only client the service is known to accept does [?]."""
SCHEME = "VSHMAC"
Clock = Callable[[], float]
"""Seconds since the epoch, like ``time.time`` (injectable, so signatures are reproducible)."""


def http_date(timestamp: float) -> str:
    """``timestamp`` as an RFC 1123 GMT date: ``Mon, 26 Jan 2015 10:00:00 GMT``.

    Formatted from UTC, unlike the official client's ``time.mktime(local now)``, which is off by an hour in
    the daylight-saving fall-back hour.
    """
    return formatdate(timestamp, usegmt=True)


def signed_path(raw_path: bytes | str) -> str:
    """The part of a request target that is signed: the percent-encoded path, no query, ``/`` if empty."""
    text = raw_path.decode("ascii") if isinstance(raw_path, bytes) else raw_path
    path = text.split("?", 1)[0].split("#", 1)[0]
    return path or "/"


def string_to_sign(method: str, path: str, date: str) -> str:
    """``METHOD\\nPATH\\nDATE`` (the method upper-cased, the date byte-for-byte the ``Date`` header)."""
    return f"{method.upper()}\n{path}\n{date}"


def signature(secret_key: str, message: str) -> str:
    """``base64(HMAC-SHA1(secret_key.strip(), message))``, both UTF-8 encoded."""
    digest = hmac.new(secret_key.strip().encode("utf-8"), message.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def authorization_header(public_key: str, secret_key: str, method: str, path: str, date: str) -> str:
    """The ``Authorization`` value: ``VSHMAC <public_key>:<signature>``."""
    return f"{SCHEME} {public_key}:{signature(secret_key, string_to_sign(method, path, date))}"


class VisualSnoopHmacAuth(httpx.Auth):
    """Signs every request with VSHMAC, freshly dated from ``clock`` each time it is sent (retries included).

    Args:
        public_key: the collection's public key.
        secret_key: its secret key (surrounding whitespace is ignored, as the service does).
        clock: where the ``Date`` comes from (default ``time.time``).
        origin: when given (a base URL), refuse to sign a request for any other scheme, host or port.

    Raises (from the auth flow):
        ConfigurationError: the request carries another ``Authorization`` scheme, or goes to another origin.
    """

    def __init__(
        self,
        public_key: str,
        secret_key: SecretStr | str,
        *,
        clock: Clock | None = None,
        origin: httpx.URL | str | None = None,
    ) -> None:
        self._secret = secret_key if isinstance(secret_key, SecretStr) else SecretStr(secret_key)
        if not public_key or not self._secret.get_secret_value().strip():
            raise ConfigurationError("VisualSnoop signing needs a public key and a non-empty secret key")
        self.public_key = public_key
        self._clock = clock
        self._origin = _origin(httpx.URL(origin)) if origin is not None else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(public_key={self.public_key!r}, secret_key=SecretStr('***'))"

    def now(self) -> float:
        """The current time from the clock."""
        return self._clock() if self._clock is not None else time.time()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.sign(request)
        yield request

    def sign(self, request: httpx.Request) -> httpx.Request:
        """Set ``Date``, ``Authorization`` and the client-version header on ``request`` (in place)."""
        if self._origin is not None and _origin(request.url) != self._origin:
            raise ConfigurationError(
                f"refusing to sign a request for {request.url.scheme}://{request.url.host}: "
                "it is not the configured VisualSnoop endpoint"
            )
        given = request.headers.get("Authorization")
        if given is not None and not given.startswith(f"{SCHEME} "):
            raise ConfigurationError(
                "the request already carries an Authorization header; VisualSnoopHmacAuth sets it itself"
            )
        date = http_date(self.now())  # always fresh: a stale Date from an earlier attempt is replaced
        request.headers["Date"] = date
        request.headers["X-Visualsnoop-Client-Version"] = CLIENT_VERSION
        request.headers["Authorization"] = authorization_header(
            self.public_key,
            self._secret.get_secret_value(),
            request.method,
            signed_path(request.url.raw_path),
            date,
        )
        return request

    def for_requests(self) -> Any:
        """The same signer as a ``requests.auth.AuthBase`` (``session.auth = auth.for_requests()``)."""
        cls = _requests_auth_class()
        return cls(self.public_key, self._secret, clock=self._clock)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, url.port if url.port is not None else default


@functools.cache
def _requests_auth_class() -> type[Any]:
    """Build ``VisualSnoopRequestsAuth`` on first use: ``requests`` is imported only then."""
    try:
        auth_module = importlib.import_module("requests.auth")
    except ImportError as exc:
        raise ConfigurationError(
            "VisualSnoopRequestsAuth needs the requests package: pip install 'visualsearch_sdk[requests]'"
        ) from exc

    class VisualSnoopRequestsAuth(auth_module.AuthBase):  # type: ignore[misc,name-defined]
        """VSHMAC for ``requests``: ``requests.get(url, auth=VisualSnoopRequestsAuth(public, secret))``.

        Dated when the request is prepared; requests' own retries resend that same prepared request, so keep
        them to connection errors (as the official client did) or re-prepare to get a fresh date.
        """

        def __init__(
            self, public_key: str, secret_key: SecretStr | str, *, clock: Clock | None = None
        ) -> None:
            self._signer = VisualSnoopHmacAuth(public_key, secret_key, clock=clock)
            self.public_key = public_key

        def __repr__(self) -> str:
            return f"VisualSnoopRequestsAuth(public_key={self.public_key!r}, secret_key=SecretStr('***'))"

        def __call__(self, r: Any) -> Any:
            given = r.headers.get("Authorization")
            if given is not None and not str(given).startswith(f"{SCHEME} "):
                raise ConfigurationError(
                    "the request already carries an Authorization header; VisualSnoopRequestsAuth sets it"
                )
            date = http_date(self._signer.now())
            path = signed_path(urlsplit(r.url).path)
            r.headers["Date"] = date
            r.headers["X-Visualsnoop-Client-Version"] = CLIENT_VERSION
            r.headers["Authorization"] = authorization_header(
                self.public_key, self._signer._secret.get_secret_value(), r.method, path, date
            )
            return r

    return VisualSnoopRequestsAuth


def __getattr__(name: str) -> Any:
    if name == "VisualSnoopRequestsAuth":
        return _requests_auth_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
