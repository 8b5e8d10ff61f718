"""Ximilar's wire: answer models, status codes and the pure translations between our models and its JSON.

Private to the Ximilar adapter (``NearDuplicateError``, ``distance_to_score`` and ``ximilar_filter`` are
re-exported by ``visualsearch_sdk.providers.ximilar``); VENDORS.md §2.3-2.6.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from visualsearch_sdk._exceptions import (
    APIStatusError,
    ConflictError,
    InvalidQueryError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    ServerError,
    UnsupportedCapabilityError,
)
from visualsearch_sdk.capabilities import Capability
from visualsearch_sdk.filters import And, Filter, Not, Or, to_mongo
from visualsearch_sdk.models import SearchQuery, StoredRecord
from visualsearch_sdk.preprocess import PreparedImage

__all__ = ["DISTANCE_SCALE", "distance_to_score", "ximilar_filter"]

DISTANCE_SCALE = 50.0
"""``d`` at which the score is 0.5 (the docs' typical distances are 40 to 60)."""

_RESERVED = ("_id", "_url", "_base64", "_file")


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _Status(_Wire):
    code: int
    text: str = ""
    error_description: str | None = None


class _Reason(_Wire):
    status: _Status
    answer_records: list[dict[str, Any]] = Field(default_factory=list)  # nearDupsInsert: the near duplicates
    answer_distances: list[float] = Field(default_factory=list)


class _Skipped(_Wire):
    id: str = Field(alias="_id")
    reason: _Reason | None = Field(default=None, alias="_reason")


class _XimilarAnswer(_Wire):
    status: _Status
    answer_records: list[dict[str, Any]] = Field(default_factory=list)
    answer_distances: list[float] = Field(default_factory=list)
    skipped_records: list[_Skipped] = Field(default_factory=list)
    answer_count: int | None = None
    next: str | None = None


_CODE_CLASSES: dict[int, type[APIStatusError]] = {
    402: ServerError,  # "aborted by error"
    404: NotFoundError,
    211: ConflictError,  # in skipped_records: this _id exists already
    411: ConflictError,  # every record refused as a duplicate _id
    412: InvalidRequestError,  # hard capacity exceeded: retrying does not help
    429: RateLimitError,
    500: ServerError,
}


def distance_to_score(distance: float) -> float:
    """Ximilar distance (0 = identical, lower is closer) -> score in (0, 1]: ``1 / (1 + d / 50)``."""
    return 1.0 / (1.0 + max(0.0, distance) / DISTANCE_SCALE)


def ximilar_filter(f: Filter) -> dict[str, object]:
    """The filter in Ximilar's MongoDB syntax, which lacks ``$nor``: negations are pushed down to fields."""
    return to_mongo(_push_not(f))


def _push_not(f: Filter) -> Filter:
    if isinstance(f, And):
        return And(tuple(_push_not(p) for p in f.parts))
    if isinstance(f, Or):
        return Or(tuple(_push_not(p) for p in f.parts))
    if isinstance(f, Not):
        inner = f.part
        if isinstance(inner, Not):
            return _push_not(inner.part)
        if isinstance(inner, And):
            return Or(tuple(_push_not(Not(p)) for p in inner.parts))
        if isinstance(inner, Or):
            return And(tuple(_push_not(Not(p)) for p in inner.parts))
    return f  # a field condition, or its negation ($not / $nin)


def _query_record(query: SearchQuery, image: PreparedImage | None) -> dict[str, str]:
    if query.mode == "image":
        if image is None:
            raise InvalidQueryError("an image search needs the prepared image")
        return {"_base64": base64.b64encode(image.data).decode("ascii")}
    if query.mode == "url" and query.url is not None:
        return {"_url": query.url}
    if query.mode == "id" and query.id is not None:
        return {"_id": query.id}
    raise UnsupportedCapabilityError(
        f"ximilar cannot search by {query.mode}",
        provider="ximilar",
        capability=Capability.SEARCH_BY_COLOR.value,
    )


def _fields(fields: Sequence[str] | None) -> list[str]:
    """``fields_to_return``: ``["*"]`` (everything) when None, else ``_id`` plus the named fields."""
    if fields is None:
        return ["*"]
    return list(dict.fromkeys(["_id", *fields]))


def _checked_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    for key in metadata:
        if key.startswith("_"):
            raise InvalidQueryError(f"metadata field {key!r}: Ximilar reserves names starting with '_'")
    return dict(metadata)


def _record_id(record: Mapping[str, Any]) -> str:
    value = record["_id"]
    if not isinstance(value, str):
        raise TypeError(f"_id is a {type(value).__name__}, not a string")
    return value


def _metadata(record: Mapping[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    if fields is None:
        return {k: v for k, v in record.items() if not k.startswith("_")}
    return {k: record[k] for k in fields if k in record and k != "_id"}


def _stored(record: Mapping[str, Any]) -> StoredRecord:
    url = record.get("_url")
    return StoredRecord(
        id=_record_id(record), metadata=_metadata(record, None), url=url if isinstance(url, str) else None
    )


def _read_cursor(cursor: str) -> tuple[int, int]:
    params = dict(parse_qsl(cursor))
    try:
        page, size = int(params["page"]), int(params["size"])
    except (KeyError, ValueError):
        raise InvalidQueryError(f"{cursor!r} is not a Ximilar list cursor (page=N&size=M)") from None
    if page < 1 or size < 1:
        raise InvalidQueryError(f"{cursor!r} is not a Ximilar list cursor (page and size start at 1)")
    return page, size


def _status_of(raw: object) -> _Status | None:
    status = raw.get("status") if isinstance(raw, dict) else None
    if not isinstance(status, dict):
        return None
    try:
        return _Status.model_validate(status)
    except ValidationError:
        return None


def _queried_by_id(response: httpx.Response) -> bool:
    try:
        body = json.loads(response.request.content)
    except (ValueError, UnicodeDecodeError, httpx.RequestNotRead):
        return False
    record = body.get("query_record") if isinstance(body, dict) else None
    return isinstance(record, dict) and set(record) == {"_id"}
