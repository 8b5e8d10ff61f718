"""Alibaba error answers -> our error tree (VENDORS.md §4.6).

A failure is HTTP 4xx/5xx with ``{"RequestId", "HostId", "Code": "<string>", "Message", "Recommend"}``; a
200 may also say ``"Success": false`` with a non-zero ``Code``. The class follows the code first, then the
HTTP status:

* ``DeniedRequest`` (HTTP 403, the instance's QPS) and ``Throttling*`` -> ``RateLimitError`` (retried);
  ``x-acs-retry-after`` is in milliseconds [src: the Darabonba retry policy], ``Retry-After`` in seconds.
* signature, AccessKey, timestamp, nonce, STS token and permission codes -> ``AuthenticationError``;
* ``UnsupportedInstanceType``/``UnsupportedOperationType`` (HTTP 500, but retrying cannot help: e.g.
  ``UpdateImage`` on an instance without it) -> ``InvalidRequestError``;
* a ``*NotExist*``/``*.NotFound`` code or HTTP 404 -> ``NotFoundError``; other 5xx -> ``ServerError``,
  other 4xx -> ``InvalidRequestError``.

The ``RequestId`` of the body (or the ``x-acs-request-id`` header) is kept on the error.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import httpx

from visualsearch_sdk._exceptions import (
    APIStatusError,
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    ServerError,
)
from visualsearch_sdk.providers._alibaba_auth import percent_encode
from visualsearch_sdk.providers._base import retry_after_seconds, status_error

__all__ = ["alibaba_error", "class_for"]

_AUTH_PREFIXES = (
    "SignatureDoesNotMatch",
    "SignatureNonceUsed",
    "IncompleteSignature",
    "InvalidAccessKeyId",
    "InvalidTimeStamp",
    "InvalidSecurityToken",
    "NoPermission",
    "Forbidden",
    "MissingSecurityToken",
)
_CALLER_5XX = frozenset({"UnsupportedInstanceType", "UnsupportedOperationType"})
_HINTS = {
    "UnsupportedOperationType": " (UpdateImage exists only on some instances, e.g. Singapore ones created "
    "after December 2021: index the record again with its image instead)",
    "InvalidTimeStamp.Expired": " (the request was dated more than 15 minutes from the server's clock: "
    "check this machine's clock)",
    "SignatureDoesNotMatch": " (check the AccessKey secret)",
    "InvalidAccessKeyId.NotFound": " (check the AccessKey id)",
    "DeniedRequest": " (the instance's QPS is exceeded: set AlibabaOptions(qps=...) to pace the client)",
    "IncorrectOrientation": " (the image carries an EXIF rotation: let the SDK preprocess it)",
}


def class_for(code: str, status: int) -> type[APIStatusError]:
    """The error class for an Alibaba error ``code`` answered with HTTP ``status``."""
    if code == "DeniedRequest" or code.startswith("Throttling") or status == 429:
        return RateLimitError
    if code.startswith(_AUTH_PREFIXES) or status == 401:
        return AuthenticationError
    if code in _CALLER_5XX:
        return InvalidRequestError
    if "NotExist" in code or code.endswith(".NotFound") or status == 404:
        return NotFoundError
    if status >= 500:
        return ServerError
    if status == 403:
        return AuthenticationError
    return InvalidRequestError


def alibaba_error(
    provider: str, response: httpx.Response, *, redact: Sequence[str] = ()
) -> APIStatusError | None:
    """The error a response carries, or None for a success; ``redact`` values (and their percent-encoded
    forms, once and twice) become ``***`` in its message and body."""
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        body = None  # an HTML proxy page: the status decides (a 2xx one fails in the parser)
    fields = body if isinstance(body, dict) else {}
    code = fields.get("Code")
    failed_inside = response.is_success and (
        fields.get("Success") is False or (code is not None and str(code) not in {"0", "200"})
    )
    if response.is_success and not failed_inside:
        return None
    code_text = str(code) if code not in (None, "") else None
    status = response.status_code if not response.is_success else 400
    message = str(fields.get("Message") or fields.get("Msg") or "").strip()
    if not message:
        message = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    message += _HINTS.get(code_text or "", "")
    error = status_error(
        provider,
        response,
        message=message,
        provider_code=code_text,
        status_code=status,
        cls=class_for(code_text or "", status),
    )
    for secret in filter(None, redact):
        forms = {secret, percent_encode(secret), percent_encode(percent_encode(secret))}
        for form in sorted(forms, key=len, reverse=True):
            error.message = error.message.replace(form, "***")
            error.body = error.body.replace(form, "***")
    error.request_id = (
        str(fields["RequestId"]) if fields.get("RequestId") else response.headers.get("x-acs-request-id")
    )
    acs_retry = response.headers.get("x-acs-retry-after")
    if acs_retry:
        try:
            error.retry_after = max(0.0, float(acs_retry) / 1000.0)  # milliseconds
        except ValueError:
            error.retry_after = retry_after_seconds(response.headers.get("retry-after"))
    return error
