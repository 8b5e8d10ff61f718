"""Ximilar similarity search (v2): JSON over HTTPS, one collection per adapter.

Docs: https://docs.ximilar.com/similarity/ (our copy: ``reference/docs/001``), VENDORS.md §2.

URL form::

    ximilar://TOKEN@api.ximilar.com/COLLECTION?service=products
    ximilar://TOKEN@/COLLECTION?service=fashion-new&base_url=http://127.0.0.1:8080/

Quirks this adapter handles:

* Each collection type has its own path prefix, and the docs and the official client disagree (§2.1):
  ``service=photos`` is the documented ``photo/search/v2/``, ``photos-new`` the client's
  ``similarity/photos/v2/``;
  ``products``/``fashion`` are documented, ``products-new``/``fashion-new`` the client's newer prefixes.
* ``Authorization: Token …``, or ``JWT …`` for tokens of 70+ characters (the official client's rule), plus the
  ``collection-id`` header. No network call in the constructor; :meth:`XimilarAdapter.build_verify` is a cheap
  authenticated ``getRecordCount``.
* Errors can arrive inside a 2xx body as ``status.code`` >= 400: :meth:`XimilarAdapter.error_for` maps both.
* Distances are lower-is-better, 0 = identical, unbounded: ``score = 1 / (1 + d / 50)`` (identical -> 1.0, the
  typical 40-60 -> about 0.5); ``vendor_score`` keeps ``d``.
* ``insert`` is not an upsert: an existing ``_id`` comes back in ``skipped_records`` (``ConflictError``).
* By-id search returns the query record itself: we drop it. To page exactly whatever the query record's rank,
  a by-id page asks for ``k = offset + limit + 1`` from 0 and slices client-side.
* ``allRecords`` pages by ``?size=&page=``; its ``next`` link lacks the service prefix, so we keep only its
  ``page``/``size`` as our cursor and rebuild the URL (the token never follows a server-given URL).
* Fields starting with ``_`` are Ximilar's (``_id``, ``_url``, ``_tags_simple``…): never metadata.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Generator, Mapping, Sequence
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import SettingsConfigDict

from visualsearch_sdk._config import ClientOptions, EnvModel, ProviderURL, check_base_url
from visualsearch_sdk._exceptions import (
    APIResponseError,
    APIStatusError,
    ConfigurationError,
    ConflictError,
    InvalidQueryError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    ServerError,
    UnsupportedCapabilityError,
)
from visualsearch_sdk.capabilities import Capability
from visualsearch_sdk.filters import And, Filter, Not, Or, to_mongo
from visualsearch_sdk.models import (
    DeleteReport,
    MetadataValue,
    RecordFailure,
    SearchHit,
    SearchQuery,
    SearchResult,
    StoredRecord,
)
from visualsearch_sdk.preprocess import ImageLimits, PreparedImage
from visualsearch_sdk.providers._base import (
    Adapter,
    Operation,
    PreparedRecord,
    RecordOutcome,
    json_body,
    status_error,
)

__all__ = ["XimilarAdapter", "XimilarCredentials", "XimilarOptions", "XimilarService", "XimilarTokenAuth"]

DEFAULT_BASE_URL = "https://api.ximilar.com/"
DEFAULT_SERVICE: Literal["products"] = "products"
DISTANCE_SCALE = 50.0
"""``d`` at which the score is 0.5 (the docs' typical distances are 40 to 60)."""

XimilarService = Literal[
    "photos", "photos-new", "products", "products-new", "fashion", "fashion-new",
    "custom", "colors", "homedecor", "image_matching",
]  # fmt: skip
_PREFIXES: dict[str, str] = {
    "photos": "photo/search/v2/",
    "photos-new": "similarity/photos/v2/",
    "products": "similarity/products/v2/",
    "products-new": "similarity/products-new/v2/",
    "fashion": "similarity/fashion/v2/",
    "fashion-new": "similarity/fashion-new/v2/",
    "custom": "similarity/custom/v2/",
    "colors": "similarity/colors/v2/",
    "homedecor": "similarity/homedecor/v2/",
    "image_matching": "image_matching/v2/",
}
_RESERVED = ("_id", "_url", "_base64", "_file")


class XimilarCredentials(BaseModel):
    """An API token and the collection it works on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token: SecretStr
    collection_id: str = Field(min_length=1)


class XimilarOptions(BaseModel):
    """Ximilar-only options (``options=XimilarOptions(...)``); None means "URL, env, or the default"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    credentials: XimilarCredentials | None = None
    service: XimilarService | None = None
    """Collection type, which picks the path prefix (default ``products``)."""
    base_url: str | None = None
    """Instead of ``https://api.ximilar.com/`` (plain http only to loopback or with ``allow_http``)."""
    product_field: str | None = None
    """Sent with searches: at most one hit per value of this field."""
    search_method: Literal["visualKNN", "visualTagsKNN"] | None = None
    """``visualTagsKNN`` mixes in tag similarity; None picks it for fashion (as the official client does)."""


class _XimilarEnv(EnvModel):
    model_config = SettingsConfigDict(env_prefix="VISUALSEARCH_XIMILAR_", extra="ignore", frozen=True)

    token: SecretStr | None = None
    collection: str | None = None
    service: str | None = None
    base_url: str | None = None


class XimilarTokenAuth(httpx.Auth):
    """``Authorization: Token <t>`` (``JWT <t>`` for tokens of 70+ characters) and ``collection-id``."""

    def __init__(self, token: SecretStr, collection_id: str) -> None:
        self._token = token
        self._collection_id = collection_id

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._token.get_secret_value()
        request.headers["Authorization"] = f"{'JWT' if len(token) >= 70 else 'Token'} {token}"
        request.headers["collection-id"] = self._collection_id
        yield request


# -- private wire models ---------------------------------------------------------------------------------


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _Status(_Wire):
    code: int
    text: str = ""
    error_description: str | None = None


class _Reason(_Wire):
    status: _Status


class _Skipped(_Wire):
    id: str = Field(alias="_id")
    reason: _Reason | None = Field(default=None, alias="_reason")


class _XimilarAnswer(_Wire):
    status: _Status
    answer_records: list[dict[str, Any]] = Field(default_factory=list)
    answer_distances: list[float] = Field(default_factory=list)
    skipped_records: list[_Skipped] = Field(default_factory=list)
    answer_count: int | None = None
    next: str | None = None


# -- the adapter -----------------------------------------------------------------------------------------


class XimilarAdapter(Adapter):
    """Speaks Ximilar similarity v2 for one collection."""

    provider: ClassVar[str] = "ximilar"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.SEARCH_BY_IMAGE,
            Capability.SEARCH_BY_URL,
            Capability.SEARCH_BY_ID,
            Capability.FILTERS,
            Capability.METADATA,
            Capability.INDEX_WRITE,
            Capability.INDEX_FROM_BYTES,
            Capability.INDEX_FROM_URL,
            Capability.INDEX_UPDATE,
            Capability.INDEX_DELETE,
            Capability.GET,
            Capability.COUNT,
            Capability.LIST,
        }
    )
    limits: ClassVar[ImageLimits] = ImageLimits(formats=frozenset({"JPEG", "PNG", "TIFF"}))
    batch_size: ClassVar[int] = 10
    delete_batch_size: ClassVar[int] = 10
    # Ximilar documents no cap on k or from (an open question, VENDORS §6): conservative values.
    max_limit: ClassVar[int] = 100
    page_window: ClassVar[int] = 1000
    idempotent: ClassVar[frozenset[Operation]] = frozenset(
        {"search", "get", "count", "list", "verify", "update", "delete"}
    )

    def __init__(
        self,
        credentials: XimilarCredentials,
        *,
        service: XimilarService = DEFAULT_SERVICE,
        base_url: str = DEFAULT_BASE_URL,
        product_field: str | None = None,
        search_method: Literal["visualKNN", "visualTagsKNN"] | None = None,
    ) -> None:
        self.credentials = credentials
        self.service = service
        self.base_url = httpx.URL(base_url.rstrip("/") + "/")
        self.endpoint = self.base_url.join(_PREFIXES[service])
        self.product_field = product_field
        self.search_method = search_method or (
            "visualTagsKNN" if service.startswith("fashion") else "visualKNN"
        )

    @classmethod
    def from_url(
        cls, url: ProviderURL, *, options: Any, environ: Mapping[str, str], client_options: ClientOptions
    ) -> XimilarAdapter:
        if options is not None and not isinstance(options, XimilarOptions):
            raise ConfigurationError("the ximilar provider takes options=XimilarOptions(...)")
        given = options or XimilarOptions()
        env = _XimilarEnv.from_environ(environ)
        creds = given.credentials
        if creds is None:
            token = url.username or url.password or env.token
            collection = url.path.strip("/") or env.collection
            if token is None or not token.get_secret_value():
                raise ConfigurationError(
                    "Ximilar needs an API token: put it in the URL "
                    "(ximilar://TOKEN@api.ximilar.com/COLLECTION) or set VISUALSEARCH_XIMILAR_TOKEN "
                    "(or pass options=XimilarOptions(credentials=...))"
                )
            if not collection:
                raise ConfigurationError(
                    "Ximilar needs a collection id: put it in the URL path "
                    "(ximilar://TOKEN@api.ximilar.com/ID) or set VISUALSEARCH_XIMILAR_COLLECTION"
                )
            if "/" in collection:
                raise ConfigurationError("the Ximilar URL path is one collection id, without '/'")
            creds = XimilarCredentials(token=token, collection_id=collection)
        service = given.service or url.param("service") or env.service or DEFAULT_SERVICE
        if service not in _PREFIXES:
            raise ConfigurationError(
                f"unknown Ximilar service {service!r}; use one of {', '.join(_PREFIXES)}"
            )
        host_url = f"https://{url.host}{f':{url.port}' if url.port else ''}/" if url.host else None
        base = given.base_url or url.param("base_url") or host_url or env.base_url or DEFAULT_BASE_URL
        check_base_url(base, allow_http=client_options.allow_http)
        return cls(
            creds,
            service=service,  # type: ignore[arg-type]  # checked against _PREFIXES above
            base_url=base,
            product_field=given.product_field,
            search_method=given.search_method,
        )

    def describe(self) -> str:
        return f"ximilar {self.service} collection {self.credentials.collection_id} at {self.endpoint}"

    def auth(self) -> httpx.Auth:
        return XimilarTokenAuth(self.credentials.token, self.credentials.collection_id)

    def _post(
        self, method: str, body: Mapping[str, Any], params: Mapping[str, str] | None = None
    ) -> httpx.Request:
        content = json.dumps(body, allow_nan=False).encode()
        headers = {"Content-Type": "application/json"}
        return httpx.Request(
            "POST", self.endpoint.join(method), params=params, content=content, headers=headers
        )

    # -- search ---------------------------------------------------------------------------------------

    def build_search(self, query: SearchQuery, image: PreparedImage | None) -> httpx.Request:
        k, start = query.limit, query.offset
        if query.mode == "id":
            # The query record comes back too, at a rank we cannot know: fetch from 0 and slice.
            k, start = query.offset + query.limit + 1, 0
        body = self._search_body(_query_record(query, image), query.filter, query.fields, k=k)
        if start:
            body["from"] = start
        return self._post(self.search_method, body)

    def _search_body(
        self, record: dict[str, str], filter: Filter | None, fields: Sequence[str] | None, **extra: Any
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"query_record": record, **extra, "fields_to_return": _fields(fields)}
        if filter is not None:
            body["filter"] = ximilar_filter(filter)
        if self.product_field is not None:
            body["product_field"] = self.product_field
        return body

    def parse_search(self, response: httpx.Response, query: SearchQuery) -> SearchResult:
        raw = self._object(response)
        hits = self._hits(response, raw, query.fields)
        if query.mode == "id":
            hits = [hit for hit in hits if hit.id != query.id][query.offset : query.offset + query.limit]
        return SearchResult(
            hits=tuple(hits[: query.limit]),
            provider=self.provider,
            offset=query.offset,
            limit=query.limit,
            raw=raw,
        )

    def _hits(
        self, response: httpx.Response, raw: dict[str, Any], fields: Sequence[str] | None
    ) -> list[SearchHit]:
        answer = _XimilarAnswer.model_validate(raw)
        if len(answer.answer_distances) != len(answer.answer_records):
            raise self._shape(response, "answer_distances and answer_records differ in length")
        hits = []
        for record, distance in zip(answer.answer_records, answer.answer_distances):
            if not math.isfinite(distance):
                raise self._shape(response, f"distance {distance!r} is not a finite number")
            hits.append(
                SearchHit(
                    id=_record_id(record),
                    score=distance_to_score(distance),
                    vendor_score=distance,
                    metadata=_metadata(record, fields),
                )
            )
        return hits

    # -- records --------------------------------------------------------------------------------------

    def build_index(self, batch: Sequence[PreparedRecord], *, upsert: bool) -> httpx.Request:
        if upsert:
            raise UnsupportedCapabilityError(
                "ximilar cannot upsert: insert refuses an existing _id. Delete the record first, "
                "or use update() to change only its metadata",
                provider=self.provider,
            )
        records = []
        for record in batch:
            item: dict[str, Any] = {"_id": record.id, **_checked_metadata(record.metadata)}
            if record.image is not None:
                item["_base64"] = base64.b64encode(record.image.data).decode("ascii")
            elif record.url is not None:
                item["_url"] = record.url
            else:
                raise InvalidQueryError(f"record {record.id!r} has neither image nor url")
            records.append(item)
        return self._post("insert", {"records": records})

    def parse_index(self, response: httpx.Response, batch: Sequence[PreparedRecord]) -> list[RecordOutcome]:
        answer = _XimilarAnswer.model_validate(self._object(response))
        done = {_record_id(record) for record in answer.answer_records}
        skipped = {item.id: item for item in answer.skipped_records}
        outcomes = []
        for record in batch:
            if record.id in skipped:
                status = skipped[record.id].reason
                code = status.status if status is not None else answer.status
                outcomes.append(RecordOutcome(record.id, self._code_error(response, code)))
            elif record.id in done or answer.status.code < 400:
                outcomes.append(RecordOutcome(record.id))
            else:  # e.g. 411 "all records refused" without a per-record list
                outcomes.append(RecordOutcome(record.id, self._code_error(response, answer.status)))
        return outcomes

    def build_get(self, record_id: str) -> httpx.Request:
        return self.build_get_many([record_id])

    def build_get_many(self, ids: Sequence[str], fields: Sequence[str] | None = None) -> httpx.Request:
        """``/v2/get`` for several ids (``parse_records`` reads the answer)."""
        return self._post("get", {"records": [{"_id": i} for i in ids], "fields_to_return": _fields(fields)})

    def parse_get(self, response: httpx.Response) -> StoredRecord:
        return self._one(response, self.parse_records(response))

    def parse_records(self, response: httpx.Response) -> list[StoredRecord]:
        """The ``answer_records`` of any listing answer (get, update, random, allRecords)."""
        answer = _XimilarAnswer.model_validate(self._object(response))
        return [_stored(record) for record in answer.answer_records]

    def build_update(self, record_id: str, metadata: Mapping[str, MetadataValue | None]) -> httpx.Request:
        record = {"_id": record_id, **_checked_metadata(metadata)}  # None -> null removes the field
        return self._post("update", {"records": [record], "fields_to_return": ["*"]})

    def parse_update(self, response: httpx.Response, record_id: str) -> StoredRecord:
        records = [r for r in self.parse_records(response) if r.id == record_id]
        return self._one(response, records)

    def build_delete(self, ids: Sequence[str]) -> httpx.Request:
        return self._post("delete", {"records": [{"_id": i} for i in ids]})

    def parse_delete(self, response: httpx.Response, ids: Sequence[str]) -> DeleteReport:
        answer = _XimilarAnswer.model_validate(self._object(response))
        done = {_record_id(record) for record in answer.answer_records}
        skipped = {item.id: item for item in answer.skipped_records}
        deleted, missing, failed = [], [], []
        for i in ids:
            reason = skipped[i].reason if i in skipped else None
            if i in done:
                deleted.append(i)
            elif reason is not None and reason.status.code != 404:
                error = self._code_error(response, reason.status)
                failed.append(
                    RecordFailure(id=i, error=error, reason=f"{type(error).__name__}: {error.provider_code}")
                )
            elif i in skipped or answer.status.code == 404:
                missing.append(i)
            else:
                deleted.append(i)
        return DeleteReport(deleted=tuple(deleted), not_found=tuple(missing), failed=tuple(failed))

    def build_count(self) -> httpx.Request:
        return httpx.Request("GET", self.endpoint.join("getRecordCount"))

    def parse_count(self, response: httpx.Response) -> int:
        count = _XimilarAnswer.model_validate(self._object(response)).answer_count
        if count is None:
            raise self._shape(response, "getRecordCount answered without answer_count")
        return count

    def build_list(
        self,
        cursor: str | None,
        limit: int,
        *,
        fields: Sequence[str] | None = None,
        filter: Filter | None = None,
    ) -> httpx.Request:
        """``allRecords?size=&page=``; a cursor from :meth:`parse_list` fixes both (pages stay aligned)."""
        page, size = _read_cursor(cursor) if cursor is not None else (1, limit)
        body: dict[str, Any] = {"fields_to_return": _fields(fields)}
        if filter is not None:
            body["filter"] = ximilar_filter(filter)  # the official client drops it when paging; we do not
        return self._post("allRecords", body, params={"size": str(size), "page": str(page)})

    def parse_list(self, response: httpx.Response) -> tuple[list[StoredRecord], str | None]:
        answer = _XimilarAnswer.model_validate(self._object(response))
        records = [_stored(record) for record in answer.answer_records]
        if not answer.next or not records:
            return records, None
        sent = dict(response.request.url.params)
        given = dict(parse_qsl(urlsplit(answer.next).query))
        page = given.get("page") or str(int(sent.get("page", "1")) + 1)
        size = given.get("size") or sent.get("size") or str(len(records))
        return records, f"page={page}&size={size}"

    def build_verify(self) -> httpx.Request:
        return self.build_count()  # authenticated and cheap; ping does not check the token

    # -- Ximilar-only operations ------------------------------------------------------------------------

    def build_random(
        self, count: int = 10, *, filter: Filter | None = None, fields: Sequence[str] | None = None
    ) -> httpx.Request:
        """``/v2/random``: ``count`` random records (read them with :meth:`parse_records`)."""
        body: dict[str, Any] = {"count": count, "fields_to_return": _fields(fields)}
        if filter is not None:
            body["filter"] = ximilar_filter(filter)
        return self._post("random", body)

    def build_near_duplicates(
        self,
        query: SearchQuery,
        image: PreparedImage | None = None,
        *,
        radius: float = 5.0,
    ) -> httpx.Request:
        """``/v2/nearDuplicates``: records within ``radius`` (distance) of the query; paging is ignored."""
        body = self._search_body(_query_record(query, image), query.filter, query.fields, radius=radius)
        body.pop("product_field", None)  # not a nearDuplicates parameter
        return self._post("nearDuplicates", body)

    def parse_near_duplicates(self, response: httpx.Response, query: SearchQuery) -> list[SearchHit]:
        """The near duplicates, closest first (the query record itself included, as Ximilar returns it)."""
        return self._hits(response, self._object(response), query.fields)

    def build_delete_by_filter(self, filter: Filter) -> httpx.Request:
        """``/v2/deleteByFilter`` (not available on every index). A filter is required: no delete-all."""
        return self._post("deleteByFilter", {"filter": ximilar_filter(filter), "fields_to_return": ["_id"]})

    def parse_delete_by_filter(self, response: httpx.Response) -> list[str]:
        """The ids Ximilar reports deleted."""
        return [r.id for r in self.parse_records(response)]

    # -- errors ---------------------------------------------------------------------------------------

    def error_for(self, response: httpx.Response) -> APIStatusError | None:
        try:
            raw = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            raw = None  # an HTML proxy page: the HTTP status decides (a 2xx one fails in the parser)
        status = _status_of(raw)
        operation = response.request.url.path.rsplit("/", 1)[-1]
        if status is not None and status.code >= 400:
            if (operation, status.code) in {("insert", 411), ("delete", 404)}:
                return None  # per-record outcomes: parse_index / parse_delete report them
            return self._code_error(response, status)
        if response.is_success:
            return None
        detail = raw.get("detail") if isinstance(raw, dict) else None
        message = str(detail) if detail else f"HTTP {response.status_code} {response.reason_phrase}".strip()
        cls = RateLimitError if response.status_code == 402 else None  # credits exhausted [?]
        return status_error(self.provider, response, message=message, cls=cls)

    def _code_error(self, response: httpx.Response, status: _Status) -> APIStatusError:
        code = status.code
        if code == 403:  # "wrong query record": an unknown _id, or an unusable _url/_base64
            cls: type[APIStatusError] | None = (
                NotFoundError if _queried_by_id(response) else InvalidRequestError
            )
        elif code in _CODE_CLASSES:
            cls = _CODE_CLASSES[code]
        elif response.status_code >= 400:
            cls = None  # the HTTP status decides (429 -> RateLimitError, 401 -> AuthenticationError, ...)
        else:
            cls = ServerError if code >= 500 else InvalidRequestError
        message = status.text or "error"
        if status.error_description:
            message += ": " + status.error_description.strip().splitlines()[0][:300]
        if response.status_code >= 400:
            status_code = response.status_code
        else:  # an error inside a 2xx body, or one record's reason (211 duplicate -> 409)
            status_code = code if code >= 400 else 409 if cls is ConflictError else 400
        return status_error(
            self.provider,
            response,
            message=message,
            provider_code=str(code),
            status_code=status_code,
            cls=cls,
        )

    def _one(self, response: httpx.Response, records: list[StoredRecord]) -> StoredRecord:
        if not records:
            raise status_error(
                self.provider, response, message="record not found", status_code=404, cls=NotFoundError
            )
        return records[0]

    def _object(self, response: httpx.Response) -> dict[str, Any]:
        body = json_body(self.provider, response)
        if not isinstance(body, dict):
            raise self._shape(response, "expected a JSON object")
        return body

    def _shape(self, response: httpx.Response, message: str) -> APIResponseError:
        return APIResponseError(
            message,
            provider=self.provider,
            method=response.request.method,
            url=str(response.request.url.copy_with(query=None)),
            status_code=response.status_code,
            body=response.text[:20_000],
        )


