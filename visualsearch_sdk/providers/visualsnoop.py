"""VisualSnoop (API v1): raw image bytes over HTTP, every request signed with VSHMAC.

Docs: the VisualSnoop client 0.2 documentation (our copy: ``reference/docs/003``), VENDORS.md §3.

URL forms::

    visualsnoop://PUBLIC:SECRET@visualsnoop.com/api/v1       -> https://visualsnoop.com/api/v1
    visualsnoop://PUBLIC:SECRET@?allow_http=true              -> http://visualsnoop.com/api/v1 (historical)
    visualsnoop://PUBLIC:SECRET@?base_url=http://127.0.0.1:8080/api/v1

Quirks this adapter handles:

* Signing (:mod:`._visualsnoop_auth`): ``Date`` plus ``Authorization: VSHMAC pub:sig`` on every request,
  re-dated on every attempt. The signature covers the method, the wire path and the date: not the query, not
  the body.
* The historical (and only documented) endpoint is plain ``http://``: it is the default, but only with the
  explicit ``allow_http`` opt-in.
* Ids go into the path: we percent-encode each as one segment (``/``, ``?``, ``#``, spaces, non-ASCII, and
  the dot segments ``.``/``..``), where the official client let them rewrite the URL. At most 100 characters.
* One image per request, raw bytes, no ``Content-Type``. ``POST /image/{id}`` refuses an existing id
  (``ConflictError``); ``upsert=True`` sends ``PUT /image/{id}``. The SDK always names its ids, so the
  server-assigned ``POST /image`` (not retry-safe) is only reachable through :meth:`build_add_image`.
* Results carry only ``rank`` (0 = best [?]) and there are no paging parameters: each search gets the whole
  list, sliced on the client. ``score = 1 / (1 + rank)`` (1.0 for the best hit, 0.5 for the next, ...): an
  order, not a similarity. ``vendor_score`` keeps the rank.
* No metadata, filters, URL or colour search, server-side crop (a box is cropped locally before upload),
  count or metadata update. Errors are ``{"status": 4xx, "message": ...}``, also inside a 2xx answer [?].
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, TypeGuard
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from visualsearch_sdk._config import ClientOptions, EnvModel, ProviderURL, check_base_url, is_loopback
from visualsearch_sdk._exceptions import (
    APIStatusError,
    ConfigurationError,
    InvalidQueryError,
    UnsupportedCapabilityError,
)
from visualsearch_sdk.capabilities import Capability
from visualsearch_sdk.models import DeleteReport, SearchHit, SearchQuery, SearchResult, StoredRecord
from visualsearch_sdk.preprocess import ImageLimits, PreparedImage
from visualsearch_sdk.providers._base import (
    Adapter,
    Operation,
    PreparedRecord,
    RecordOutcome,
    status_error,
)
from visualsearch_sdk.providers._visualsnoop_auth import Clock, VisualSnoopHmacAuth

__all__ = [
    "DEFAULT_BASE_URL",
    "MAX_ID_LENGTH",
    "VisualSnoopAdapter",
    "VisualSnoopCredentials",
    "VisualSnoopHmacAuth",
    "VisualSnoopOptions",
    "rank_to_score",
]

DEFAULT_BASE_URL = "http://visualsnoop.com/api/v1"
"""The official client's default and the only documented endpoint: plain HTTP (VENDORS §3.1)."""
DEFAULT_PATH = "/api/v1"
MAX_ID_LENGTH = 100  # doc 003: "any strings up to 100 characters long"


class VisualSnoopCredentials(BaseModel):
    """A collection's public key and secret key (from the VisualSnoop Keys page)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    public_key: str = Field(min_length=1)
    secret_key: SecretStr


class VisualSnoopOptions(BaseModel):
    """VisualSnoop-only options (``options=VisualSnoopOptions(...)``); None means "URL, env or default"."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    credentials: VisualSnoopCredentials | None = None
    base_url: str | None = None
    """Instead of ``http://visualsnoop.com/api/v1`` (plain http only to loopback or with ``allow_http``)."""
    clock: Clock | None = None
    """Where the signed ``Date`` comes from (default ``time.time``): for tests and replays."""


class _VisualSnoopEnv(EnvModel):
    model_config = SettingsConfigDict(env_prefix="VISUALSEARCH_VISUALSNOOP_", extra="ignore", frozen=True)

    public_key: str | None = None
    secret_key: SecretStr | None = None
    base_url: str | None = None


