"""The sans-IO pipeline both clients share.

Every operation is a *flow*: a generator that yields steps and receives their results. A ``Send`` step asks
the client to send one request (with retries) and returns the response; a ``Compute`` step asks it to run
CPU-bound work (image preprocessing) inline (sync) or in a worker thread (async). Errors raised while
executing a step are thrown back into the flow, so a flow can turn a failed batch into per-record failures.
The clients differ only in how they wait; everything else — capability checks, argument validation,
preprocessing, request building, response mapping, paging and bulk bookkeeping — lives here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx
from pydantic import ValidationError

from visualsearch_sdk._exceptions import (
    APIResponseError,
    APITimeoutError,
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    ImageError,
    InvalidQueryError,
    NearDuplicateError,
    UnsupportedCapabilityError,
    VisualSearchError,
)
from visualsearch_sdk.capabilities import Capability
from visualsearch_sdk.filters import FilterLike, parse_filter
from visualsearch_sdk.local.features import parse_hex_color
from visualsearch_sdk.models import (
    DeleteReport,
    ImageInput,
    ImageRecord,
    IndexReport,
    MetadataValue,
    ObjectQuery,
    ObjectSearchResult,
    RecordFailure,
    SearchQuery,
    SearchResult,
    StoredRecord,
)
from visualsearch_sdk.preprocess import PreparedImage, Preset, parse_box, prepare_image, resolve_preset
from visualsearch_sdk.providers._base import Adapter, IndexStatus, Operation, PreparedRecord

__all__ = ["Compute", "Flow", "Pipeline", "Send", "Sleep"]

T = TypeVar("T")
ADAPTER_PRESET: Any = object()
"""The default of ``Pipeline(preset=)``: the adapter's preset (``None`` is a preset: the original image)."""


@dataclass(frozen=True)
class Send:
    """Send ``request``; retry it only if ``idempotent`` (decided per operation by the adapter)."""

    request: httpx.Request
    operation: Operation
    idempotent: bool


@dataclass(frozen=True)
class Compute(Generic[T]):
    """Run CPU-bound ``fn`` (inline in the sync client, in a worker thread in the async one)."""

    fn: Callable[[], T]


@dataclass(frozen=True)
class Sleep:
    """Wait ``seconds`` (``time.sleep`` in the sync client, ``anyio.sleep`` in the async one)."""

    seconds: float


Step = Send | Compute[Any] | Sleep
Flow = Generator[Step, Any, T]


def parse_color(value: str | tuple[int, int, int]) -> tuple[int, int, int]:
    """``"#fa4d4d"``, ``"fa4d4d"``, ``"#f4d"`` or an (r, g, b) tuple -> (r, g, b).

    Raises ``InvalidQueryError`` for anything else.
    """
    if isinstance(value, tuple):
        if len(value) == 3 and all(
            isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value
        ):
            return value
        raise InvalidQueryError(f"colour {value!r} must be three integers in 0..255")
    return parse_hex_color(value.strip() if isinstance(value, str) else value)


