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


class _RedactURLs(logging.Filter):
    """Redacts every ``httpx.URL`` argument of a log record (httpx logs each request's URL at INFO).

    Some vendors sign in the query string (Alibaba's RPC signature carries ``AccessKeyId``, ``Signature`` and
    the STS ``SecurityToken``), so httpx's own ``HTTP Request: GET <url>`` line would record them.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(redact_url(a) if isinstance(a, httpx.URL) else a for a in record.args)
        return True


def _guard_httpx_logger() -> None:
    """Install the redaction on the ``httpx`` logger once (other records pass through unchanged)."""
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactURLs) for f in httpx_logger.filters):
        httpx_logger.addFilter(_RedactURLs())


_guard_httpx_logger()
