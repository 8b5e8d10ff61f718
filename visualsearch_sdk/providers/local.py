"""The local reference backend's adapter: our own wire API (``local/app.py``), in-process or on loopback.

URL forms::

    memory://  or  local://              an in-memory index, gone when the client closes
    local:///var/lib/shop-index          a persistent index at an absolute path
    local:shop-index  or  local://./x    a persistent index at a relative path
    local://127.0.0.1:8765               an engine served by ``visualsearch serve`` (token as ``local://:TOKEN@...``)
    local://?base_url=http://host:8765   the same, with the base URL spelled out

Parameters: ``multi_view=true`` (index the image plus its corner crops, for crop robustness; fixed when the
index is created), ``allow_http=true`` (a served engine on a non-loopback host).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr
from pydantic_settings import SettingsConfigDict

from visualsearch_sdk._config import ClientOptions, EnvModel, ProviderURL, check_base_url
from visualsearch_sdk._exceptions import APIResponseError, APIStatusError, ConfigurationError
from visualsearch_sdk.capabilities import Capability
from visualsearch_sdk.filters import to_mongo
from visualsearch_sdk.local.app import PAGE_WINDOW, LocalApp
from visualsearch_sdk.models import (
    DeleteReport,
    MetadataValue,
    SearchHit,
    SearchQuery,
    SearchResult,
    StoredRecord,
)
from visualsearch_sdk.preprocess import ImageLimits, PreparedImage
from visualsearch_sdk.providers._base import (
    Adapter,
    Operation,
    PreparedRecord,
    RecordOutcome,
    json_body,
    status_error,
)

__all__ = ["LocalAdapter", "LocalOptions"]

IN_PROCESS_URL = "http://local.visualsearch.invalid"
"""The base URL of the in-process engine; ``.invalid`` can never resolve, so nothing leaves the process."""


class LocalOptions(BaseModel):
    """Options of the local backend."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str | None = None
    """Where the index lives; None keeps it in memory."""
    multi_view: bool = False
    """Also index corner crops of each image (better crop robustness, 5x the memory). Set at creation."""
    token: SecretStr | None = None
    """Bearer token of a served engine (``visualsearch serve --token``)."""
    base_url: str | None = None
    """A served engine's URL; None runs the engine in-process."""


class _LocalEnv(EnvModel):
    model_config = SettingsConfigDict(env_prefix="VISUALSEARCH_LOCAL_", extra="ignore", frozen=True)

    path: str | None = None
    token: SecretStr | None = None
    multi_view: bool | None = None
    base_url: str | None = None