class Pipeline:
    """Validation and flows for one adapter; owned by a client, shared by nothing else."""

    def __init__(self, adapter: Adapter, *, preset: Preset = ADAPTER_PRESET) -> None:
        """``preset`` defaults to the adapter's; ``None`` sends the original image (within the limits).

        Raises:
            ConfigurationError: an unknown preset name or an invalid custom preset.
        """
        self.adapter = adapter
        self.provider = adapter.provider
        self.preset: Preset = adapter.preset if preset is ADAPTER_PRESET else preset
        try:
            resolve_preset(self.preset)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(str(exc)) from None

    # -- checks (before any I/O) ----------------------------------------------------------------------

    def require(self, *capabilities: Capability) -> None:
        """Raise ``UnsupportedCapabilityError`` unless the adapter declares every capability."""
        for capability in capabilities:
            if capability not in self.adapter.capabilities:
                raise UnsupportedCapabilityError(
                    f"{self.provider} does not support {capability.label} (Capability.{capability.name}); "
                    "see `visualsearch capabilities` for what each provider can do",
                    provider=self.provider,
                    capability=capability.value,
                )

    def send(self, request: httpx.Request, operation: Operation) -> Send:
        return Send(request, operation, operation in self.adapter.idempotent)

    def parse(self, fn: Callable[..., T], response: httpx.Response, *args: Any) -> T:
        """Run an adapter parser; a body of the wrong shape becomes ``APIResponseError`` (body kept)."""
        try:
            return fn(response, *args)
        except VisualSearchError:
            raise
        except (KeyError, IndexError, TypeError, ValueError, ValidationError, AttributeError) as exc:
            raise APIResponseError(
                f"unexpected response shape ({type(exc).__name__}: {exc})",
                provider=self.provider,
                method=response.request.method,
                url=str(response.request.url.copy_with(query=None)),
                status_code=response.status_code,
                body=response.text[:20_000],
            ) from exc

    def make_query(
        self,
        *,
        image: ImageInput | None,
        url: str | None,
        id: str | None,
        color: str | tuple[int, int, int] | None,
        box: Sequence[float] | None,
        limit: int,
        offset: int,
        filter: FilterLike | None,
        fields: Sequence[str] | None,
        min_score: float | None,
        upload_id: str | None = None,
    ) -> SearchQuery:
        """Validate search arguments into a ``SearchQuery`` and check capabilities, before any I/O."""
        given = [
            name
            for name, value in (
                ("image", image),
                ("url", url),
                ("id", id),
                ("color", color),
                ("upload_id", upload_id),
            )
            if value is not None
        ]
        if len(given) != 1:
            raise InvalidQueryError(
                "pass exactly one of image=, url=, id=, color= or upload_id= "
                f"(got {', '.join(given) if given else 'none'})"
            )
        mode = given[0]
        needed = {
            "image": Capability.SEARCH_BY_IMAGE,
            "url": Capability.SEARCH_BY_URL,
            "id": Capability.SEARCH_BY_ID,
            "color": Capability.SEARCH_BY_COLOR,
            "upload_id": Capability.SEARCH_BY_UPLOAD_ID,
        }[mode]
        self.require(needed)
        if box is not None:
            if mode not in {"image", "url"}:
                raise InvalidQueryError("box= applies to image= and url= searches only")
            box = parse_box(box)
            if mode == "url":
                self.require(Capability.SERVER_CROP)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= self.adapter.max_limit:
            raise InvalidQueryError(
                f"limit must be an integer in 1..{self.adapter.max_limit} for {self.provider}"
            )
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise InvalidQueryError("offset must be a non-negative integer")
        if offset + limit > self.adapter.page_window:
            raise InvalidQueryError(
                f"{self.provider} returns at most {self.adapter.page_window} results per query "
                f"(offset + limit = {offset + limit})"
            )
        parsed_filter = parse_filter(filter)
        if parsed_filter is not None:
            self.require(Capability.FILTERS)
        if min_score is not None and (
            not isinstance(min_score, (int, float)) or not math.isfinite(min_score) or not 0 <= min_score <= 1
        ):
            raise InvalidQueryError("min_score must be a number in [0, 1]")
        if min_score is not None:
            self.require(Capability.MIN_SCORE)
        if fields is not None:
            if isinstance(fields, str):
                raise InvalidQueryError("fields must be a list of field names, not a string")
            self.require(Capability.METADATA)
        if url is not None:
            _check_http_url(url)
        if id is not None and (not isinstance(id, str) or not id):
            raise InvalidQueryError("id must be a non-empty string")
        if upload_id is not None and (not isinstance(upload_id, str) or not upload_id):
            raise InvalidQueryError("upload_id must be a non-empty string (a SearchResult.upload_id)")
        return SearchQuery(
            mode=mode,
            url=url,
            id=id,
            upload_id=upload_id,
            color=parse_color(color) if color is not None else None,
            box=tuple(box) if box is not None else None,
            limit=limit,
            offset=offset,
            filter=parsed_filter,
            fields=tuple(fields) if fields is not None else None,
            min_score=float(min_score) if min_score is not None else None,
        )

    # -- flows ----------------------------------------------------------------------------------------

    def prepare_query_image(self, query: SearchQuery, image: ImageInput | None) -> PreparedImage | None:
        """Preprocess the query image (CPU work): without ``SERVER_CROP`` the box is cropped here."""
        if query.mode != "image":
            return None
        assert image is not None
        server_crop = Capability.SERVER_CROP in self.adapter.capabilities
        return prepare_image(
            image, preset=self.preset, box=query.box, limits=self.adapter.limits, crop=not server_crop
        )

    def search(self, query: SearchQuery, image: ImageInput | None) -> Flow[SearchResult]:
        prepared = (
            (yield Compute(lambda: self.prepare_query_image(query, image))) if image is not None else None
        )
        return (yield from self.search_prepared(query, prepared))

    def search_prepared(self, query: SearchQuery, prepared: PreparedImage | None) -> Flow[SearchResult]:
        """One search with an already prepared image (``iter_search`` prepares once for every page)."""
        response = yield self.send(self.adapter.build_search(query, prepared), "search")
        result = self.parse(self.adapter.parse_search, response, query)
        if prepared is not None and query.box is not None:
            used = prepared.crop_box
            if used is None and prepared.box is not None:
                used = prepared.to_original(prepared.box)
            result = result.model_copy(update={"query_box": used})
        return result

    @staticmethod
    def is_last_page(query: SearchQuery, result: SearchResult) -> bool:
        """True when no further page can hold hits."""
        if len(result.hits) < query.limit:
            return True
        return result.total is not None and query.offset + query.limit >= result.total

    def page_queries(self, query: SearchQuery, page_size: int | None) -> Iterator[SearchQuery]:
        """The queries of successive pages, from ``query.offset`` up to the provider's paging window."""
        size = min(page_size or query.limit, self.adapter.max_limit)
        offset = query.offset
        while offset < self.adapter.page_window:
            limit = min(size, self.adapter.page_window - offset)
            yield query.model_copy(update={"offset": offset, "limit": limit})
            offset += limit

    def prepare_records(
        self, records: Sequence[ImageRecord], *, drop_metadata: bool = False
    ) -> tuple[list[PreparedRecord], list[RecordFailure]]:
        """Preprocess a batch's images; a bad image becomes that record's failure, the rest go on.

        On a provider without ``METADATA``, a record with metadata fails, unless ``drop_metadata`` (the
        user's explicit choice) drops it.
        """
        ready: list[PreparedRecord] = []
        failed: list[RecordFailure] = []
        caps = self.adapter.capabilities
        for record in records:
            try:
                if Capability.METADATA not in caps and record.metadata:
                    if drop_metadata:
                        record = record.model_copy(update={"metadata": {}})
                    else:
                        raise UnsupportedCapabilityError(
                            f"{self.provider} stores no metadata; record {record.id!r} has some "
                            "(pass drop_metadata=True to index it without)",
                            provider=self.provider,
                            capability=Capability.METADATA.value,
                        )
                if record.image is not None and Capability.INDEX_FROM_BYTES in caps:
                    prepared = prepare_image(record.image, preset=self.preset, limits=self.adapter.limits)
                    ready.append(PreparedRecord(record.id, prepared, record.url, record.metadata))
                elif record.url is not None and Capability.INDEX_FROM_URL in caps:
                    ready.append(PreparedRecord(record.id, None, record.url, record.metadata))
                else:
                    what = "image bytes" if record.image is not None else "an image URL"
                    raise UnsupportedCapabilityError(
                        f"{self.provider} cannot index a record from {what} (record {record.id!r})",
                        provider=self.provider,
                        capability=(
                            Capability.INDEX_FROM_BYTES
                            if record.image is not None
                            else Capability.INDEX_FROM_URL
                        ).value,
                    )
            except (ImageError, UnsupportedCapabilityError) as exc:
                failed.append(RecordFailure(id=record.id, error=exc, reason=_reason(exc)))
        return ready, failed

    def index_batch(
        self, records: Sequence[ImageRecord], *, upsert: bool, drop_metadata: bool = False
    ) -> Flow[IndexReport]:
        """Index one batch (at most ``adapter.batch_size`` records); every record ends in the report once.

        With ``upsert`` on a provider whose insert refuses existing ids (no ``UPSERT`` capability), records
        refused as existing are deleted and inserted again. That replacement is not atomic: if the second
        insert fails, the record is reported failed and is no longer in the index.
        """
        ready, failed = yield Compute(lambda: self.prepare_records(records, drop_metadata=drop_metadata))
        native = upsert and Capability.UPSERT in self.adapter.capabilities
        transactions: list[str] = []
        outcome = yield from self._insert(ready, upsert=native, transactions=transactions)
        if upsert and not native:
            existing = [r for r in ready if _is_existing_id(outcome[r.id])]
            if existing:
                self.require(Capability.INDEX_DELETE)
                try:
                    response = yield self.send(self.adapter.build_delete([r.id for r in existing]), "delete")
                    self.parse(self.adapter.parse_delete, response, [r.id for r in existing])
                except AuthenticationError:
                    raise
                except VisualSearchError as exc:
                    outcome.update({r.id: exc for r in existing})
                else:
                    again = yield from self._insert(existing, upsert=False, transactions=transactions)
                    outcome.update(again)
        failed.extend(
            RecordFailure(id=rid, error=err, reason=_reason(err)) for rid, err in outcome.items() if err
        )
        order = {record.id: i for i, record in enumerate(records)}
        return IndexReport(
            succeeded=tuple(
                sorted((rid for rid, err in outcome.items() if err is None), key=order.__getitem__)
            ),
            failed=tuple(sorted(failed, key=lambda f: order.get(f.id, 0))),
            transaction_ids=tuple(dict.fromkeys(transactions)),
        )

    def _insert(
        self, ready: Sequence[PreparedRecord], *, upsert: bool, transactions: list[str] | None = None
    ) -> Flow[dict[str, VisualSearchError | None]]:
        """One insert request; each record's error (None on success), a missing report being an error too.

        An asynchronous provider's transaction ids are appended to ``transactions``.
        """
        if not ready:
            return {}
        try:
            request = self.adapter.build_index(ready, upsert=upsert)
        except VisualSearchError as exc:  # the adapter refused some record's input, before any I/O
            return (
                yield from self._insert_without_refused(ready, exc, upsert=upsert, transactions=transactions)
            )
        try:
            response = yield self.send(request, "index")
            outcomes = self.parse(self.adapter.parse_index, response, ready)
        except AuthenticationError:
            raise
        except VisualSearchError as exc:
            return {r.id: exc for r in ready}
        by_id = {o.id: o.error for o in outcomes}
        if transactions is not None:
            transactions.extend(o.transaction_id for o in outcomes if o.transaction_id is not None)
        result: dict[str, VisualSearchError | None] = {}
        for record in ready:
            if record.id in by_id:
                result[record.id] = by_id[record.id]
            else:
                result[record.id] = _NotReported(
                    f"the provider did not report on record {record.id!r}",
                    provider=self.provider,
                    body=response.text[:2000],
                )
        return result

    def _insert_without_refused(
        self,
        ready: Sequence[PreparedRecord],
        error: VisualSearchError,
        *,
        upsert: bool,
        transactions: list[str] | None,
    ) -> Flow[dict[str, VisualSearchError | None]]:
        """One record's bad input must not fail its whole batch: find the records the adapter refuses on
        their own, and insert the others."""
        refused: dict[str, VisualSearchError] = {}
        if len(ready) > 1:
            for record in ready:
                try:
                    self.adapter.build_index([record], upsert=upsert)
                except VisualSearchError as exc:
                    refused[record.id] = exc
        if not refused:  # the batch as a whole was refused (or a batch of one): every record has the error
            return {r.id: error for r in ready}
        sent = yield from self._insert(
            [r for r in ready if r.id not in refused], upsert=upsert, transactions=transactions
        )
        return {r.id: refused[r.id] if r.id in refused else sent[r.id] for r in ready}

    def check_index_input(self, records: Iterable[ImageRecord | Mapping[str, Any]]) -> list[ImageRecord]:
        """Validate records (dicts are accepted) and refuse duplicate ids within one call."""
        self.require(Capability.INDEX_WRITE)
        out: list[ImageRecord] = []
        seen: set[str] = set()
        for item in records:
            record = as_record(item)
            if record.id in seen:
                raise InvalidQueryError(f"record id {record.id!r} appears twice in one call")
            seen.add(record.id)
            out.append(record)
        return out

    def batches(self, records: Sequence[ImageRecord], size: int | None = None) -> Iterator[list[ImageRecord]]:
        step = max(1, min(size or self.adapter.batch_size, self.adapter.batch_size))
        for start in range(0, len(records), step):
            yield list(records[start : start + step])

    def get(self, record_id: str) -> Flow[StoredRecord]:
        self.require(Capability.GET)
        response = yield self.send(self.adapter.build_get(_check_id(record_id)), "get")
        return self.parse(self.adapter.parse_get, response)

    def update(self, record_id: str, metadata: Mapping[str, MetadataValue | None]) -> Flow[StoredRecord]:
        self.require(Capability.INDEX_UPDATE, Capability.METADATA)
        if not isinstance(metadata, Mapping):
            raise InvalidQueryError(
                "metadata must be a mapping of field names to values (None removes a field)"
            )
        if self.adapter.update_replaces:  # read, merge here, and send the whole metadata
            current = yield from self.get(record_id)
            merged = {**current.metadata, **metadata}
            metadata = {key: value for key, value in merged.items() if value is not None}
        response = yield self.send(self.adapter.build_update(_check_id(record_id), metadata), "update")
        return self.parse(self.adapter.parse_update, response, record_id)

    def delete(self, ids: Sequence[str]) -> Flow[DeleteReport]:
        self.require(Capability.INDEX_DELETE)
        if isinstance(ids, str):
            ids = [ids]
        unique = list(dict.fromkeys(_check_id(i) for i in ids))
        report = DeleteReport()
        for start in range(0, len(unique), self.adapter.delete_batch_size):
            part = unique[start : start + self.adapter.delete_batch_size]
            try:
                response = yield self.send(self.adapter.build_delete(part), "delete")
                done = self.parse(self.adapter.parse_delete, response, part)
            except AuthenticationError:
                raise
            except VisualSearchError as exc:
                done = DeleteReport(
                    failed=tuple(RecordFailure(id=i, error=exc, reason=_reason(exc)) for i in part)
                )
            report = DeleteReport(
                deleted=report.deleted + done.deleted,
                not_found=report.not_found + done.not_found,
                failed=report.failed + done.failed,
            )
        return report

    def count(self) -> Flow[int]:
        self.require(Capability.COUNT)
        response = yield self.send(self.adapter.build_count(), "count")
        return self.parse(self.adapter.parse_count, response)

    def list_page(self, cursor: str | None, limit: int = 100) -> Flow[tuple[list[StoredRecord], str | None]]:
        self.require(Capability.LIST)
        response = yield self.send(self.adapter.build_list(cursor, limit), "list")
        return self.parse(self.adapter.parse_list, response)

    def verify(self) -> Flow[None]:
        response = yield self.send(self.adapter.build_verify(), "verify")
        del response

    # -- asynchronous indexing ------------------------------------------------------------------------

    def wait_for_indexing(
        self, report: IndexReport, *, timeout: float, poll_interval: float
    ) -> Flow[IndexReport]:
        """Poll each transaction of ``report`` until the provider has processed it, then read every page of
        its failures: the returned report has each record once, succeeded or failed with the provider's
        per-image error. Without ``INDEX_ASYNC`` (indexing is synchronous) the report is returned as it is.

        Raises:
            APITimeoutError: a transaction was still running after ``timeout`` seconds (wait again later,
                with the same report).
        """
        for name, value in (("timeout", timeout), ("poll_interval", poll_interval)):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise InvalidQueryError(f"{name} must be a non-negative number of seconds")
        if Capability.INDEX_ASYNC not in self.adapter.capabilities or not report.transaction_ids:
            return report
        deadline = time.monotonic() + timeout
        failures: dict[str, VisualSearchError] = {}
        for transaction in report.transaction_ids:
            status: IndexStatus = yield from self._index_status(transaction, 1)
            while not status.finished:
                if time.monotonic() + poll_interval > deadline:
                    raise APITimeoutError(
                        f"indexing transaction {transaction} was still running after {timeout:g} s; "
                        "call wait_for_indexing(report) again later",
                        provider=self.provider,
                    )
                yield Sleep(poll_interval)
                status = yield from self._index_status(transaction, 1)
            while True:
                failures.update((o.id, o.error) for o in status.failed if o.error is not None)
                if status.next_page is None:
                    break
                status = yield from self._index_status(transaction, status.next_page)
        moved = [rid for rid in report.succeeded if rid in failures]
        if not moved:
            return report
        late = tuple(RecordFailure(id=i, error=failures[i], reason=_reason(failures[i])) for i in moved)
        return report.model_copy(
            update={
                "succeeded": tuple(rid for rid in report.succeeded if rid not in failures),
                "failed": report.failed + late,
            }
        )

    def _index_status(self, transaction: str, page: int) -> Flow[IndexStatus]:
        response = yield self.send(self.adapter.build_index_status(transaction, page), "index_status")
        return self.parse(self.adapter.parse_index_status, response)

    # -- multi-object search --------------------------------------------------------------------------

    def make_object_query(
        self,
        *,
        image: ImageInput | None,
        url: str | None,
        upload_id: str | None,
        box: Sequence[float] | None,
        detection: str | None,
        limit_per_object: int,
        filter: FilterLike | None,
        fields: Sequence[str] | None,
        min_score: float | None,
    ) -> ObjectQuery:
        """Validate ``search_objects`` arguments and check capabilities, before any I/O."""
        self.require(Capability.MULTI_OBJECT)
        given = [n for n, v in (("image", image), ("url", url), ("upload_id", upload_id)) if v is not None]
        if len(given) != 1:
            raise InvalidQueryError(
                f"pass exactly one of image=, url= or upload_id= (got {', '.join(given) or 'none'})"
            )
        base = self.make_query(
            image=image,
            url=url,
            id=None,
            color=None,
            box=box,
            limit=limit_per_object,
            offset=0,
            filter=filter,
            fields=fields,
            min_score=min_score,
            upload_id=upload_id,
        )
        if detection is not None and (not isinstance(detection, str) or not detection.strip()):
            raise InvalidQueryError("detection must be a non-empty object type name (or None for all)")
        return ObjectQuery(
            mode="image" if image is not None else "url" if url is not None else "upload_id",
            url=base.url,
            upload_id=base.upload_id,
            box=base.box,
            detection=detection,
            limit_per_object=base.limit,
            filter=base.filter,
            fields=base.fields,
            min_score=base.min_score,
        )

    def _prepare_object_image(self, image: ImageInput, box: Sequence[float] | None) -> PreparedImage:
        server_crop = Capability.SERVER_CROP in self.adapter.capabilities
        return prepare_image(
            image, preset=self.preset, box=box, limits=self.adapter.limits, crop=not server_crop
        )

    def search_objects(self, query: ObjectQuery, image: ImageInput | None) -> Flow[ObjectSearchResult]:
        prepared: PreparedImage | None = None
        if image is not None:
            prepared = yield Compute(lambda: self._prepare_object_image(image, query.box))
        response = yield self.send(self.adapter.build_search_objects(query, prepared), "search_objects")
        return self.parse(self.adapter.parse_search_objects, response, query, prepared)


