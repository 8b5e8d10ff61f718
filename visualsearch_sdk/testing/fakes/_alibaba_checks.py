"""How the fake Alibaba gateway checks a request before the instance sees it (VENDORS.md §4.2, §4.5, §4.6).

* **ACS3-HMAC-SHA256**: the ``Authorization`` header's credential, signed headers (``host``,
  ``content-type`` and the ``x-acs-*`` ones must be among them), ``x-acs-content-sha256`` against the
  body, and the signature recomputed from the request as received.
* **RPC signature V2**: ``Signature``, ``AccessKeyId``, ``SignatureMethod=HMAC-SHA1``,
  ``SignatureVersion=1.0``, ``SignatureNonce`` and ``Timestamp`` in the query; the signature covers the
  query and the form body. Both the Tea (``Format=json``) and the classic core variant (``Format=JSON``,
  ``RegionId``, empty ``SignatureType``) verify.
* Both: a timestamp within 15 minutes of the fake's clock (``InvalidTimeStamp.Expired``), a nonce never
  seen in the last 15 minutes (``SignatureNonceUsed``) [?: the window], the STS token when the key has one.

The canonicalisation reuses the SDK's pure signing steps, which the golden vectors pin independently.
Error statuses: 404 for an unknown AccessKey id, 400 for the rest [?: the gateway's exact statuses].
"""

from __future__ import annotations

import datetime as dt
import hmac
import threading
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from visualsearch_sdk.providers._alibaba_auth import (
    ACS3,
    RPC_V2,
    acs3_canonical_request,
    acs3_signature,
    acs3_string_to_sign,
    canonical_headers,
    canonical_query,
    form_params,
    hashed_payload,
    rpc_signature,
    rpc_string_to_sign,
)

__all__ = ["Gateway", "Refusal", "Verified"]

SKEW_SECONDS = 15 * 60  # VENDORS §4.2 "within 15 minutes"
_RPC_COMMON = frozenset(
    {
        "Action", "Version", "Format", "AccessKeyId", "SignatureMethod", "SignatureVersion", "SignatureNonce",
        "Timestamp", "SecurityToken", "Signature", "RegionId", "SignatureType",
    }
)  # fmt: skip


