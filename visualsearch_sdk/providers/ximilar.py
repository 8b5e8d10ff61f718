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
  ``XimilarOptions(insert_method="nearDupsInsert")`` also refuses a record whose image is within a radius of
  one already stored: its ``_reason`` lists the near duplicates (:class:`NearDuplicateError`, a conflict).
* ``visualKNNMulti`` searches by several images at once (:meth:`XimilarAdapter.build_search_multi`).
* By-id search returns the query record itself: we drop it. To page exactly whatever the query record's rank,
  a by-id page asks for ``k = offset + limit + 1`` from 0 and slices client-side.
* ``allRecords`` pages by ``?size=&page=``; its ``next`` link lacks the service prefix, so we keep only its
  ``page``/``size`` as our cursor and rebuild the URL (the token never follows a server-given URL).
* Fields starting with ``_`` are Ximilar's (``_id``, ``_url``, ``_tags_simple``…): never metadata.

Layout: options and auth in ``_ximilar_options``, wire models and translations in ``_ximilar_wire``, the
plumbing and error mapping in ``_ximilar_base``; every name is importable from this module.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import httpx

from visualsearch_sdk._config import ClientOptions, ProviderURL, check_base_url
from visualsearch_sdk._exceptions import (
    APIStatusError,
    ConfigurationError,
    InvalidQueryError,
    NearDuplicateError,
    UnsupportedCapabilityError,
)
from visualsearch_sdk.capabilities import Capability
from visualsearch_sdk.filters import Filter
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
from visualsearch_sdk.providers._base import Operation, PreparedRecord, RecordOutcome
from visualsearch_sdk.providers._ximilar_base import _XimilarBase

# ``X as X``: re-exported, importable from here as before the split.
from visualsearch_sdk.providers._ximilar_options import _PREFIXES as _PREFIXES
from visualsearch_sdk.providers._ximilar_options import DEFAULT_BASE_URL as DEFAULT_BASE_URL
from visualsearch_sdk.providers._ximilar_options import DEFAULT_SERVICE as DEFAULT_SERVICE
from visualsearch_sdk.providers._ximilar_options import (
    XimilarCredentials,
    XimilarMultiQuery,
    XimilarOptions,
    XimilarService,
    XimilarTokenAuth,
    _XimilarEnv,
)
from visualsearch_sdk.providers._ximilar_wire import DISTANCE_SCALE as DISTANCE_SCALE
from visualsearch_sdk.providers._ximilar_wire import (
    _checked_metadata,
    _fields,
    _query_record,
    _read_cursor,
    _record_id,
    _stored,
    _XimilarAnswer,
    distance_to_score,
    ximilar_filter,
)

__all__ = [
    "NearDuplicateError",
    "XimilarAdapter",
    "XimilarCredentials",
    "XimilarMultiQuery",
    "XimilarOptions",
    "XimilarService",
    "XimilarTokenAuth",
    "distance_to_score",
    "ximilar_filter",
]