class _NotReported(APIResponseError):
    """The provider's answer to a batch said nothing about one of its records."""

    reason = "not reported"


def as_record(item: ImageRecord | Mapping[str, Any]) -> ImageRecord:
    """An ``ImageRecord`` from itself or a dict; a malformed one is an ``InvalidQueryError`` naming the id."""
    if isinstance(item, ImageRecord):
        return item
    try:
        return ImageRecord.model_validate(item)
    except ValidationError as exc:
        rid = item.get("id") if isinstance(item, Mapping) else None
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidQueryError(f"record {rid!r} is invalid: {problems}") from None


def _check_id(record_id: str) -> str:
    if not isinstance(record_id, str) or not record_id:
        raise InvalidQueryError("a record id is a non-empty string")
    return record_id


def _check_http_url(url: str) -> None:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise InvalidQueryError(f"url {url!r} is not a valid URL") from exc
    if parsed.scheme not in {"http", "https"} or not parsed.host:
        raise InvalidQueryError(f"url must be an http(s) URL with a host, got {url!r}")


def _reason(exc: VisualSearchError) -> str:
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str):
        return reason
    code = getattr(exc, "provider_code", None)
    return f"{type(exc).__name__}: {code}" if code else type(exc).__name__


def _is_existing_id(error: VisualSearchError | None) -> bool:
    """The record was refused because its id exists (what an upsert replaces); a near duplicate is not."""
    return isinstance(error, ConflictError) and not isinstance(error, NearDuplicateError)
