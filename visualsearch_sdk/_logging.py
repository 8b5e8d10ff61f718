"""The ``visualsearch_sdk`` logger and redaction of credentials in what it records.

Requests are logged at DEBUG as method, URL, status, attempt and latency. Every header and query parameter
that can carry a credential, signature, token or nonce is replaced by ``***`` before anything is formatted.
"""

from __future__ import annotations

import logging
import re

import httpx

__all__ = ["logger", "redact_headers", "redact_url"]

logger = logging.getLogger("visualsearch_sdk")
logger.addHandler(logging.NullHandler())

_SECRET_NAME = re.compile(
    r"(authori[sz]ation|token|secret|signature|sign|nonce|key|password|passwd|credential|cookie|session|x-acs-|"
    r"accesskey|security)",
    re.IGNORECASE,
)
REDACTED = "***"


def is_secret_name(name: str) -> bool:
    """True for a header, query or form field name that may hold a credential."""
    return bool(_SECRET_NAME.search(name))


def redact_url(url: httpx.URL | str) -> str:
    """The URL without userinfo and with secret-looking query values replaced."""
    parsed = httpx.URL(str(url))
    params = [(k, REDACTED if is_secret_name(k) else v) for k, v in parsed.params.multi_items()]
    return str(parsed.copy_with(username=None, password=None, params=params or None))


def redact_headers(headers: httpx.Headers) -> dict[str, str]:
    """Headers with secret-looking values replaced."""
    return {k: (REDACTED if is_secret_name(k) else v) for k, v in headers.items()}