class XimilarAdapter(_XimilarBase):
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
            Capability.REFUSE_EXISTING,
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
            insert_method=given.insert_method or "insert",
            near_duplicate_radius=given.near_duplicate_radius,
        )

    # -- search ---------------------------------------------------------------------------------------

    def build_search(self, query: SearchQuery, image: PreparedImage | None) -> httpx.Request:
        k, start = query.limit, query.offset
        if query.mode == "id":
            # The query record comes back too, at a rank we cannot know: fetch from 0 and slice.
            k, start = query.offset + query.limit + 1, 0
        body = self._search_body(
            {"query_record": _query_record(query, image)}, query.filter, query.fields, k=k
        )
        if start:
            body["from"] = start
        return self._post(self.search_method, body)

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
        body: dict[str, Any] = {"records": records}
        if self.near_duplicate_radius is not None:
            body["radius"] = self.near_duplicate_radius
        return self._post(self.insert_method, body)

    def parse_index(self, response: httpx.Response, batch: Sequence[PreparedRecord]) -> list[RecordOutcome]:
        answer = _XimilarAnswer.model_validate(self._object(response))
        done = {_record_id(record) for record in answer.answer_records}
        skipped = {item.id: item for item in answer.skipped_records}
        outcomes = []
        for record in batch:
            if record.id in skipped:
                reason = skipped[record.id].reason
                error: APIStatusError
                if reason is not None and reason.answer_records:  # nearDupsInsert names the near duplicates
                    error = self._near_duplicate(response, reason)
                else:
                    error = self._code_error(response, reason.status if reason is not None else answer.status)
                outcomes.append(RecordOutcome(record.id, error))
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
        record = _query_record(query, image)
        body = self._search_body({"query_record": record}, query.filter, query.fields, radius=radius)
        body.pop("product_field", None)  # not a nearDuplicates parameter
        return self._post("nearDuplicates", body)

    def parse_near_duplicates(self, response: httpx.Response, query: SearchQuery) -> list[SearchHit]:
        """The near duplicates, closest first (the query record itself included, as Ximilar returns it)."""
        return self._hits(response, self._object(response), query.fields)

    def build_search_multi(self, query: XimilarMultiQuery) -> httpx.Request:
        """``visualKNNMulti`` (``visualTagsKNNMulti`` with ``search_method="visualTagsKNN"``): the records
        closest to any of the query images; read the answer with :meth:`parse_search_multi`."""
        if query.limit > self.max_limit:
            raise InvalidQueryError(f"limit must be at most {self.max_limit} for {self.provider}")
        if query.offset + query.limit > self.page_window:
            raise InvalidQueryError(f"{self.provider} returns at most {self.page_window} results per query")
        records: list[dict[str, str]] = [
            *({"_base64": base64.b64encode(image.data).decode("ascii")} for image in query.images),
            *({"_url": url} for url in query.urls),
            *({"_id": record_id} for record_id in query.ids),
        ]
        k, start = query.limit, query.offset
        if query.ids:  # the query records may come back too, at ranks we cannot know: from 0, then slice
            k, start = query.offset + query.limit + len(query.ids), 0
        body = self._search_body({"query_records": records}, query.filter, query.fields, k=k)
        if start:
            body["from"] = start
        return self._post(self.search_method + "Multi", body)

    def parse_search_multi(self, response: httpx.Response, query: XimilarMultiQuery) -> SearchResult:
        """The hits of :meth:`build_search_multi`'s answer, as a search's (the query ids left out)."""
        raw = self._object(response)
        hits = self._hits(response, raw, query.fields)
        if query.ids:
            hits = [hit for hit in hits if hit.id not in query.ids][query.offset : query.offset + query.limit]
        return SearchResult(
            hits=tuple(hits[: query.limit]),
            provider=self.provider,
            offset=query.offset,
            limit=query.limit,
            raw=raw,
        )

    def build_all_records(
        self, *, fields: Sequence[str] | None = None, filter: Filter | None = None
    ) -> httpx.Request:
        """``allRecords`` without paging: every (matching) record in one answer; read it with
        :meth:`parse_records`. Prefer ``iter_records()`` for a large collection."""
        body: dict[str, Any] = {"fields_to_return": _fields(fields)}
        if filter is not None:
            body["filter"] = ximilar_filter(filter)
        return self._post("allRecords", body)

    def build_ping(self) -> httpx.Request:
        """``ping``, POSTed without a body as the official client does (the docs show GET); it does not
        check the token (``verify()`` does)."""
        return httpx.Request("POST", self.endpoint.join("ping"), headers={"Content-Type": "application/json"})

    def build_delete_by_filter(self, filter: Filter) -> httpx.Request:
        """``/v2/deleteByFilter`` (not available on every index). A filter is required: no delete-all."""
        return self._post("deleteByFilter", {"filter": ximilar_filter(filter), "fields_to_return": ["_id"]})

    def parse_delete_by_filter(self, response: httpx.Response) -> list[str]:
        """The ids Ximilar reports deleted."""
        return [r.id for r in self.parse_records(response)]
