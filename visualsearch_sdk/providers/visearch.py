"""ViSearch (ViSenze) v1: HTTP Basic, a form-encoded data API, query-string searches, asynchronous indexing.

Docs: the ViSearch Python SDK readme and ViSenze's account/schema guide (our copies: ``reference/docs/000``
and ``002``), https://developers.visenze.com, VENDORS.md §1 (wire facts) and §5 (the official client's
defects).

URL form::

    visearch://ACCESS_KEY:SECRET_KEY@visearch.visenze.com
    visearch://ACCESS_KEY:SECRET_KEY@visearch.visenze.com.cn          (the China host)
    visearch://ACCESS_KEY:SECRET_KEY@/?base_url=http://127.0.0.1:8080/

Quirks this adapter handles:

* HTTPS by default (the official client defaults to plain HTTP with Basic credentials); the host is yours.
* Images are indexed **by URL only**: ViSearch downloads them (a record with only bytes fails, per record,
  before any request: ``INDEX_FROM_BYTES`` is not declared). Indexing is asynchronous: ``/insert`` answers a
  64-bit ``trans_id`` (kept an int, never a float) and ``wait_for_indexing`` polls ``/insert/status``
  through every page of failures (the official client drops ``error_page``/``error_limit``).
* ``/insert`` is an upsert keyed by ``im_name``, so it may be retried; an id that exists is replaced
  (``REFUSE_EXISTING`` is not declared). ``/remove`` reports unknown names as ``102`` warnings: ``not_found``.
* Errors mostly arrive as HTTP 200 ``status: fail``: :mod:`._visearch_errors` maps the codes.
* Search pages are ``page`` (from 1) × ``limit`` within 1,000 results; an ``offset`` that is not a multiple
  of ``limit`` asks for the smallest page that covers it and slices client-side.
* ``value_map`` values are strings: converted with ``ViSearchOptions(schema={"price": float})``.
* The upload-search box is in the **uploaded** image's pixels: the shared preprocessor maps it there (the
  official client sends it unscaled after resizing to a distorted 512×512). Query strings are
  percent-encoded and booleans lower-case (the official client sends raw ``fq`` values and ``True``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl, urlencode

import httpx

from visualsearch_sdk._config import ClientOptions, ProviderURL, check_base_url
from visualsearch_sdk._exceptions import (
    APIStatusError,
    ConfigurationError,
    InvalidQueryError,
    NotFoundError,
    UnsupportedCapabilityError,
)
from visualsearch_sdk.capabilities import Capability
from visualsearch_sdk.filters import Filter
from visualsearch_sdk.models import (
    DeleteReport,
    DetectedObject,
    MetadataValue,
    ObjectQuery,
    ObjectSearchResult,
    RecordFailure,
    SearchHit,
    SearchQuery,
    SearchResult,
    StoredRecord,
)
from visualsearch_sdk.preprocess import ImageLimits, PreparedImage
from visualsearch_sdk.providers._base import (
    Adapter,
    IndexStatus,
    Operation,
    PreparedRecord,
    RecordOutcome,
    status_error,
)
from visualsearch_sdk.providers._visearch_errors import code_error
from visualsearch_sdk.providers._visearch_filters import (
    SchemaType,
    format_number,
    scalar_to_wire,
    visearch_fq,
)
from visualsearch_sdk.providers._visearch_options import (
    CHINA_BASE_URL,
    DEFAULT_BASE_URL,
    ViSearchBasicAuth,
    ViSearchCredentials,
    ViSearchEnv,
    ViSearchOptions,
)
from visualsearch_sdk.providers._visearch_wire import (
    as_list,
    box_of,
    code_and_message,
    convert_value,
    fail_code,
    hits_of,
    int_or,
    page_for,
    record_errors,
    record_problems,
    request_id,
    str_or_none,
    trans_id,
)

__all__ = [
    "CHINA_BASE_URL",
    "DEFAULT_BASE_URL",
    "ViSearchAdapter",
    "ViSearchBasicAuth",
    "ViSearchCredentials",
    "ViSearchOptions",
    "page_for",
]

_SEARCHES = ("/search", "/colorsearch", "/uploadsearch", "/recommendation", "/discoversearch")
MAX_BATCH = 100  # VENDORS §1.4/§1.5: at most 100 images per insert; 100 per remove recommended
ERROR_LIMIT = 100  # [?] failures per insert/status page we ask for (the server echoes what it used)


class ViSearchAdapter(Adapter):
    """Speaks ViSearch v1 for one application."""

    provider: ClassVar[str] = "visearch"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.SEARCH_BY_IMAGE,
            Capability.SEARCH_BY_URL,
            Capability.SEARCH_BY_ID,
            Capability.SEARCH_BY_COLOR,
            Capability.SEARCH_BY_UPLOAD_ID,
            Capability.SERVER_CROP,
            Capability.FILTERS,
            Capability.METADATA,
            Capability.MIN_SCORE,
            Capability.INDEX_WRITE,
            Capability.INDEX_FROM_URL,
            Capability.INDEX_ASYNC,
            Capability.UPSERT,
            Capability.INDEX_UPDATE,
            Capability.INDEX_DELETE,
            Capability.MULTI_OBJECT,
        }
    )
    # VENDORS §1.5: upload search takes files up to 10 MB; EXIF orientation is not known to be honoured.
    limits: ClassVar[ImageLimits] = ImageLimits(
        max_bytes=10 * 1024 * 1024,
        formats=frozenset({"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"}),
        keep_exif_orientation=False,
    )
    batch_size: ClassVar[int] = MAX_BATCH
    delete_batch_size: ClassVar[int] = MAX_BATCH
    max_limit: ClassVar[int] = 100  # [?] no documented cap on limit; result_limit of discover is <= 100
    page_window: ClassVar[int] = 1000  # VENDORS §1.5
    # VENDORS §1.7: insert and update are upserts by im_name, remove is idempotent, searches are safe.
    idempotent: ClassVar[frozenset[Operation]] = frozenset(
        {"search", "index", "update", "delete", "verify", "index_status", "search_objects"}
    )

    def __init__(
        self,
        credentials: ViSearchCredentials,
        *,
        base_url: str = DEFAULT_BASE_URL,
        schema: Mapping[str, SchemaType] | None = None,
        detection: str | None = None,
        detection_limit: int | None = None,
        detection_sensitivity: Literal["low", "high"] | None = None,
    ) -> None:
        self.credentials = credentials
        self.base_url = httpx.URL(base_url.rstrip("/") + "/")
        self.schema: dict[str, SchemaType] = dict(schema or {})
        self.detection = detection
        self.detection_limit = detection_limit
        self.detection_sensitivity = detection_sensitivity

    @classmethod
    def from_url(
        cls, url: ProviderURL, *, options: Any, environ: Mapping[str, str], client_options: ClientOptions
    ) -> ViSearchAdapter:
        if options is not None and not isinstance(options, ViSearchOptions):
            raise ConfigurationError("the visearch provider takes options=ViSearchOptions(...)")
        given = options or ViSearchOptions()
        env = ViSearchEnv.from_environ(environ)
        creds = given.credentials
        if creds is None:
            access = url.username or env.access_key
            secret = url.password or env.secret_key
            if (
                access is None
                or secret is None
                or not access.get_secret_value()
                or not secret.get_secret_value()
            ):
                raise ConfigurationError(
                    "ViSearch needs an access key and a secret key: put them in the URL "
                    "(visearch://ACCESS_KEY:SECRET_KEY@visearch.visenze.com), or set "
                    "VISUALSEARCH_VISEARCH_ACCESS_KEY and VISUALSEARCH_VISEARCH_SECRET_KEY "
                    "(or pass options=ViSearchOptions(credentials=...))"
                )
            creds = ViSearchCredentials(access_key=access, secret_key=secret)
        if url.path.strip("/"):
            raise ConfigurationError("a ViSearch URL has no path: visearch://KEY:SECRET@HOST")
        host_url = f"https://{url.host}{f':{url.port}' if url.port else ''}/" if url.host else None
        base = given.base_url or url.param("base_url") or host_url or env.base_url or DEFAULT_BASE_URL
        check_base_url(base, allow_http=client_options.allow_http)
        return cls(
            creds,
            base_url=base,
            schema=given.schema_,
            detection=given.detection,
            detection_limit=given.detection_limit,
            detection_sensitivity=given.detection_sensitivity,
        )

    def describe(self) -> str:
        return f"visearch at {self.base_url}"

    def auth(self) -> httpx.Auth:
        return ViSearchBasicAuth(self.credentials)

    # -- search ---------------------------------------------------------------------------------------

    def build_search(self, query: SearchQuery, image: PreparedImage | None) -> httpx.Request:
        page, size = page_for(query.offset, query.limit)
        paging = [("page", str(page)), ("limit", str(size))]
        common = paging + self._common(query.filter, query.fields, query.min_score)
        if query.mode == "id" and query.id is not None:
            return self._get("search", [("im_name", query.id), *common])
        if query.mode == "color" and query.color is not None:
            return self._get("colorsearch", [("color", "{:02x}{:02x}{:02x}".format(*query.color)), *common])
        return self._upload("uploadsearch", query.mode, query, image, common + self._detection())

    def parse_search(self, response: httpx.Response, query: SearchQuery) -> SearchResult:
        raw = self._object(response)
        page, size = page_for(query.offset, query.limit)
        if fail_code(raw) == 1107:  # the application has no images yet: nothing is similar
            hits: list[SearchHit] = []
        else:
            hits = hits_of(as_list(raw, "result"), query.fields, self.schema)
        if query.mode == "id":  # [?] ViSearch is not known to return the query image; never show it
            hits = [hit for hit in hits if hit.id != query.id]
        skip = query.offset - (page - 1) * size
        total = raw.get("total")
        return SearchResult(
            hits=tuple(hits[skip : skip + query.limit]),
            total=total if isinstance(total, int) and not isinstance(total, bool) else None,
            provider=self.provider,
            request_id=request_id(response, raw),
            offset=query.offset,
            limit=query.limit,
            upload_id=str_or_none(raw.get("im_id")),
            raw=raw,
        )

    def build_search_objects(self, query: ObjectQuery, image: PreparedImage | None) -> httpx.Request:
        params = [
            ("detection", query.detection or self.detection or "all"),
            ("detection_limit", str(self.detection_limit or 5)),
            ("detection_sensitivity", self.detection_sensitivity or "low"),
            ("result_limit", str(query.limit_per_object)),
            *self._common(query.filter, query.fields, query.min_score),
        ]
        return self._upload("discoversearch", query.mode, query, image, params)

    def parse_search_objects(
        self, response: httpx.Response, query: ObjectQuery, image: PreparedImage | None
    ) -> ObjectSearchResult:
        raw = self._object(response)
        objects = []
        items = [] if fail_code(raw) == 1107 else as_list(raw, "objects")  # an app without images
        for item in items:
            if not isinstance(item, dict):
                raise TypeError("an entry of objects is not an object")
            box = box_of(item.get("box"))
            if box is not None and image is not None:  # uploaded pixels -> original pixels
                box = image.to_original(box)
            elif query.mode == "upload_id":  # an earlier upload: its geometry is unknown here (see raw)
                box = None
            score, total = item.get("score"), item.get("total")
            confidence = min(1.0, max(0.0, float(score))) if isinstance(score, (int, float)) else None
            objects.append(
                DetectedObject(
                    type=str(item.get("type") or "unknown"),
                    score=None if isinstance(score, bool) else confidence,
                    box=box,
                    hits=tuple(
                        hits_of(as_list(item, "result"), query.fields, self.schema)[: query.limit_per_object]
                    ),
                    total=total if isinstance(total, int) and not isinstance(total, bool) else None,
                )
            )
        return ObjectSearchResult(
            objects=tuple(objects),
            provider=self.provider,
            request_id=request_id(response, raw),
            upload_id=str_or_none(raw.get("im_id")),
            raw=raw,
        )

    def _common(
        self, flt: Filter | None, fields: Sequence[str] | None, min_score: float | None
    ) -> list[tuple[str, str]]:
        """``fl``/``get_all_fl``, ``fq``, ``score`` and ``score_min``: lower-case booleans, one pair each."""
        params: list[tuple[str, str]] = []
        if fields is None:
            params.append(("get_all_fl", "true"))
        else:
            params += [("fl", name) for name in fields]
        if flt is not None:
            params += [("fq", fq) for fq in visearch_fq(flt, self.schema)]
        params.append(("score", "true"))
        if min_score is not None:
            params.append(("score_min", format_number(min_score)))
        return params

    def _detection(self) -> list[tuple[str, str]]:
        """Upload search's object detection, when ``ViSearchOptions.detection`` asks for it."""
        if self.detection is None:
            return []
        params = [("detection", self.detection)]
        if self.detection_limit is not None:
            params.append(("detection_limit", str(self.detection_limit)))
        if self.detection_sensitivity is not None:
            params.append(("detection_sensitivity", self.detection_sensitivity))
        return params

    def _upload(
        self,
        path: str,
        mode: str,
        query: SearchQuery | ObjectQuery,
        image: PreparedImage | None,
        params: list[tuple[str, str]],
    ) -> httpx.Request:
        """An upload/discover search: the image as multipart part ``image``, the parameters in the query
        string (as the official Python client); or ``im_url``/``im_id`` in a form body (as the Java one)."""
        if mode == "image":
            if image is None:
                raise InvalidQueryError("an image search needs the prepared image")
            if image.box is not None:  # SERVER_CROP: the box in the uploaded image's pixels (VENDORS §1.3)
                params = [*params, ("box", ",".join(map(str, image.box)))]
            ext = {"JPEG": "jpg"}.get(image.format, image.format.lower())
            files = {"image": (f"image.{ext}", image.data, image.media_type)}
            return httpx.Request("POST", self.base_url.join(path), params=tuple(params), files=files)
        if mode == "url" and query.url is not None:
            if query.box is not None:  # the server crops the image it downloads: original pixels
                params = [*params, ("box", ",".join(str(round(v)) for v in query.box))]
            return self._form(path, [*params, ("im_url", query.url)])
        if mode == "upload_id" and query.upload_id is not None:
            return self._form(path, [*params, ("im_id", query.upload_id)])
        raise UnsupportedCapabilityError(f"visearch cannot search by {mode}", provider=self.provider)

    def build_index(self, batch: Sequence[PreparedRecord], *, upsert: bool) -> httpx.Request:
        # ``upsert`` needs nothing: /insert always replaces an existing im_name (VENDORS §1.4).
        form: list[tuple[str, str]] = []
        problems: list[str] = []
        for i, record in enumerate(batch):
            if record.url is None:
                problems.append(f"{record.id!r} has no image URL (ViSearch downloads images itself)")
                continue
            problems += record_problems(record.id, record.metadata)
            form += [(f"im_name[{i}]", record.id), (f"im_url[{i}]", record.url)]
            form += [(f"{k}[{i}]", scalar_to_wire(v)) for k, v in record.metadata.items()]
        if problems:
            raise InvalidQueryError("ViSearch cannot index this batch: " + "; ".join(problems))
        return self._form("insert", form)

    def parse_index(self, response: httpx.Response, batch: Sequence[PreparedRecord]) -> list[RecordOutcome]:
        raw = self._object(response)
        errors = record_errors(raw, batch)
        transaction = trans_id(raw) if len(errors) < len(batch) else None
        return [
            RecordOutcome(r.id, self._record_error(response, errors[r.id]))
            if r.id in errors
            else RecordOutcome(r.id, transaction_id=transaction)
            for r in batch
        ]

    def build_index_status(self, transaction_id: str, page: int) -> httpx.Request:
        if not transaction_id.isdigit():
            raise InvalidQueryError(f"{transaction_id!r} is not a ViSearch trans_id (digits only)")
        # VENDORS §1.4/§5: error_page/error_limit page the failures (the official client drops them).
        params = [("error_page", str(page)), ("error_limit", str(ERROR_LIMIT))]
        url = self.base_url.join(f"insert/status/{transaction_id}")
        return httpx.Request("GET", url, params=tuple(params))

    def parse_index_status(self, response: httpx.Response) -> IndexStatus:
        raw = self._object(response)
        results = as_list(raw, "result")
        if not results or not isinstance(results[0], dict):
            raise status_error(
                self.provider, response, message="transaction not found", status_code=404, cls=NotFoundError
            )
        status: dict[str, Any] = results[0]
        percent = status.get("processed_percent")
        if not isinstance(percent, (int, float)) or isinstance(percent, bool):
            raise TypeError("insert/status has no processed_percent number")
        failed = [
            RecordOutcome(str(e["im_name"]), self._record_error(response, e))
            for e in status.get("error_list") or []
        ]
        sent = dict(response.request.url.params)
        page = int_or(status.get("error_page"), int(sent.get("error_page", "1")))
        limit = int_or(status.get("error_limit"), int(sent.get("error_limit", str(ERROR_LIMIT))))
        fail_count = int_or(status.get("fail_count"), 0)
        finished = percent >= 100
        more = finished and limit > 0 and page * limit < fail_count  # VENDORS §1.7: ceil(fail_count / limit)
        return IndexStatus(
            finished=finished, failed=tuple(failed) if finished else (), next_page=page + 1 if more else None
        )

    def build_update(self, record_id: str, metadata: Mapping[str, MetadataValue | None]) -> httpx.Request:
        removed = [k for k, v in metadata.items() if v is None]
        if removed:
            raise UnsupportedCapabilityError(
                f"visearch cannot remove a metadata field ({', '.join(map(repr, removed))}): re-insert the "
                "record with its im_url and the fields to keep (index(..., upsert=True))",
                provider=self.provider,
                capability=Capability.INDEX_UPDATE.value,
            )
        if not metadata:
            raise InvalidQueryError("update needs at least one field to set")
        values = {k: v for k, v in metadata.items() if v is not None}
        problems = record_problems(record_id, values)
        if problems:
            raise InvalidQueryError("; ".join(problems))
        # VENDORS §1.4: an update is /insert without im_url [?: merge semantics unverified, §6].
        form = [("im_name[0]", record_id), *((f"{k}[0]", scalar_to_wire(v)) for k, v in values.items())]
        return self._form("insert", form)

    def parse_update(self, response: httpx.Response, record_id: str) -> StoredRecord:
        raw = self._object(response)
        errors = record_errors(raw, [PreparedRecord(record_id, None, None)])
        if record_id in errors:
            error = errors[record_id]
            if error.get("error_code") == 108:  # im_url is required: no image has that im_name
                raise status_error(
                    self.provider,
                    response,
                    message=f"no image with im_name {record_id!r} (ViSearch asks for im_url: code 108)",
                    provider_code="108",
                    status_code=404,
                    cls=NotFoundError,
                )
            raise self._record_error(response, error)
        trans_id(raw)
        # ViSearch cannot read a record back: the record holds the fields sent, typed by the schema.
        sent = parse_qsl(response.request.content.decode())
        fields = {k.removesuffix("[0]"): v for k, v in sent if k != "im_name[0]"}
        return StoredRecord(
            id=record_id, metadata={k: convert_value(self.schema, k, v) for k, v in fields.items()}
        )

    def build_delete(self, ids: Sequence[str]) -> httpx.Request:
        return self._form("remove", [(f"im_name[{i}]", rid) for i, rid in enumerate(ids)])

    def parse_delete(self, response: httpx.Response, ids: Sequence[str]) -> DeleteReport:
        raw = self._object(response)
        errors = record_errors(raw, [PreparedRecord(i, None, None) for i in ids])
        deleted, missing, failed = [], [], []
        for rid in ids:
            error = errors.get(rid)
            if error is None:
                deleted.append(rid)
            elif error.get("error_code") == 102:  # VENDORS §1.6: "image not found with im_name"
                missing.append(rid)
            else:
                exc = self._record_error(response, error)
                failed.append(
                    RecordFailure(id=rid, error=exc, reason=f"{type(exc).__name__}: {exc.provider_code}")
                )
        return DeleteReport(deleted=tuple(deleted), not_found=tuple(missing), failed=tuple(failed))

    def build_verify(self) -> httpx.Request:
        # No cheap read exists; the status of transaction 0 is: 101 (not found) proves the keys work [?].
        return httpx.Request("GET", self.base_url.join("insert/status/0"))

    # -- errors ---------------------------------------------------------------------------------------

    def error_for(self, response: httpx.Response) -> APIStatusError | None:
        try:
            raw = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            raw = None  # an HTML proxy page: the HTTP status decides (a 2xx one fails in the parser)
        errors = raw.get("error") if isinstance(raw, dict) else None
        first = errors[0] if isinstance(errors, list) and errors else None
        if not response.is_success:
            code, message = code_and_message(first)
            return code_error(
                response, code, message or f"HTTP {response.status_code} {response.reason_phrase}"
            )
        if not isinstance(raw, dict) or raw.get("status") != "fail" or first is None:
            return None  # OK, or a partial "warning": per-record outcomes are the parser's
        path = response.request.url.path
        if path.endswith(("/insert", "/remove")) and all(
            isinstance(e, dict) and isinstance(e.get("im_name"), str) for e in errors or []
        ):
            return None  # every record failed, each with its own code: parse_index / parse_delete say which
        code, message = code_and_message(first)
        if code == 1107 and path.endswith(_SEARCHES):
            return None  # an application without images: an empty result (parse_search)
        if code == 101 and path.endswith("/insert/status/0"):
            return None  # verify(): the keys were accepted
        return code_error(response, code, message)

    def _record_error(self, response: httpx.Response, error: Mapping[str, Any]) -> APIStatusError:
        code = error.get("error_code")
        return code_error(
            response,
            code if isinstance(code, int) and not isinstance(code, bool) else None,
            str(error.get("error_message") or ""),
        )

    # -- plumbing -------------------------------------------------------------------------------------

    def _get(self, path: str, params: list[tuple[str, str]]) -> httpx.Request:
        return httpx.Request("GET", self.base_url.join(path), params=tuple(params))

    def _form(self, path: str, form: list[tuple[str, str]]) -> httpx.Request:
        """A form POST with the pairs in order, encoded as the official client does (``urlencode``)."""
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return httpx.Request(
            "POST", self.base_url.join(path), content=urlencode(form).encode(), headers=headers
        )
