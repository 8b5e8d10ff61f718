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

* ``nearDupsInsert`` skips a record with a stored image within ``radius``; its ``_reason`` carries the near
  duplicates and their distances (doc 001). [?] Records of one request are checked and stored in order, so a
  later record can be refused as a near duplicate of an earlier one; an existing ``_id`` is refused first.
* ``visualKNNMulti`` ranks by several query records. [?] How they combine is undocumented: a record's distance
  is its smallest distance to any of them (each stored query record answers itself at 0, as in visualKNN).

Absent (answer 404, as an unknown route would): ``visualTagsKNN``, ``visualTagsKNNMulti`` (tag similarity is
not modelled, and answering visual-only would hide that), ``visualRankRecords``, ``visualTagsRankRecords``,
``allNearDupPairs``. Accepted but ignored: ``product_field``, ``cand_set_size``, ``approx_param``,
``delete_file_after``. Not modelled: a filter value matching one element of an array field (the engine's
filters never match list values).
"""

from __future__ import annotations

import hmac
import random
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, get_args
from urllib.parse import quote

import httpx

from visualsearch_sdk.local import features
from visualsearch_sdk.local.engine import NewRecord
from visualsearch_sdk.testing.fakes._base import with_base_url
from visualsearch_sdk.testing.fakes._faults import _reason
from visualsearch_sdk.testing.fakes._ximilar_index import _XimilarIndex
from visualsearch_sdk.testing.fakes._ximilar_wire import (
    _ABORTED,
    _ALL_DUPLICATE,
    _AUTHORIZE,
    _BAD_REQUEST,
    _DELETED,
    _DUPLICATE,
    _IMAGE_KEYS,
    _INSERTED,
    _NOT_FOUND,
    _OK,
    _PARTIAL,
    _SOME_INSERTED,
    MAX_INSERT,
    SERVICE_PREFIXES,
    Route,
    XimilarService,
    _answer,
    _as_record,
    _body,
    _detail,
    _found_status,
    _ids,
    _int,
    _json,
    _page_url,
    _project,
    _radius,
    _records,
    _Reply,
    _skip,
    _status,
    _Unloadable,
)

__all__ = ["MAX_INSERT", "SERVICE_PREFIXES", "FakeXimilar", "XimilarService"]


class FakeXimilar(_XimilarIndex):
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
            "nearDupsInsert": (frozenset({"POST"}), self._near_dups_insert),
            "get": (frozenset({"POST"}), self._get),
            "update": (frozenset({"POST"}), self._update),
            "delete": (frozenset({"POST"}), self._delete),
            "deleteByFilter": (frozenset({"POST"}), self._delete_by_filter),
            "find": (frozenset({"POST"}), self._find),
            "visualKNN": (frozenset({"POST"}), self._visual_knn),
            "visualKNNMulti": (frozenset({"POST"}), self._visual_knn_multi),
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

    def _insert(
        self, request: httpx.Request, body: dict[str, Any], near_radius: float | None = None
    ) -> dict[str, Any]:
        """VENDORS §2.4 insert: ``{"records" (<= 10), "fields_to_return" (["_id"])}``; never an upsert.

        With ``near_radius`` (nearDupsInsert), a record with a stored image within that distance is skipped.
        """
        records = _records(body)
        if len(records) > MAX_INSERT:  # VENDORS §2.5; [?] HTTP 400 with our "bad request" envelope
            raise _Reply(_BAD_REQUEST, f"at most {MAX_INSERT} records can be inserted in one request")
        # doc 001: insert returns ["_id"] by default, nearDupsInsert ["*"]
        fields = body.get("fields_to_return", ["_id"] if near_radius is None else ["*"])
        skipped: dict[int, dict[str, Any]] = {}
        ready: list[tuple[int, NewRecord]] = []
        inserted: list[dict[str, Any]] = []

        def store(batch: list[tuple[int, NewRecord]]) -> None:
            for (i, new), outcome in zip(batch, self.engine.add([r for _, r in batch])):
                if outcome.error is None:
                    inserted.append(_project(_as_record(new.id, dict(new.metadata), new.url), fields))
                else:  # a repeated _id inside one batch
                    skipped[i] = _skip(new.id, _DUPLICATE if outcome.error == "conflict" else _ABORTED)

        for i, record in enumerate(records):
            record_id = record.get("_id")
            if not isinstance(record_id, str) or not record_id:
                skipped[i] = _skip(str(record_id), _BAD_REQUEST, "each record needs a string _id")  # [?]
            elif self.engine.has(record_id):
                skipped[i] = _skip(record_id, _DUPLICATE)  # VENDORS §2.4: not an upsert
            else:
                try:
                    image = self._load(record)
                except _Unloadable as exc:  # [?] the code of an unreadable image is undocumented
                    skipped[i] = _skip(record_id, _ABORTED, str(exc))
                    continue
                views = features.index_views(image, multi_view=self.engine.multi_view)
                metadata = {k: v for k, v in record.items() if k not in _IMAGE_KEYS}
                url = record.get("_url") if isinstance(record.get("_url"), str) else None
                new = NewRecord(record_id, views, metadata, url)
                if near_radius is None:
                    ready.append((i, new))
                    continue
                near = self._near(features.image_features(image), near_radius, fields)
                if near is not None:  # doc 001: the reason holds what nearDuplicates would answer
                    skipped[i] = {"_id": record_id, "_reason": {"status": _status(_DUPLICATE), **near}}
                else:
                    store([(i, new)])  # [?] at once: later records of this request are checked against it
        store(ready)
        if not skipped:
            status = _INSERTED
        elif inserted:
            status = _SOME_INSERTED
        else:
            dup = all(s["_reason"]["status"]["code"] == _DUPLICATE[0] for s in skipped.values())
            status = _ALL_DUPLICATE if dup else _ABORTED
        return _answer(status, answer_records=inserted, skipped=[skipped[i] for i in sorted(skipped)])

    def _near_dups_insert(self, request: httpx.Request, body: dict[str, Any]) -> dict[str, Any]:
        """VENDORS §2.4 nearDupsInsert: insert's ``records`` plus ``radius`` (5.0) and ``cand_set_size``;
        the answer and status values are insert's (doc 001)."""
        return self._insert(request, body, near_radius=_radius(body.get("radius", 5.0)))

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
