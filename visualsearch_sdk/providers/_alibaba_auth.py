"""Alibaba Cloud request signing: ACS3-HMAC-SHA256 (the default) and RPC signature V2 (HMAC-SHA1).

Both are ``httpx.Auth`` classes built from the small pure steps below (VENDORS.md §4.2), so each step can be
checked against the golden vectors on its own: :func:`percent_encode`, :func:`canonical_query`,
:func:`canonical_headers`, :func:`hashed_payload`, :func:`acs3_canonical_request`,
:func:`acs3_string_to_sign`, :func:`acs3_signature`, :func:`rpc_string_to_sign`, :func:`rpc_signature`.

The clock and the nonce are injected. Every call of ``auth_flow`` (so every attempt: the client sends a fresh
copy of the request each time) takes a new timestamp and a new nonce; the server refuses a replayed nonce
(``SignatureNonceUsed``) and a timestamp more than 15 minutes off (``InvalidTimeStamp.Expired``).

Unlike the official Python SDK, ACS3 here signs only what the protocol needs (``host``, ``content-type`` and
every ``x-acs-*`` header), not ``user-agent`` and ``accept``: a proxy that rewrites User-Agent cannot break
the signature (VENDORS §5). ``sign_headers=`` adds more (the vector tests use it to sign exactly what the
official SDK signed).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import uuid
from collections.abc import Callable, Collection, Generator, Iterable, Mapping
from typing import Final, Literal
from urllib.parse import parse_qsl, quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from visualsearch_sdk._exceptions import ConfigurationError

__all__ = [
    "ACS3",
    "RPC_V2",
    "AlibabaAcs3Auth",
    "AlibabaCredentials",
    "AlibabaRpcV2Auth",
    "Clock",
    "Nonce",
    "SignatureScheme",
    "acs3_canonical_request",
    "acs3_signature",
    "acs3_string_to_sign",
    "canonical_headers",
    "canonical_query",
    "format_timestamp",
    "hashed_payload",
    "percent_encode",
    "rpc_signature",
    "rpc_string_to_sign",
]

SignatureScheme = Literal["ACS3-HMAC-SHA256", "HMAC-SHA1"]
"""``ACS3-HMAC-SHA256`` (V3, the official SDK's default) or ``HMAC-SHA1`` (RPC signature V2)."""
ACS3: Final = "ACS3-HMAC-SHA256"
RPC_V2: Final = "HMAC-SHA1"

Clock = Callable[[], dt.datetime]
"""Returns the current time (timezone-aware, or naive UTC)."""
Nonce = Callable[[], str]
"""Returns a value never returned before (a UUID4 by default)."""

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_ACS3_VOLATILE = (
    "authorization",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-content-sha256",
    "x-acs-security-token",
    "x-acs-accesskey-id",
)
_RPC_COMMON = frozenset(
    {
        "Action",
        "Version",
        "Format",
        "AccessKeyId",
        "SignatureMethod",
        "SignatureVersion",
        "SignatureNonce",
        "Timestamp",
        "SecurityToken",
        "Signature",
    }
)


class AlibabaCredentials(BaseModel):
    """An AccessKey pair, and the security token of temporary (STS) credentials."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    access_key_id: str = Field(min_length=1)
    access_key_secret: SecretStr
    security_token: SecretStr | None = None


# -- pure steps ------------------------------------------------------------------------------------------


def percent_encode(value: str) -> str:
    """RFC 3986 strict: UTF-8, only ``A-Z a-z 0-9 - _ . ~`` unescaped, upper-case hex (VENDORS §4.2)."""
    return quote(value, safe="~")


def format_timestamp(when: dt.datetime) -> str:
    """UTC ``YYYY-MM-DDThh:mm:ssZ``."""
    if when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def canonical_query(params: Iterable[tuple[str, str]]) -> str:
    """Parameters sorted by name (then value), each ``pct(name)=pct(value)``, joined with ``&``."""
    pairs = sorted((percent_encode(k), percent_encode(v)) for k, v in params)
    return "&".join(f"{k}={v}" for k, v in pairs)


def canonical_headers(headers: Mapping[str, str], names: Iterable[str]) -> tuple[str, str]:
    """``(CanonicalHeaders, SignedHeaders)``: ``name:trimmed value\\n`` per header, and ``a;b;c``.

    Names are lower-cased and sorted; the value of a header missing from ``headers`` is empty.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    chosen = sorted({n.lower() for n in names})
    text = "".join(f"{n}:{lowered.get(n, '').strip()}\n" for n in chosen)
    return text, ";".join(chosen)


def hashed_payload(body: bytes) -> str:
    """Lower-case hex SHA-256 of the body (of ``b""`` when there is none)."""
    return hashlib.sha256(body).hexdigest()


def canonical_uri(path: str) -> str:
    """The path, percent-encoded segment by segment (``/`` for the RPC APIs)."""
    return quote(path or "/", safe="/~")


def acs3_canonical_request(
    method: str,
    path: str,
    query: str,
    headers: str,
    signed_headers: str,
    payload_hash: str,
) -> str:
    """``METHOD\\nURI\\nQuery\\nCanonicalHeaders\\nSignedHeaders\\nHashedPayload`` (VENDORS §4.2.1 step 4)."""
    return f"{method.upper()}\n{canonical_uri(path)}\n{query}\n{headers}\n{signed_headers}\n{payload_hash}"


def acs3_string_to_sign(canonical_request: str) -> str:
    """``ACS3-HMAC-SHA256\\n`` + lower-case hex SHA-256 of the canonical request."""
    return f"{ACS3}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"


def acs3_signature(secret: str, string_to_sign: str) -> str:
    """Lower-case hex HMAC-SHA256 keyed with the AccessKey secret."""
    return hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()


def rpc_string_to_sign(method: str, params: Iterable[tuple[str, str]]) -> str:
    """``METHOD&%2F&pct(CanonicalQuery)``: the sorted parameters encoded twice (VENDORS §4.2.2)."""
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical_query(params))}"


