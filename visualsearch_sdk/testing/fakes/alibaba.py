"""A wire-faithful fake of Alibaba Cloud Image Search (API 2020-12-14, RPC style), over the local engine.

Sources: ``shared/reference/VENDORS.md`` §4 (cited as ``VENDORS §4.x`` beside each fact), doc 004 (the
SearchImageByPic page), the public CheckImageExists page [doc] and the signature vectors of the official SDKs.
Facts marked ``[?]`` are not documented; they are our best guess and say so.

Modelled:

* Every call is ``POST /`` with the action in ``x-acs-action`` (or ``Action``), checked by the gateway in
  :mod:`._alibaba_checks`: ACS3-HMAC-SHA256 and RPC V2 signatures, 15-minute timestamps, single-use nonces,
  the STS token.
* One *generic* instance: every image's ``CategoryId`` is 88888888 (doc 004), ``Crop`` reports the whole
  image as the subject [?] and ranking uses the whole image unless ``Region`` (``x1,x2,y1,y2``) picks a part.
* Images: base64 ``PicContent``, at most 4 MiB, formats of VENDORS §4.5, 100-4096 px a side
  (``UnsupportedPicPixels``), and no EXIF rotation (``IncorrectOrientation``).
* An image is the pair (``ProductId``, ``PicName``); AddImage replaces an existing pair (VENDORS §4.4).
  Unset slots read as 0 and ``""`` [?], in answers and in filters.
* Result window: ``Num`` 1..100 (``OverflowMaxReturnNum``), ``Start + Num`` <= 500 (``OverflowMaxResultNum``);
  ``Filter`` per :mod:`._alibaba_grammar` (``InvalidFilterClause``); ``ScoreThreshold`` keeps hits scoring
  at least that [?]; ``DistinctProductId`` keeps a product's best image.
* ``SearchImageByName`` answers the query image itself first, at score 1.0 [?].
* QPS (VENDORS §4.5): with ``qps=``, search-type actions beyond it answer HTTP 403 ``DeniedRequest`` with
  ``x-acs-retry-after`` in milliseconds [?: the header on this code]; ``add_qps=`` does the same for AddImage.
* ``UpdateImage`` unless ``update_image=False``, which answers it as an instance without it would:
  HTTP 500 ``UnsupportedOperationType`` [?].
* Searches answer ``Msg``, writes ``Message`` (VENDORS §4.4); errors are
  ``{"RequestId", "HostId", "Code", "Message", "Recommend"}`` (VENDORS §4.6).

Absent (answered ``InvalidAction.NotFound`` [?]): SearchImageByText, CompareSimilarByImage, DumpMeta,
DumpMetaList, IncreaseInstance, IncreaseList. ``PicContent`` holding an OSS URL (the SDK's "advance"
upload) is not fetched: the fake never touches the network.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from PIL import Image, UnidentifiedImageError

from visualsearch_sdk.filters import Filter, evaluate
from visualsearch_sdk.local import features
from visualsearch_sdk.local.engine import NewRecord
from visualsearch_sdk.testing.fakes._alibaba_checks import Gateway, Refusal, TokenBucket, Verified
from visualsearch_sdk.testing.fakes._alibaba_grammar import INT_SLOTS, SLOTS, FilterClauseError, parse_clause
from visualsearch_sdk.testing.fakes._base import FakeVendor, with_base_url

__all__ = ["FakeAlibaba"]

API_VERSION = "2020-12-14"
GENERIC_CATEGORY = 88888888  # doc 004: generic instances
MAX_PIC_BYTES = 4 * 1024 * 1024  # VENDORS §4.5
MIN_SIDE, MAX_SIDE = 100, 4096  # VENDORS §4.5 (product and generic instances)
FORMATS = frozenset({"JPEG", "MPO", "PNG", "BMP", "GIF", "WEBP", "TIFF", "PPM"})  # VENDORS §4.5
MAX_NUM, MAX_WINDOW = 100, 500  # VENDORS §4.5
_SEARCHES = frozenset({"SearchImageByPic", "SearchImageByName", "SearchImageByFilter", "CheckImageExists"})
_ORIENTATION = 0x0112


class FakeAlibaba(FakeVendor):
    """Alibaba Image Search as a handler ``httpx.Request -> httpx.Response`` with its own index.

    Args:
        access_key_id: the id of the one AccessKey the gateway accepts.
        access_key_secret: its secret.
        security_token: require this STS token as well (temporary credentials).
        instance: the instance name every call must name.
        region: the region ``client_url`` names.
        qps: the instance's purchased QPS for search-type actions (None: no flow control).
        add_qps: flow control of AddImage (None: none).
        update_image: whether this instance has UpdateImage (VENDORS §0: only some do).
        filter_parentheses: accept ``(...)`` in filters [?].
        path: a folder for a persistent index; in memory when None.
        clock: wall-clock seconds for timestamps and nonces; monotonic: seconds for flow control.
    """

    face = "alibaba"

    def __init__(
        self,
        *,
        access_key_id: str = "fake-ak-id",
        access_key_secret: str = "fake-ak-secret",
        security_token: str | None = None,
        instance: str = "fakeinstance",
        region: str = "cn-shanghai",
        qps: float | None = None,
        add_qps: float | None = None,
        update_image: bool = True,
        filter_parentheses: bool = True,
        path: str | Path | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(path=path)
        self.access_key_id, self.access_key_secret = access_key_id, access_key_secret
        self.instance, self.region, self.qps = instance, region, qps
        self.update_image, self.filter_parentheses = update_image, filter_parentheses
        self.gateway = Gateway(access_key_id, access_key_secret, security_token=security_token, clock=clock)
        self._buckets = {
            "search": TokenBucket(qps, monotonic) if qps else None,
            "add": TokenBucket(add_qps, monotonic) if add_qps else None,
        }
        self._actions: dict[str, Callable[[dict[str, str]], dict[str, Any]]] = {  # VENDORS §4.4
            "AddImage": self._add,
            "DeleteImage": self._delete,
            "UpdateImage": self._update,
            "SearchImageByPic": self._search_by_pic,
            "SearchImageByName": self._search_by_name,
            "SearchImageByFilter": self._search_by_filter,
            "CheckImageExists": self._check_exists,
            "Detail": self._detail,
        }
        self._created = int(clock() * 1000)

    @classmethod
    def for_serving(cls, *, path: Path | None, token: str | None) -> FakeAlibaba:
        """``visualsearch serve --face alibaba``: ``--token ID:SECRET`` (or a secret) is the AccessKey."""
        if token is None:
            return cls(path=path)
        key_id, colon, secret = token.partition(":")
        if not colon:
            return cls(access_key_secret=token, path=path)
        return cls(access_key_id=key_id, access_key_secret=secret, path=path)

    def client_url(self, base_url: str | None = None) -> str:
        """``alibaba://<id>:<secret>@<region>/<instance>`` (with ``qps=`` when the fake limits it)."""
        key_id, secret = quote(self.access_key_id, safe=""), quote(self.access_key_secret, safe="")
        url = f"alibaba://{key_id}:{secret}@{self.region}/{quote(self.instance, safe='')}"
        if self.qps:
            url += f"?qps={self.qps:g}"
        return with_base_url(url, base_url)

    # -- dispatch -------------------------------------------------------------------------------------

    def __call__(self, request: httpx.Request) -> httpx.Response:
        injected = self._intercept(request)
        if injected is not None:
            return injected
        request_id = str(uuid.uuid4()).upper()
        try:
            if request.method != "POST" or request.url.path not in ("", "/"):
                raise Refusal(404, "InvalidAction.NotFound", "Specified api is not found.")  # [?]
            call = self.gateway.verify(request)
            handle = self._actions.get(call.action)
            if handle is None:
                raise Refusal(404, "InvalidAction.NotFound", f"Specified api {call.action} is not found.")
            if call.version != API_VERSION:
                raise Refusal(400, "InvalidVersion", f"Specified version {call.version} is not valid.")  # [?]
            self._flow_control(call)
            if call.params.get("InstanceName") != self.instance:
                raise Refusal(400, "InvalidInstance", "The specified instance name is invalid.")  # doc 004
            body = handle(call.params)
        except Refusal as refusal:
            return _error(refusal, request_id, request.url.host)
        return _json(200, {"RequestId": request_id, **body}, request_id)

    def _flow_control(self, call: Verified) -> None:
        bucket = self._buckets["search" if call.action in _SEARCHES else "add"]
        if call.action not in _SEARCHES and call.action != "AddImage":
            bucket = None  # DeleteImage/UpdateImage allow 20 QPS (VENDORS §4.5): not modelled
        wait = bucket.take() if bucket is not None else None
        if wait is not None:
            raise Refusal(
                403,
                "DeniedRequest",
                "Your request was denied due to instance flow control.",
                {"x-acs-retry-after": str(max(1, round(wait * 1000)))},
            )

    def _fault_body(self, status: int) -> Mapping[str, object]:
        code = _FAULT_CODES.get(status, "UnknownException" if status >= 500 else "BadRequest")
        return _error_body(code, f"injected fault ({status})", str(uuid.uuid4()).upper(), "fake")

    # -- records --------------------------------------------------------------------------------------

    def _add(self, p: dict[str, str]) -> dict[str, Any]:
        """VENDORS §4.4 AddImage: one image per call; an existing (ProductId, PicName) is replaced."""
        product, pic = _required(p, "ProductId"), _required(p, "PicName")
        image, size = _image(_required(p, "PicContent"))
        region = _region(p.get("Region"), size)
        meta = {"ProductId": product, "PicName": pic, "CategoryId": GENERIC_CATEGORY}
        meta.update(_attributes(p, base={s: (0 if s in INT_SLOTS else "") for s in SLOTS}))
        meta["CustomContent"] = _limited(p.get("CustomContent", ""), "CustomContent", 4096)
        views = features.index_views(image.crop(_crop(region)), multi_view=self.engine.multi_view)
        self.engine.add([NewRecord(_key(product, pic), views, meta)], upsert=True)
        return _written(PicInfo=_pic_info(region))

    def _delete(self, p: dict[str, str]) -> dict[str, Any]:
        """VENDORS §4.4 DeleteImage: by pair, by ProductId (all its images), or by filter; success even when
        nothing matched [doc]; ``Data.PicNames`` lists what went [?]."""
        if _flag(p.get("IsDeleteByFilter")):
            flt = self._filter(_required(p, "Filter"))
            doomed = [r for r in self._all() if evaluate(flt, r["metadata"])]
        else:
            product, pic = _required(p, "ProductId"), p.get("PicName")
            doomed = [
                r
                for r in self._all()
                if r["metadata"]["ProductId"] == product and pic in (None, r["metadata"]["PicName"])
            ]
        deleted, _ = self.engine.delete([r["id"] for r in doomed])
        names = [r["metadata"]["PicName"] for r in doomed if r["id"] in set(deleted)]
        return _written(Data={"PicNames": names})

    def _update(self, p: dict[str, str]) -> dict[str, Any]:
        """VENDORS §4.4 UpdateImage: the given slots and CustomContent change, the rest stays."""
        if not self.update_image:
            raise Refusal(500, "UnsupportedOperationType", "The specified action is not supported.")  # [?]
        key = _key(_required(p, "ProductId"), _required(p, "PicName"))
        stored = self.engine.get(key)
        if stored is None:
            raise Refusal(404, "ImageNotExist", "The specified image does not exist.")  # [?]
        patch: dict[str, Any] = _attributes(p, base={})
        if "CustomContent" in p:
            patch["CustomContent"] = _limited(p["CustomContent"], "CustomContent", 4096)
        self.engine.update(key, patch)
        return _written()

    def _check_exists(self, p: dict[str, str]) -> dict[str, Any]:
        """CheckImageExists: ``Exists``, and the image as an ``Auctions`` *object* [doc]."""
        stored = self.engine.get(_key(_required(p, "ProductId"), _required(p, "PicName")))
        if stored is None:
            return _read(Exists=False)
        return _read(Exists=True, Auctions=_auction(stored["metadata"], None))

    def _detail(self, p: dict[str, str]) -> dict[str, Any]:
        """VENDORS §4.4 Detail: ``Instance{..., Qps, TotalCount}``."""
        instance = {
            "Name": self.instance,
            "Region": self.region,
            "ServiceType": 0,
            "Capacity": 100_000,
            "Qps": self.qps or 1,
            "TotalCount": self.engine.count(),
            "UtcCreate": self._created,
            "UtcExpireTime": self._created + 365 * 86_400_000,
        }
        return _read(Instance=instance)

    # -- searches -------------------------------------------------------------------------------------

    def _search_by_pic(self, p: dict[str, str]) -> dict[str, Any]:
        """VENDORS §4.4 SearchImageByPic; ``Region`` (``x1,x2,y1,y2``) overrides ``Crop`` (doc 004)."""
        start, num = _window(p)
        image, size = _image(_required(p, "PicContent"))
        region = _region(p.get("Region"), size)
        vector = features.image_features(image.crop(_crop(region)))
        flt = self._filter(p["Filter"]) if p.get("Filter") else None
        hits, _ = self.engine.search(vector, limit=self.engine.count() or 1, filter=flt, min_score=_score(p))
        ranked = [(h.id, h.score, dict(h.metadata)) for h in hits]
        return self._page(ranked, p, start, num, PicInfo=_pic_info(region))

    def _search_by_name(self, p: dict[str, str]) -> dict[str, Any]:
        """VENDORS §4.4 SearchImageByName: the stored image's neighbours, itself first [?]."""
        start, num = _window(p)
        key = _key(_required(p, "ProductId"), _required(p, "PicName"))
        stored = self.engine.get(key)
        if stored is None:
            raise Refusal(404, "ImageNotExist", "The specified image does not exist.")  # [?]
        flt = self._filter(p["Filter"]) if p.get("Filter") else None
        ranked = [(key, 1.0, stored["metadata"])] if flt is None or evaluate(flt, stored["metadata"]) else []
        hits, _ = self.engine.search(key, limit=self.engine.count() or 1, filter=flt, min_score=_score(p))
        ranked += [(h.id, h.score, dict(h.metadata)) for h in hits]
        return self._page(ranked, p, start, num)

    def _search_by_filter(self, p: dict[str, str]) -> dict[str, Any]:
        """VENDORS §4.4 SearchImageByFilter: matching images in index order, no ``Score``."""
        start, num = _window(p)
        flt = self._filter(_required(p, "Filter"))
        found = [r["metadata"] for r in self._all() if evaluate(flt, r["metadata"])]
        return _read(Auctions=[_auction(m, None) for m in found[start : start + num]])

    def _page(
        self,
        ranked: list[tuple[str, float, dict[str, Any]]],
        p: dict[str, str],
        start: int,
        num: int,
        **extra: Any,
    ) -> dict[str, Any]:
        threshold = _score(p)
        ranked = [r for r in ranked if threshold is None or r[1] >= threshold]
        if _flag(p.get("DistinctProductId")):  # each product's best image only
            best: dict[str, tuple[str, float, dict[str, Any]]] = {}
            for hit in ranked:
                best.setdefault(hit[2]["ProductId"], hit)
            ranked = list(best.values())
        window = ranked[start : start + num]
        return _read(
            Head={
                "DocsFound": len(window),
                "DocsReturn": len(ranked),
                "SearchTime": 1,
            },  # [?] swapped in docs
            Auctions=[_auction(meta, score) for _, score, meta in window],
            **extra,
        )

    # -- helpers --------------------------------------------------------------------------------------

    def _filter(self, text: str) -> Filter:
        try:
            return parse_clause(text, parentheses=self.filter_parentheses)
        except FilterClauseError as exc:
            raise Refusal(
                400, "InvalidFilterClause", f"The specified filtering condition is invalid: {exc}"
            ) from exc

    def _all(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            page, after = self.engine.page(after, 1000)
            out += page
            if after is None:
                return out


# -- pure helpers -----------------------------------------------------------------------------------------

_FAULT_CODES = {  # VENDORS §4.6
    400: "BadRequest",
    401: "IncompleteSignature",
    403: "DeniedRequest",
    404: "InvalidAction.NotFound",
    429: "Throttling.User",
    500: "UnknownException",
    503: "ServiceUnavailable",
}


def _key(product: str, pic: str) -> str:
    return json.dumps([product, pic], ensure_ascii=False)


def _required(p: Mapping[str, str], name: str) -> str:
    value = p.get(name)
    if not value:
        raise Refusal(400, "MissingParameter", f'The input parameter "{name}" that is mandatory is missing.')
    return _limited(value, name, 20 if name == "InstanceName" else 256 if name != "PicContent" else None)


def _limited(value: str, name: str, limit: int | None) -> str:
    if limit is not None and len(value) > limit:  # VENDORS §4.4
        raise Refusal(400, "BadRequest", f"{name} is longer than {limit} characters.")
    return value


def _flag(value: str | None) -> bool:
    return (value or "").lower() == "true"  # [?] True/true both accepted (VENDORS §4.3)


def _int(value: str, code: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise Refusal(400, code, f"The specified parameter {name} is invalid.") from None


def _window(p: Mapping[str, str]) -> tuple[int, int]:
    """VENDORS §4.5: ``Num`` 1..100 (default 10), ``Start`` >= 0 (default 0), ``Start + Num <= 500``."""
    num = _int(p.get("Num", "10"), "InvalidNumParameter", "num")
    start = _int(p.get("Start", "0"), "BadRequest", "start")
    if num > MAX_NUM:
        raise Refusal(
            400,
            "OverflowMaxReturnNum",
            "The specified number of results for each request exceeds the maximum of 100.",
        )
    if num < 1 or start < 0:
        raise Refusal(400, "InvalidNumParameter", "The specified parameter num is invalid.")
    if start + num > MAX_WINDOW:
        raise Refusal(
            400, "OverflowMaxResultNum", "The specified number of total results exceeds the maximum of 500."
        )
    return start, num


def _score(p: Mapping[str, str]) -> float | None:
    if "ScoreThreshold" not in p:
        return None
    try:
        return float(p["ScoreThreshold"])
    except ValueError:
        raise Refusal(400, "BadRequest", "ScoreThreshold must be a number.") from None


def _attributes(p: Mapping[str, str], *, base: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for slot in SLOTS:
        if slot in p:
            if slot in INT_SLOTS:
                out[slot] = _int(p[slot], "InvalidIntAttr", slot) if p[slot] != "" else 0
            else:
                out[slot] = _limited(p[slot], slot, 128)  # [?] 128 characters
    return out


def _image(content: str) -> tuple[Image.Image, tuple[int, int]]:
    """Decode ``PicContent`` and check it as VENDORS §4.5 says; the image in RGB and its size."""
    try:
        data = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise Refusal(400, "UnsupportedPicFormat", "The specified image format is invalid.") from None  # [?]
    if len(data) > MAX_PIC_BYTES:
        raise Refusal(400, "BadRequest", "The image is larger than 4 MB.")  # [?] the code
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise Refusal(400, "UnsupportedPicFormat", "The specified image format is invalid.") from None
    if image.format not in FORMATS:
        raise Refusal(400, "UnsupportedPicFormat", "The specified image format is invalid.")
    w, h = image.size
    if not (MIN_SIDE <= w <= MAX_SIDE and MIN_SIDE <= h <= MAX_SIDE):
        raise Refusal(400, "UnsupportedPicPixels", "The specified pixels is not supported.")
    if image.getexif().get(_ORIENTATION, 1) != 1:
        raise Refusal(
            400, "IncorrectOrientation", "The image contains incorrect rotation flags in the meta data."
        )
    return image.convert("RGB"), (w, h)


def _region(value: str | None, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """``x1,x2,y1,y2`` within the image (doc 004); the whole image when absent (our stand-in for Crop)."""
    w, h = size
    if not value:
        return 0, w, 0, h
    try:
        x1, x2, y1, y2 = (int(v) for v in value.split(","))
    except ValueError:
        raise Refusal(400, "BadRequest", f"Region {value!r} is not x1,x2,y1,y2.") from None
    if not (0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h):
        raise Refusal(400, "BadRequest", f"Region {value!r} is outside the {w}x{h} image.")  # [?]
    return x1, x2, y1, y2


def _crop(region: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    x1, x2, y1, y2 = region
    return x1, y1, x2, y2


def _pic_info(region: tuple[int, int, int, int]) -> dict[str, Any]:
    text = ",".join(map(str, region))
    return {
        "CategoryId": GENERIC_CATEGORY,
        "Region": text,
        "MultiRegion": [{"Region": text}],
        "AllCategories": [{"Id": GENERIC_CATEGORY, "Name": "Other"}],
    }


def _auction(meta: Mapping[str, Any], score: float | None) -> dict[str, Any]:
    """An ``Auctions`` item (VENDORS §4.4): ids, category, content, slots, and ``Score`` for searches."""
    item: dict[str, Any] = {k: meta.get(k) for k in ("ProductId", "PicName", "CategoryId", "CustomContent")}
    item.update({s: meta.get(s, 0 if s in INT_SLOTS else "") for s in SLOTS})
    if score is not None:
        rounded = round(min(1.0, max(0.0, score)), 6)
        item["Score"] = rounded
        item["SortExprValues"] = f"{rounded};0"
    return item


def _read(**fields: Any) -> dict[str, Any]:
    """A read's success envelope: ``Msg`` (VENDORS §4.4)."""
    return {"Success": True, "Code": 0, "Msg": "success", **fields}


def _written(**fields: Any) -> dict[str, Any]:
    """A write's success envelope: ``Message`` (VENDORS §4.4)."""
    return {"Success": True, "Code": 0, "Message": "success", **fields}


def _error_body(code: str, message: str, request_id: str, host: str) -> dict[str, Any]:
    return {
        "RequestId": request_id,
        "HostId": host,
        "Code": code,
        "Message": message,
        "Recommend": f"https://api.aliyun.com/troubleshoot?q={code}&product=ImageSearch",
    }


def _error(refusal: Refusal, request_id: str, host: str) -> httpx.Response:
    response = _json(refusal.status, _error_body(refusal.code, refusal.message, request_id, host), request_id)
    response.headers.update(refusal.headers)
    return response


def _json(status: int, body: Mapping[str, Any], request_id: str) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(body, ensure_ascii=False).encode(),
        headers={"content-type": "application/json;charset=utf-8", "x-acs-request-id": request_id},
    )
