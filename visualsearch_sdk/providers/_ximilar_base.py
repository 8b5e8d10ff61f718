"""The plumbing of the Ximilar adapter: construction, auth, request and hit building, and error mapping.

``XimilarAdapter`` (in ``visualsearch_sdk.providers.ximilar``) builds on :class:`_XimilarBase` with the
operations; this half maps Ximilar's answers, including errors inside 2xx bodies, onto the error tree.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import httpx

from visualsearch_sdk._exceptions import (
    APIStatusError,
    ConflictError,
    InvalidRequestError,
    NearDuplicateError,
    NotFoundError,
    ServerError,
)
from visualsearch_sdk.filters import Filter
from visualsearch_sdk.models import SearchHit, StoredRecord
from visualsearch_sdk.providers._base import Adapter, status_error
from visualsearch_sdk.providers._ximilar_options import (
    _PREFIXES,
    DEFAULT_BASE_URL,
    DEFAULT_SERVICE,
    XimilarCredentials,
    XimilarService,
    XimilarTokenAuth,
)
from visualsearch_sdk.providers._ximilar_wire import (
    _CODE_CLASSES,
    _fields,
    _metadata,
    _queried_by_id,
    _Reason,
    _record_id,
    _Status,
    _status_of,
    _stored,
    _XimilarAnswer,
    distance_to_score,
    ximilar_filter,
)

__all__: list[str] = []


class _XimilarBase(Adapter):
    """Construction, auth and the shared building blocks of :class:`XimilarAdapter`."""

    def __init__(
        self,
        credentials: XimilarCredentials,
        *,
        service: XimilarService = DEFAULT_SERVICE,
        base_url: str = DEFAULT_BASE_URL,
        product_field: str | None = None,
        search_method: Literal["visualKNN", "visualTagsKNN"] | None = None,
        insert_method: Literal["insert", "nearDupsInsert"] = "insert",
        near_duplicate_radius: float | None = None,
    ) -> None:
        self.credentials = credentials
        self.service = service
        self.base_url = httpx.URL(base_url.rstrip("/") + "/")
        self.endpoint = self.base_url.join(_PREFIXES[service])
        self.product_field = product_field
        self.search_method = search_method or (
            "visualTagsKNN" if service.startswith("fashion") else "visualKNN"
        )
        self.insert_method = insert_method
        self.near_duplicate_radius = near_duplicate_radius

    def describe(self) -> str:
        return f"ximilar {self.service} collection {self.credentials.collection_id} at {self.endpoint}"

    def auth(self) -> httpx.Auth:
        return XimilarTokenAuth(self.credentials.token, self.credentials.collection_id)

    def _post(
        self, method: str, body: Mapping[str, Any], params: Mapping[str, str] | None = None
    ) -> httpx.Request:
        content = json.dumps(body, allow_nan=False).encode()
        headers = {"Content-Type": "application/json"}
        return httpx.Request(
            "POST", self.endpoint.join(method), params=params, content=content, headers=headers
        )

    def _search_body(
        self, query: dict[str, Any], filter: Filter | None, fields: Sequence[str] | None, **extra: Any
    ) -> dict[str, Any]:
        body: dict[str, Any] = {**query, **extra, "fields_to_return": _fields(fields)}
        if filter is not None:
            body["filter"] = ximilar_filter(filter)
        if self.product_field is not None:
            body["product_field"] = self.product_field
        return body

    def _hits(
        self, response: httpx.Response, raw: dict[str, Any], fields: Sequence[str] | None
    ) -> list[SearchHit]:
        answer = _XimilarAnswer.model_validate(raw)
        if len(answer.answer_distances) != len(answer.answer_records):
            raise self._shape(response, "answer_distances and answer_records differ in length")
        hits = []
        for record, distance in zip(answer.answer_records, answer.answer_distances):
            if not math.isfinite(distance):
                raise self._shape(response, f"distance {distance!r} is not a finite number")
            hits.append(
                SearchHit(
                    id=_record_id(record),
                    score=distance_to_score(distance),
                    vendor_score=distance,
                    metadata=_metadata(record, fields),
                )
            )
        return hits

    def parse_records(self, response: httpx.Response) -> list[StoredRecord]:
        """The ``answer_records`` of any listing answer (get, update, random, allRecords)."""
        answer = _XimilarAnswer.model_validate(self._object(response))
        return [_stored(record) for record in answer.answer_records]

    # -- errors ---------------------------------------------------------------------------------------

    def error_for(self, response: httpx.Response) -> APIStatusError | None:
        try:
            raw = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            raw = None  # an HTML proxy page: the HTTP status decides (a 2xx one fails in the parser)
        status = _status_of(raw)
        operation = response.request.url.path.rsplit("/", 1)[-1]
        if status is not None and status.code >= 400:
            if (operation, status.code) in {("insert", 411), ("nearDupsInsert", 411), ("delete", 404)}:
                return None  # per-record outcomes: parse_index / parse_delete report them
            return self._code_error(response, status)
        if response.is_success:
            return None
        detail = raw.get("detail") if isinstance(raw, dict) else None
        message = str(detail) if detail else f"HTTP {response.status_code} {response.reason_phrase}".strip()
        # HTTP 402 (Payment Required: credits exhausted [?]) is an InvalidRequestError: retrying cannot help.
        return status_error(self.provider, response, message=message)

    def _code_error(self, response: httpx.Response, status: _Status) -> APIStatusError:
        code = status.code
        if code == 403:  # "wrong query record": an unknown _id, or an unusable _url/_base64
            cls: type[APIStatusError] | None = (
                NotFoundError if _queried_by_id(response) else InvalidRequestError
            )
        elif code in _CODE_CLASSES:
            cls = _CODE_CLASSES[code]
        elif response.status_code >= 400:
            cls = None  # the HTTP status decides (429 -> RateLimitError, 401 -> AuthenticationError, ...)
        else:
            cls = ServerError if code >= 500 else InvalidRequestError
        message = status.text or "error"
        if status.error_description:
            message += ": " + status.error_description.strip().splitlines()[0][:300]
        if response.status_code >= 400:
            status_code = response.status_code
        else:  # an error inside a 2xx body, or one record's reason (211 duplicate -> 409)
            status_code = code if code >= 400 else 409 if cls is ConflictError else 400
        return status_error(
            self.provider,
            response,
            message=message,
            provider_code=str(code),
            status_code=status_code,
            cls=cls,
        )

    def _near_duplicate(self, response: httpx.Response, reason: _Reason) -> NearDuplicateError:
        ids = tuple(_record_id(record) for record in reason.answer_records)
        shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
        error = status_error(
            self.provider,
            response,
            message=f"{reason.status.text or 'record duplicate'}: near duplicate of {shown}",
            provider_code=str(reason.status.code),
            status_code=409,
            cls=NearDuplicateError,
        )
        assert isinstance(error, NearDuplicateError)
        error.near_duplicates = ids
        error.distances = tuple(reason.answer_distances)
        return error

    def _one(self, response: httpx.Response, records: list[StoredRecord]) -> StoredRecord:
        if not records:
            raise status_error(
                self.provider, response, message="record not found", status_code=404, cls=NotFoundError
            )
        return records[0]