def rpc_signature(secret: str, string_to_sign: str) -> str:
    """Base64 HMAC-SHA1 keyed with the secret **plus a trailing** ``&``."""
    digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def form_params(request: httpx.Request) -> list[tuple[str, str]]:
    """The ``application/x-www-form-urlencoded`` body's parameters (none for another content type)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded" or not request.content:
        return []
    return parse_qsl(request.content.decode("utf-8"), keep_blank_values=True)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _uuid_nonce() -> str:
    return str(uuid.uuid4())


# -- the Auth classes ------------------------------------------------------------------------------------


class _AlibabaAuth(httpx.Auth):
    requires_request_body = True

    def __init__(
        self,
        credentials: AlibabaCredentials,
        *,
        origin: httpx.URL | str,
        clock: Clock = _utc_now,
        nonce: Nonce = _uuid_nonce,
    ) -> None:
        self._credentials = credentials
        self._origin = _origin_of(httpx.URL(str(origin)))
        self._clock = clock
        self._nonce = nonce

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(access_key_id={self._credentials.access_key_id!r}, origin={self._origin})"
        )

    def _check(self, request: httpx.Request) -> None:
        """Refuse to sign for another origin, or on top of a caller's own Authorization."""
        if _origin_of(request.url) != self._origin:
            raise ConfigurationError(
                f"refusing to sign a request for {_origin_of(request.url)}: these credentials are for "
                f"{self._origin}"
            )
        if "authorization" in request.headers:
            raise ConfigurationError(
                "the request already has an Authorization header; the Alibaba signer sets its own"
            )


