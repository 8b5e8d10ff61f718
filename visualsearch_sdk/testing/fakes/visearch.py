"""A wire-faithful fake of ViSenze's ViSearch v1 API, over the local engine.

Sources: ``shared/reference/VENDORS.md`` §1 (cited as ``VENDORS §1.x`` beside each fact), doc 000 (the
ViSearch Python SDK readme), doc 002 (ViSenze's account, schema and filter guide) and the vectors of
visearch 0.5.2.
Facts marked ``[?]`` are not documented; they are our best guess and say so.

Quirks modelled:

* HTTP Basic ``access_key:secret_key`` on every endpoint (VENDORS §1.2); a wrong key is answered HTTP 200
  ``status: fail`` ("Invalid access key or secret key."), as the vectors show.
* ``/insert`` takes ``field[i]`` form keys, at most 100 images, images **by URL**: the fake fetches ``im_url``
  through the ``url_resolver`` a test gives it (``for_serving``: loopback hosts only), never the network.
  Indexing is asynchronous: ``/insert`` answers a 64-bit ``trans_id`` (above 2**53, so a float would round it)
  and the images are downloaded and indexed as ``/insert/status/{trans_id}`` is polled, which pages the
  per-image failures with ``error_page``/``error_limit`` (201 download, 202 format, 203 size < 100 px).
* ``/insert`` is an upsert by ``im_name``; without ``im_url`` it merges the fields into an existing image at
  once [?: VENDORS §6], or fails 108 for an unknown one. Fields missing from the schema are ignored (§1.5).
* ``/remove`` answers ``status: warning`` with a 102 per unknown name (§1.6).
* Searches (``/search``, ``/recommendation``, ``/colorsearch``, ``/uploadsearch``, ``/discoversearch``) take
  ``page``/``limit`` within 1,000 results, repeated ``fl``/``fq``, ``get_all_fl``, ``score``,
  ``score_min``/``score_max``; ``value_map`` values are strings (floats as ``"67.500000"``), text fields are
  never returned. Errors are HTTP 200 ``status: fail`` with the search API's bare strings (§1.6).
* ``/uploadsearch`` takes a multipart ``image`` (box in that image's pixels), an ``im_url`` or an earlier
  ``im_id``, and answers the upload's ``im_id``. ``/discoversearch`` "detects" one object: the whole image
  (or the ``box``), typed ``whole_image`` (or the requested ``detection`` type) [?: no real detector].
* By-id search leaves the query image out of its results [?]. Scores are the engine's cosine in [0, 1].
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from PIL import Image

from visualsearch_sdk._exceptions import ImageError
from visualsearch_sdk.filters import And, Filter
from visualsearch_sdk.local import features
from visualsearch_sdk.local.engine import Hit, NewRecord
from visualsearch_sdk.testing.fakes._base import FakeVendor, with_base_url
from visualsearch_sdk.testing.fakes._faults import _reason
from visualsearch_sdk.testing.fakes._visearch_images import (
    decode,
    fetch_loopback,
    fit,
    query_box,
    words_match,
)
from visualsearch_sdk.testing.fakes._visearch_wire import (
    MESSAGES,
    FieldType,
    Query,
    WireError,
    envelope,
    error_object,
    fail_body,
    failure,
    format_value,
    parse_fq,
    read_request,
    store_value,
)

__all__ = ["FakeViSearch", "FieldType", "fetch_loopback"]

MAX_INSERT = 100  # VENDORS §1.5
WINDOW = 1000  # VENDORS §1.5: at most 1000 results per query
MIN_SIDE = 100  # VENDORS §1.5: at least 100 px a side (error 203)
FIRST_TRANS_ID = 352649805417295872  # VENDORS §1.6's example: above 2**53
_KEY = re.compile(r"^([A-Za-z0-9_]+)\[(\d+)\]$")
_STATUS = re.compile(r"/insert/status/(\d+)$")


@dataclass
class _Item:
    name: str
    url: str
    metadata: dict[str, Any]


@dataclass
class _Transaction:
    id: int
    items: list[_Item]
    started: str
    updated: str
    merged: int = 0  # images of the call that had no im_url: fields merged at once
    done: int = 0
    polls: int = 0
    success: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


class FakeViSearch(FakeVendor):
    """ViSearch v1 as a handler ``httpx.Request -> httpx.Response`` with its own index.

    Args:
        access_key: the access key HTTP Basic must carry.
        secret_key: the secret key HTTP Basic must carry.
        schema: the application's fields and types (``string``, ``text``, ``int``, ``float``), as configured
            in ViSenze's dashboard; fields outside it are ignored (VENDORS §1.5). None accepts every field,
            typing numbers by their look (a convenience of the fake).
        path: a folder for a persistent index; in memory when None.
        url_resolver: maps an ``im_url`` to image bytes (raise to fail the download). Without it no image
            can be fetched: the fake never touches the network.
        settle_after_polls: how many ``/insert/status`` requests a transaction takes to finish (its images are
            indexed progressively); 0 indexes them during the ``/insert`` call itself.
    """

    face = "visearch"

    def __init__(
        self,
        *,
        access_key: str = "fake-access-key",
        secret_key: str = "fake-secret-key",
        schema: Mapping[str, FieldType] | None = None,
        path: str | Path | None = None,
        url_resolver: Callable[[str], bytes] | None = None,
        settle_after_polls: int = 2,
    ) -> None:
        super().__init__(path=path)
        if settle_after_polls < 0:
            raise ValueError("settle_after_polls must be >= 0")
        self.access_key, self.secret_key = access_key, secret_key
        self.schema = dict(schema) if schema is not None else None
        self.url_resolver = url_resolver
        self.settle_after_polls = settle_after_polls
        self._transactions: dict[int, _Transaction] = {}
        self._uploads: OrderedDict[str, bytes] = OrderedDict()
        self._next_trans = FIRST_TRANS_ID
        self._lock = threading.RLock()

    # -- lifecycle ------------------------------------------------------------------------------------

    @classmethod
    def for_serving(cls, *, path: Path | None, token: str | None) -> FakeViSearch:
        """``visualsearch serve --face visearch [--token ACCESS_KEY:SECRET_KEY]``: fetches ``im_url`` from
        loopback hosts only, and indexes during ``/insert`` (status still reports each transaction)."""
        fake = cls(path=path, url_resolver=fetch_loopback, settle_after_polls=0)
        if token:  # "ACCESS_KEY:SECRET_KEY"; a token without ':' replaces only the secret key
            access, sep, secret = token.partition(":")
            fake.access_key, fake.secret_key = (access, secret) if sep else (fake.access_key, token)
        return fake

    def client_url(self, base_url: str | None = None) -> str:
        """The provider URL for this fake: ``visearch://<access>:<secret>@visearch.visenze.com``."""
        keys = f"{quote(self.access_key, safe='')}:{quote(self.secret_key, safe='')}"
        return with_base_url(f"visearch://{keys}@visearch.visenze.com", base_url)

    def settle(self) -> None:
        """Finish every pending transaction now (download and index its images)."""
        with self._lock:
            for transaction in self._transactions.values():
                self._advance(transaction, len(transaction.items))

    @staticmethod
    def fail_body(code: int, method: str = "search") -> Mapping[str, Any]:
        """The HTTP 200 ``status: fail`` body for ``code``, as in ``fake.fail_next(200, body=...)``."""
        return fail_body(code, method)

    def _fault_body(self, status: int) -> Mapping[str, object]:
        return failure("fault", [_reason(status)])

    # -- dispatch -------------------------------------------------------------------------------------

    def __call__(self, request: httpx.Request) -> httpx.Response:
        injected = self._intercept(request)
        if injected is not None:
            return injected
        path = request.url.path.rstrip("/")
        status = _STATUS.search(path)
        name = "insert/status" if status else path.rsplit("/", 1)[-1]
        routes: dict[str, tuple[frozenset[str], Callable[[Query], dict[str, Any]]]] = {
            "insert": (frozenset({"POST"}), self._insert),
            "insert/status": (frozenset({"GET"}), lambda q: self._status(int(status[1]) if status else 0, q)),
            "remove": (frozenset({"POST"}), self._remove),
            "search": (frozenset({"GET", "POST"}), self._search),
            "recommendation": (frozenset({"GET", "POST"}), self._search),
            "colorsearch": (frozenset({"GET", "POST"}), self._colorsearch),
            "uploadsearch": (frozenset({"GET", "POST"}), self._uploadsearch),  # GET: Python's im_url
            "discoversearch": (frozenset({"POST"}), self._discoversearch),
        }
        if name not in routes:
            return _json(404, failure(name, ["Not found."]))
        methods, handle = routes[name]
        if request.method not in methods:
            return _json(405, failure(name, [f"Method {request.method} not allowed."]))
        if not self._authorized(request):
            return _json(200, failure(name, [MESSAGES[11]]))  # VENDORS §1.6: HTTP 200, status fail
        try:
            body = handle(read_request(request))
        except WireError as exc:
            data_api = name in ("insert", "remove", "insert/status") and exc.code is not None
            body = failure(name, [error_object(exc.code) if data_api and exc.code else exc.message])
        return _json(200, body)

    def _authorized(self, request: httpx.Request) -> bool:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return False
        access, _, secret = given.partition(":")
        ok_access = hmac.compare_digest(access.encode(), self.access_key.encode())
        ok_secret = hmac.compare_digest(secret.encode(), self.secret_key.encode())
        return ok_access and ok_secret

    # -- data API -------------------------------------------------------------------------------------

    def _insert(self, q: Query) -> dict[str, Any]:
        """VENDORS §1.4 insert: ``im_name[i]``, ``im_url[i]``, ``<field>[i]``; extra keys are ignored."""
        entries: dict[int, dict[str, str]] = {}
        for key, value in q.pairs:
            match = _KEY.match(key)
            if match:
                entries.setdefault(int(match[2]), {})[match[1]] = value
        if len(entries) > MAX_INSERT:
            raise WireError(103)
        if not entries:
            raise WireError(104)
        errors: list[dict[str, Any]] = []
        items: list[_Item] = []
        merged = 0
        for index in sorted(entries):
            entry = entries[index]
            name = entry.get("im_name", "")
            where = {"index": index, "im_name": name}
            fields = {k: v for k, v in entry.items() if k not in ("im_name", "im_url")}
            if not name or len(name) > 128:
                errors.append(error_object(107, **where))
            elif len(fields) > 30:  # VENDORS §1.5: 30 custom fields besides im_name and im_url
                errors.append(error_object(105, **where))
            elif any(len(v) > 5000 for v in fields.values()):
                errors.append(error_object(106, **where))
            else:
                try:
                    typed = {
                        k: store_value(self._kind(k), v)
                        for k, v in fields.items()
                        if self.schema is None or k in self.schema
                    }
                except WireError as exc:
                    errors.append(error_object(exc.code or 109, **where))
                    continue
                if entry.get("im_url"):
                    items.append(_Item(name, entry["im_url"], typed))
                elif self.engine.update(name, typed) is not None:  # [?] VENDORS §6: merged, at once
                    merged += 1
                else:
                    errors.append(error_object(108, **where))
        if not items and not merged:
            return failure("insert", errors)
        with self._lock:
            now = _now()
            transaction = _Transaction(self._next_trans, items, now, now, merged=merged, success=merged)
            self._transactions[transaction.id] = transaction
            self._next_trans += 1
            if self.settle_after_polls == 0:
                self._advance(transaction, len(items))
        body = envelope("insert", total=len(items) + merged, trans_id=transaction.id)
        if errors:
            body.update(status="warning", error=errors)
        return body

    def _status(self, trans_id: int, q: Query) -> dict[str, Any]:
        """VENDORS §1.4 insert/status: progress, and ``error_page`` (from 1) of ``error_limit`` failures."""
        page = q.integer("error_page", 1, low=1, high=10**9)
        limit = q.integer("error_limit", 10, low=1, high=1000)  # [?] Java's default page of 10
        with self._lock:
            transaction = self._transactions.get(trans_id)
            if transaction is None:
                raise WireError(101)
            transaction.polls += 1
            if transaction.done < len(transaction.items):
                steps = max(1, self.settle_after_polls)
                target = math.ceil(len(transaction.items) * min(transaction.polls, steps) / steps)
                self._advance(transaction, target)
            items = len(transaction.items)
            percent = 100 if not items else transaction.done * 100 // items
            status = {
                "trans_id": transaction.id,
                "processed_percent": percent,
                "total": items + transaction.merged,
                "success_count": transaction.success,
                "fail_count": len(transaction.errors),
                "start_time": transaction.started,
                "update_time": transaction.updated,
                "error_list": transaction.errors[(page - 1) * limit : page * limit],
                "error_page": page,
                "error_limit": limit,
            }
        return envelope("insert/status", result=[status])

    def _advance(self, transaction: _Transaction, target: int) -> None:
        """Download and index the transaction's images up to ``target`` of them (caller holds the lock)."""
        while transaction.done < min(target, len(transaction.items)):
            item = transaction.items[transaction.done]
            code = self._index_one(item)
            if code is None:
                transaction.success += 1
            else:
                transaction.errors.append(error_object(code, im_name=item.name))
            transaction.done += 1
            transaction.updated = _now()

    def _index_one(self, item: _Item) -> int | None:
        """One image downloaded and indexed (replacing any image of that name); else its error code."""
        if self.url_resolver is None:
            return 201
        try:
            raw = self.url_resolver(item.url)
        except Exception:  # whatever the resolver raises is a failed download
            return 201
        try:
            image = decode(raw, min_side=MIN_SIDE)
        except ImageError as exc:
            return 203 if exc.reason == "too_small" else 202
        views = features.index_views(image, multi_view=self.engine.multi_view)
        self.engine.add([NewRecord(item.name, views, item.metadata, item.url)], upsert=True)
        return None

    def _remove(self, q: Query) -> dict[str, Any]:
        """VENDORS §1.4 remove: ``im_name[i]``; unknown names are 102 warnings (§1.6)."""
        indexed = [(_KEY.match(k), v) for k, v in q.pairs]
        names = [v for _, v in sorted((int(m[2]), v) for m, v in indexed if m and m[1] == "im_name" and v)]
        if not names:
            raise WireError(None, "No im_name given.")
        deleted, missing = self.engine.delete(names)
        body = envelope("remove", total=len(deleted))
        if missing:
            body.update(status="warning", error=[error_object(102, im_name=n) for n in missing])
        return body

    # -- searches -------------------------------------------------------------------------------------

    def _search(self, q: Query) -> dict[str, Any]:
        """VENDORS §1.4 search / recommendation by ``im_name``; the query image is left out [?]."""
        name = q.get("im_name")
        if not name or not self.engine.has(name):
            raise WireError(1101)
        return self._page(q, "search", lambda flt, n: self.engine.search(name, limit=n, filter=flt)[0])

    def _colorsearch(self, q: Query) -> dict[str, Any]:
        """VENDORS §1.4 colorsearch: ``color=rrggbb`` (Java's ``rrggbb:weight``: the weight is ignored)."""
        value = (q.get("color") or "").split(":", 1)[0].lstrip("#")
        if not re.fullmatch(r"[0-9a-fA-F]{6}", value):
            raise WireError(None, f"Invalid color: {value!r}.")
        rgb = (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))
        return self._page(
            q, "colorsearch", lambda flt, n: self.engine.search_color(rgb, limit=n, filter=flt)[0]
        )

    def _uploadsearch(self, q: Query) -> dict[str, Any]:
        """VENDORS §1.4 uploadsearch: an image, ``im_url`` or ``im_id``, a ``box`` in its pixels."""
        image, im_id = self._query_image(q)
        box = query_box(q.get("box"), image.size)
        region = image if box is None else image.crop(box)
        vector = features.image_features(fit(region))
        extra: dict[str, Any] = {"im_id": im_id}
        detection = q.get("detection")
        if detection and detection.strip():  # doc 000 §7.4: the detected product types [?: whole image]
            kind = "whole_image" if detection == "all" else detection
            extra["product_types"] = [{"type": kind, "score": 1.0, "box": [0, 0, *image.size]}]
            extra["product_types_list"] = [{"type": kind}]
        return self._page(
            q, "uploadsearch", lambda flt, n: self.engine.search(vector, limit=n, filter=flt)[0], extra
        )

    def _discoversearch(self, q: Query) -> dict[str, Any]:
        """VENDORS §1.4 discoversearch: one object per detection; here one, the whole image or its box."""
        result_limit = q.integer("result_limit", 10, low=1, high=100)
        q.integer("detection_limit", 5, low=1, high=30)
        if q.get("detection_sensitivity", "low") not in ("low", "high"):
            raise WireError(None, "Invalid detection_sensitivity: use low or high.")
        image, im_id = self._query_image(q)
        box = query_box(q.get("box"), image.size) or (0, 0, *image.size)
        vector = features.image_features(fit(image.crop(box)))
        detection = (q.get("detection") or "all").strip()
        kind = "whole_image" if detection in ("all", "") else detection
        self._require_images()
        hits = self._ranked(q, lambda flt, n: self.engine.search(vector, limit=n, filter=flt)[0])
        obj = {
            "type": kind,
            "score": 1.0,
            "box": list(box),
            "total": len(hits),
            "result": [self._item(h, q) for h in hits[:result_limit]],
        }
        return envelope(
            "discoversearch", result=[], objects=[obj], object_types_list=[{"type": kind}], im_id=im_id
        )

    def _page(
        self,
        q: Query,
        method: str,
        rank: Callable[[Filter | None, int], list[Hit]],
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        page = q.integer("page", 1, low=1, high=WINDOW)
        limit = q.integer("limit", 10, low=1, high=WINDOW)
        self._require_images()
        hits = self._ranked(q, rank)
        window = hits[:WINDOW][(page - 1) * limit : page * limit]
        result = [self._item(h, q) for h in window]
        return envelope(method, page=page, limit=limit, total=len(hits), result=result, **(extra or {}))

    def _require_images(self) -> None:
        if self.engine.count() == 0:
            raise WireError(1107)  # VENDORS §1.6: the app has no images

    def _ranked(self, q: Query, rank: Callable[[Filter | None, int], list[Hit]]) -> list[Hit]:
        """Every match, best first: ``fq`` filters, ``score_min``/``score_max`` (VENDORS §1.4)."""
        parts: list[Filter] = []
        words: list[tuple[str, list[str]]] = []
        for fq in q.all("fq"):
            name, flt, text = parse_fq(fq, self._kind)
            if self.schema is not None and name not in self.schema and name != "im_name":
                raise WireError(None, f"Invalid fq parameter: unknown field {name!r}.")  # [?]
            if flt is not None:
                parts.append(flt)
            if text is not None:
                words.append((name, text))
        flt = None if not parts else parts[0] if len(parts) == 1 else And(tuple(parts))
        low, high = q.number("score_min", 0.0), q.number("score_max", 1.0)
        hits = rank(flt, max(1, self.engine.count()))
        return [h for h in hits if low <= round(h.score, 6) <= high and words_match(h.metadata, words)]

    def _item(self, hit: Hit, q: Query) -> dict[str, Any]:
        """A ``result`` entry: ``im_name``, ``score`` when asked, ``value_map`` strings (VENDORS §1.6)."""
        item: dict[str, Any] = {"im_name": hit.id}
        if q.flag("score"):
            item["score"] = round(hit.score, 6)
        wanted = q.all("fl")
        every = q.flag("get_all_fl")
        if wanted or every:
            values = {
                k: format_value(v)
                for k, v in hit.metadata.items()
                if (every or k in wanted) and self._kind(k) != "text"  # doc 002: text is never returned
            }
            if "im_url" in wanted:
                stored = self.engine.get(hit.id)
                if stored is not None and stored["url"]:
                    values["im_url"] = stored["url"]
            item["value_map"] = values
        return item

    def _query_image(self, q: Query) -> tuple[Image.Image, str]:
        """The query image (upright, full size) and its ``im_id``: uploaded, fetched, or an earlier one."""
        if q.image is not None:
            raw = q.image
        elif q.get("im_url"):
            raw = self._fetch(q.get("im_url") or "")
        elif q.get("im_id"):
            with self._lock:
                found = self._uploads.get(q.get("im_id") or "")
            if found is None:
                raise WireError(1104)  # [?] an unknown im_id
            raw = found
        else:
            raise WireError(None, "Provide one of image, im_url or im_id.")
        try:
            image = decode(raw, min_side=1)
        except ImageError as exc:
            raise WireError(1102) from exc
        im_id = hashlib.sha1(raw).hexdigest()[:24] + ".jpg"
        with self._lock:
            self._uploads[im_id] = raw
            self._uploads.move_to_end(im_id)
            while len(self._uploads) > 1000:
                self._uploads.popitem(last=False)
        return image, im_id

    def _fetch(self, url: str) -> bytes:
        if self.url_resolver is None:
            raise WireError(1104)
        try:
            return self.url_resolver(url)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise WireError(1106) from exc
        except (OSError, httpx.TransportError) as exc:
            raise WireError(1105) from exc
        except Exception as exc:
            raise WireError(1104) from exc

    def _kind(self, name: str) -> FieldType | None:
        return None if self.schema is None else self.schema.get(name)


def _now() -> str:
    """VENDORS §1.6: times look like ``2015-04-07T10:02:51.048+0000``."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


def _json(status: int, body: Mapping[str, Any]) -> httpx.Response:
    headers = {"content-type": "application/json", "x-log-id": uuid.uuid4().hex}  # VENDORS §1.2
    return httpx.Response(status, content=json.dumps(body).encode(), headers=headers)
