"""The adapter contract: translate normalised operations to ``httpx.Request`` and responses back.

An adapter never sends, sleeps, retries or logs: every method is a pure function of its inputs, which is why
the sync and async clients share it. Capabilities are declared, and ``_core`` checks them before any I/O, so
a method for an operation the adapter lacks is never called (the default raises
``UnsupportedCapabilityError`` all the same, naming the capability).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import httpx

from visualsearch_sdk._config import ClientOptions, ProviderURL
from visualsearch_sdk._exceptions import (
    APIResponseError,
    APIStatusError,
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    ServerError,
    UnsupportedCapabilityError,
)
from visualsearch_sdk.capabilities import Capability
from visualsearch_sdk.models import (
    DeleteReport,
    MetadataValue,
    ObjectQuery,
    ObjectSearchResult,
    SearchQuery,
    SearchResult,
    StoredRecord,
)
from visualsearch_sdk.preprocess import ImageLimits, PreparedImage, Preset

__all__ = [
    "Adapter",
    "IndexStatus",
    "Operation",
    "PreparedRecord",
    "RecordOutcome",
    "status_error",
]

Operation = Literal[
    "search",
    "index",
    "get",
    "update",
    "delete",
    "count",
    "list",
    "verify",
    "index_status",
    "search_objects",
    "send",  # a caller-built request (``VisualSearch.send``): the caller says whether it is idempotent
]


@dataclass(frozen=True)
class PreparedRecord:
    """A record whose image went through the preprocessor: what a build_index call receives."""

    id: str
    image: PreparedImage | None
    url: str | None
    metadata: Mapping[str, MetadataValue] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordOutcome:
    """One record's result from a provider: ``error`` is None on success."""

    id: str
    error: APIStatusError | None = None
    transaction_id: str | None = None
    """Set by an asynchronous provider (``INDEX_ASYNC``): the transaction that will settle this record."""


@dataclass(frozen=True)
class IndexStatus:
    """One page of an asynchronous indexing transaction's status, as ``parse_index_status`` reads it."""

    finished: bool
    """True once the provider has processed every record of the transaction."""
    failed: Sequence[RecordOutcome] = ()
    """The records of this page that failed, each with its error (the provider's per-image code)."""
    next_page: int | None = None
    """The page of failures to read next; None when this page was the last."""


