"""The local engine's own wire API: ``LocalApp(request) -> httpx.Response``.

The same app is mounted in-process (``LocalTransport``) and served on 127.0.0.1 by ``visualsearch serve``, so
the local backend goes through exactly the pipeline a vendor does. JSON in, JSON out; images travel as
base64 of the bytes the client's preprocessor prepared. Errors are ``{"error": {"code", "message"}}`` with an
HTTP status that the local adapter maps onto the error tree.

Routes (all under ``/v1``)::

    GET    /info                      engine facts (feature version, count); also the credential check
    POST   /records                   {"records": [{"id", "image", "metadata", "url"}], "upsert"}
                                      -> {"results": [{"id", "status", "code", "message"}]}
    GET    /records?after=&limit=     one page of records in id order, with "next"
    GET    /records/{id}              one record
    PATCH  /records/{id}              {"metadata": {...}} merged (null removes a field)
    POST   /records/delete            {"ids": [...]} -> {"deleted", "not_found"}
    GET    /count                     {"count"}
    POST   /search                    {"image"|"id"|"color", "box", "limit", "offset", "filter",
                                       "fields", "min_score"} -> {"hits", "total"}
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import anyio
import httpx
import numpy as np

from visualsearch_sdk._exceptions import ConfigurationError, ImageError, InvalidFilterError, VisualSearchError
from visualsearch_sdk.filters import parse_filter
from visualsearch_sdk.local import features
from visualsearch_sdk.local.engine import Engine, Hit, LazyEngine, NewRecord
from visualsearch_sdk.preprocess import load_upright

__all__ = ["FEATURE_SIDE", "LocalApp", "LocalTransport"]

FEATURE_SIDE = 512
"""Images are decoded to fit within this many pixels before features are computed."""
MAX_BODY = 64 * 1024 * 1024
MAX_BATCH = 100
PAGE_WINDOW = 10_000


class _Reply(Exception):
    """An early answer (an error) from deep inside a route."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class LocalApp:
    """The engine's wire API as a callable ``httpx.Request -> httpx.Response``; opens the engine lazily."""

    def __init__(
        self,
        path: str | None = None,
        *,
        multi_view: bool = False,
        token: str | None = None,
        engine: Engine | None = None,
    ) -> None:
        self._token = token
        self._lazy = LazyEngine(path, multi_view=multi_view, engine=engine)

    @property
    def engine(self) -> Engine:
        """The engine, opened on first use (constructors never do I/O)."""
        return self._lazy.get()

    def close(self) -> None:
        """Close the engine if it was opened."""
        self._lazy.close()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request_id = uuid.uuid4().hex
        try:
            self._authorize(request)
            body = self._route(request)
            return _json(200, body, request_id)
        except _Reply as reply:
            return _json(reply.status, {"error": {"code": reply.code, "message": reply.message}}, request_id)
        except ImageError as exc:
            return _json(400, {"error": {"code": f"image:{exc.reason}", "message": exc.message}}, request_id)
        except ConfigurationError:
            raise  # the index cannot be opened (e.g. another feature version): the caller must act
        except VisualSearchError as exc:
            return _json(400, {"error": {"code": "invalid", "message": exc.message}}, request_id)

    # -- plumbing -------------------------------------------------------------------------------------

    def _authorize(self, request: httpx.Request) -> None:
        if self._token is None:
            return
        given = request.headers.get("authorization", "")
        expected = f"Bearer {self._token}"
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise _Reply(401, "unauthorized", "missing or wrong bearer token")

    def _route(self, request: httpx.Request) -> Any:
        path = request.url.path.rstrip("/")
        if not path.startswith("/v1/"):
            raise _Reply(404, "not_found", f"no route {request.method} {path}")
        parts = path[4:].split("/", 1)
        head, rest = parts[0], (unquote(parts[1]) if len(parts) > 1 else None)
        method = request.method
        if method == "GET" and head == "info" and rest is None:
            return self.engine.info()
        if method == "GET" and head == "count" and rest is None:
            return {"count": self.engine.count()}
        if head == "search" and method == "POST" and rest is None:
            return self._search(_body(request))
        if head == "records":
            if rest is None and method == "POST":
                return self._index(_body(request))
            if rest is None and method == "GET":
                return self._list(request)
            if rest == "delete" and method == "POST":
                return self._delete(_body(request))
            if rest is not None and method == "GET":
                return self._get(rest)
            if rest is not None and method == "PATCH":
                return self._update(rest, _body(request))
        raise _Reply(404, "not_found", f"no route {method} {path}")

    # -- routes ---------------------------------------------------------------------------------------

    def _index(self, body: dict[str, Any]) -> Any:
        items = body.get("records")
        if not isinstance(items, list) or not items:
            raise _Reply(400, "invalid", "'records' must be a non-empty list")
        if len(items) > MAX_BATCH:
            raise _Reply(413, "batch_too_large", f"at most {MAX_BATCH} records per request")
        results: dict[int, dict[str, Any]] = {}
        ready: list[tuple[int, NewRecord]] = []
        for i, item in enumerate(items):
            record_id = item.get("id") if isinstance(item, dict) else None
            if not isinstance(record_id, str) or not record_id:
                results[i] = _failed(str(record_id), "invalid", "each record needs a string 'id'")
                continue
            try:
                image = load_upright(_b64(item.get("image"), "image"), max_side=FEATURE_SIDE)
                views = features.index_views(image, multi_view=self.engine.multi_view)
            except ImageError as exc:
                results[i] = _failed(record_id, f"image:{exc.reason}", exc.message)
                continue
            except _Reply as reply:
                results[i] = _failed(record_id, reply.code, reply.message)
                continue
            metadata = item.get("metadata") or {}
            if not isinstance(metadata, dict):
                results[i] = _failed(record_id, "invalid", "'metadata' must be an object")
                continue
            ready.append((i, NewRecord(record_id, views, metadata, item.get("url"))))
        outcomes = self.engine.add([r for _, r in ready], upsert=bool(body.get("upsert", False)))
        for (i, _), outcome in zip(ready, outcomes):
            results[i] = (
                {"id": outcome.id, "status": "ok"}
                if outcome.error is None
                else _failed(outcome.id, outcome.error, outcome.message)
            )
        return {"results": [results[i] for i in range(len(items))]}

    def _search(self, body: dict[str, Any]) -> Any:
        limit, offset = _int(body, "limit", 10, 1, 1000), _int(body, "offset", 0, 0, PAGE_WINDOW)
        if offset + limit > PAGE_WINDOW:
            raise _Reply(400, "invalid", f"offset + limit must be at most {PAGE_WINDOW}")
        try:
            flt = parse_filter(body.get("filter"))
        except InvalidFilterError as exc:
            raise _Reply(400, "invalid_filter", exc.message) from exc
        min_score = body.get("min_score")
        if min_score is not None and not isinstance(min_score, (int, float)):
            raise _Reply(400, "invalid", "'min_score' must be a number")
        given = [key for key in ("image", "id", "color") if body.get(key) is not None]
        if len(given) != 1:
            raise _Reply(400, "invalid", "give exactly one of 'image', 'id' or 'color'")
        common: dict[str, Any] = {"limit": limit, "offset": offset, "filter": flt, "min_score": min_score}
        if given[0] == "color":
            hits, total = self.engine.search_color(features.parse_hex_color(str(body["color"])), **common)
        elif given[0] == "id":
            if not self.engine.has(str(body["id"])):
                raise _Reply(404, "not_found", f"no record {body['id']!r}")
            hits, total = self.engine.search(str(body["id"]), **common)
        else:
            image = load_upright(_b64(body["image"], "image"), max_side=None)
            box = body.get("box")
            if box is not None:
                image = image.crop(_box(box, image.size))
            if max(image.size) > FEATURE_SIDE:
                image.thumbnail((FEATURE_SIDE, FEATURE_SIDE))
            hits, total = self.engine.search(features.image_features(image), **common)
        fields = body.get("fields")
        return {"hits": [_hit(h, fields) for h in hits], "total": total}

    def _get(self, record_id: str) -> Any:
        record = self.engine.get(record_id)
        if record is None:
            raise _Reply(404, "not_found", f"no record {record_id!r}")
        return record

    def _update(self, record_id: str, body: dict[str, Any]) -> Any:
        patch = body.get("metadata")
        if not isinstance(patch, dict):
            raise _Reply(400, "invalid", "'metadata' must be an object")
        if self.engine.update(record_id, patch) is None:
            raise _Reply(404, "not_found", f"no record {record_id!r}")
        return self.engine.get(record_id)

    def _delete(self, body: dict[str, Any]) -> Any:
        ids = body.get("ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise _Reply(400, "invalid", "'ids' must be a list of strings")
        deleted, missing = self.engine.delete(ids)
        return {"deleted": deleted, "not_found": missing}

    def _list(self, request: httpx.Request) -> Any:
        params = request.url.params
        try:
            limit = int(params.get("limit", "100"))
        except ValueError as exc:
            raise _Reply(400, "invalid", "'limit' must be an integer") from exc
        records, cursor = self.engine.page(params.get("after"), max(1, min(limit, 1000)))
        return {"records": records, "next": cursor}


class LocalTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Mounts a handler (the local app, or a fake vendor) in-process for both httpx clients.

    The async side runs the handler in a worker thread, so image decoding never blocks the event loop.
    """

    def __init__(
        self, handler: Callable[[httpx.Request], httpx.Response], *, close_handler: bool = True
    ) -> None:
        self.handler = handler
        self._close_handler = close_handler

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        return self.handler(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        return await anyio.to_thread.run_sync(self.handler, request)

    def close(self) -> None:
        closer = getattr(self.handler, "close", None)
        if self._close_handler and callable(closer):
            closer()

    async def aclose(self) -> None:
        self.close()


def _json(status: int, body: Any, request_id: str) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
        headers={"content-type": "application/json", "x-request-id": request_id},
    )


def _body(request: httpx.Request) -> dict[str, Any]:
    raw = request.content
    if len(raw) > MAX_BODY:
        raise _Reply(413, "too_large", f"request bodies are at most {MAX_BODY} bytes")
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise _Reply(400, "invalid_json", "the body is not JSON") from exc
    if not isinstance(body, dict):
        raise _Reply(400, "invalid_json", "the body must be a JSON object")
    return body


def _b64(value: Any, name: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise _Reply(400, "invalid", f"'{name}' must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _Reply(400, "invalid", f"'{name}' is not valid base64") from exc


def _int(body: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = body.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _Reply(400, "invalid", f"'{key}' must be an integer in [{low}, {high}]")
    return value


def _box(value: Any, size: tuple[int, int]) -> tuple[int, int, int, int]:
    if not isinstance(value, list) or len(value) != 4 or not all(isinstance(v, (int, float)) for v in value):
        raise _Reply(400, "invalid_box", "'box' must be [x1, y1, x2, y2]")
    x1, y1 = max(0, int(value[0])), max(0, int(value[1]))
    x2, y2 = min(size[0], int(value[2])), min(size[1], int(value[3]))
    if x2 <= x1 or y2 <= y1:
        raise _Reply(400, "invalid_box", f"box {value} does not overlap the {size[0]}x{size[1]} image")
    return x1, y1, x2, y2


def _hit(hit: Hit, fields: Any) -> dict[str, Any]:
    meta = dict(hit.metadata)
    if isinstance(fields, list):
        meta = {key: meta[key] for key in fields if key in meta}
    return {"id": hit.id, "score": round(float(np.float32(hit.score)), 6), "metadata": meta}


def _failed(record_id: str, code: str, message: str) -> dict[str, Any]:
    return {"id": record_id, "status": "error", "code": code, "message": message}