class AlibabaAcs3Auth(_AlibabaAuth):
    """``Authorization: ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…`` (VENDORS §4.2.1).

    Args:
        credentials: the AccessKey pair (and STS token, sent as ``x-acs-security-token``).
        origin: the only scheme://host:port this signer signs for.
        clock / nonce: injectable time and nonce sources.
        sign_headers: headers to sign besides ``host``, ``content-type`` and ``x-acs-*``, when present.
    """

    def __init__(
        self,
        credentials: AlibabaCredentials,
        *,
        origin: httpx.URL | str,
        clock: Clock = _utc_now,
        nonce: Nonce = _uuid_nonce,
        sign_headers: Collection[str] = (),
    ) -> None:
        super().__init__(credentials, origin=origin, clock=clock, nonce=nonce)
        self._extra = frozenset(h.lower() for h in sign_headers)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        for name in _ACS3_VOLATILE[1:]:  # stale signing headers of an earlier attempt
            request.headers.pop(name, None)
        self._check(request)
        creds = self._credentials
        body = request.content
        payload = hashed_payload(body)
        request.headers["x-acs-date"] = format_timestamp(self._clock())
        request.headers["x-acs-signature-nonce"] = self._nonce()
        request.headers["x-acs-content-sha256"] = payload
        if creds.security_token is not None:
            request.headers["x-acs-accesskey-id"] = creds.access_key_id
            request.headers["x-acs-security-token"] = creds.security_token.get_secret_value()
        names = [
            n
            for n in (k.lower() for k in request.headers)
            if n in {"host", "content-type"} or n.startswith("x-acs-") or n in self._extra
        ]
        text, signed = canonical_headers(request.headers, names)
        canonical = acs3_canonical_request(
            request.method,
            request.url.path,
            canonical_query(request.url.params.multi_items()),
            text,
            signed,
            payload,
        )
        signature = acs3_signature(creds.access_key_secret.get_secret_value(), acs3_string_to_sign(canonical))
        request.headers["authorization"] = (
            f"{ACS3} Credential={creds.access_key_id},SignedHeaders={signed},Signature={signature}"
        )
        yield request


class AlibabaRpcV2Auth(_AlibabaAuth):
    """RPC signature V2: common parameters and ``Signature`` in the query (VENDORS §4.2.2).

    ``Action`` and ``Version`` are read from the ``x-acs-action``/``x-acs-version`` headers the adapter sets.
    The signature covers the query and the form body.

    Args:
        format: the ``Format`` parameter (``JSON``; the Tea SDK sends ``json``, both verify).
    """

    def __init__(
        self,
        credentials: AlibabaCredentials,
        *,
        origin: httpx.URL | str,
        clock: Clock = _utc_now,
        nonce: Nonce = _uuid_nonce,
        format: str = "JSON",
    ) -> None:
        super().__init__(credentials, origin=origin, clock=clock, nonce=nonce)
        self._format = format

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self._check(request)
        action, version = request.headers.get("x-acs-action"), request.headers.get("x-acs-version")
        if not action or not version:
            raise ConfigurationError("an RPC request needs the x-acs-action and x-acs-version headers")
        creds = self._credentials
        api = [(k, v) for k, v in request.url.params.multi_items() if k not in _RPC_COMMON]
        common = [
            ("Action", action),
            ("Format", self._format),
            ("Version", version),
            ("Timestamp", format_timestamp(self._clock())),
            ("SignatureNonce", self._nonce()),
            ("SignatureMethod", RPC_V2),
            ("SignatureVersion", "1.0"),
            ("AccessKeyId", creds.access_key_id),
        ]
        if creds.security_token is not None:
            common.append(("SecurityToken", creds.security_token.get_secret_value()))
        to_sign = rpc_string_to_sign(request.method, [*api, *common, *form_params(request)])
        signature = rpc_signature(creds.access_key_secret.get_secret_value(), to_sign)
        request.url = request.url.copy_with(params=[*api, *common, ("Signature", signature)])
        yield request


def _origin_of(url: httpx.URL) -> str:
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return f"{url.scheme}://{url.host}:{port}"