class VisualSnoopAdapter(Adapter):
    """Speaks VisualSnoop API v1 for the collection of one key pair."""

    provider: ClassVar[str] = "visualsnoop"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.SEARCH_BY_IMAGE,
            Capability.SEARCH_BY_ID,
            Capability.INDEX_WRITE,
            Capability.INDEX_FROM_BYTES,
            Capability.UPSERT,
            Capability.REFUSE_EXISTING,
            Capability.INDEX_DELETE,
            Capability.GET,
            Capability.LIST,
        }
    )
    """Absent on purpose: no ``SERVER_CROP`` (a box is cropped by the client before upload), ``METADATA``,
    ``FILTERS``, ``SEARCH_BY_URL``, ``SEARCH_BY_COLOR``, ``INDEX_FROM_URL``, ``INDEX_UPDATE``, ``COUNT``,
    ``MIN_SCORE`` (VENDORS §0)."""
    limits: ClassVar[ImageLimits] = ImageLimits(formats=frozenset({"JPEG", "PNG"}))  # [?] undocumented
    batch_size: ClassVar[int] = 1  # one image per request (VENDORS §0)
    delete_batch_size: ClassVar[int] = 1
    max_limit: ClassVar[int] = 100
    page_window: ClassVar[int] = 1000  # [?] the service documents no cap on its result list
    # VENDORS §3.3: POST /image/{id} refuses an existing id and PUT replaces, so both are retry-safe;
    # DELETE is idempotent; searches are safe. POST /image without an id is not: no client operation sends it.
    idempotent: ClassVar[frozenset[Operation]] = frozenset(
        {"search", "get", "list", "verify", "delete", "index"}
    )

    def __init__(
        self,
        credentials: VisualSnoopCredentials,
        *,
        base_url: str = DEFAULT_BASE_URL,
        clock: Clock | None = None,
    ) -> None:
        self.credentials = credentials
        self.base_url = httpx.URL(base_url.rstrip("/") + "/")
        self.clock = clock

    @classmethod
    def from_url(
        cls, url: ProviderURL, *, options: Any, environ: Mapping[str, str], client_options: ClientOptions
    ) -> VisualSnoopAdapter:
        if options is not None and not isinstance(options, VisualSnoopOptions):
            raise ConfigurationError("the visualsnoop provider takes options=VisualSnoopOptions(...)")
        given = options or VisualSnoopOptions()
        env = _VisualSnoopEnv.from_environ(environ)
        creds = given.credentials
        if creds is None:
            public = url.username.get_secret_value() if url.username else env.public_key
            secret = url.password or env.secret_key
            if not public or secret is None or not secret.get_secret_value().strip():
                raise ConfigurationError(
                    "VisualSnoop needs a public key and a secret key: put them in the URL "
                    "(visualsnoop://PUBLIC:SECRET@visualsnoop.com/api/v1) or set "
                    "VISUALSEARCH_VISUALSNOOP_PUBLIC_KEY and VISUALSEARCH_VISUALSNOOP_SECRET_KEY "
                    "(or pass options=VisualSnoopOptions(credentials=...))"
                )
            creds = VisualSnoopCredentials(public_key=public, secret_key=secret)
        host_url = None
        if url.host:
            host_url = f"https://{url.host}{f':{url.port}' if url.port else ''}{url.path or DEFAULT_PATH}"
        base = given.base_url or url.param("base_url") or host_url or env.base_url or DEFAULT_BASE_URL
        _check_endpoint(base, allow_http=client_options.allow_http)
        return cls(creds, base_url=base, clock=given.clock)

    def describe(self) -> str:
        return f"visualsnoop collection of public key {self.credentials.public_key} at {self.base_url}"

    def auth(self) -> httpx.Auth:
        return VisualSnoopHmacAuth(
            self.credentials.public_key, self.credentials.secret_key, clock=self.clock, origin=self.base_url
        )

    def _url(self, *segments: str) -> httpx.URL:
        return self.base_url.join("/".join(segments))

    # -- search ---------------------------------------------------------------------------------------

    def build_search(self, query: SearchQuery, image: PreparedImage | None) -> httpx.Request:
        if query.mode == "image":
            if image is None:
                raise InvalidQueryError("an image search needs the prepared image")
            return httpx.Request("POST", self._url("search"), content=image.data)
        if query.mode == "id" and query.id is not None:
            return httpx.Request("GET", self._url("search", id_segment(query.id)))
        raise UnsupportedCapabilityError(
            f"visualsnoop cannot search by {query.mode}",
            provider=self.provider,
            capability=(
                Capability.SEARCH_BY_URL if query.mode == "url" else Capability.SEARCH_BY_COLOR
            ).value,
        )

    def parse_search(self, response: httpx.Response, query: SearchQuery) -> SearchResult:
        raw = self._object(response)
        results = raw.get("results")
        if not isinstance(results, list):
            raise self._shape(response, "the answer has no 'results' list")
        ranked: list[tuple[float, str]] = []
        for item in results:
            rank = item.get("rank") if isinstance(item, dict) else None
            hit_id = item.get("id") if isinstance(item, dict) else None
            if not isinstance(hit_id, str) or not _is_number(rank):
                raise self._shape(response, f"a result is not {{'id': str, 'rank': number}}: {item!r}")
            ranked.append((float(rank), hit_id))
        ranked.sort(key=lambda pair: pair[0])  # stable: the server's order breaks ties
        if query.mode == "id":  # defensive: the service appears to leave the query image out (doc 003)
            ranked = [pair for pair in ranked if pair[1] != query.id]
        window = ranked[query.offset : query.offset + query.limit]
        hits = tuple(SearchHit(id=i, score=rank_to_score(r), vendor_score=r) for r, i in window)
        return SearchResult(
            hits=hits, provider=self.provider, offset=query.offset, limit=query.limit, raw=raw
        )

    # -- records --------------------------------------------------------------------------------------

    def build_index(self, batch: Sequence[PreparedRecord], *, upsert: bool) -> httpx.Request:
        if len(batch) != 1:
            raise InvalidQueryError(f"visualsnoop indexes one image per request, not {len(batch)}")
        record = batch[0]
        if record.image is None:
            raise InvalidQueryError(f"record {record.id!r} has no image bytes (visualsnoop takes no URLs)")
        method = "PUT" if upsert else "POST"  # POST refuses an existing id; PUT creates or replaces
        return httpx.Request(method, self._url("image", id_segment(record.id)), content=record.image.data)

    def parse_index(self, response: httpx.Response, batch: Sequence[PreparedRecord]) -> list[RecordOutcome]:
        self._object(response)  # a 2xx JSON answer ("Added" 201 / "Updated" 200); errors went via error_for
        return [RecordOutcome(record.id) for record in batch]

    def build_get(self, record_id: str) -> httpx.Request:
        return httpx.Request("GET", self._url("image", id_segment(record_id)))

    def parse_get(self, response: httpx.Response) -> StoredRecord:
        image_id = self._object(response).get("image_id")
        if not isinstance(image_id, str):
            raise self._shape(response, "the answer has no 'image_id'")
        return StoredRecord(id=image_id)

    def build_delete(self, ids: Sequence[str]) -> httpx.Request:
        if len(ids) != 1:
            raise InvalidQueryError(f"visualsnoop deletes one image per request, not {len(ids)}")
        return httpx.Request("DELETE", self._url("image", id_segment(ids[0])))

    def parse_delete(self, response: httpx.Response, ids: Sequence[str]) -> DeleteReport:
        if _status_of(response) == 404:  # error_for let it through: a missing id is a result here
            return DeleteReport(not_found=tuple(ids))
        self._object(response)
        return DeleteReport(deleted=tuple(ids))

    def build_list(self, cursor: str | None, limit: int | None) -> httpx.Request:
        """``GET /images?start=&count=``: ``start`` is the cursor (an image id), both optional."""
        params: list[tuple[str, str | int | float | bool | None]] = []
        if cursor is not None:
            params.append(("start", cursor))
        if limit is not None:
            params.append(("count", str(limit)))
        return httpx.Request("GET", self._url("images"), params=params or None)

    def parse_list(self, response: httpx.Response) -> tuple[list[StoredRecord], str | None]:
        raw = self._object(response)
        images, cursor = raw.get("images"), raw.get("next_image_id")
        if not isinstance(images, list) or not all(
            isinstance(i, dict) and isinstance(i.get("id"), str) for i in images
        ):
            raise self._shape(response, "the answer has no 'images' list of {'id': str}")
        if cursor is not None and not isinstance(cursor, str):
            raise self._shape(response, "'next_image_id' is neither null nor an id")
        records = [StoredRecord(id=i["id"]) for i in images]
        if cursor is not None and cursor == response.request.url.params.get("start"):
            raise self._shape(response, f"the listing cursor did not advance (next_image_id {cursor!r})")
        return records, (cursor if cursor and records else None)

    def build_verify(self) -> httpx.Request:
        """The official client's handshake, ``GET /collection?session=init`` (sent only when asked)."""
        return httpx.Request("GET", self._url("collection"), params={"session": "init"})

    # -- VisualSnoop-only operations ------------------------------------------------------------------

    def build_add_image(self, image: PreparedImage) -> httpx.Request:
        """``POST /image``: add an image under an id the server assigns (read it with :meth:`parse_added_id`).

        Not retry-safe (every call adds an image): send it once, never retry it after the body left.
        """
        return httpx.Request("POST", self._url("image"), content=image.data)

    def parse_added_id(self, response: httpx.Response) -> str:
        """The ``image_id`` of an added image."""
        return self.parse_get(response).id

    def parse_collection(self, response: httpx.Response) -> dict[str, Any]:
        """The collection's attributes from :meth:`build_verify`'s answer (``collection_id``, ``user``...)."""
        return self._object(response)

    # -- errors ---------------------------------------------------------------------------------------

    def error_for(self, response: httpx.Response) -> APIStatusError | None:
        status = _status_of(response)
        if status is None or status < 400:
            return None  # a non-JSON 2xx fails in the parser, as APIResponseError
        if status == 404 and response.request.method == "DELETE":
            return None  # parse_delete reports the id as not found
        message = _message_of(response) or f"HTTP {status} {response.reason_phrase}".strip()
        return status_error(self.provider, response, message=message, status_code=status)