class Adapter:
    """Base class of every provider adapter (see the module docstring for the rules)."""

    provider: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]]
    limits: ClassVar[ImageLimits] = ImageLimits()
    preset: ClassVar[Preset] = "STANDARD"
    batch_size: ClassVar[int] = 1
    """Records per index request."""
    delete_batch_size: ClassVar[int] = 100
    max_limit: ClassVar[int] = 100
    """Most hits one search request may ask for."""
    page_window: ClassVar[int] = 1000
    """``offset + limit`` may not exceed this: the provider's paging window."""
    idempotent: ClassVar[frozenset[Operation]] = frozenset({"search", "get", "count", "list", "verify"})
    """Operations safe to retry after the request may have reached the provider."""
    update_replaces: ClassVar[bool] = False
    """The provider's update replaces a record's metadata: the pipeline reads the record first (``get``)
    and passes ``build_update`` the whole merged metadata, without the fields set to None (not atomic)."""

    base_url: httpx.URL
    default_max_qps: float | None = None
    """The client-side request pace used when the user passes no ``max_qps`` (a vendor sold by QPS)."""

    @classmethod
    def from_url(
        cls, url: ProviderURL, *, options: Any, environ: Mapping[str, str], client_options: ClientOptions
    ) -> Adapter:
        """Build the adapter from a parsed provider URL, its typed options and the environment."""
        raise UnsupportedCapabilityError(f"{cls.__name__} cannot be built from a URL", provider=cls.provider)

    def auth(self) -> httpx.Auth | None:
        """The ``httpx.Auth`` applied to every request (None when the provider needs none)."""
        return None

    def describe(self) -> str:
        """A one-line description without secrets."""
        return f"{self.provider} at {self.base_url}"

    # -- operations: each pair builds a request and parses its response ---------------------------------

    def build_search(self, query: SearchQuery, image: PreparedImage | None) -> httpx.Request:
        raise self._lacks(Capability.SEARCH_BY_IMAGE)

    def parse_search(self, response: httpx.Response, query: SearchQuery) -> SearchResult:
        raise self._lacks(Capability.SEARCH_BY_IMAGE)

    def build_index(self, batch: Sequence[PreparedRecord], *, upsert: bool) -> httpx.Request:
        raise self._lacks(Capability.INDEX_WRITE)

    def parse_index(self, response: httpx.Response, batch: Sequence[PreparedRecord]) -> list[RecordOutcome]:
        raise self._lacks(Capability.INDEX_WRITE)

    def build_get(self, record_id: str) -> httpx.Request:
        raise self._lacks(Capability.GET)

    def parse_get(self, response: httpx.Response) -> StoredRecord:
        raise self._lacks(Capability.GET)

    def build_update(self, record_id: str, metadata: Mapping[str, MetadataValue | None]) -> httpx.Request:
        raise self._lacks(Capability.INDEX_UPDATE)

    def parse_update(self, response: httpx.Response, record_id: str) -> StoredRecord:
        raise self._lacks(Capability.INDEX_UPDATE)

    def build_delete(self, ids: Sequence[str]) -> httpx.Request:
        raise self._lacks(Capability.INDEX_DELETE)

    def parse_delete(self, response: httpx.Response, ids: Sequence[str]) -> DeleteReport:
        raise self._lacks(Capability.INDEX_DELETE)

    def build_count(self) -> httpx.Request:
        raise self._lacks(Capability.COUNT)

    def parse_count(self, response: httpx.Response) -> int:
        raise self._lacks(Capability.COUNT)

    def build_list(self, cursor: str | None, limit: int) -> httpx.Request:
        raise self._lacks(Capability.LIST)

    def parse_list(self, response: httpx.Response) -> tuple[list[StoredRecord], str | None]:
        raise self._lacks(Capability.LIST)

    def build_verify(self) -> httpx.Request:
        """A cheap authenticated request that proves the credentials work."""
        raise self._lacks(Capability.COUNT)

    def build_index_status(self, transaction_id: str, page: int) -> httpx.Request:
        """The status of an asynchronous indexing transaction, and its ``page`` (from 1) of failures."""
        raise self._lacks(Capability.INDEX_ASYNC)

    def parse_index_status(self, response: httpx.Response) -> IndexStatus:
        raise self._lacks(Capability.INDEX_ASYNC)

    def build_search_objects(self, query: ObjectQuery, image: PreparedImage | None) -> httpx.Request:
        """Detect the objects of the query image and search for each (boxes in ``image``'s pixels)."""
        raise self._lacks(Capability.MULTI_OBJECT)

    def parse_search_objects(
        self, response: httpx.Response, query: ObjectQuery, image: PreparedImage | None
    ) -> ObjectSearchResult:
        """The objects, their boxes mapped back to the original image's pixels (``image.to_original``)."""
        raise self._lacks(Capability.MULTI_OBJECT)

    def error_for(self, response: httpx.Response) -> APIStatusError | None:
        """Map an HTTP status (and any error inside a 2xx body) onto the error tree; None when fine."""
        if response.is_success:
            return None
        return status_error(self.provider, response, message=_message_of(response))

    def _object(self, response: httpx.Response) -> dict[str, Any]:
        """The response's JSON object; anything else (HTML, a list, a bare value) is ``APIResponseError``."""
        body = json_body(self.provider, response)
        if not isinstance(body, dict):
            raise self._shape(response, "expected a JSON object")
        return body

    def _shape(self, response: httpx.Response, message: str) -> APIResponseError:
        """An answer that is not what the provider documents: ``APIResponseError`` carrying its body."""
        return APIResponseError(
            message,
            provider=self.provider,
            method=response.request.method,
            url=str(response.request.url.copy_with(query=None)),
            status_code=response.status_code,
            body=_text(response),
        )

    def _lacks(self, capability: Capability) -> UnsupportedCapabilityError:
        return UnsupportedCapabilityError(
            f"{self.provider} does not support {capability.value}",
            provider=self.provider,
            capability=capability,
        )


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    409: ConflictError,
    413: InvalidRequestError,
    422: InvalidRequestError,
    429: RateLimitError,
}


def status_error(
    provider: str,
    response: httpx.Response,
    *,
    message: str,
    provider_code: str | None = None,
    status_code: int | None = None,
    cls: type[APIStatusError] | None = None,
) -> APIStatusError:
    """Build the error for a response: the class from the status unless given, the rest from the response."""
    status = status_code if status_code is not None else response.status_code
    if cls is None:
        cls = ServerError if status >= 500 else _STATUS_CLASSES.get(status, InvalidRequestError)
    return cls(
        message,
        provider=provider,
        status_code=status,
        method=response.request.method,
        url=str(response.request.url.copy_with(query=None)),
        provider_code=provider_code,
        request_id=response.headers.get("x-request-id") or response.headers.get("x-log-id"),
        retry_after=retry_after_seconds(response.headers.get("retry-after")),
        body=_text(response),
    )


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    import datetime as _dt

    if when.tzinfo is None:  # "-0000" means UTC with no zone information
        when = when.replace(tzinfo=_dt.timezone.utc)
    return max(0.0, (when - _dt.datetime.now(_dt.timezone.utc)).total_seconds())


def json_body(provider: str, response: httpx.Response) -> Any:
    """The response's JSON, or ``APIResponseError`` carrying the body (HTML error pages included)."""
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise APIResponseError(
            f"expected JSON, got {response.headers.get('content-type', 'no content type')}",
            provider=provider,
            method=response.request.method,
            url=str(response.request.url.copy_with(query=None)),
            status_code=response.status_code,
            body=_text(response),
        ) from exc


def _text(response: httpx.Response) -> str:
    try:
        return response.content.decode("utf-8", errors="replace")[:20_000]
    except httpx.ResponseNotRead:
        return ""


def _message_of(response: httpx.Response) -> str:
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return f"HTTP {response.status_code} {response.reason_phrase}".strip()
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return str(err["message"])
        if isinstance(err, str):
            return err
    return f"HTTP {response.status_code} {response.reason_phrase}".strip()