class Refusal(Exception):
    """An error answer: HTTP ``status``, Alibaba ``code`` and ``message`` (and extra headers)."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


@dataclass(frozen=True)
class Verified:
    """A request that passed the gateway: its action, version and API parameters (query and form)."""

    action: str
    version: str
    params: dict[str, str]
    scheme: str


class Gateway:
    """Signature, timestamp and nonce checks for one AccessKey (thread-safe)."""

    def __init__(
        self,
        access_key_id: str,
        access_key_secret: str,
        *,
        security_token: str | None = None,
        clock: Callable[[], float],
    ) -> None:
        self.access_key_id, self._secret = access_key_id, access_key_secret
        self.security_token = security_token
        self._clock = clock
        self._nonces: dict[str, float] = {}
        self._lock = threading.Lock()

    def verify(self, request: httpx.Request) -> Verified:
        """Check the request's signature, date and nonce; raises :class:`Refusal`."""
        authorization = request.headers.get("authorization", "")
        if authorization.startswith(ACS3 + " "):
            return self._acs3(request, authorization)
        if "Signature" in request.url.params:
            return self._rpc(request)
        raise Refusal(400, "MissingParameter", "The request is not signed: no Authorization, no Signature.")

    # -- ACS3 -----------------------------------------------------------------------------------------

    def _acs3(self, request: httpx.Request, authorization: str) -> Verified:
        fields = dict(
            part.strip().split("=", 1) for part in authorization[len(ACS3) + 1 :].split(",") if "=" in part
        )
        key_id, signed, given = fields.get("Credential"), fields.get("SignedHeaders"), fields.get("Signature")
        if not key_id or not signed or not given:
            raise Refusal(400, "IncompleteSignature", "The Authorization header is incomplete.")
        self._check_key(key_id)
        names = signed.split(";")
        present = {k.lower() for k in request.headers}
        must = {"host", *(n for n in present if n.startswith("x-acs-"))}
        if request.content and "content-type" in present:
            must.add("content-type")
        unsigned = sorted(must - set(names))
        if unsigned:
            raise Refusal(400, "IncompleteSignature", f"These headers must be signed: {', '.join(unsigned)}.")
        payload = hashed_payload(request.content)
        if request.headers.get("x-acs-content-sha256") != payload:
            raise Refusal(400, "SignatureDoesNotMatch", "x-acs-content-sha256 does not match the body.")
        text, signed_list = canonical_headers(request.headers, names)
        canonical = acs3_canonical_request(
            request.method,
            request.url.path,
            canonical_query(request.url.params.multi_items()),
            text,
            signed_list,
            payload,
        )
        to_sign = acs3_string_to_sign(canonical)
        if not hmac.compare_digest(acs3_signature(self._secret, to_sign), given):
            raise Refusal(
                400,
                "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation. "
                f"server string to sign is:{to_sign}",
            )
        self._check_token(request.headers.get("x-acs-security-token"))
        self._check_date(request.headers.get("x-acs-date"))
        self._check_nonce(request.headers.get("x-acs-signature-nonce"))
        action, version = request.headers.get("x-acs-action"), request.headers.get("x-acs-version")
        if not action or not version:
            raise Refusal(400, "MissingParameter", "x-acs-action and x-acs-version are required.")
        params = dict(request.url.params.multi_items())
        params.update(form_params(request))
        return Verified(action, version, params, ACS3)

    # -- RPC V2 ---------------------------------------------------------------------------------------

    def _rpc(self, request: httpx.Request) -> Verified:
        query = dict(request.url.params.multi_items())
        for name in ("AccessKeyId", "SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp"):
            if not query.get(name):
                raise Refusal(400, "MissingParameter", f'The input parameter "{name}" is mandatory.')
        self._check_key(query["AccessKeyId"])
        if query["SignatureMethod"] != RPC_V2 or query["SignatureVersion"] != "1.0":
            raise Refusal(
                400, "InvalidParameter", "SignatureMethod HMAC-SHA1, SignatureVersion 1.0 expected."
            )
        body = form_params(request)
        signed = [(k, v) for k, v in request.url.params.multi_items() if k != "Signature"] + body
        to_sign = rpc_string_to_sign(request.method, signed)
        if not hmac.compare_digest(rpc_signature(self._secret, to_sign), query["Signature"]):
            raise Refusal(
                400,
                "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation. "
                f"server string to sign is:{to_sign}",
            )
        self._check_token(query.get("SecurityToken"))
        self._check_date(query["Timestamp"])
        self._check_nonce(query["SignatureNonce"])
        action = query.get("Action") or request.headers.get("x-acs-action")
        version = query.get("Version") or request.headers.get("x-acs-version")
        if not action or not version:
            raise Refusal(
                400, "MissingParameter", 'The input parameters "Action" and "Version" are mandatory.'
            )
        params = {k: v for k, v in query.items() if k not in _RPC_COMMON}
        params.update(body)
        return Verified(action, version, params, RPC_V2)

    # -- shared checks --------------------------------------------------------------------------------

    def _check_key(self, key_id: str) -> None:
        if not hmac.compare_digest(key_id.encode(), self.access_key_id.encode()):
            raise Refusal(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")

    def _check_token(self, given: str | None) -> None:
        if self.security_token is None:
            return
        if given is None or not hmac.compare_digest(given.encode(), self.security_token.encode()):
            raise Refusal(400, "InvalidSecurityToken.Mismatch", "Specified SecurityToken is not valid.")

    def _check_date(self, value: str | None) -> None:
        try:
            when = dt.datetime.strptime(value or "", "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
        except ValueError:
            raise Refusal(400, "InvalidTimeStamp.Format", "Specified time stamp is not valid.") from None
        if abs(when.timestamp() - self._clock()) > SKEW_SECONDS:
            raise Refusal(
                400,
                "InvalidTimeStamp.Expired",
                f"Specified time stamp or date value is expired. The time stamp {value} differs from the "
                "server's time by more than 15 minutes.",
            )

    def _check_nonce(self, nonce: str | None) -> None:
        if not nonce:
            raise Refusal(400, "MissingParameter", "A signature nonce is required.")
        now = self._clock()
        with self._lock:
            if len(self._nonces) > 10_000:  # forget expired nonces now and then
                self._nonces = {n: t for n, t in self._nonces.items() if t > now}
            if self._nonces.get(nonce, 0.0) > now:
                raise Refusal(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
            self._nonces[nonce] = now + SKEW_SECONDS


class TokenBucket:
    """The instance's flow control: ``rate`` requests a second, bursts of at most ``rate`` [?]."""

    def __init__(self, rate: float, clock: Callable[[], float]) -> None:
        self.rate, self._clock = float(rate), clock
        self._tokens, self._stamp = max(1.0, self.rate), clock()
        self._lock = threading.Lock()

    def take(self) -> float | None:
        """Take a token: None when one was available, else the seconds until one will be."""
        with self._lock:
            now = self._clock()
            self._tokens = min(max(1.0, self.rate), self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return None
            return (1.0 - self._tokens) / self.rate
