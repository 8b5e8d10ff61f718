"""``VisualSearch`` and ``AsyncVisualSearch``: thin shells over the shared pipeline.

Both build the same adapter and ``Pipeline`` in ``_ClientBase`` (no I/O: the HTTP client, and for the local
backend the engine, are created on first use). They differ only in how they wait: the sync client sends with
``httpx.Client`` and runs preprocessing inline, the async one uses ``httpx.AsyncClient`` and worker threads.
"""

from __future__ import annotations

import abc
import functools
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from types import TracebackType
from typing import Any, TypeVar

import anyio
import httpx
import tenacity

from visualsearch_sdk import __version__
from visualsearch_sdk._bulk import BulkRun, Progress
from visualsearch_sdk._config import ClientOptions, parse_provider_url, resolve_environment
from visualsearch_sdk._core import Flow, Pipeline, Send, Sleep
from visualsearch_sdk._exceptions import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ConfigurationError,
    InvalidQueryError,
    VisualSearchError,
)
from visualsearch_sdk._logging import logger, redact_url
from visualsearch_sdk._ratelimit import TokenBucket
from visualsearch_sdk._registry import Provider, get_adapter
from visualsearch_sdk._retry import RetryPolicy
from visualsearch_sdk.capabilities import Capability
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
from visualsearch_sdk.preprocess import Preset
from visualsearch_sdk.providers._base import Adapter

__all__ = ["AsyncVisualSearch", "VisualSearch"]

T = TypeVar("T")
_C = TypeVar("_C", bound="_ClientBase")
_UNSET: Any = object()
WAIT_TIMEOUT = 600.0
"""Seconds ``index(wait=True)`` and ``wait_for_indexing`` wait for a provider's asynchronous indexing."""
WAIT_POLL_INTERVAL = 2.0
"""Seconds between two status requests while waiting for asynchronous indexing."""


_MAX_CONNECTIONS = 100
"""Connections one client may hold open (httpx's default), all of which may stay alive between requests."""