def id_segment(record_id: str) -> str:
    """``record_id`` percent-encoded as exactly one path segment (``.`` and ``..`` included).

    Raises:
        InvalidQueryError: an empty id, or one longer than VisualSnoop's 100 characters.
    """
    if not record_id or len(record_id) > MAX_ID_LENGTH:
        raise InvalidQueryError(
            f"a VisualSnoop image id is 1 to {MAX_ID_LENGTH} characters (got {len(record_id)})"
        )
    segment = quote(record_id, safe="")
    if set(segment) == {"."}:  # a dot segment would be resolved away by URL normalisation
        segment = "%2E" * len(segment)
    return segment


def rank_to_score(rank: float) -> float:
    """VisualSnoop rank (0 = best) -> score in (0, 1]: ``1 / (1 + rank)``; an order, not a similarity."""
    return 1.0 / (1.0 + max(0.0, rank))


def _check_endpoint(base: str, *, allow_http: bool) -> None:
    try:
        check_base_url(base, allow_http=allow_http)
    except ConfigurationError:
        parsed = httpx.URL(base) if base.startswith(("http://", "https://")) else None
        if parsed is None or parsed.scheme != "http" or is_loopback(parsed.host):
            raise
        raise ConfigurationError(
            f"refusing plain http:// to {parsed.host}: VisualSnoop's historical endpoint "
            f"({DEFAULT_BASE_URL}) has no TLS, so images and signed requests would travel in the clear and "
            "could be altered (the signature covers neither body nor query). Opt in with allow_http=True "
            "(URL parameter allow_http=true), or give an https:// endpoint with base_url=."
        ) from None


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _status_of(response: httpx.Response) -> int | None:
    """The HTTP status if it is an error, else the JSON ``status`` field (it repeats the HTTP status)."""
    if response.status_code >= 400:
        return response.status_code
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None
    status = body.get("status") if isinstance(body, dict) else None
    return status if isinstance(status, int) and not isinstance(status, bool) else None


def _message_of(response: httpx.Response) -> str | None:
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None
    message = body.get("message") if isinstance(body, dict) else None
    return message if isinstance(message, str) and message else None


def __getattr__(name: str) -> Any:
    if name == "VisualSnoopRequestsAuth":  # built on first use: it imports requests
        from visualsearch_sdk.providers import _visualsnoop_auth

        return _visualsnoop_auth.VisualSnoopRequestsAuth
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
