"""The index half of the fake Ximilar: ranking (visualKNN, range, nearDuplicates, visualKNNMulti) and the
engine helpers the record operations share. ``FakeXimilar`` builds on :class:`_XimilarIndex`.

Facts cite ``VENDORS §2.x`` and doc 001 as in ``visualsearch_sdk.testing.fakes.ximilar``; ``[?]`` marks
guesses.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from PIL import Image

from visualsearch_sdk._exceptions import ImageError, InvalidFilterError
from visualsearch_sdk.filters import Filter, evaluate, parse_filter
from visualsearch_sdk.local import features
from visualsearch_sdk.local.app import FEATURE_SIDE
from visualsearch_sdk.preprocess import load_upright
from visualsearch_sdk.testing.fakes._base import FakeVendor
from visualsearch_sdk.testing.fakes._ximilar_wire import (
    _BAD_REQUEST,
    _OK,
    _WRONG_QUERY,
    _answer,
    _as_record,
    _distance,
    _int,
    _metadata,
    _normalise_filter,
    _project,
    _radius,
    _Reply,
    _Unloadable,
)

__all__: list[str] = []


class _XimilarIndex(FakeVendor):
    """Ranking and engine helpers of :class:`FakeXimilar` (which sets ``url_resolver``)."""

    url_resolver: Callable[[str], bytes] | None

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
        radius = _radius(body.get("radius", 5.0))
        return self._ranked(body, k=None, offset=0, radius=radius, default_fields=["*"])

    def _visual_knn_multi(self, request: httpx.Request, body: dict[str, Any]) -> dict[str, Any]:
        """VENDORS §2.4 visualKNNMulti: ``query_records`` (a non-empty array) plus visualKNN's keys.

        [?] Undocumented: how the query records combine. Here a record's distance is its smallest distance
        to any of them; one unusable query record fails the call (403), as it would alone.
        """
        queries = body.get("query_records")
        if not isinstance(queries, list) or not queries:
            raise _Reply(_BAD_REQUEST, "'query_records' must be a non-empty array of objects")
        k = _int(body.get("k", 30), "k", low=0)
        offset = _int(body.get("from", 0), "from", low=0)
        best: dict[str, float] = {}
        for query in queries:  # each query's top offset + k holds every record of the merged top offset + k
            for record_id, score in self._rank(query, body, limit=offset + k, min_score=None):
                best[record_id] = max(score, best.get(record_id, score))
        ranked = sorted(best.items(), key=lambda item: -item[1])
        return self._ranked_answer(ranked[offset : offset + k], body, ["_id"], queries)

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
        min_score = None if radius is None else 1.0 - radius / 100.0
        limit = offset + k if k is not None else max(1, self.engine.count())
        ranked = self._rank(query, body, limit=limit, min_score=min_score)
        window = ranked[offset:] if k is None else ranked[offset : offset + k]
        return self._ranked_answer(window, body, default_fields, [query])

    def _rank(
        self, query: object, body: dict[str, Any], *, limit: int, min_score: float | None
    ) -> list[tuple[str, float]]:
        """``(id, cosine)`` of the records closest to one query record, best first."""
        if not isinstance(query, dict):
            raise _Reply(_BAD_REQUEST, "each query record must be an object")
        query_id = query.get("_id")
        stored = self._stored(query_id) if isinstance(query_id, str) else None
        flt = self._filter(body.get("filter"), {**(stored or {}), **query})
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
        return ranked + [(h.id, h.score) for h in hits]

    def _ranked_answer(
        self,
        window: list[tuple[str, float]],
        body: dict[str, Any],
        default_fields: list[str],
        queries: list[Any],
    ) -> dict[str, Any]:
        fields = body.get("fields_to_return", default_fields)
        records = [_project(self._stored(i) or {"_id": i}, fields) for i, _ in window]
        return _answer(
            _OK,
            answer_records=records,
            answer_distances=[_distance(score) for _, score in window],
            query_records=queries,  # doc 001: "the query record(s) copied from the request"
        )

    def _near(self, vector: Any, radius: float, fields: object) -> dict[str, Any] | None:
        """The stored records within ``radius`` of ``vector``, closest first, as nearDuplicates has them."""
        hits, _ = self.engine.search(
            vector, limit=max(1, self.engine.count()), min_score=1.0 - radius / 100.0
        )
        if not hits:
            return None
        return {
            "answer_records": [_project(self._stored(h.id) or {"_id": h.id}, fields) for h in hits],
            "answer_distances": [_distance(h.score) for h in hits],
        }

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