class _ClientBase(abc.ABC):
    """Configuration shared by both clients; does no I/O."""

    def __init__(
        self,
        provider: str | Provider = "memory://",
        *,
        options: Any = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        max_retries: int | None = None,
        allow_http: bool | None = None,
        preset: Preset = _UNSET,
        retry: RetryPolicy | None = None,
        http_client: httpx.Client | httpx.AsyncClient | None = None,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
        proxy: str | None = None,
        max_qps: float | None = None,
        on_request: Callable[[httpx.Request], None] | None = None,
        on_response: Callable[[httpx.Response], None] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """Build a client; nothing is opened or sent until the first call.

        Args:
            provider: a provider URL (``"local:///var/lib/index"``, ``"memory://"``) or a provider name.
            options: the provider's typed options (e.g. ``LocalOptions``).
            base_url: point the adapter at another host (a proxy, a fake on loopback).
            timeout: seconds, or an ``httpx.Timeout``; bounded by default (``_config.DEFAULT_TIMEOUT``).
            max_retries: retries after the first attempt, for what is safe to retry.
            allow_http: allow plain ``http://`` to a non-loopback host.
            preset: the image preset (default: the provider's).
            retry: a whole ``RetryPolicy`` (overrides ``max_retries``).
            http_client / transport / proxy: how requests travel; an injected client is used as it is and
                never closed by this one.
            max_qps: pace requests client-side (a token bucket shared by threads and tasks); default: the
                adapter's ``default_max_qps`` (a vendor sold by QPS declares it from its options).
            on_request / on_response: hooks called for every attempt (metrics, tracing); they must not raise.
            environ: the environment mapping to read ``VISUALSEARCH_*`` from (default ``os.environ``).
        """
        if proxy is not None and (http_client is not None or transport is not None):
            raise ConfigurationError(
                "proxy= applies to the client this SDK builds; configure your own client"
            )
        if http_client is not None and transport is not None:
            raise ConfigurationError("pass http_client= or transport=, not both")
        text = str(provider)
        url = parse_provider_url(text if ":" in text else f"{text}://")
        if base_url is not None:
            url = type(url)(**{**url.__dict__, "params": {**url.params, "base_url": base_url}})
        self.client_options = ClientOptions().merged(
            timeout=timeout,
            max_retries=max_retries,
            allow_http=allow_http if allow_http is not None else url.flag("allow_http"),
        )
        adapter_cls = get_adapter(url.provider)
        environ = os.environ if environ is None else environ
        self.adapter: Adapter = adapter_cls.from_url(
            url, options=options, environ=environ, client_options=self.client_options
        )
        self._pipeline = Pipeline(self.adapter, preset=None if preset is _UNSET else preset)
        self.retry = retry or RetryPolicy(max_retries=self.client_options.max_retries)
        self._user_http = http_client
        self._transport = transport
        self._proxy = proxy
        qps = max_qps if max_qps is not None else self.adapter.default_max_qps
        self._bucket = TokenBucket(qps) if qps is not None else None
        self._on_request, self._on_response = on_request, on_response
        in_process = getattr(self.adapter, "in_process_handler", None)
        self._handler = in_process() if callable(in_process) and not (http_client or transport) else None
        self._init_args: dict[str, Any] = {
            "provider": provider,
            "options": options,
            "base_url": base_url,
            "timeout": timeout,
            "max_retries": max_retries,
            "allow_http": allow_http,
            "preset": preset,
            "retry": retry,
            "http_client": http_client,
            "transport": transport,
            "proxy": proxy,
            "max_qps": max_qps,
            "on_request": on_request,
            "on_response": on_response,
            "environ": environ,
        }

    @classmethod
    def from_url(cls: type[_C], url: str, **kwargs: Any) -> _C:
        """A client for a provider URL such as ``local:///var/lib/index`` or ``memory://``."""
        return cls(url, **kwargs)

    @classmethod
    def from_env(
        cls: type[_C], environ: Mapping[str, str] | None = None, *, profile: str | None = None, **kwargs: Any
    ) -> _C:
        """A client from ``VISUALSEARCH_URL``, else the ``VISUALSEARCH_PROFILE`` (or ``profile=``) profile of
        ``visualsearch.toml``; with nothing set, an in-memory local backend. Explicit ``kwargs`` win."""
        environ = os.environ if environ is None else environ
        found = resolve_environment(environ, profile=profile)
        merged = {**found.options, **{k: v for k, v in kwargs.items() if v is not None}}
        return cls(found.url, environ=environ, **merged)

    def with_options(self: _C, **changes: Any) -> _C:
        """A new client with some constructor arguments changed; the original is left as it is.

        Cheap enough per call (``vs.with_options(timeout=2).search(...)``): unless the target or the transport
        changes, the new client borrows this client's HTTP connection pool (and so its in-process engine and
        its rate limiter); only the original closes them.
        """
        args = {**self._init_args, **changes}
        borrow = not {"provider", "options", "base_url", "transport", "http_client", "proxy"} & set(changes)
        if borrow:
            args["http_client"], args["transport"], args["proxy"] = self._client(), None, None
        client = type(self)(**args)
        if borrow and "max_qps" not in changes:
            client._bucket = self._bucket
        return client

    @abc.abstractmethod
    def _client(self) -> Any:
        """The HTTP client (created on first use)."""

    @property
    def provider(self) -> str:
        """The provider's name, e.g. ``"local"``."""
        return self.adapter.provider

    @property
    def capabilities(self) -> frozenset[Capability]:
        """What this provider can do; calls needing anything else raise before any I/O."""
        return self.adapter.capabilities

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.adapter.describe()})"

    def _http_kwargs(self) -> dict[str, Any]:
        return {
            "base_url": self.adapter.base_url,
            "timeout": self.client_options.timeout,
            "follow_redirects": False,
            # httpx keeps only 20 idle connections by default: index_many(concurrency=32) would reconnect
            # for every request beyond the 20th. Keep as many alive as may be open.
            "limits": httpx.Limits(
                max_connections=_MAX_CONNECTIONS, max_keepalive_connections=_MAX_CONNECTIONS
            ),
            "headers": {"user-agent": f"visualsearch_sdk/{__version__} python-httpx/{httpx.__version__}"},
            **({"proxy": self._proxy} if self._proxy else {}),
        }

    def _attempt(self, step: Send) -> tuple[httpx.Request, float]:
        """A fresh copy of the request for one attempt (so auth signs a clean request every time, never
        on top of the last attempt's headers), after the user's hook; and the rate-limit wait."""
        template = step.request
        template.extensions["timeout"] = self.client_options.timeout.as_dict()
        if self._on_request is not None:
            self._on_request(template)  # the template is never sent: the hook never sees credentials
        request = httpx.Request(
            template.method,
            template.url,
            headers=template.headers.copy(),
            content=template.read(),
            extensions=dict(template.extensions),
        )
        return request, (self._bucket.reserve() if self._bucket is not None else 0.0)

    def _default_transport(self) -> Any:
        if self._transport is not None or self._handler is None:
            return self._transport
        from visualsearch_sdk.local.app import LocalTransport

        return LocalTransport(self._handler)

    def _transport_error(self, exc: httpx.TransportError, request: httpx.Request, attempt: int) -> APIError:
        url = redact_url(request.url)
        kind = type(exc).__name__
        if isinstance(exc, httpx.TimeoutException):
            error: APIError = APITimeoutError(
                f"request timed out ({kind})",
                provider=self.provider,
                method=request.method,
                url=url,
                attempts=attempt,
            )
        else:
            error = APIConnectionError(
                f"connection failed ({kind}: {exc})",
                provider=self.provider,
                method=request.method,
                url=url,
                attempts=attempt,
            )
        error.not_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))  # type: ignore[attr-defined]
        return error

    def _finish(self, step: Send, response: httpx.Response, attempt: int, started: float) -> httpx.Response:
        if self._on_response is not None:
            self._on_response(response)
        if logger.isEnabledFor(logging.DEBUG):  # redacting the URL costs more than the rest of this method
            logger.debug(
                "%s %s -> %s (attempt %d, %.1f ms)",
                step.request.method,
                redact_url(step.request.url),
                response.status_code,
                attempt,
                (time.perf_counter() - started) * 1000,
            )
        error = self.adapter.error_for(response)
        if error is not None:
            error.attempts = attempt
            raise error
        return response

    def _bulk_run(
        self,
        records: Iterable[ImageRecord | Mapping[str, Any]],
        batch_size: int | None,
        progress: Progress | None,
    ) -> BulkRun:
        """The bookkeeping of one ``index_many`` run, in batches of at most the provider's size."""
        self._pipeline.require(Capability.INDEX_WRITE)
        size = min(batch_size or self.adapter.batch_size, self.adapter.batch_size)
        return BulkRun(records, batch_size=size, progress=progress)

    def _index_input(self, records: Iterable[ImageRecord | Mapping[str, Any]]) -> list[ImageRecord]:
        if isinstance(records, (ImageRecord, Mapping)):
            records = [records]
        return self._pipeline.check_index_input(records)

    def _send_step(self, request: httpx.Request, idempotent: bool) -> Send:
        """Check a request the caller built for ``send`` (before any I/O) and make it a pipeline step."""
        if not isinstance(request, httpx.Request):
            raise InvalidQueryError("send() takes an httpx.Request (e.g. from the adapter's build_* methods)")
        base = self.adapter.base_url
        if request.url.is_relative_url:
            url, extensions = base.join(request.url), request.extensions
            request = httpx.Request(
                request.method, url, headers=request.headers, stream=request.stream, extensions=extensions
            )
        if (request.url.scheme, request.url.host, request.url.port) != (base.scheme, base.host, base.port):
            raise InvalidQueryError(
                f"send() sends only to this client's provider ({base.scheme}://{base.netloc.decode()}), "
                f"since the request gets its credentials; got {request.url.scheme}://{request.url.host}"
            )
        if not isinstance(request.stream, httpx.SyncByteStream):
            raise InvalidQueryError(
                "send() needs a body it can send again on a retry: build the request with content=, json=, "
                "data= or files=, not an async iterator"
            )
        request.read()
        return Send(request, "send", bool(idempotent))


class VisualSearch(_ClientBase):
    """The synchronous client. Use it as a context manager, or call ``close()``."""

    def __init__(self, provider: str | Provider = "memory://", **kwargs: Any) -> None:
        super().__init__(provider, **kwargs)
        self._http: httpx.Client | None = None
        self._lock = threading.Lock()

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

            for batch in run.batches():
                pending[pool.submit(self._run, flow(batch))] = batch
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


class AsyncVisualSearch(_ClientBase):
    """The asynchronous client: the same methods as ``VisualSearch``, awaited."""

    def __init__(self, provider: str | Provider = "memory://", **kwargs: Any) -> None:
        super().__init__(provider, **kwargs)
        self._http: httpx.AsyncClient | None = None

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
