"""Alibaba Cloud Image Search (API 2020-12-14): signed RPC calls, one instance per adapter.

Docs: https://www.alibabacloud.com/help/en/image-search/ (our copy: ``reference/docs/004``), VENDORS.md §4.

URL form::

    alibaba://AK_ID:AK_SECRET@cn-shanghai/INSTANCE?qps=5&attributes=price:IntAttr,brand:StrAttr
    alibaba://AK_ID:AK_SECRET@cn-shanghai/INSTANCE?base_url=http://127.0.0.1:8765   (the fake, on loopback)

Quirks this adapter handles:

* Every call is ``POST https://imagesearch.<region>.aliyuncs.com/`` with ``x-acs-action``, signed per attempt
  (:mod:`._alibaba_auth`): ACS3-HMAC-SHA256 by default, RPC V2 HMAC-SHA1 with ``signature="HMAC-SHA1"``.
  Parameters go where the official SDK puts them (VENDORS §4.3): a sorted form body, ``ScoreThreshold`` and
  ``UpdateImage``'s ``IntAttr3/4``/``StrAttr3/4`` in the query, every ``Detail`` parameter in the query.
* An image is the pair (``ProductId``, ``PicName``): our record id is the ``ProductId``, and ``PicName`` comes
  from the ``pic_name`` template (``"{id}"`` by default). ``AddImage`` replaces an existing pair, so ``index``
  always replaces (no ``REFUSE_EXISTING``) and ``upsert=True`` costs nothing more.
* Metadata lives in fixed slots: fields declared in ``attributes`` go to ``IntAttr..4``/``StrAttr..4`` (and
  can be filtered); the whole metadata is also kept as JSON in ``CustomContent`` (at most 4,096 characters)
  so ``get`` and hits return it intact. A field that fits nowhere is a per-record error, never dropped.
* ``Region`` is ``x1,x2,y1,y2`` in the uploaded image's pixels; ``PicInfo`` regions come back in that order
  too. Both are converted: our boxes are ``(x1, y1, x2, y2)`` in the original image's pixels.
* Searches answer ``Msg``, writes ``Message`` (VENDORS §4.4). ``Score`` is in [0, 1], higher is better.
* ``SearchImageByName`` answers the query image itself: it is dropped, so a by-id page asks one hit more.
* Images: at most 4 MB, 100-4096 px a side, and no EXIF rotation (``IncorrectOrientation``): the
  preprocessor re-encodes oriented images upright, without the tag.
* Throttling (HTTP 403 ``DeniedRequest``, ``Throttling.*``, ``x-acs-retry-after`` in milliseconds) is a
  ``RateLimitError`` and is retried; ``AlibabaOptions(qps=...)``, the instance's purchased QPS, paces the
  client by default (at 90% of it, :data:`QPS_HEADROOM`).
* ``UpdateImage`` replaces the fields it is given, so ``update`` reads the record first and sends the merged
  metadata (not atomic). Alibaba documents it only for some instances [doc]; elsewhere the server's answer
  (``UnsupportedOperationType``) is an ``InvalidRequestError`` saying so.

Absent: search by URL, indexing from URLs (Alibaba fetches only OSS URLs), colour search, listing (only a
500-result window, or the asynchronous ``DumpMeta`` export), multi-object search.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import urlencode

import httpx

from visualsearch_sdk._config import ClientOptions, ProviderURL, check_base_url
from visualsearch_sdk._exceptions import (
    APIStatusError,
    ConfigurationError,
    InvalidQueryError,
    NotFoundError,
)
from visualsearch_sdk.capabilities import Capability
from visualsearch_sdk.filters import Filter
from visualsearch_sdk.models import (
    DeleteReport,
    MetadataValue,
    SearchHit,
    SearchQuery,
    SearchResult,
    StoredRecord,
)
from visualsearch_sdk.preprocess import ImageLimits, PreparedImage
from visualsearch_sdk.providers._alibaba_auth import (
    ACS3,
    AlibabaAcs3Auth,
    AlibabaCredentials,
    AlibabaRpcV2Auth,
    Clock,
    Nonce,
    SignatureScheme,
    _utc_now,
    _uuid_nonce,
)
from visualsearch_sdk.providers._alibaba_errors import alibaba_error
from visualsearch_sdk.providers._alibaba_filters import Slot, alibaba_filter
from visualsearch_sdk.providers._alibaba_metadata import (
    metadata_of,
    pic_info_boxes,
    region_param,
    slot_params,
)
from visualsearch_sdk.providers._alibaba_options import (
    AlibabaEnv,
    AlibabaOptions,
    attributes_param,
    check_attributes,
    check_scales,
    int_param,
    number_param,
    scales_param,
    scheme_param,
)
from visualsearch_sdk.providers._base import (
    Adapter,
    Operation,
    PreparedRecord,
    RecordOutcome,
    status_error,
)

__all__ = ["API_VERSION", "AlibabaAdapter", "AlibabaCredentials", "AlibabaOptions", "SignatureScheme", "Slot"]

API_VERSION = "2020-12-14"
MAX_IMAGE_BYTES = 4_000_000  # VENDORS §4.5 "<= 4 MB", kept a little under 4 MiB on purpose
QPS_HEADROOM = 0.9
"""The client paces at this share of the purchased QPS: the server's bucket refills on its own clock, so
pacing at exactly its rate leaves no slack at each token boundary and network jitter gets requests denied."""
_CONTEXT = "visualsearch_sdk.alibaba"
"""Request extension holding what a parser needs from the build: the prepared image, the metadata sent."""
_REGION_RE = re.compile(r"^[a-z]{2,}(-[a-z0-9]+)+$")
_UPDATE_QUERY_SLOTS = frozenset({"IntAttr3", "IntAttr4", "StrAttr3", "StrAttr4"})  # VENDORS §4.3


class AlibabaAdapter(Adapter):
    """Speaks Alibaba Cloud Image Search 2020-12-14 for one instance."""

    provider: ClassVar[str] = "alibaba"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.SEARCH_BY_IMAGE,
            Capability.SEARCH_BY_ID,
            Capability.SERVER_CROP,
            Capability.FILTERS,
            Capability.METADATA,
            Capability.MIN_SCORE,
            Capability.INDEX_WRITE,
            Capability.INDEX_FROM_BYTES,
            Capability.UPSERT,
            Capability.INDEX_UPDATE,
            Capability.INDEX_DELETE,
            Capability.GET,
            Capability.COUNT,
        }
    )
    limits: ClassVar[ImageLimits] = ImageLimits(
        max_bytes=MAX_IMAGE_BYTES,
        min_side=100,
        max_side=4096,
        formats=frozenset({"JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF", "PPM"}),
        keep_exif_orientation=False,
    )
    batch_size: ClassVar[int] = 1  # AddImage takes one image
    delete_batch_size: ClassVar[int] = 1
    max_limit: ClassVar[int] = 100  # Num <= 100
    page_window: ClassVar[int] = 500  # Start + Num <= 500
    idempotent: ClassVar[frozenset[Operation]] = frozenset(
        {"search", "get", "count", "verify", "index", "update", "delete"}  # VENDORS §4.7
    )
    update_replaces: ClassVar[bool] = True

    def __init__(
        self,
        credentials: AlibabaCredentials,
        *,
        region: str,
        instance: str,
        base_url: str | None = None,
        signature: SignatureScheme = ACS3,
        qps: float | None = None,
        attributes: Mapping[str, Slot] | None = None,
        int_scales: Mapping[str, int] | None = None,
        custom_content: bool = True,
        pic_name: str = "{id}",
        category_id: int | None = None,
        crop: bool | None = None,
        filter_parentheses: bool = True,
        clock: Clock = _utc_now,
        nonce: Nonce = _uuid_nonce,
    ) -> None:
        if not _REGION_RE.match(region):
            raise ConfigurationError(f"{region!r} is not an Alibaba region id such as 'cn-shanghai'")
        if not 1 <= len(instance) <= 20 or "/" in instance:
            raise ConfigurationError("the Alibaba instance name is 1 to 20 characters without '/'")
        if qps is not None and not qps > 0:
            raise ConfigurationError(f"qps (the instance's purchased QPS) must be positive, not {qps!r}")
        self.credentials = credentials
        self.region, self.instance, self.signature = region, instance, signature
        self.base_url = httpx.URL(base_url or f"https://imagesearch.{region}.aliyuncs.com/")
        self.qps = qps
        self.default_max_qps = qps * QPS_HEADROOM if qps else None
        self.attributes: dict[str, Slot] = check_attributes(dict(attributes or {}))
        self.int_scales: dict[str, int] = check_scales(dict(int_scales or {}))
        self.custom_content = custom_content
        self.pic_name_template = pic_name
        self.category_id, self.crop, self.filter_parentheses = category_id, crop, filter_parentheses
        self.clock, self.nonce = clock, nonce

    @classmethod
    def from_url(
        cls, url: ProviderURL, *, options: Any, environ: Mapping[str, str], client_options: ClientOptions
    ) -> AlibabaAdapter:
        if options is not None and not isinstance(options, AlibabaOptions):
            raise ConfigurationError("the alibaba provider takes options=AlibabaOptions(...)")
        given = options or AlibabaOptions()
        env = AlibabaEnv.from_environ(environ)
        creds = given.credentials
        if creds is None:
            key_id = url.username.get_secret_value() if url.username else env.access_key_id
            secret = url.password or env.access_key_secret
            if not key_id or secret is None or not secret.get_secret_value():
                raise ConfigurationError(
                    "Alibaba needs an AccessKey: put it in the URL "
                    "(alibaba://AK_ID:AK_SECRET@cn-shanghai/INSTANCE), set "
                    "VISUALSEARCH_ALIBABA_ACCESS_KEY_ID and VISUALSEARCH_ALIBABA_ACCESS_KEY_SECRET, "
                    "or pass options=AlibabaOptions(credentials=...)"
                )
            creds = AlibabaCredentials(
                access_key_id=key_id, access_key_secret=secret, security_token=env.security_token
            )
        region = given.region or url.host or env.region
        instance = given.instance or url.path.strip("/") or env.instance
        if not region or not instance:
            raise ConfigurationError(
                "Alibaba needs a region and an instance name: alibaba://AK_ID:AK_SECRET@REGION/INSTANCE "
                "(or VISUALSEARCH_ALIBABA_REGION and VISUALSEARCH_ALIBABA_INSTANCE)"
            )
        base = given.base_url or url.param("base_url") or env.base_url
        if base is not None:
            check_base_url(base, allow_http=client_options.allow_http)
        return cls(
            creds,
            region=region,
            instance=instance,
            base_url=base,
            signature=given.signature or scheme_param(url.param("signature")),
            qps=given.qps or number_param(url.param("qps"), "qps") or env.qps,
            attributes=given.attributes
            if given.attributes is not None
            else attributes_param(url.param("attributes")),
            int_scales=given.int_scales
            if given.int_scales is not None
            else scales_param(url.param("int_scales")),
            custom_content=given.custom_content if given.custom_content is not None else True,
            pic_name=given.pic_name or url.param("pic_name") or "{id}",
            category_id=given.category_id
            if given.category_id is not None
            else int_param(url.param("category_id")),
            crop=given.crop,
            filter_parentheses=given.filter_parentheses is not False,
        )

    def describe(self) -> str:
        return f"alibaba instance {self.instance} ({self.region}) at {self.base_url}, signed {self.signature}"

    def auth(self) -> httpx.Auth:
        if self.signature == ACS3:
            return AlibabaAcs3Auth(self.credentials, origin=self.base_url, clock=self.clock, nonce=self.nonce)
        return AlibabaRpcV2Auth(self.credentials, origin=self.base_url, clock=self.clock, nonce=self.nonce)

    def pic_name(self, record_id: str) -> str:
        """The ``PicName`` of a record id."""
        return self.pic_name_template.replace("{id}", record_id)

    def _rpc(
        self,
        action: str,
        body: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> httpx.Request:
        """``POST /`` for ``action``: ``body`` as a sorted form (as the official SDK sends it)."""
        headers = {"x-acs-action": action, "x-acs-version": API_VERSION, "accept": "application/json"}
        content = None
        if body:
            content = urlencode(sorted(body.items())).encode()
            headers["content-type"] = "application/x-www-form-urlencoded"
        return httpx.Request(
            "POST",
            self.base_url,
            params=sorted(query.items()) if query else None,
            content=content,
            headers=headers,
            extensions={_CONTEXT: dict(context or {})},
        )

    def _image_key(self, record_id: str) -> dict[str, str]:
        return {"InstanceName": self.instance, "ProductId": record_id, "PicName": self.pic_name(record_id)}

    # -- search ---------------------------------------------------------------------------------------

    def build_search(self, query: SearchQuery, image: PreparedImage | None) -> httpx.Request:
        body: dict[str, str] = {"InstanceName": self.instance, "DistinctProductId": "true"}
        if query.mode == "image":
            if image is None:
                raise InvalidQueryError("an image search needs the prepared image")
            action = "SearchImageByPic"
            body["PicContent"] = base64.b64encode(image.data).decode("ascii")
            body["Num"], body["Start"] = str(query.limit), str(query.offset)
            if image.box is not None:
                body["Region"] = region_param(image.box)
            if self.crop is not None:
                body["Crop"] = "true" if self.crop else "false"
        elif query.mode == "id" and query.id is not None:
            action = "SearchImageByName"
            body.update(self._image_key(query.id))
            # The query image answers itself: ask one more. Within 100 hits, fetch from 0 and slice (exact).
            if query.offset + query.limit + 1 <= self.max_limit:
                body["Start"], body["Num"] = "0", str(query.offset + query.limit + 1)
            else:
                num = min(query.limit + 1, self.max_limit, self.page_window - query.offset)
                body["Start"], body["Num"] = str(query.offset), str(num)
        else:
            raise self._lacks(Capability.SEARCH_BY_URL if query.mode == "url" else Capability.SEARCH_BY_COLOR)
        if self.category_id is not None:
            body["CategoryId"] = str(self.category_id)
        if query.filter is not None:
            body["Filter"] = self._filter(query.filter)
        params = {"ScoreThreshold": format(query.min_score, "g")} if query.min_score is not None else None
        return self._rpc(action, body, params, context={"image": image, "start": body.get("Start")})

    def parse_search(self, response: httpx.Response, query: SearchQuery) -> SearchResult:
        raw = self._object(response)
        auctions = raw.get("Auctions") or []
        if not isinstance(auctions, list):
            raise self._shape(response, "Auctions is not a list")
        hits: list[SearchHit] = []
        for item in auctions:
            if query.mode == "id" and item.get("ProductId") == query.id:
                continue  # the query image itself
            score = item.get("Score")
            if isinstance(score, bool) or not isinstance(score, (int, float)):
                raise self._shape(response, "an Auction has no numeric Score (only API 2020-12-14 has it)")
            if query.min_score is not None and score < query.min_score:
                continue
            metadata = self._metadata(item)
            if query.fields is not None:
                metadata = {k: metadata[k] for k in query.fields if k in metadata}
            hits.append(
                SearchHit(
                    id=str(item["ProductId"]),
                    score=min(1.0, max(0.0, float(score))),
                    vendor_score=float(score),
                    metadata=metadata,
                )
            )
        context = response.request.extensions.get(_CONTEXT, {})
        if query.mode == "id" and context.get("start") == "0" and query.offset:
            hits = hits[query.offset :]
        query_box, boxes = pic_info_boxes(raw.get("PicInfo"), context.get("image"))
        return SearchResult(
            hits=tuple(hits[: query.limit]),
            provider=self.provider,
            request_id=_request_id(raw, response),
            query_box=query_box,
            regions=boxes,
            offset=query.offset,
            limit=query.limit,
            raw=raw,
        )

    # -- records --------------------------------------------------------------------------------------

    def build_index(self, batch: Sequence[PreparedRecord], *, upsert: bool) -> httpx.Request:
        if len(batch) != 1:
            raise InvalidQueryError("Alibaba's AddImage takes exactly one image per request")
        record = batch[0]
        if record.image is None:
            raise self._lacks(Capability.INDEX_FROM_URL)
        body = self._image_key(record.id)
        body["PicContent"] = base64.b64encode(record.image.data).decode("ascii")
        body.update(self._slots(record.id, record.metadata, reset=False))
        if self.category_id is not None:
            body["CategoryId"] = str(self.category_id)
        if self.crop is not None:
            body["Crop"] = "true" if self.crop else "false"
        return self._rpc("AddImage", body)  # AddImage replaces an existing pair: upsert is implied

    def parse_index(self, response: httpx.Response, batch: Sequence[PreparedRecord]) -> list[RecordOutcome]:
        self._object(response)  # errors (also inside a 2xx) were raised by error_for
        return [RecordOutcome(record.id) for record in batch]

    def build_get(self, record_id: str) -> httpx.Request:
        return self._rpc("CheckImageExists", self._image_key(record_id), context={"id": record_id})

    def parse_get(self, response: httpx.Response) -> StoredRecord:
        raw = self._object(response)
        record_id = str(response.request.extensions.get(_CONTEXT, {}).get("id", ""))
        if raw.get("Exists") is not True:
            raise status_error(
                self.provider,
                response,
                message=f"record {record_id!r} not found",
                status_code=404,
                cls=NotFoundError,
            )
        found = raw.get("Auctions")
        item = found[0] if isinstance(found, list) and found else found  # an object [doc], a list [src]
        metadata = self._metadata(item) if isinstance(item, dict) else {}
        return StoredRecord(id=record_id, metadata=metadata)

    def build_update(self, record_id: str, metadata: Mapping[str, MetadataValue | None]) -> httpx.Request:
        full = {k: v for k, v in metadata.items() if v is not None}  # the pipeline merged it already
        params = self._slots(record_id, full, reset=True)
        query = {k: v for k, v in params.items() if k in _UPDATE_QUERY_SLOTS}
        body = {**self._image_key(record_id), **{k: v for k, v in params.items() if k not in query}}
        return self._rpc("UpdateImage", body, query, context={"id": record_id, "metadata": full})

    def parse_update(self, response: httpx.Response, record_id: str) -> StoredRecord:
        self._object(response)
        sent = response.request.extensions.get(_CONTEXT, {}).get("metadata", {})
        return StoredRecord(id=record_id, metadata=dict(sent))

    def build_delete(self, ids: Sequence[str]) -> httpx.Request:
        if len(ids) != 1:
            raise InvalidQueryError("Alibaba's DeleteImage deletes one image per request")
        return self._rpc("DeleteImage", self._image_key(ids[0]))

    def parse_delete(self, response: httpx.Response, ids: Sequence[str]) -> DeleteReport:
        raw = self._object(response)
        data = raw.get("Data")
        names = data.get("PicNames") if isinstance(data, dict) else None
        # DeleteImage succeeds even when nothing matched [doc]; Data.PicNames lists what went [?].
        if isinstance(names, list) and self.pic_name(ids[0]) not in names:
            return DeleteReport(not_found=tuple(ids))
        return DeleteReport(deleted=tuple(ids))

    def build_count(self) -> httpx.Request:
        return self._rpc("Detail", query={"InstanceName": self.instance})  # Detail: query only, no body

    def parse_count(self, response: httpx.Response) -> int:
        instance = self._object(response).get("Instance")
        count = instance.get("TotalCount") if isinstance(instance, dict) else None
        if isinstance(count, bool) or not isinstance(count, int):
            raise self._shape(response, "Detail answered without Instance.TotalCount")
        return count

    def build_verify(self) -> httpx.Request:
        return self.build_count()

    def _slots(self, record_id: str, metadata: Mapping[str, MetadataValue], *, reset: bool) -> dict[str, str]:
        return slot_params(
            record_id,
            metadata,
            self.attributes,
            scales=self.int_scales,
            custom_content=self.custom_content,
            reset=reset,
        )

    def _filter(self, f: Filter) -> str:
        return alibaba_filter(f, self.attributes, scales=self.int_scales, parentheses=self.filter_parentheses)

    def _metadata(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return metadata_of(item, self.attributes, scales=self.int_scales, custom_content=self.custom_content)

    # -- Alibaba-only operations (send them with ``vs.send``) -----------------------------------------

    def build_action(
        self, action: str, body: Mapping[str, str] | None = None, query: Mapping[str, str] | None = None
    ) -> httpx.Request:
        """Any 2020-12-14 action (``DumpMeta``, ``CompareSimilarByImage``...): ``body`` as a sorted form,
        ``query`` in the URL, ``InstanceName`` added to the body unless given. Read the answer with
        :meth:`parse_answer`."""
        if not (body and "InstanceName" in body) and not (query and "InstanceName" in query):
            body = {"InstanceName": self.instance, **(body or {})}
        return self._rpc(action, body, query)

    def parse_answer(self, response: httpx.Response) -> dict[str, Any]:
        """The JSON object of an answer (errors were raised by ``vs.send`` already)."""
        return self._object(response)

    def build_delete_by_filter(self, filter: Filter) -> httpx.Request:
        """``DeleteImage`` with ``IsDeleteByFilter``: every image matching ``filter`` (translated as searches
        translate it). Read the deleted ``PicName`` s with ``parse_answer(r)["Data"]["PicNames"]`` [?]."""
        text = self._filter(filter)
        return self._rpc(
            "DeleteImage", {"InstanceName": self.instance, "IsDeleteByFilter": "true", "Filter": text}
        )

    def build_search_by_filter(self, filter: Filter, *, limit: int = 100, offset: int = 0) -> httpx.Request:
        """``SearchImageByFilter``: images matching ``filter``, unranked, in the same 500-result window."""
        text = self._filter(filter)
        body = {"InstanceName": self.instance, "Filter": text, "Num": str(limit), "Start": str(offset)}
        return self._rpc("SearchImageByFilter", body)

    def parse_records(self, response: httpx.Response) -> list[StoredRecord]:
        """The images of a ``SearchImageByFilter`` answer, with their metadata."""
        auctions = self._object(response).get("Auctions") or []
        return [
            StoredRecord(id=str(item["ProductId"]), metadata=self._metadata(item))
            for item in auctions
            if isinstance(item, dict)
        ]

    # -- errors ---------------------------------------------------------------------------------------

    def error_for(self, response: httpx.Response) -> APIStatusError | None:
        secrets = [self.credentials.access_key_secret.get_secret_value()]
        if self.credentials.security_token is not None:  # echoed in SignatureDoesNotMatch's string to sign
            secrets.append(self.credentials.security_token.get_secret_value())
        return alibaba_error(self.provider, response, redact=secrets)


def _request_id(raw: Mapping[str, Any], response: httpx.Response) -> str | None:
    rid = raw.get("RequestId")
    return str(rid) if rid else response.headers.get("x-acs-request-id")
