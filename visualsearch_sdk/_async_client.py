"""``AsyncVisualSearch``: the shared pipeline driven by ``httpx.AsyncClient``; CPU work in worker threads."""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

import anyio
import httpx
import tenacity

from visualsearch_sdk._bulk import Progress
from visualsearch_sdk._client_base import WAIT_POLL_INTERVAL, WAIT_TIMEOUT, T, _ClientBase
from visualsearch_sdk._core import Flow, Send, Sleep
from visualsearch_sdk._exceptions import (
    ConfigurationError,
    VisualSearchError,
)
from visualsearch_sdk.filters import FilterLike
from visualsearch_sdk.models import (
    DeleteReport,
    ImageInput,
    ImageRecord,
    IndexReport,
    MetadataValue,
    ObjectSearchResult,
    SearchHit,
    SearchResult,
    StoredRecord,
)

__all__ = ["AsyncVisualSearch"]


class AsyncVisualSearch(_ClientBase):
    """The asynchronous client: the same methods as ``VisualSearch``, awaited."""

    _http: httpx.AsyncClient | None

    def _client(self) -> httpx.AsyncClient:
        if self._user_http is not None:
            if not isinstance(self._user_http, httpx.AsyncClient):
                raise ConfigurationError("AsyncVisualSearch takes an httpx.AsyncClient")
            return self._user_http
        if self._http is None:
            self._http = httpx.AsyncClient(transport=self._default_transport(), **self._http_kwargs())
        return self._http

    async def _send(self, step: Send) -> httpx.Response:
        client, attempt = self._client(), 0
        retrying = tenacity.AsyncRetrying(
            **self.retry.tenacity_kwargs(idempotent=step.idempotent, sleep=anyio.sleep)
        )
        async for state in retrying:
            with state:
                attempt += 1
                request, wait = self._attempt(step)
                if wait:
                    await anyio.sleep(wait)
                started = time.perf_counter()
                try:
                    response = await client.send(request, auth=self.adapter.auth())
                    await response.aread()
                except httpx.TransportError as exc:
                    raise self._transport_error(exc, step.request, attempt) from exc
                return self._finish(step, response, attempt, started)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _run(self, flow: Flow[T]) -> T:
        value: Any = None
        error: VisualSearchError | None = None
        while True:
            try:
                step = flow.send(value) if error is None else flow.throw(error)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            value, error = None, None
            try:
                if isinstance(step, Send):
                    value = await self._send(step)
                elif isinstance(step, Sleep):
                    await anyio.sleep(step.seconds)
                else:
                    value = await anyio.to_thread.run_sync(step.fn)
            except VisualSearchError as exc:
                error = exc

    # -- public API -----------------------------------------------------------------------------------

    async def verify(self) -> None:
        """Check the credentials and the endpoint with one cheap request; raises on failure."""
        await self._run(self._pipeline.verify())

    async def index(
        self,
        records: Iterable[ImageRecord | Mapping[str, Any]],
        *,
        upsert: bool = False,
        drop_metadata: bool = False,
        wait: bool = False,
    ) -> IndexReport:
        """Index records in the provider's batch size; every record is reported once, succeeded or failed."""
        checked = self._index_input(records)
        flow = functools.partial(self._pipeline.index_batch, upsert=upsert, drop_metadata=drop_metadata)
        report = IndexReport()
        for batch in self._pipeline.batches(checked):
            report = report.merge(await self._run(flow(batch)))
        if wait:
            report = await self.wait_for_indexing(report)
        return report

    async def wait_for_indexing(
        self, report: IndexReport, *, timeout: float = WAIT_TIMEOUT, poll_interval: float = WAIT_POLL_INTERVAL
    ) -> IndexReport:
        """Wait until a provider that indexes asynchronously has processed the records of ``report``."""
        flow = self._pipeline.wait_for_indexing(report, timeout=timeout, poll_interval=poll_interval)
        return await self._run(flow)

    async def index_many(
        self,
        records: Iterable[ImageRecord | Mapping[str, Any]],
        *,
        concurrency: int = 8,
        batch_size: int | None = None,
        upsert: bool = False,
        drop_metadata: bool = False,
        progress: Progress | None = None,
    ) -> IndexReport:
        """Index a stream of records with bounded memory, ``concurrency`` batches at a time (tasks)."""
        run = self._bulk_run(records, batch_size, progress)
        flow = functools.partial(self._pipeline.index_batch, upsert=upsert, drop_metadata=drop_metadata)
        limiter = anyio.Semaphore(max(1, concurrency))

        async def one(batch: list[ImageRecord]) -> None:
            try:
                run.check_not_stopped()
                run.finished(batch, await self._run(flow(batch)))
            except VisualSearchError as exc:
                run.crashed(batch, exc)
            finally:
                limiter.release()

        async with anyio.create_task_group() as group:
            for batch in run.batches():
                await limiter.acquire()
                group.start_soon(one, batch)
        return run.report()

    async def search(
        self,
        *,
        image: ImageInput | None = None,
        url: str | None = None,
        id: str | None = None,
        color: str | tuple[int, int, int] | None = None,
        box: Sequence[float] | None = None,
        limit: int = 10,
        offset: int = 0,
        filter: FilterLike | None = None,
        fields: Sequence[str] | None = None,
        min_score: float | None = None,
        upload_id: str | None = None,
    ) -> SearchResult:
        """Find similar images by exactly one of ``image``, ``url``, ``id``, ``color`` or ``upload_id``."""
        query = self._pipeline.make_query(
            image=image,
            url=url,
            id=id,
            color=color,
            box=box,
            limit=limit,
            offset=offset,
            filter=filter,
            fields=fields,
            min_score=min_score,
            upload_id=upload_id,
        )
        return await self._run(self._pipeline.search(query, image))

    async def iter_search(
        self,
        *,
        image: ImageInput | None = None,
        url: str | None = None,
        id: str | None = None,
        color: str | tuple[int, int, int] | None = None,
        box: Sequence[float] | None = None,
        page_size: int = 50,
        filter: FilterLike | None = None,
        fields: Sequence[str] | None = None,
        min_score: float | None = None,
        upload_id: str | None = None,
    ) -> AsyncIterator[SearchHit]:
        """Every hit, fetched lazily page by page, up to the provider's paging window."""
        query = self._pipeline.make_query(
            image=image,
            url=url,
            id=id,
            color=color,
            box=box,
            limit=min(page_size, self.adapter.max_limit),
            offset=0,
            filter=filter,
            fields=fields,
            min_score=min_score,
            upload_id=upload_id,
        )
        prepared = await anyio.to_thread.run_sync(self._pipeline.prepare_query_image, query, image)
        for page in self._pipeline.page_queries(query, page_size):
            result = await self._run(self._pipeline.search_prepared(page, prepared))
            for hit in result.hits:
                yield hit
            if self._pipeline.is_last_page(page, result):
                return

    async def search_objects(
        self,
        *,
        image: ImageInput | None = None,
        url: str | None = None,
        upload_id: str | None = None,
        box: Sequence[float] | None = None,
        detection: str | None = None,
        limit_per_object: int = 10,
        filter: FilterLike | None = None,
        fields: Sequence[str] | None = None,
        min_score: float | None = None,
    ) -> ObjectSearchResult:
        """Detect the objects in a query image and find similar images for each (``MULTI_OBJECT``)."""
        query = self._pipeline.make_object_query(
            image=image,
            url=url,
            upload_id=upload_id,
            box=box,
            detection=detection,
            limit_per_object=limit_per_object,
            filter=filter,
            fields=fields,
            min_score=min_score,
        )
        return await self._run(self._pipeline.search_objects(query, image))

    async def get(self, id: str) -> StoredRecord:
        """One record by id; ``NotFoundError`` if absent."""
        return await self._run(self._pipeline.get(id))

    async def update(self, id: str, metadata: Mapping[str, MetadataValue | None]) -> StoredRecord:
        """Merge metadata into a record without re-uploading its image (``None`` removes a field)."""
        return await self._run(self._pipeline.update(id, metadata))

    async def delete(self, ids: str | Sequence[str]) -> DeleteReport:
        """Delete records; ids that do not exist are listed in ``not_found``."""
        return await self._run(self._pipeline.delete(ids))

    async def count(self) -> int:
        """How many records the index holds."""
        return await self._run(self._pipeline.count())

    async def iter_records(self, *, page_size: int = 100) -> AsyncIterator[StoredRecord]:
        """Every record, page by page."""
        cursor: str | None = None
        while True:
            records, cursor = await self._run(self._pipeline.list_page(cursor, page_size))
            for record in records:
                yield record
            if cursor is None:
                return

    async def send(self, request: httpx.Request, *, idempotent: bool = False) -> httpx.Response:
        """Send a request you built (a vendor-only operation) through this client's machinery."""
        return await self._send(self._send_step(request, idempotent))

    async def aclose(self) -> None:
        """Close the HTTP client (and the in-process engine); an injected ``http_client`` is left open."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> AsyncVisualSearch:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
