"""The error tree of visualsearch_sdk.

::

    VisualSearchError
    ├── ConfigurationError          unknown provider, missing or invalid credentials/options
    ├── ImageError                  unreadable or unsupported image, bad box, too large after fitting
    ├── InvalidQueryError           a malformed argument: colour, URL, paging, search mode (also a ValueError)
    │   └── InvalidFilterError      a malformed filter expression or dict
    ├── UnsupportedCapabilityError  the provider lacks the capability (raised before any I/O)
    │   └── UnsupportedFilterError  the provider cannot express this part of the filter
    └── APIError                    provider, method and URL (never secrets)
        ├── APIConnectionError ── APITimeoutError
        ├── APIResponseError        body did not match the expected shape (raw body kept)
        └── APIStatusError          status_code, provider_code, request_id, retry_after, body
            ├── AuthenticationError (401/403, signature rejected)
            ├── NotFoundError       (404)
            ├── RateLimitError      (429, vendor quota codes)
            ├── InvalidRequestError (400/413/422)
            │   └── ConflictError   (409: the id exists already and the call does not replace)
            └── ServerError         (5xx)

Every error is raised with keyword arguments and chains its cause; httpx and pydantic errors never escape
the clients.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "ConfigurationError",
    "ConflictError",
    "ImageError",
    "ImageErrorReason",
    "InvalidFilterError",
    "InvalidQueryError",
    "InvalidRequestError",
    "NearDuplicateError",
    "NotFoundError",
    "RateLimitError",
    "ServerError",
    "UnsupportedCapabilityError",
    "UnsupportedFilterError",
    "VisualSearchError",
]

ImageErrorReason = Literal[
    "unreadable",
    "truncated",
    "unsupported_format",
    "too_small",
    "too_large",
    "decompression_bomb",
    "bad_box",
]


class VisualSearchError(Exception):
    """Base class of every error this SDK raises."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigurationError(VisualSearchError):
    """Unknown provider, missing or invalid credentials or options."""


class ImageError(VisualSearchError):
    """The image cannot be used: ``reason`` says why, machine-readably."""

    def __init__(self, message: str, *, reason: ImageErrorReason) -> None:
        super().__init__(message)
        self.reason: ImageErrorReason = reason


class InvalidQueryError(VisualSearchError, ValueError):
    """A malformed argument (colour, URL, paging, search mode); raised before any I/O."""


class InvalidFilterError(InvalidQueryError):
    """A malformed filter expression or MongoDB-style filter dict."""


class UnsupportedCapabilityError(VisualSearchError):
    """The provider lacks a capability the call needs; raised before any I/O."""

    def __init__(self, message: str, *, provider: str, capability: str | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.capability = capability


class UnsupportedFilterError(UnsupportedCapabilityError):
    """The provider cannot express part of a filter; ``part`` names it."""

    def __init__(self, message: str, *, provider: str, part: str) -> None:
        super().__init__(message, provider=provider, capability="filters")
        self.part = part


class APIError(VisualSearchError):
    """A call to a provider failed; carries provider, method and URL (never secrets)."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        method: str | None = None,
        url: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.method = method
        self.url = url
        self.attempts = attempts

    def __str__(self) -> str:
        where = f" ({self.method} {self.url})" if self.method and self.url else ""
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        return f"[{self.provider}] {self.message}{where}{tries}"


class APIConnectionError(APIError):
    """The request never got a response: connection refused, reset, DNS, TLS."""


class APITimeoutError(APIConnectionError):
    """The request timed out (connect, read, write or pool)."""


class APIResponseError(APIError):
    """The response body did not have the expected shape; ``body`` keeps it."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        method: str | None = None,
        url: str | None = None,
        status_code: int | None = None,
        body: str = "",
        attempts: int = 1,
    ) -> None:
        super().__init__(message, provider=provider, method=method, url=url, attempts=attempts)
        self.status_code = status_code
        self.body = body


class APIStatusError(APIError):
    """The provider answered with an error (an HTTP status, or an error code inside a 2xx body)."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status_code: int,
        method: str | None = None,
        url: str | None = None,
        provider_code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        body: str = "",
        attempts: int = 1,
    ) -> None:
        super().__init__(message, provider=provider, method=method, url=url, attempts=attempts)
        self.status_code = status_code
        self.provider_code = provider_code
        self.request_id = request_id
        self.retry_after = retry_after
        self.body = body

    def __str__(self) -> str:
        code = f" code={self.provider_code}" if self.provider_code else ""
        rid = f" request_id={self.request_id}" if self.request_id else ""
        return f"{super().__str__()} [HTTP {self.status_code}{code}{rid}]"


class AuthenticationError(APIStatusError):
    """401/403 or a rejected signature: check the credentials."""


class NotFoundError(APIStatusError):
    """404: the record, collection or endpoint does not exist."""


class RateLimitError(APIStatusError):
    """429 or a vendor quota code: slow down (``retry_after`` says how long, when known)."""


class InvalidRequestError(APIStatusError):
    """400/413/422: the provider refused the request as malformed."""


class ConflictError(InvalidRequestError):
    """409: the record exists already and the call was not asked to replace it (pass ``upsert=True``)."""


class NearDuplicateError(ConflictError):
    """The provider refused the record because images within its near-duplicate radius are stored already.

    Not an existing id: ``upsert=True`` does not replace anything for it. ``near_duplicates`` names the stored
    records, closest first, with their ``distances``; ``reason`` (a report's ``RecordFailure.reason``) says
    ``near duplicate of ...``.
    """

    near_duplicates: tuple[str, ...] = ()
    distances: tuple[float, ...] = ()

    @property
    def reason(self) -> str:
        return "near duplicate of " + ", ".join(self.near_duplicates)


class ServerError(APIStatusError):
    """5xx or a vendor 'busy' code."""
