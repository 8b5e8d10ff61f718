"""``VisualSearch`` and ``AsyncVisualSearch``: thin shells over the shared pipeline.

Both build the same adapter and ``Pipeline`` in ``_ClientBase`` (``_client_base.py``; no I/O: the HTTP client,
and for the local backend the engine, are created on first use). They differ only in how they wait: the sync
client sends with ``httpx.Client`` and runs preprocessing inline, the async one (``_async_client.py``) uses
``httpx.AsyncClient`` and worker threads.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from types import TracebackType
from typing import Any

import httpx
import tenacity

from visualsearch_sdk._async_client import AsyncVisualSearch
from visualsearch_sdk._bulk import Progress
from visualsearch_sdk._client_base import WAIT_POLL_INTERVAL, WAIT_TIMEOUT, T, _ClientBase
from visualsearch_sdk._core import Flow, Send, Sleep
from visualsearch_sdk._exceptions import (
    AuthenticationError,
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

__all__ = ["AsyncVisualSearch", "VisualSearch"]


class VisualSearch(_ClientBase):
    """The synchronous client. Use it as a context manager, or call ``close()``."""

    _http: httpx.Client | None

    def _client(self) -> httpx.Client:
        if self._user_http is not None:
            if not isinstance(self._user_http, httpx.Client):
                raise ConfigurationError(
                    "VisualSearch takes an httpx.Client (AsyncVisualSearch an AsyncClient)"
                )
            return self._user_http
        with self._lock:
            if self._http is None:
                self._http = httpx.Client(transport=self._default_transport(), **self._http_kwargs())
            return self._http

    def _send(self, step: Send) -> httpx.Response:
        client, attempt = self._client(), 0
        retrying = tenacity.Retrying(
            **self.retry.tenacity_kwargs(idempotent=step.idempotent, sleep=time.sleep)
        )
        for state in retrying:
            with state:
                attempt += 1
                request, wait = self._attempt(step)
                if wait:
                    time.sleep(wait)
                started = time.perf_counter()
                try:
                    response = client.send(request, auth=self.adapter.auth())
                    response.read()
                except httpx.TransportError as exc:
                    raise self._transport_error(exc, step.request, attempt) from exc
                return self._finish(step, response, attempt, started)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    def _run(self, flow: Flow[T]) -> T:
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
                    value = self._send(step)
                elif isinstance(step, Sleep):
                    time.sleep(step.seconds)
                else:
                    value = step.fn()
            except VisualSearchError as exc:
                error = exc

    # -- public API -----------------------------------------------------------------------------------

    def verify(self) -> None:
        """Check the credentials and the endpoint with one cheap request; raises on failure."""
        self._run(self._pipeline.verify())

    def index(
        self,
        records: Iterable[ImageRecord | Mapping[str, Any]],
        *,
        upsert: bool = False,
        drop_metadata: bool = False,
        wait: bool = False,
    ) -> IndexReport:
        """Index records (in the provider's batch size); every record is reported once, succeeded or failed.

        An id that exists already fails with ``ConflictError`` unless ``upsert=True`` replaces it (a
        provider without ``Capability.REFUSE_EXISTING`` always replaces). On a provider that stores no
        metadata, a record with metadata fails unless ``drop_metadata=True``. On a provider that indexes
        asynchronously (``Capability.INDEX_ASYNC``), ``wait=True`` waits as ``wait_for_indexing`` does.
        """
        checked = self._index_input(records)
        flow = functools.partial(self._pipeline.index_batch, upsert=upsert, drop_metadata=drop_metadata)
        report = IndexReport()
        for batch in self._pipeline.batches(checked):
            report = report.merge(self._run(flow(batch)))
        if wait:
            report = self.wait_for_indexing(report)
        return report

    def wait_for_indexing(
        self, report: IndexReport, *, timeout: float = WAIT_TIMEOUT, poll_interval: float = WAIT_POLL_INTERVAL
    ) -> IndexReport:
        """Wait until a provider that indexes asynchronously has processed the records of ``report``.

        The returned report has every record once, succeeded or failed with the provider's per-image error.
        Without ``Capability.INDEX_ASYNC`` indexing is synchronous and ``report`` is returned unchanged.
        Raises ``APITimeoutError`` if indexing is still running after ``timeout`` seconds.
        """
        flow = self._pipeline.wait_for_indexing(report, timeout=timeout, poll_interval=poll_interval)
        return self._run(flow)

    def index_many(
        self,
        records: Iterable[ImageRecord | Mapping[str, Any]],
        *,
        concurrency: int = 8,
        batch_size: int | None = None,
        upsert: bool = False,
        drop_metadata: bool = False,
        progress: Progress | None = None,
    ) -> IndexReport:
        """Index a stream of records with bounded memory, ``concurrency`` batches at a time (threads)."""
        run = self._bulk_run(records, batch_size, progress)
        flow = functools.partial(self._pipeline.index_batch, upsert=upsert, drop_metadata=drop_metadata)
        workers = max(1, concurrency)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="visualsearch-index") as pool:
            pending: dict[Future[IndexReport], list[ImageRecord]] = {}

            def settle(done: Iterable[Future[IndexReport]]) -> None:
                for future in done:
                    batch = pending.pop(future)
                    try:
                        run.finished(batch, future.result())
                    except VisualSearchError as exc:
                        run.crashed(batch, exc)

            def send(batch: list[ImageRecord]) -> IndexReport:
                run.check_not_stopped()
                try:
                    return self._run(flow(batch))
                except AuthenticationError as exc:  # stop now, not when the main thread settles the batch
                    run.stop(exc)
                    raise

            for batch in run.batches():
                pending[pool.submit(send, batch)] = batch
                if len(pending) >= workers * 2:
                    settle(wait(pending, return_when=FIRST_COMPLETED).done)
            settle(wait(pending).done)
        return run.report()

    def search(
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
        return self._run(self._pipeline.search(query, image))

    def iter_search(
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
    ) -> Iterator[SearchHit]:
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
        prepared = self._pipeline.prepare_query_image(query, image)
        for page in self._pipeline.page_queries(query, page_size):
            result = self._run(self._pipeline.search_prepared(page, prepared))
            yield from result.hits
            if self._pipeline.is_last_page(page, result):
                return

    def search_objects(
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
        """Detect the objects in a query image and find similar images for each (``MULTI_OBJECT``).

        Each object comes with its type, detection score, box in the original image's pixels, and hits.
        ``detection`` names the object types to look for (provider-specific; None: all of them).
        """
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
        return self._run(self._pipeline.search_objects(query, image))

    def get(self, id: str) -> StoredRecord:
        """One record by id; ``NotFoundError`` if absent."""
        return self._run(self._pipeline.get(id))

    def update(self, id: str, metadata: Mapping[str, MetadataValue | None]) -> StoredRecord:
        """Merge metadata into a record without re-uploading its image (``None`` removes a field)."""
        return self._run(self._pipeline.update(id, metadata))

    def delete(self, ids: str | Sequence[str]) -> DeleteReport:
        """Delete records; ids that do not exist are listed in ``not_found``."""
        return self._run(self._pipeline.delete(ids))

    def count(self) -> int:
        """How many records the index holds."""
        return self._run(self._pipeline.count())

    def iter_records(self, *, page_size: int = 100) -> Iterator[StoredRecord]:
        """Every record, page by page."""
        cursor: str | None = None
        while True:
            records, cursor = self._run(self._pipeline.list_page(cursor, page_size))
            yield from records
            if cursor is None:
                return

    def send(self, request: httpx.Request, *, idempotent: bool = False) -> httpx.Response:
        """Send a request you built (a vendor-only operation) through this client's machinery.

        The request gets the provider's auth, the client's timeout, rate limit, retries, logging and hooks,
        and the answer goes through the adapter's error mapping: a vendor error raises as in any other call.
        A relative URL is resolved against the provider's base URL; an absolute one must have the same origin
        (the request is sent with credentials). Pass ``idempotent=True`` only when repeating the request is
        harmless: then it is retried even after it may have arrived; otherwise only failures that certainly
        came before the provider acted on it (a refused connection, a 429) are retried.

        Returns:
            The read ``httpx.Response``; parse it with the adapter's matching ``parse_*`` method.
        """
        return self._send(self._send_step(request, idempotent))

    def close(self) -> None:
        """Close the HTTP client (and the in-process engine); an injected ``http_client`` is left open."""
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None

    def __enter__(self) -> VisualSearch:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
