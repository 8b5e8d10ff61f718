"""A wire-faithful fake of Ximilar's similarity search API v2, over the local engine.

Sources: ``shared/reference/VENDORS.md`` §2 (cited as ``VENDORS §2.x`` beside each fact), doc 001
(Ximilar's "Visual Search/Similarity API" page, https://docs.ximilar.com/similarity/) and the vectors of
ximilar-client 1.39.0.
Facts marked ``[?]`` are not documented; they are our best guess and say so.

Quirks modelled:

* Several URL prefixes per collection type, documented and ``-new`` ones (VENDORS §2.1); any host.
* ``Token <t>`` or ``JWT <t>`` auth plus a ``collection-id`` header; the auth layer answers DRF-style
  ``{"detail"}`` with 401/403, the index answers ``{"status": {"code", "text"}, "statistics", ...}``.
* The HTTP status follows ``status.code`` (210, 211, 206, 403, 404, 411, ...; VENDORS §2.6). The real HTTP
  status of 21x/22x answers is an open question (VENDORS §6): ``mirror_status=False`` answers 200 for them.
* ``insert`` is not an upsert: a known ``_id`` is skipped as a duplicate (211/411, ``skipped_records``).
* Distances, lower = more similar: ``100 * (1 - cosine)`` of the engine, 0 for an identical image.
* A stored query record (``query_record: {"_id"}``) is part of its own answer, at distance 0 (doc 001).
* ``allRecords`` pages with ``?size=&page=`` and answers ``next``/``previous`` URLs *without* the service
  prefix, as the docs and vectors show: follow pages by number, use ``next`` only to know that more exist.

Absent (answer 404, as an unknown route would): ``nearDupsInsert``, ``visualTagsKNN``, ``visualKNNMulti``,
``visualTagsKNNMulti``, ``visualRankRecords``, ``visualTagsRankRecords``, ``allNearDupPairs``. Accepted but
ignored: ``product_field``, ``cand_set_size``, ``approx_param``, ``delete_file_after``. Not modelled: a filter
value matching one element of an array field (the engine's filters never match list values).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import random
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import quote

import httpx
from PIL import Image

from visualsearch_sdk._exceptions import ImageError, InvalidFilterError
from visualsearch_sdk.filters import Filter, evaluate, parse_filter
from visualsearch_sdk.local import features
from visualsearch_sdk.local.app import FEATURE_SIDE
from visualsearch_sdk.local.engine import NewRecord
from visualsearch_sdk.preprocess import load_upright
from visualsearch_sdk.testing.fakes._base import FakeVendor, with_base_url
from visualsearch_sdk.testing.fakes._faults import _reason

__all__ = ["MAX_INSERT", "SERVICE_PREFIXES", "FakeXimilar", "XimilarService"]

XimilarService = Literal[
    "photos", "photos-new", "products", "products-new", "fashion", "fashion-new",
    "custom", "colors", "homedecor", "image_matching",
]  # fmt: skip
"""A collection type; ``<type>-new`` names the same type as ``<type>`` (it picks the client's prefix)."""

SERVICE_PREFIXES: dict[str, tuple[str, ...]] = {  # VENDORS §2.1: docs' prefix first, then the client's
    "photos": ("photo/search/v2", "similarity/photos/v2"),
    "products": ("similarity/products/v2", "similarity/products-new/v2"),
    "fashion": ("similarity/fashion/v2", "similarity/fashion-new/v2"),
    "custom": ("similarity/custom/v2",),
    "colors": ("similarity/colors/v2",),
    "homedecor": ("similarity/homedecor/v2",),
    "image_matching": ("image_matching/v2",),
}
MAX_INSERT = 10  # VENDORS §2.5: at most 10 records per insert
_AUTHORIZE = "/authorization/v2/authorize"  # VENDORS §2.2
_IMAGE_KEYS = frozenset({"_id", "_url", "_base64", "_file"})  # VENDORS §2.3: the rest is metadata
_TAKE_FROM_QUERY = "{TAKE_FROM_QUERY}"  # VENDORS §2.3
_FIELD_OPS = frozenset({"$eq", "$ne", "$lt", "$lte", "$gt", "$gte", "$in", "$nin"})

Status = tuple[int, str]
# VENDORS §2.6 / doc 001 "Possible status values"
_OK: Status = (200, "OK")
_FOUND: Status = (205, "records found")
_PARTIAL: Status = (206, "some of the records not found")  # VENDORS §2.6: 206 (status lists) or 213
_INSERTED: Status = (210, "records inserted")
_SOME_INSERTED: Status = (211, "some records inserted")
_DUPLICATE: Status = (211, "record(s) duplicate")  # doc 001 insert example: the per-record reason
_DELETED: Status = (220, "records deleted")
_ABORTED: Status = (402, "aborted by error")
_WRONG_QUERY: Status = (403, "wrong query record")
_NOT_FOUND: Status = (404, "records not found")
_ALL_DUPLICATE: Status = (411, "record duplicate")
_BAD_REQUEST: Status = (400, "bad request")  # [?] the shape of a malformed-request answer is undocumented


class _Reply(Exception):
    """An early answer with a Ximilar status (and ``error_description``)."""

    def __init__(self, status: Status, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


class _Unloadable(Exception):
    """The record's image cannot be read (no source, bad base64, unresolvable URL, not an image)."""


Route = Callable[[httpx.Request, dict[str, Any]], dict[str, Any]]


class FakeXimilar(FakeVendor):
    """Ximilar's similarity API v2 as a handler ``httpx.Request -> httpx.Response`` with its own index.

    Args:
        token: the API token that ``Authorization: Token <token>`` (or ``JWT <token>``) must carry.
        collection_id: the ``collection-id`` header every collection call must carry.
        service: the collection type; the fake serves its documented and ``-new`` prefixes (VENDORS §2.1),
            and ``client_url()`` names it as given.
        path: a folder for a persistent index; in memory when None.
        url_resolver: maps a record's ``_url`` to image bytes. Without it, ``_url`` images cannot be loaded:
            the fake never touches the network.
        mirror_status: answer the ``status.code`` of 2xx bodies as the HTTP status (the docs' reading); when
            False they are answered as HTTP 200. Errors always use their code.
    """

    def __init__(
        self,
        *,
        token: str = "fake-ximilar-token",
        collection_id: str = "fake-collection",
        service: XimilarService = "products",
        path: str | Path | None = None,
        url_resolver: Callable[[str], bytes] | None = None,
        mirror_status: bool = True,
    ) -> None:
        super().__init__(path=path)
        kind = service.removesuffix("-new")
        if kind not in SERVICE_PREFIXES or (kind != service and len(SERVICE_PREFIXES[kind]) < 2):
            raise ValueError(
                f"unknown Ximilar service {service!r}; use one of {list(get_args(XimilarService))}"
            )
        self.token, self.collection_id, self.service = token, collection_id, service
        self.url_resolver = url_resolver
        self.mirror_status = mirror_status
        self.user_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"fake-ximilar:{token}"))
        self._random = random.Random()
        self._prefixes = tuple(f"/{p}/" for p in SERVICE_PREFIXES[kind])  # both prefixes of the type
        self._routes: dict[str, tuple[frozenset[str], Route]] = {  # VENDORS §2.4 (HTTP methods per §2.3)
            "ping": (frozenset({"GET", "POST"}), self._ping),
            "insert": (frozenset({"POST"}), self._insert),
            "get": (frozenset({"POST"}), self._get),
            "update": (frozenset({"POST"}), self._update),
            "delete": (frozenset({"POST"}), self._delete),
            "deleteByFilter": (frozenset({"POST"}), self._delete_by_filter),
            "find": (frozenset({"POST"}), self._find),
            "visualKNN": (frozenset({"POST"}), self._visual_knn),
            "range": (frozenset({"POST"}), self._range),
            "nearDuplicates": (frozenset({"POST"}), self._near_duplicates),
            "random": (frozenset({"POST"}), self._random_records),
            "getRecordCount": (frozenset({"GET", "POST"}), self._count),  # [?] POST: the docs show GET only
            "allRecords": (frozenset({"POST"}), self._all_records),
        }

    # -- lifecycle ------------------------------------------------------------------------------------

    face = "ximilar"

    @classmethod
    def for_serving(cls, *, path: Path | None, token: str | None) -> FakeXimilar:
        """``visualsearch serve --face ximilar``: ``--token`` is the API token the fake requires."""
        return cls(path=path) if token is None else cls(token=token, path=path)

    def client_url(self, base_url: str | None = None) -> str:
        """The provider URL our SDK takes for this fake: ``ximilar://<token>@api.ximilar.com/<collection>``."""
        token, collection = quote(self.token, safe=""), quote(self.collection_id, safe="")
        url = f"ximilar://{token}@api.ximilar.com/{collection}?service={self.service}"
        return with_base_url(url, base_url)

    # -- dispatch -------------------------------------------------------------------------------------

    def __call__(self, request: httpx.Request) -> httpx.Response:
        injected = self._intercept(request)
        if injected is not None:
            return injected
        started = time.perf_counter()
        path = request.url.path
        if path.rstrip("/") == _AUTHORIZE:
            return self._authorize(request)
        name = next((path[len(p) :].strip("/") for p in self._prefixes if path.startswith(p)), None)
        route = self._routes.get(name or "")
        if route is None:  # declared-absent methods and unknown paths alike
            return _detail(404, "Not found.")
        methods, handle = route
        if request.method not in methods:
            return _detail(405, f'Method "{request.method}" not allowed.')
        if name != "ping":  # doc 001 calls ping without any credentials
            denied = self._check_auth(request, need_collection=True)
            if denied is not None:
                return denied
        try:
            body = handle(request, _body(request) if request.method == "POST" else {})
        except _Reply as reply:
            body = _answer(reply.status, error_description=reply.description)
        body["statistics"] = {"OperationTime": int((time.perf_counter() - started) * 1000)}  # VENDORS §2.6
        code = int(body["status"]["code"])
        return _json(code if code >= 300 or self.mirror_status else 200, body)

    def _check_auth(self, request: httpx.Request, *, need_collection: bool) -> httpx.Response | None:
        header = request.headers.get("authorization")
        if not header:  # VENDORS §2.6: the auth layer answers DRF-style {"detail"}; messages are DRF's [?]
            return _detail(401, "Authentication credentials were not provided.")
        scheme, _, given = header.strip().partition(" ")
        ok_scheme = scheme.lower() in {"token", "jwt"}  # VENDORS §2.2: Token, or JWT for long tokens
        if not (ok_scheme and hmac.compare_digest(given.strip().encode(), self.token.encode())):
            return _detail(401, "Invalid token.")
        collection = request.headers.get("collection-id", "")  # VENDORS §2.2
        if need_collection and not hmac.compare_digest(collection.encode(), self.collection_id.encode()):
            return _detail(403, "You do not have permission to perform this action.")  # [?] DRF's default
        return None

    def _authorize(self, request: httpx.Request) -> httpx.Response:
        """VENDORS §2.2: ``POST authorization/v2/authorize`` ``{service, call_type}``; answers ``user_id``."""
        if request.method != "POST":
            return _detail(405, f'Method "{request.method}" not allowed.')
        denied = self._check_auth(request, need_collection=False)
        if denied is not None:
            return denied
        try:
            service = _body(request).get("service")
        except _Reply:
            service = None
        return _json(200, {"user_id": self.user_id, "service": service})

    def _fault_body(self, status: int) -> Mapping[str, object]:
        if status in (401, 403):  # VENDORS §2.6: the auth layer
            return {"detail": "Invalid token."}
        body = _answer((status, _reason(status).lower()), error_description="injected fault")
        body["statistics"] = {"OperationTime": 0}
        return body

    # -- records --------------------------------------------------------------------------------------

    def _insert(self, request: httpx.Request, body: dict[str, Any]) -> dict[str, Any]:
        """VENDORS §2.4 insert: ``{"records" (<= 10), "fields_to_return" (["_id"])}``; never an upsert."""
        records = _records(body)
        if len(records) > MAX_INSERT:  # VENDORS §2.5; [?] HTTP 400 with our "bad request" envelope
            raise _Reply(_BAD_REQUEST, f"at most {MAX_INSERT} records can be inserted in one request")
        fields = body.get("fields_to_return", ["_id"])
        skipped: dict[int, dict[str, Any]] = {}
        ready: list[tuple[int, NewRecord]] = []
        for i, record in enumerate(records):
            record_id = record.get("_id")
            if not isinstance(record_id, str) or not record_id:
                skipped[i] = _skip(str(record_id), _BAD_REQUEST, "each record needs a string _id")  # [?]
            elif self.engine.has(record_id):
                skipped[i] = _skip(record_id, _DUPLICATE)  # VENDORS §2.4: not an upsert
            else:
                try:
                    views = features.index_views(self._load(record), multi_view=self.engine.multi_view)
                except _Unloadable as exc:  # [?] the code of an unreadable image is undocumented
                    skipped[i] = _skip(record_id, _ABORTED, str(exc))
                    continue
                metadata = {k: v for k, v in record.items() if k not in _IMAGE_KEYS}
                url = record.get("_url") if isinstance(record.get("_url"), str) else None
                ready.append((i, NewRecord(record_id, views, metadata, url)))
        inserted: list[dict[str, Any]] = []
        for (i, new), outcome in zip(ready, self.engine.add([r for _, r in ready])):
            if outcome.error is None:
                inserted.append(_project(_as_record(new.id, dict(new.metadata), new.url), fields))
            else:  # a repeated _id inside one batch
                skipped[i] = _skip(new.id, _DUPLICATE if outcome.error == "conflict" else _ABORTED)
        if not skipped:
            status = _INSERTED
        elif inserted:
            status = _SOME_INSERTED
        else:
            dup = all(s["_reason"]["status"]["code"] == _DUPLICATE[0] for s in skipped.values())
            status = _ALL_DUPLICATE if dup else _ABORTED
        return _answer(status, answer_records=inserted, skipped=[skipped[i] for i in sorted(skipped)])

    def _get(self, request: httpx.Request, body: dict[str, Any]) -> dict[str, Any]:
        """VENDORS §2.4 get: ``{"records": [{"_id"}], "fields_to_return" (["*"])}``; 205 / 206 / 404."""
        fields = body.get("fields_to_return", ["*"])
        found, skipped = [], []
        for record_id in _ids(body):
            stored = self._stored(record_id)
            if stored is None:
                skipped.append(_skip(record_id, _NOT_FOUND))
            else:
                found.append(_project(stored, fields))
        return _answer(_found_status(found, skipped), answer_records=found, skipped=skipped)

    def _update(self, request: httpx.Request, body: dict[str, Any]) -> dict[str, Any]:
        """VENDORS §2.4 update: metadata merge, ``null`` removes a field, the image never changes."""
        fields = body.get("fields_to_return", ["*"])
        updated, skipped = [], []
        for record in _records(body):
            record_id = record.get("_id")
            if not isinstance(record_id, str):
                raise _Reply(_BAD_REQUEST, "each record needs a string _id")
            patch = {k: v for k, v in record.items() if k not in _IMAGE_KEYS}
            if self.engine.update(record_id, patch) is None:
                skipped.append(_skip(record_id, _NOT_FOUND))
            else:
                stored = self._stored(record_id)
                updated.append(_project(stored if stored is not None else {"_id": record_id}, fields))
        return _answer(_found_status(updated, skipped), answer_records=updated, skipped=skipped)

    def _delete(self, request: httpx.Request, body: dict[str, Any]) -> dict[str, Any]:
        """VENDORS §2.4 delete: ``{"records": [{"_id"}]}``; 220 / 206 / 404 (doc 001)."""
        deleted, missing = self.engine.delete(_ids(body))
        status = _DELETED if not missing else (_PARTIAL if deleted else _NOT_FOUND)
        return _answer(
            status,
            answer_records=[{"_id": i} for i in deleted],
            skipped=[_skip(i, _NOT_FOUND) for i in missing],
        )

    def _delete_by_filter(self, request: httpx.Request, body: dict[str, Any]) -> dict[str, Any]:
        """VENDORS §2.4 deleteByFilter: ``{"filter", "fields_to_return" (["_id"])}`` (doc 001)."""
        matching = self._matching(body)
        self.engine.delete([r["_id"] for r in matching])
        fields = body.get("fields_to_return", ["_id"])
        return _answer(_OK, answer_records=[_project(r, fields) for r in matching])

    # -- listing --------------------------------------------------------------------------------------

    def _ping(self, request: httpx.Request, body: dict[str, Any]) -> dict[str, Any]:
        """VENDORS §2.4 ping: ``{"status", "statistics", "info"}``."""
        return {"status": _status(_OK), "info": f"Fake Ximilar index ({self.service} similarity)"}

    def _count(self, request: httpx.Request, body: dict[str, Any]) -> dict[str, Any]:
        """VENDORS §2.4 getRecordCount: ``answer_count``."""
        return {"status": _status(_OK), "answer_count": self.engine.count()}

    def _find(self, request: httpx.Request, body: dict[str, Any]) -> dict[str, Any]:
        """VENDORS §2.4 find: ``{"filter" (required), "limit" (10), "fields_to_return" (["*"])}``."""
        if not isinstance(body.get("filter"), dict):
            raise _Reply(_BAD_REQUEST, "'filter' is required")
        limit = _int(body.get("limit", 10), "limit", low=0)
        fields = body.get("fields_to_return", ["*"])
        return _answer(_OK, answer_records=[_project(r, fields) for r in self._matching(body)[:limit]])

    def _random_records(self, request: httpx.Request, body: dict[str, Any]) -> dict[str, Any]:
        """VENDORS §2.4 random: ``{"count" (1), "filter", "fields_to_return" (["*"])}``."""
        count = _int(body.get("count", 1), "count", low=0)
        matching = self._matching(body)
        chosen = self._random.sample(matching, min(count, len(matching)))
        fields = body.get("fields_to_return", ["*"])
        return _answer(_OK, answer_records=[_project(r, fields) for r in chosen])

    def _all_records(self, request: httpx.Request, body: dict[str, Any]) -> dict[str, Any]:
        """VENDORS §2.4/§2.7 allRecords: ``POST ...?size=&page=`` (page from 1); no size = everything."""
        params = request.url.params
        matching = self._matching(body)
        fields = body.get("fields_to_return", ["_id"])
        answer = _answer(_OK, answer_records=[])
        if "size" not in params:
            answer["answer_records"] = [_project(r, fields) for r in matching]
        else:
            size = _int(params["size"], "size", low=1)
            page = _int(params.get("page", "1"), "page", low=1)
            start = (page - 1) * size
            answer["answer_records"] = [_project(r, fields) for r in matching[start : start + size]]
            # VENDORS §2.6: absolute URLs, and (doc 001 + vectors) without the service prefix
            if start + size < len(matching):
                answer["next"] = _page_url(request, page + 1, size)
            if page > 1:
                answer["previous"] = _page_url(request, page - 1, size)
        if isinstance(body.get("output_file_name"), str):  # no file is written; the name is echoed
            answer["output_file_name"] = body["output_file_name"]
        answer["answer_count"] = self.engine.count()  # VENDORS §2.6: the whole collection's count
        return answer

    # -- ranking --------------------------------------------------------------------------------------

    def _visual_knn(self, request: httpx.Request, body: dict[str, Any]) -> dict[str, Any]:
        """VENDORS §2.4 visualKNN: ``query_record``, ``k`` (30), ``from`` (0), ``fields_to_return``
        (["_id"]), ``filter``."""
        k = _int(body.get("k", 30), "k", low=0)
        offset = _int(body.get("from", 0), "from", low=0)
        return self._ranked(body, k=k, offset=offset, radius=None, default_fields=["_id"])

    def _range(self, request: httpx.Request, body: dict[str, Any]) -> dict[str, Any]:
        """VENDORS §2.4 range: ``query_record`` and ``radius`` required, ``filter``; every record within."""
        radius = body.get("radius")
        if not isinstance(radius, (int, float)) or isinstance(radius, bool):
            raise _Reply(_BAD_REQUEST, "'radius' is required and must be a number")
        return self._ranked(body, k=None, offset=0, radius=float(radius), default_fields=["_id"])

    def _near_duplicates(self, request: httpx.Request, body: dict[str, Any]) -> dict[str, Any]:
        """VENDORS §2.4 nearDuplicates: ``query_record``, ``radius`` (5.0), ``filter``, fields (["*"])."""
        radius = body.get("radius", 5.0)
        if not isinstance(radius, (int, float)) or isinstance(radius, bool):
            raise _Reply(_BAD_REQUEST, "'radius' must be a number")
        return self._ranked(body, k=None, offset=0, radius=float(radius), default_fields=["*"])

    def _ranked(
        self,
        body: dict[str, Any],
        *,
        k: int | None,
        offset: int,
        radius: float | None,
        default_fields: list[str],
    ) -> dict[str, Any]:
        query = body.get("query_record")
        if not isinstance(query, dict):
            raise _Reply(_BAD_REQUEST, "'query_record' must be an object")
        query_id = query.get("_id")
        stored = self._stored(query_id) if isinstance(query_id, str) else None
        flt = self._filter(body.get("filter"), {**(stored or {}), **query})
        min_score = None if radius is None else 1.0 - radius / 100.0
        limit = offset + k if k is not None else max(1, self.engine.count())
        ranked: list[tuple[str, float]] = []
        if stored is not None:  # doc 001: the stored query record answers itself first, at distance 0.0
            if flt is None or evaluate(flt, _metadata(stored)):
                ranked.append((stored["_id"], 1.0))
            hits, _ = self.engine.search(stored["_id"], limit=limit, filter=flt, min_score=min_score)
        else:
            try:  # VENDORS §2.6: 403 "wrong query record" when neither the _id nor an image is usable
                vector = features.image_features(self._load(query))
            except _Unloadable as exc:
                raise _Reply(_WRONG_QUERY, str(exc)) from exc
            hits, _ = self.engine.search(vector, limit=limit, filter=flt, min_score=min_score)
        ranked += [(h.id, h.score) for h in hits]
        window = ranked[offset:] if k is None else ranked[offset : offset + k]
        fields = body.get("fields_to_return", default_fields)
        records = [_project(self._stored(i) or {"_id": i}, fields) for i, _ in window]
        return _answer(
            _OK,
            answer_records=records,
            # Lower = more similar, 0 = identical (VENDORS §0); the score is rounded first so identical is 0.
            answer_distances=[round(100.0 * (1.0 - round(score, 6)), 6) for _, score in window],
            query_records=[query],  # doc 001: "the query record(s) copied from the request"
        )

    # -- helpers --------------------------------------------------------------------------------------

    def _stored(self, record_id: str) -> dict[str, Any] | None:
        found = self.engine.get(record_id)
        return None if found is None else _as_record(found["id"], found["metadata"], found["url"])

    def _matching(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """Every record in id order, filtered by ``body["filter"]``."""
        flt = self._filter(body.get("filter"), {})
        out: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            page, after = self.engine.page(after, 1000)
            out += [
                _as_record(r["id"], r["metadata"], r["url"])
                for r in page
                if flt is None or evaluate(flt, r["metadata"])
            ]
            if after is None:
                return out

    def _filter(self, doc: object, query: Mapping[str, Any]) -> Filter | None:
        if doc is None:
            return None
        if not isinstance(doc, dict):
            raise _Reply(_BAD_REQUEST, "'filter' must be an object")
        try:
            return parse_filter(_normalise_filter(doc, query))
        except InvalidFilterError as exc:
            raise _Reply(_BAD_REQUEST, f"invalid filter: {exc}") from exc

    def _load(self, record: Mapping[str, Any]) -> Image.Image:
        """The record's image, upright and fitted for features; raises :class:`_Unloadable`."""
        raw: bytes
        if isinstance(record.get("_base64"), str):  # VENDORS §2.3: bare base64 or a data URI
            data = record["_base64"]
            data = data.split(",", 1)[1] if data.startswith("data:") and "," in data else data
            try:
                raw = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise _Unloadable("unable to decode _base64") from exc
        elif isinstance(record.get("_url"), str):
            if self.url_resolver is None:
                raise _Unloadable(f"unable to download image from {record['_url']}")
            try:
                raw = self.url_resolver(record["_url"])
            except Exception as exc:
                raise _Unloadable(f"unable to download image from {record['_url']}: {exc}") from exc
        elif "_file" in record:  # VENDORS §2.3: a path on Ximilar's side
            raise _Unloadable(f"unable to read file {record['_file']}")
        else:
            raise _Unloadable("the record has no _url, _base64 or _file")
        try:
            return load_upright(raw, max_side=FEATURE_SIDE)
        except ImageError as exc:
            raise _Unloadable(f"unable to read image: {exc}") from exc


# -- pure helpers -----------------------------------------------------------------------------------------


def _status(status: Status, description: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"code": status[0], "text": status[1]}
    if description is not None:
        out["error_description"] = description  # VENDORS §2.6
    return out


def _answer(
    status: Status,
    *,
    error_description: str | None = None,
    answer_records: list[dict[str, Any]] | None = None,
    skipped: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The envelope of VENDORS §2.6: status, then listing fields, skipped records, ``answer_count``."""
    out: dict[str, Any] = {"status": _status(status, error_description)}
    if answer_records is not None:
        out["answer_records"] = answer_records
    out.update(extra)
    if skipped:
        out["skipped_records"] = skipped
    if answer_records is not None:
        out["answer_count"] = len(answer_records)
    return out


def _skip(record_id: str, status: Status, description: str | None = None) -> dict[str, Any]:
    """A ``skipped_records`` entry: ``{"_id", "_reason": {"status": {...}}}`` (VENDORS §2.6)."""
    return {"_id": record_id, "_reason": {"status": _status(status, description)}}


def _found_status(found: list[dict[str, Any]], skipped: list[dict[str, Any]]) -> Status:
    return _FOUND if not skipped else (_PARTIAL if found else _NOT_FOUND)  # doc 001 get / update


def _as_record(record_id: str, metadata: Mapping[str, Any], url: str | None) -> dict[str, Any]:
    record: dict[str, Any] = {"_id": record_id}
    if url is not None:
        record["_url"] = url
    record.update(metadata)
    return record


def _metadata(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in _IMAGE_KEYS}


def _project(record: Mapping[str, Any], fields: object) -> dict[str, Any]:
    """Apply ``fields_to_return`` (VENDORS §2.3: ``["*"]`` = all). [?] ``_id`` is always kept."""
    if not isinstance(fields, list) or "*" in fields:
        return dict(record)
    return {k: v for k, v in record.items() if k == "_id" or k in fields}


def _normalise_filter(doc: Mapping[str, Any], query: Mapping[str, Any]) -> dict[str, Any]:
    """Resolve ``{TAKE_FROM_QUERY}`` and the docs' operator-first form into what :func:`parse_filter` reads.

    VENDORS §2.3: ``{"attr": "{TAKE_FROM_QUERY}"}`` takes the query record's value, and is ignored when the
    query record has no such attribute; doc 001 also writes ``{"$gte": {"price": 200}}`` for
    ``{"price": {"$gte": 200}}``.
    """
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key in ("$and", "$or") and isinstance(value, list):
            parts = [_normalise_filter(p, query) if isinstance(p, Mapping) else p for p in value]
            if key == "$and":
                parts = [p for p in parts if p != {}]
            elif any(p == {} for p in parts):  # an always-true branch: the whole $or holds
                continue
            if parts:
                out[key] = parts
        elif key in _FIELD_OPS and isinstance(value, Mapping):
            for field, operand in value.items():
                current = out.get(field)
                ops = current if isinstance(current, dict) else ({} if field not in out else {"$eq": current})
                out[field] = {**ops, key: operand}
        elif value == _TAKE_FROM_QUERY:
            if key in query:
                taken = query[key]
                out[key] = {"$in": taken} if isinstance(taken, list) else taken
        else:
            out[key] = value
    return out


def _json(status: int, body: Mapping[str, Any]) -> httpx.Response:
    return httpx.Response(
        status, content=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )


def _detail(status: int, message: str) -> httpx.Response:
    """The authentication/routing layer's DRF-style answer (VENDORS §2.6)."""
    response = _json(status, {"detail": message})
    if status == 401:
        response.headers["www-authenticate"] = "Token"
    return response


def _body(request: httpx.Request) -> dict[str, Any]:
    """VENDORS §2.3: a JSON object body (an empty body reads as ``{}``, as the client's bodiless ping)."""
    try:
        body = json.loads(request.content or b"{}")
    except ValueError as exc:
        raise _Reply(_BAD_REQUEST, "the body is not valid JSON") from exc
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise _Reply(_BAD_REQUEST, "the body must be a JSON object")
    return body


def _records(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    records = body.get("records")
    if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
        raise _Reply(_BAD_REQUEST, "'records' must be a non-empty array of objects")
    return records


def _ids(body: Mapping[str, Any]) -> list[str]:
    ids = [r.get("_id") for r in _records(body)]
    if not all(isinstance(i, str) for i in ids):
        raise _Reply(_BAD_REQUEST, "each record needs a string _id")
    return [str(i) for i in ids]


def _int(value: object, name: str, *, low: int) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise _Reply(_BAD_REQUEST, f"'{name}' must be an integer >= {low}")
    return value


def _page_url(request: httpx.Request, page: int, size: int) -> str:
    return str(request.url.copy_with(path="/v2/allRecords", query=f"page={page}&size={size}".encode()))