class LocalAdapter(Adapter):
    """Speaks the local engine's wire API."""

    provider: ClassVar[str] = "local"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.SEARCH_BY_IMAGE,
            Capability.SEARCH_BY_ID,
            Capability.SEARCH_BY_COLOR,
            Capability.SERVER_CROP,
            Capability.FILTERS,
            Capability.METADATA,
            Capability.INDEX_WRITE,
            Capability.INDEX_FROM_BYTES,
            Capability.UPSERT,
            Capability.REFUSE_EXISTING,
            Capability.INDEX_UPDATE,
            Capability.INDEX_DELETE,
            Capability.GET,
            Capability.COUNT,
            Capability.LIST,
            Capability.MIN_SCORE,
        }
    )
    limits: ClassVar[ImageLimits] = ImageLimits(max_bytes=16 * 1024 * 1024)
    batch_size: ClassVar[int] = 32
    delete_batch_size: ClassVar[int] = 500
    max_limit: ClassVar[int] = 1000
    page_window: ClassVar[int] = PAGE_WINDOW
    idempotent: ClassVar[frozenset[Operation]] = frozenset(
        {"search", "get", "count", "list", "verify", "update", "delete"}
    )

    def __init__(self, options: LocalOptions | None = None) -> None:
        self.options = options or LocalOptions()
        if self.options.base_url is not None:
            self.base_url = httpx.URL(self.options.base_url.rstrip("/") + "/")
        else:
            self.base_url = httpx.URL(IN_PROCESS_URL + "/")

    @classmethod
    def from_url(
        cls, url: ProviderURL, *, options: Any, environ: Mapping[str, str], client_options: ClientOptions
    ) -> LocalAdapter:
        if options is not None and not isinstance(options, LocalOptions):
            raise ConfigurationError("the local provider takes options=LocalOptions(...)")
        given = options or LocalOptions()
        env = _LocalEnv.from_environ(environ)
        path: str | None = url.path or None
        base_url = url.param("base_url")
        if url.host in {".", "..", "~"}:
            path = url.host + (url.path or "")
        elif url.host:
            base_url = base_url or f"http://{url.host}{f':{url.port}' if url.port else ''}"
            if url.path not in {"", "/"}:
                raise ConfigurationError("a served local engine URL has no path: local://HOST:PORT")
            path = None
        if url.provider == "memory" and path:
            raise ConfigurationError("memory:// takes no path; use local:///PATH for a persistent index")
        token = given.token or url.password or url.username or env.token  # explicit options first
        base = given.base_url or base_url or env.base_url
        if base is not None:
            check_base_url(base, allow_http=client_options.allow_http)
        multi = url.flag("multi_view")
        return cls(
            LocalOptions(
                path=None if base else (given.path or (str(_expand(path)) if path else None) or env.path),
                multi_view=given.multi_view or bool(multi if multi is not None else env.multi_view),
                token=token,
                base_url=base,
            )
        )

    def describe(self) -> str:
        if self.options.base_url:
            return f"local engine served at {self.options.base_url}"
        return f"local engine at {self.options.path}" if self.options.path else "in-memory local engine"

    def in_process_handler(self) -> Callable[[httpx.Request], httpx.Response] | None:
        """The app to mount in-process, or None when the engine is served elsewhere."""
        if self.options.base_url is not None:
            return None
        token = self.options.token.get_secret_value() if self.options.token else None
        return LocalApp(self.options.path, multi_view=self.options.multi_view, token=token)

    def auth(self) -> httpx.Auth | None:
        return _BearerAuth(self.options.token) if self.options.token else None

    def _request(self, method: str, path: str, body: Any = None, params: Any = None) -> httpx.Request:
        content = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        headers = {"content-type": "application/json"} if content is not None else {}
        return httpx.Request(
            method, self.base_url.join(path), content=content, params=params, headers=headers
        )

    # -- operations -----------------------------------------------------------------------------------

    def build_search(self, query: SearchQuery, image: PreparedImage | None) -> httpx.Request:
        body: dict[str, Any] = {"limit": query.limit, "offset": query.offset}
        if query.mode == "image":
            assert image is not None
            body["image"] = base64.b64encode(image.data).decode()
            if image.box is not None:
                body["box"] = list(image.box)
        elif query.mode == "id":
            body["id"] = query.id
        elif query.mode == "color":
            assert query.color is not None
            body["color"] = "{:02x}{:02x}{:02x}".format(*query.color)
        if query.filter is not None:
            body["filter"] = to_mongo(query.filter)
        if query.fields is not None:
            body["fields"] = list(query.fields)
        if query.min_score is not None:
            body["min_score"] = query.min_score
        return self._request("POST", "v1/search", body)

    def parse_search(self, response: httpx.Response, query: SearchQuery) -> SearchResult:
        body = self._object(response)
        hits = tuple(
            SearchHit(id=h["id"], score=h["score"], vendor_score=h["score"], metadata=h.get("metadata") or {})
            for h in body["hits"]
        )
        return SearchResult(
            hits=hits,
            total=body.get("total"),
            provider=self.provider,
            request_id=response.headers.get("x-request-id"),
            offset=query.offset,
            limit=query.limit,
            raw=body,
        )

    def build_index(self, batch: Sequence[PreparedRecord], *, upsert: bool) -> httpx.Request:
        records = []
        for record in batch:
            assert record.image is not None
            item: dict[str, Any] = {
                "id": record.id,
                "image": base64.b64encode(record.image.data).decode(),
                "metadata": dict(record.metadata),
            }
            if record.url:
                item["url"] = record.url
            records.append(item)
        return self._request("POST", "v1/records", {"records": records, "upsert": upsert})

    def parse_index(self, response: httpx.Response, batch: Sequence[PreparedRecord]) -> list[RecordOutcome]:
        results = self._object(response)["results"]
        outcomes = []
        for item in results:
            if item.get("status") == "ok":
                outcomes.append(RecordOutcome(item["id"]))
                continue
            code = str(item.get("code", "error"))
            status = 409 if code == "conflict" else 400
            error = status_error(
                self.provider,
                response,
                message=str(item.get("message", code)),
                provider_code=code,
                status_code=status,
            )
            outcomes.append(RecordOutcome(item["id"], error))
        return outcomes

    def build_get(self, record_id: str) -> httpx.Request:
        return self._request("GET", f"v1/records/{quote(record_id, safe='')}")

    def parse_get(self, response: httpx.Response) -> StoredRecord:
        return StoredRecord.model_validate(self._object(response))

    def build_update(self, record_id: str, metadata: Mapping[str, MetadataValue | None]) -> httpx.Request:
        return self._request("PATCH", f"v1/records/{quote(record_id, safe='')}", {"metadata": dict(metadata)})

    def parse_update(self, response: httpx.Response, record_id: str) -> StoredRecord:
        return StoredRecord.model_validate(self._object(response))

    def build_delete(self, ids: Sequence[str]) -> httpx.Request:
        return self._request("POST", "v1/records/delete", {"ids": list(ids)})

    def parse_delete(self, response: httpx.Response, ids: Sequence[str]) -> DeleteReport:
        body = self._object(response)
        return DeleteReport(deleted=tuple(body["deleted"]), not_found=tuple(body["not_found"]))

    def build_count(self) -> httpx.Request:
        return self._request("GET", "v1/count")

    def parse_count(self, response: httpx.Response) -> int:
        return int(self._object(response)["count"])

    def build_list(self, cursor: str | None, limit: int) -> httpx.Request:
        params = {"limit": str(limit)} | ({"after": cursor} if cursor is not None else {})
        return self._request("GET", "v1/records", params=params)

    def parse_list(self, response: httpx.Response) -> tuple[list[StoredRecord], str | None]:
        body = self._object(response)
        return [StoredRecord.model_validate(r) for r in body["records"]], body.get("next")

    def build_verify(self) -> httpx.Request:
        return self._request("GET", "v1/info")

    def error_for(self, response: httpx.Response) -> APIStatusError | None:
        if response.is_success:
            return None
        try:
            body = json_body(self.provider, response) if _is_json(response) else None
        except APIResponseError:
            body = None  # an error status whose body is not JSON: the status decides
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            code = error.get("code")
            return status_error(
                self.provider,
                response,
                message=str(error.get("message", "")),
                provider_code=None if code is None else str(code),
            )
        return super().error_for(response)


class _BearerAuth(httpx.Auth):
    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Any:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request


def _is_json(response: httpx.Response) -> bool:
    return "json" in response.headers.get("content-type", "")


def _expand(path: str) -> str:
    from pathlib import Path

    return str(Path(path).expanduser())
