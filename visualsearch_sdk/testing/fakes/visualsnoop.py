"""A wire-faithful fake of VisualSnoop's API v1, over the local engine.

Sources: ``shared/reference/VENDORS.md`` §3 (cited as ``VENDORS §3.x`` beside each fact), doc 003 (the
VisualSnoop client 0.2 documentation) and the vectors of visualsnoop 0.2. Facts marked ``[?]`` are not
documented (VENDORS §6: the service may not be running any more); they are our best guess and say so.

Quirks modelled:

* Every request must be signed (VENDORS §3.2): ``Date`` within ``max_skew`` seconds of the fake's clock
  (15 minutes by default [?]) and ``Authorization: VSHMAC <public>:<base64 HMAC-SHA1>`` over
  ``METHOD\\nPATH\\nDATE``, where ``PATH`` is the percent-encoded path as it arrived, without the query. The
  signature is compared in constant time. Any failure answers 401 ``{"status": 401, "message"}`` [?].
* Ids are one path segment, percent-decoded (UTF-8); an unencoded ``/`` in an id makes an unknown route (404),
  as it does for the official client's requests (VENDORS §3.3). Ids are at most 100 characters (doc 003).
* Raw image bytes as the body; ``Content-Type`` is ignored. ``POST /image`` assigns a 32-hex id;
  ``POST /image/{id}`` refuses an existing id with 409 [?: the code is undocumented]; ``PUT /image/{id}``
  replaces, or adds when the id is new [?] ("update_existing ... allow overwriting", doc 003).
* Searches answer ``results: [{"id", "rank"}]`` best first, ``rank`` from 0 [?]; a search by id leaves the
  query image out (doc 003's example answers ``[]``). No paging parameters exist. ``match_threshold`` keeps
  only hits at least that similar (doc 003's examples suggest the service returns close matches only [?]);
  by default every image is ranked.
* ``GET /images?start=&count=`` lists newest first (doc 003's example), ``start`` being an id (inclusive) and
  ``next_image_id`` the first id of the next page, or null. ``count`` defaults to 100 [?].
* Every answer repeats its HTTP status in a JSON ``status`` field, with ``message`` (doc 003).

Absent: no metadata, no filters, no URL or colour search, no count (VENDORS §0).
"""

from __future__ import annotations

import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import httpx
from PIL import Image

from visualsearch_sdk._exceptions import ImageError
from visualsearch_sdk.local import features
from visualsearch_sdk.local.app import FEATURE_SIDE
from visualsearch_sdk.local.engine import NewRecord
from visualsearch_sdk.preprocess import load_upright
from visualsearch_sdk.providers._visualsnoop_auth import authorization_header, signed_path
from visualsearch_sdk.testing.fakes._base import FakeVendor, with_base_url
from visualsearch_sdk.testing.fakes._faults import _reason

__all__ = ["DEFAULT_MAX_SKEW", "FakeVisualSnoop"]

DEFAULT_MAX_SKEW = 15 * 60.0  # seconds; the real tolerance is unknown (VENDORS §6) [?]
MAX_ID_LENGTH = 100  # doc 003
DEFAULT_COUNT, MAX_COUNT = 100, 1000  # [?] the listing's default and largest page
_TIME_KEY = "image_time"  # kept in the engine's metadata slot: VisualSnoop images carry no metadata