_CODE_CLASSES: dict[int, type[APIStatusError]] = {
    402: ServerError,  # "aborted by error"
    404: NotFoundError,
    211: ConflictError,  # in skipped_records: this _id exists already
    411: ConflictError,  # every record refused as a duplicate _id
    412: InvalidRequestError,  # hard capacity exceeded: retrying does not help
    429: RateLimitError,
    500: ServerError,
}


def distance_to_score(distance: float) -> float:
    """Ximilar distance (0 = identical, lower is closer) -> score in (0, 1]: ``1 / (1 + d / 50)``."""
    return 1.0 / (1.0 + max(0.0, distance) / DISTANCE_SCALE)


def ximilar_filter(f: Filter) -> dict[str, object]:
    """The filter in Ximilar's MongoDB syntax, which lacks ``$nor``: negations are pushed down to fields."""
    return to_mongo(_push_not(f))


def _push_not(f: Filter) -> Filter:
    if isinstance(f, And):
        return And(tuple(_push_not(p) for p in f.parts))
    if isinstance(f, Or):
        return Or(tuple(_push_not(p) for p in f.parts))
    if isinstance(f, Not):
        inner = f.part
        if isinstance(inner, Not):
            return _push_not(inner.part)
        if isinstance(inner, And):
            return Or(tuple(_push_not(Not(p)) for p in inner.parts))
        if isinstance(inner, Or):
            return And(tuple(_push_not(Not(p)) for p in inner.parts))
    return f  # a field condition, or its negation ($not / $nin)


