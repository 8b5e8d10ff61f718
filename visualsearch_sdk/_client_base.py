"""What both clients share: configuration, the adapter and pipeline, and one attempt's bookkeeping (no I/O).

``VisualSearch`` (``_client.py``) and ``AsyncVisualSearch`` (``_async_client.py``) build on it and differ only
in how they wait.
"""

from __future__ import annotations

import abc
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import httpx

from visualsearch_sdk import __version__
from visualsearch_sdk._bulk import BulkRun, Progress
from visualsearch_sdk._config import ClientOptions, parse_provider_url, resolve_environment
from visualsearch_sdk._core import Pipeline, Send
from visualsearch_sdk._exceptions import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ConfigurationError,
    InvalidQueryError,
)
from visualsearch_sdk._logging import logger, redact_url
from visualsearch_sdk._ratelimit import TokenBucket
from visualsearch_sdk._registry import Provider, get_adapter
from visualsearch_sdk._retry import RetryPolicy
from visualsearch_sdk.capabilities import Capability
from visualsearch_sdk.models import (
    ImageRecord,
)
from visualsearch_sdk.preprocess import Preset
from visualsearch_sdk.providers._base import Adapter

__all__ = ["WAIT_POLL_INTERVAL", "WAIT_TIMEOUT"]

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
            timeout: seconds, or an ``httpx.Timeout``; default 30 s per read and write, 5 s to connect,
                10 s to wait for a pooled connection.
            max_retries: retries after the first attempt, for what is safe to retry (default 2).
            allow_http: allow plain ``http://`` to a non-loopback host.
            preset: the image preset (default: the provider's).
            retry: a whole ``RetryPolicy`` (overrides ``max_retries``).
            http_client: an ``httpx.Client`` (``httpx.AsyncClient`` for the async client) to send through,
                used as it is and never closed by this one.
            transport: an httpx transport for the client this SDK builds (e.g. ``httpx.MockTransport``).
            proxy: a proxy URL for the client this SDK builds.
            max_qps: pace requests client-side (a token bucket shared by threads and tasks); default: the
                adapter's ``default_max_qps`` (a vendor sold by QPS declares it from its options).
            on_request: called with every attempt's ``httpx.Request`` (metrics, tracing); must not raise.
            on_response: called with every attempt's ``httpx.Response``; must not raise.
            environ: the environment mapping to read ``VISUALSEARCH_*`` from (default ``os.environ``).
        """
        if proxy is not None and (http_client is not None or transport is not None):
            raise ConfigurationError(
                "proxy= applies to the client this SDK builds; configure your own client"
            )
        if http_client is not None and transport is not None:
            raise ConfigurationError("pass http_client= or transport=, not both")
        url = parse_provider_url(str(provider))
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
        self._pipeline = Pipeline(self.adapter, **({} if preset is _UNSET else {"preset": preset}))
        self.retry = retry or RetryPolicy(max_retries=self.client_options.max_retries)
        self._user_http = http_client
        self._http: httpx.Client | httpx.AsyncClient | None = None  # built on first use, by the subclass
        self._lock = threading.Lock()
        self._transport = transport
        self._proxy = proxy
        qps = max_qps if max_qps is not None else self.adapter.default_max_qps
        try:
            self._bucket = TokenBucket(qps) if qps is not None else None
        except (TypeError, ValueError):
            raise ConfigurationError(
                f"max_qps must be a positive number of requests per second, not {qps!r}"
            ) from None
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
        if isinstance(records, (ImageRecord, Mapping)):  # one record, as index() takes it; not its fields
            records = [records]
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