class _Reply(Exception):
    """An early answer: ``{"status": code, "message": message}`` with that HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class FakeVisualSnoop(FakeVendor):
    """VisualSnoop's API v1 as a handler ``httpx.Request -> httpx.Response`` with its own index.

    Args:
        public_key: the public half of the key pair requests must be signed with.
        secret_key: the secret half of that key pair.
        collection_id: what ``GET /collection`` answers as the collection's id,
        collection_name: its name,
        user: and its owner.
        base_path: where the API lives on any host (VENDORS §3.1: ``/api/v1``).
        path: a folder for a persistent index; in memory when None.
        max_skew: the largest accepted difference, in seconds, between ``Date`` and the fake's clock.
        clock: the fake's clock (seconds since the epoch), for the skew check and ``image_time``.
        match_threshold: return only hits with at least this engine similarity (0..1); None returns all.
    """

    face = "visualsnoop"

    def __init__(
        self,
        *,
        public_key: str = "fake-visualsnoop-public",
        secret_key: str = "fake-visualsnoop-secret",
        collection_id: str = "6b7c9142",
        collection_name: str = "Fake collection",
        user: str = "fake@example.com",
        base_path: str = "/api/v1",
        path: str | Path | None = None,
        max_skew: float = DEFAULT_MAX_SKEW,
        clock: Callable[[], float] = time.time,
        match_threshold: float | None = None,
    ) -> None:
        super().__init__(path=path)
        if not public_key or not secret_key.strip():
            raise ValueError("the fake needs a public key and a non-empty secret key")
        self.public_key, self.secret_key = public_key, secret_key
        self.collection = {"collection_id": collection_id, "collection_name": collection_name, "user": user}
        self.base_path = "/" + base_path.strip("/") if base_path.strip("/") else ""
        self.max_skew, self.clock, self.match_threshold = max_skew, clock, match_threshold
        self._time_lock = threading.Lock()
        self._last_time = 0.0

    @classmethod
    def for_serving(cls, *, path: Path | None, token: str | None) -> FakeVisualSnoop:
        """``visualsearch serve --face visualsnoop``: ``--token PUBLIC:SECRET`` (or just ``SECRET``)."""
        if token is None:
            return cls(path=path)
        public, sep, secret = token.partition(":")
        if not sep:
            return cls(secret_key=token, path=path)
        return cls(public_key=public, secret_key=secret, path=path)

    def client_url(self, base_url: str | None = None) -> str:
        """``visualsnoop://PUBLIC:SECRET@visualsnoop.com/api/v1``, with ``base_url=<base_url>/api/v1``."""
        public, secret = quote(self.public_key, safe=""), quote(self.secret_key, safe="")
        url = f"visualsnoop://{public}:{secret}@visualsnoop.com{self.base_path}"
        return with_base_url(url, None if base_url is None else base_url.rstrip("/") + self.base_path)

    def _fault_body(self, status: int) -> Mapping[str, object]:
        return {"status": status, "message": _reason(status)}  # doc 003's shape [?] for errors

    # -- dispatch -------------------------------------------------------------------------------------

    def __call__(self, request: httpx.Request) -> httpx.Response:
        injected = self._intercept(request)
        if injected is not None:
            return injected
        try:
            self._check_signature(request)  # VENDORS §3.2: every request, GET included
            return _json(*self._route(request))
        except _Reply as reply:
            return _json(reply.status, {"message": reply.message})

    def _route(self, request: httpx.Request) -> tuple[int, dict[str, Any]]:
        path = signed_path(request.url.raw_path)
        if not path.startswith(self.base_path + "/"):
            raise _Reply(404, "Not found")
        parts = path[len(self.base_path) + 1 :].split("/")
        name, rest, method = parts[0], parts[1:], request.method
        if len(rest) > 1 or (rest and not rest[0]):
            raise _Reply(404, "Not found")  # e.g. an id with an unencoded '/' (VENDORS §3.3)
        image_id = _image_id(rest[0]) if rest else None
        routes: dict[tuple[str, bool], dict[str, Callable[[], tuple[int, dict[str, Any]]]]] = {
            ("collection", False): {"GET": lambda: (200, self._ok(**self.collection))},
            ("images", False): {"GET": lambda: self._list(request)},
            ("image", False): {"POST": lambda: self._add(uuid.uuid4().hex, request.content, replace=False)},
            ("image", True): {
                "GET": lambda: self._get(str(image_id)),
                "POST": lambda: self._add(str(image_id), request.content, replace=False),
                "PUT": lambda: self._add(str(image_id), request.content, replace=True),
                "DELETE": lambda: self._delete(str(image_id)),
            },
            ("search", False): {"POST": lambda: self._search_upload(request.content)},
            ("search", True): {"GET": lambda: self._search_id(str(image_id))},
        }  # VENDORS §3.3
        handlers = routes.get((name, image_id is not None))
        if handlers is None:
            raise _Reply(404, "Not found")
        if method not in handlers:
            raise _Reply(405, "Method not allowed")
        return handlers[method]()

    def _check_signature(self, request: httpx.Request) -> None:
        date = request.headers.get("date")
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        public, _, given = credentials.partition(":")
        if not date or scheme != "VSHMAC" or not public or not given:
            raise _Reply(401, "Missing or malformed VSHMAC authorization")
        if not hmac.compare_digest(public.encode(), self.public_key.encode()):
            raise _Reply(401, "Unknown public key")
        try:
            when = parsedate_to_datetime(date)
        except (TypeError, ValueError, IndexError):
            raise _Reply(401, "Invalid Date header") from None
        sent = (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()
        if abs(self.clock() - sent) > self.max_skew:
            raise _Reply(401, "Request date is outside the allowed clock skew")
        expected = authorization_header(
            self.public_key, self.secret_key, request.method, signed_path(request.url.raw_path), date
        )
        if not hmac.compare_digest(header.encode(), expected.encode()):  # constant time (VENDORS §3.2)
            raise _Reply(401, "Invalid signature")

    # -- images ---------------------------------------------------------------------------------------

    def _add(self, image_id: str, body: bytes, *, replace: bool) -> tuple[int, dict[str, Any]]:
        """``POST /image[/{id}]`` adds (201 "Added"); ``PUT /image/{id}`` replaces (200 "Updated")."""
        existed = self.engine.has(image_id)
        if existed and not replace:
            raise _Reply(409, f"Image with ID {image_id} already exists")  # doc 003: overwrite-safe [?]
        views = features.index_views(_decode(body), multi_view=self.engine.multi_view)
        stamp = self._now_iso()
        new = NewRecord(image_id, views, {_TIME_KEY: stamp})
        if self.engine.add([new], upsert=replace)[0].error is not None:  # a concurrent add won the id
            raise _Reply(409, f"Image with ID {image_id} already exists")
        status, message = (200, "Updated") if existed else (201, "Added")
        return status, self._ok(image_id=image_id, image_time=stamp, message=message, status=status)

    def _get(self, image_id: str) -> tuple[int, dict[str, Any]]:
        return 200, self._ok(image_id=image_id, image_time=self._time_of(image_id))

    def _delete(self, image_id: str) -> tuple[int, dict[str, Any]]:
        stamp = self._time_of(image_id)
        self.engine.delete([image_id])
        return 200, self._ok(image_id=image_id, image_time=stamp, message="Deleted")

    def _list(self, request: httpx.Request) -> tuple[int, dict[str, Any]]:
        """``GET /images?start=&count=`` (VENDORS §3.3): newest first (doc 003), from ``start`` inclusive."""
        params = request.url.params
        count = params.get("count", str(DEFAULT_COUNT))
        if not count.isdigit() or not 1 <= int(count) <= MAX_COUNT:
            raise _Reply(400, f"count must be an integer in 1..{MAX_COUNT}")  # [?]
        ordered = sorted(self._all(), key=lambda r: (r[1], r[0]), reverse=True)
        start = 0
        if "start" in params:
            ids = [image_id for image_id, _ in ordered]
            if params["start"] not in ids:
                raise _Reply(404, "Not found")  # [?] a cursor that no longer exists
            start = ids.index(params["start"])
        page = ordered[start : start + int(count)]
        after = ordered[start + int(count) : start + int(count) + 1]
        images = [{"id": image_id, "image_time": stamp} for image_id, stamp in page]
        return 200, self._ok(images=images, next_image_id=after[0][0] if after else None)

    # -- search ---------------------------------------------------------------------------------------

    def _search_upload(self, body: bytes) -> tuple[int, dict[str, Any]]:
        vector = features.image_features(_decode(body))
        return 200, self._ok(results=self._ranked(vector))

    def _search_id(self, image_id: str) -> tuple[int, dict[str, Any]]:
        stamp = self._time_of(image_id)
        return 200, self._ok(results=self._ranked(image_id), image_id=image_id, image_time=stamp)

    def _ranked(self, query: Any) -> list[dict[str, Any]]:
        limit = max(1, self.engine.count())
        hits, _ = self.engine.search(query, limit=limit, min_score=self.match_threshold)
        return [{"id": hit.id, "rank": rank} for rank, hit in enumerate(hits)]

    # -- helpers --------------------------------------------------------------------------------------

    def _ok(self, **fields: Any) -> dict[str, Any]:
        return {"collection_id": self.collection["collection_id"], "message": "OK", "status": 200, **fields}

    def _time_of(self, image_id: str) -> str:
        found = self.engine.get(image_id)
        if found is None:
            raise _Reply(404, "Not found")
        return str(found["metadata"].get(_TIME_KEY, ""))

    def _all(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        after: str | None = None
        while True:
            page, after = self.engine.page(after, 1000)
            out += [(r["id"], str(r["metadata"].get(_TIME_KEY, ""))) for r in page]
            if after is None:
                return out

    def _now_iso(self) -> str:
        """``image_time`` (doc 003: ``2015-01-25T20:43:05.690218+00:00``), strictly increasing per fake."""
        with self._time_lock:
            now = max(self.clock(), self._last_time + 1e-6)
            self._last_time = now
        return datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="microseconds")


def _image_id(segment: str) -> str:
    try:
        image_id = unquote(segment, errors="strict")
    except UnicodeDecodeError:
        raise _Reply(400, "Invalid image ID") from None
    if len(image_id) > MAX_ID_LENGTH:
        raise _Reply(400, f"Image ID longer than {MAX_ID_LENGTH} characters")  # doc 003 [?: the answer]
    return image_id


def _decode(body: bytes) -> Image.Image:
    if not body:
        raise _Reply(400, "No image data")  # [?]
    try:
        return load_upright(body, max_side=FEATURE_SIDE)
    except ImageError as exc:
        raise _Reply(400, f"Invalid image: {exc}") from exc  # [?]


def _json(status: int, body: Mapping[str, Any]) -> httpx.Response:
    payload = {**body, "status": status} if status >= 400 else dict(body)
    if status >= 400:
        payload.setdefault("message", _reason(status))
    return httpx.Response(
        status, content=json.dumps(payload).encode(), headers={"content-type": "application/json"}
    )
