"""The fake Ximilar's wire: collection types, status codes, the answer envelope and pure request helpers.

Private to ``visualsearch_sdk.testing.fakes.ximilar`` (which re-exports the public names); facts cite
``VENDORS §2.x`` as there, ``[?]`` marking guesses.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Literal

import httpx

__all__ = ["MAX_INSERT", "SERVICE_PREFIXES", "XimilarService"]

XimilarService = Literal[
    "photos", "photos-new", "products", "products-new", "fashion", "fashion-new",
    "custom", "colors", "homedecor", "image_matching",
]  # fmt: skip
"""A collection type; ``<type>-new`` names the same type as ``<type>`` (it picks the client's prefix)."""

SERVICE_PREFIXES: dict[str, tuple[str, ...]] = {  # VENDORS §2.1: docs' prefix first, then the client's
    "photos": ("photo/search/v2", "similarity/photos/v2"),
    "products": ("similarity/products/v2", "similarity/products-new/v2"),
    "fashion": ("similarity/fashion/v2", "similarity/fashion-new/v2"),
    "custom": ("similarity/custom/v2",),
    "colors": ("similarity/colors/v2",),
    "homedecor": ("similarity/homedecor/v2",),
    "image_matching": ("image_matching/v2",),
}
MAX_INSERT = 10  # VENDORS §2.5: at most 10 records per insert
_AUTHORIZE = "/authorization/v2/authorize"  # VENDORS §2.2
_IMAGE_KEYS = frozenset({"_id", "_url", "_base64", "_file"})  # VENDORS §2.3: the rest is metadata
_TAKE_FROM_QUERY = "{TAKE_FROM_QUERY}"  # VENDORS §2.3
_FIELD_OPS = frozenset({"$eq", "$ne", "$lt", "$lte", "$gt", "$gte", "$in", "$nin"})

Status = tuple[int, str]
# VENDORS §2.6 / doc 001 "Possible status values"
_OK: Status = (200, "OK")
_FOUND: Status = (205, "records found")
_PARTIAL: Status = (206, "some of the records not found")  # VENDORS §2.6: 206 (status lists) or 213
_INSERTED: Status = (210, "records inserted")
_SOME_INSERTED: Status = (211, "some records inserted")
_DUPLICATE: Status = (211, "record(s) duplicate")  # doc 001 insert example: the per-record reason
_DELETED: Status = (220, "records deleted")
_ABORTED: Status = (402, "aborted by error")
_WRONG_QUERY: Status = (403, "wrong query record")
_NOT_FOUND: Status = (404, "records not found")
_ALL_DUPLICATE: Status = (411, "record duplicate")
_BAD_REQUEST: Status = (400, "bad request")  # [?] the shape of a malformed-request answer is undocumented


class _Reply(Exception):
    """An early answer with a Ximilar status (and ``error_description``)."""

    def __init__(self, status: Status, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


class _Unloadable(Exception):
    """The record's image cannot be read (no source, bad base64, unresolvable URL, not an image)."""


Route = Callable[[httpx.Request, dict[str, Any]], dict[str, Any]]


def _status(status: Status, description: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"code": status[0], "text": status[1]}
    if description is not None:
        out["error_description"] = description  # VENDORS §2.6
    return out


def _answer(
    status: Status,
    *,
    error_description: str | None = None,
    answer_records: list[dict[str, Any]] | None = None,
    skipped: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The envelope of VENDORS §2.6: status, then listing fields, skipped records, ``answer_count``."""
    out: dict[str, Any] = {"status": _status(status, error_description)}
    if answer_records is not None:
        out["answer_records"] = answer_records
    out.update(extra)
    if skipped:
        out["skipped_records"] = skipped
    if answer_records is not None:
        out["answer_count"] = len(answer_records)
    return out


def _skip(record_id: str, status: Status, description: str | None = None) -> dict[str, Any]:
    """A ``skipped_records`` entry: ``{"_id", "_reason": {"status": {...}}}`` (VENDORS §2.6)."""
    return {"_id": record_id, "_reason": {"status": _status(status, description)}}


def _found_status(found: list[dict[str, Any]], skipped: list[dict[str, Any]]) -> Status:
    return _FOUND if not skipped else (_PARTIAL if found else _NOT_FOUND)  # doc 001 get / update


def _as_record(record_id: str, metadata: Mapping[str, Any], url: str | None) -> dict[str, Any]:
    record: dict[str, Any] = {"_id": record_id}
    if url is not None:
        record["_url"] = url
    record.update(metadata)
    return record


def _metadata(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in _IMAGE_KEYS}


def _project(record: Mapping[str, Any], fields: object) -> dict[str, Any]:
    """Apply ``fields_to_return`` (VENDORS §2.3: ``["*"]`` = all). [?] ``_id`` is always kept."""
    if not isinstance(fields, list) or "*" in fields:
        return dict(record)
    return {k: v for k, v in record.items() if k == "_id" or k in fields}


def _normalise_filter(doc: Mapping[str, Any], query: Mapping[str, Any]) -> dict[str, Any]:
    """Resolve ``{TAKE_FROM_QUERY}`` and the docs' operator-first form into what :func:`parse_filter` reads.

    VENDORS §2.3: ``{"attr": "{TAKE_FROM_QUERY}"}`` takes the query record's value, and is ignored when the
    query record has no such attribute; doc 001 also writes ``{"$gte": {"price": 200}}`` for
    ``{"price": {"$gte": 200}}``.
    """
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key in ("$and", "$or") and isinstance(value, list):
            parts = [_normalise_filter(p, query) if isinstance(p, Mapping) else p for p in value]
            if key == "$and":
                parts = [p for p in parts if p != {}]
            elif any(p == {} for p in parts):  # an always-true branch: the whole $or holds
                continue
            if parts:
                out[key] = parts
        elif key in _FIELD_OPS and isinstance(value, Mapping):
            for field, operand in value.items():
                current = out.get(field)
                ops = current if isinstance(current, dict) else ({} if field not in out else {"$eq": current})
                out[field] = {**ops, key: operand}
        elif value == _TAKE_FROM_QUERY:
            if key in query:
                taken = query[key]
                out[key] = {"$in": taken} if isinstance(taken, list) else taken
        else:
            out[key] = value
    return out


def _json(status: int, body: Mapping[str, Any]) -> httpx.Response:
    return httpx.Response(
        status, content=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )


def _detail(status: int, message: str) -> httpx.Response:
    """The authentication/routing layer's DRF-style answer (VENDORS §2.6)."""
    response = _json(status, {"detail": message})
    if status == 401:
        response.headers["www-authenticate"] = "Token"
    return response


def _body(request: httpx.Request) -> dict[str, Any]:
    """VENDORS §2.3: a JSON object body (an empty body reads as ``{}``, as the client's bodiless ping)."""
    try:
        body = json.loads(request.content or b"{}")
    except ValueError as exc:
        raise _Reply(_BAD_REQUEST, "the body is not valid JSON") from exc
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise _Reply(_BAD_REQUEST, "the body must be a JSON object")
    return body


def _records(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    records = body.get("records")
    if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
        raise _Reply(_BAD_REQUEST, "'records' must be a non-empty array of objects")
    return records


def _ids(body: Mapping[str, Any]) -> list[str]:
    ids = [r.get("_id") for r in _records(body)]
    if not all(isinstance(i, str) for i in ids):
        raise _Reply(_BAD_REQUEST, "each record needs a string _id")
    return [str(i) for i in ids]


def _int(value: object, name: str, *, low: int) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise _Reply(_BAD_REQUEST, f"'{name}' must be an integer >= {low}")
    return value


def _distance(score: float) -> float:
    """Lower = more similar, 0 = identical (VENDORS §0); the score is rounded first so identical is 0."""
    return round(100.0 * (1.0 - round(score, 6)), 6)


def _radius(value: object) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise _Reply(_BAD_REQUEST, "'radius' must be a number")
    return float(value)


def _page_url(request: httpx.Request, page: int, size: int) -> str:
    return str(request.url.copy_with(path="/v2/allRecords", query=f"page={page}&size={size}".encode()))
