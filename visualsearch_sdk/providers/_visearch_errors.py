"""ViSearch's error codes (VENDORS.md §1.6) mapped onto our error tree.

Most ViSearch failures arrive as HTTP 200 with ``"status": "fail"`` and an ``error`` list. The data API
(``insert``, ``remove``, ``insert/status``) lists objects ``{"error_code", "error_message", "im_name"}``;
the search API lists bare strings. A string carries no code, so :func:`code_of_message` recognises the
documented meanings by their wording ([?]: the wording of the codes' messages follows the Java SDK's
``ResponseMessages`` meanings; the exact server strings are not documented).

Retryable, per VENDORS §1.6: 31 (busy), 1001 (query image still processing), 1105 (download failed, retry),
1106 (download timed out) and HTTP 5xx: they become :class:`ServerError`, which the retry policy repeats
for idempotent operations (every ViSearch operation is: VENDORS §1.7). 32 ("system error") is a
``ServerError`` too. Everything else is a caller error and is never retried.
"""

from __future__ import annotations

import httpx

from visualsearch_sdk._exceptions import (
    APIStatusError,
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    ServerError,
)
from visualsearch_sdk.providers._base import status_error

__all__ = ["CODES", "code_error", "code_of_message"]

CODES: dict[int, tuple[type[APIStatusError], int, str]] = {
    # code: (our class, the HTTP status it stands for, what it means)  -- VENDORS §1.6
    11: (AuthenticationError, 401, "invalid access key or secret key"),
    12: (AuthenticationError, 403, "unauthorized"),
    21: (InvalidRequestError, 403, "collection size limit exceeded"),
    31: (ServerError, 503, "system busy, retry later"),
    32: (ServerError, 500, "system error"),
    101: (NotFoundError, 404, "transaction not found"),
    102: (NotFoundError, 404, "image not found with im_name"),
    103: (InvalidRequestError, 413, "more than 100 images in one insert"),
    104: (InvalidRequestError, 400, "no image inserted"),
    105: (InvalidRequestError, 400, "too many parameters for one image"),
    106: (InvalidRequestError, 400, "a parameter exceeds its length limit"),
    107: (InvalidRequestError, 400, "invalid im_name"),
    108: (InvalidRequestError, 400, "missing im_url"),
    109: (InvalidRequestError, 400, "a field has the wrong data type"),
    201: (InvalidRequestError, 400, "could not download the image from im_url"),
    202: (InvalidRequestError, 400, "unsupported image format"),
    203: (InvalidRequestError, 400, "unsupported image dimension"),
    1001: (ServerError, 503, "query image still being processed, retry"),
    1101: (NotFoundError, 404, "image not found with im_name"),
    1102: (InvalidRequestError, 400, "invalid image file format"),
    1103: (InvalidRequestError, 400, "invalid image format or dimension"),
    1104: (InvalidRequestError, 400, "invalid image or im_url"),
    1105: (ServerError, 502, "could not download the image, retry"),
    1106: (ServerError, 504, "timeout downloading the image"),
    1107: (NotFoundError, 404, "the app has no images"),
}

_UNKNOWN: tuple[type[APIStatusError], int, str] = (InvalidRequestError, 400, "")

# Wording -> code, most specific first (lower-case substrings of the server's message).
_WORDING: tuple[tuple[tuple[str, ...], int], ...] = (
    (("access key",), 11),
    (("secret key",), 11),
    (("unauthori",), 12),
    (("collection size",), 21),
    (("busy",), 31),
    (("system error",), 32),
    (("transaction not found",), 101),
    (("being processed",), 1001),
    (("has no image",), 1107),
    (("no images",), 1107),
    (("not found",), 1101),
    (("timeout", "download"), 1106),
    (("timed out", "download"), 1106),
    (("download", "retry"), 1105),
    (("format or dimension",), 1103),
    (("invalid image file",), 1102),
    (("invalid image",), 1104),
)


def code_of_message(message: str) -> int | None:
    """The documented code a search-API error string stands for, when its wording says it; else None."""
    lowered = message.lower()
    for fragments, code in _WORDING:
        if all(fragment in lowered for fragment in fragments):
            return code
    return None


def code_error(response: httpx.Response, code: int | None, message: str) -> APIStatusError:
    """The error for a ViSearch code (None: a failure without a recognisable code -> 400)."""
    if response.status_code >= 400:  # an HTTP error: its status decides the class (429 stays a rate limit)
        return status_error(
            "visearch",
            response,
            message=message,
            provider_code=None if code is None else str(code),
        )
    cls, status, meaning = CODES.get(code, _UNKNOWN) if code is not None else _UNKNOWN
    text = message or meaning or "request failed"
    return status_error(
        "visearch",
        response,
        message=text,
        provider_code=None if code is None else str(code),
        status_code=status,
        cls=cls,
    )