def _query_record(query: SearchQuery, image: PreparedImage | None) -> dict[str, str]:
    if query.mode == "image":
        if image is None:
            raise InvalidQueryError("an image search needs the prepared image")
        return {"_base64": base64.b64encode(image.data).decode("ascii")}
    if query.mode == "url" and query.url is not None:
        return {"_url": query.url}
    if query.mode == "id" and query.id is not None:
        return {"_id": query.id}
    raise UnsupportedCapabilityError(
        f"ximilar cannot search by {query.mode}",
        provider="ximilar",
        capability=Capability.SEARCH_BY_COLOR.value,
    )


def _fields(fields: Sequence[str] | None) -> list[str]:
    """``fields_to_return``: ``["*"]`` (everything) when None, else ``_id`` plus the named fields."""
    if fields is None:
        return ["*"]
    return list(dict.fromkeys(["_id", *fields]))


def _checked_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    for key in metadata:
        if key.startswith("_"):
            raise InvalidQueryError(f"metadata field {key!r}: Ximilar reserves names starting with '_'")
    return dict(metadata)


def _record_id(record: Mapping[str, Any]) -> str:
    value = record["_id"]
    if not isinstance(value, str):
        raise TypeError(f"_id is a {type(value).__name__}, not a string")
    return value


def _metadata(record: Mapping[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    if fields is None:
        return {k: v for k, v in record.items() if not k.startswith("_")}
    return {k: record[k] for k in fields if k in record and k != "_id"}


def _stored(record: Mapping[str, Any]) -> StoredRecord:
    url = record.get("_url")
    return StoredRecord(
        id=_record_id(record), metadata=_metadata(record, None), url=url if isinstance(url, str) else None
    )


def _read_cursor(cursor: str) -> tuple[int, int]:
    params = dict(parse_qsl(cursor))
    try:
        page, size = int(params["page"]), int(params["size"])
    except (KeyError, ValueError):
        raise InvalidQueryError(f"{cursor!r} is not a Ximilar list cursor (page=N&size=M)") from None
    if page < 1 or size < 1:
        raise InvalidQueryError(f"{cursor!r} is not a Ximilar list cursor (page and size start at 1)")
    return page, size


def _status_of(raw: object) -> _Status | None:
    status = raw.get("status") if isinstance(raw, dict) else None
    if not isinstance(status, dict):
        return None
    try:
        return _Status.model_validate(status)
    except ValidationError:
        return None


def _queried_by_id(response: httpx.Response) -> bool:
    try:
        body = json.loads(response.request.content)
    except (ValueError, UnicodeDecodeError, httpx.RequestNotRead):
        return False
    record = body.get("query_record") if isinstance(body, dict) else None
    return isinstance(record, dict) and set(record) == {"_id"}
