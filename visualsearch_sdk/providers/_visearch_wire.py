"""Pure helpers that read and check ViSearch's wire shapes (VENDORS.md §1.3-§1.7)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from visualsearch_sdk.models import SearchHit
from visualsearch_sdk.providers._base import PreparedRecord
from visualsearch_sdk.providers._visearch_errors import code_of_message
from visualsearch_sdk.providers._visearch_filters import SchemaType

__all__ = [
    "as_list",
    "box_of",
    "code_and_message",
    "convert_value",
    "fail_code",
    "hits_of",
    "int_or",
    "is_number",
    "page_for",
    "record_errors",
    "record_problems",
    "request_id",
    "str_or_none",
    "trans_id",
]

MAX_NAME = 128  # VENDORS §1.5: im_name <= 128 chars
MAX_VALUE = 5000  # VENDORS §1.5: field values <= 5000 chars
_RESERVED = frozenset({"im_name", "im_url"})


def page_for(offset: int, limit: int) -> tuple[int, int]:
    """ViSearch ``(page, limit)`` whose one page covers results ``[offset, offset + limit)``.

    A multiple of ``limit`` maps directly; otherwise the smallest page size that covers the span in one page
    (at worst ``offset + limit`` from page 1). The caller slices ``offset - (page - 1) * size`` onwards.
    """
    if offset % limit == 0:
        return offset // limit + 1, limit
    size = limit
    while offset // size != (offset + limit - 1) // size:
        size += 1
    return offset // size + 1, size


def hits_of(
    items: list[Any], fields: Sequence[str] | None, schema: Mapping[str, SchemaType]
) -> list[SearchHit]:
    """``result`` entries as hits: ``score`` in [0, 1] (ViSearch's own, higher is closer), typed metadata."""
    hits = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("im_name"), str):
            raise TypeError("a result entry has no im_name string")
        score = item.get("score")
        if not isinstance(score, (int, float)) or isinstance(score, bool) or not math.isfinite(score):
            raise TypeError(f"result {item['im_name']!r} has no finite score (score=true was sent)")
        values = item.get("value_map") or {}
        if not isinstance(values, dict):
            raise TypeError("value_map is not an object")
        metadata = {k: convert_value(schema, k, v) for k, v in values.items()}
        if fields is not None:
            metadata = {k: v for k, v in metadata.items() if k in fields}
        unit = min(1.0, max(0.0, float(score)))
        hits.append(SearchHit(id=item["im_name"], score=unit, vendor_score=score, metadata=metadata))
    return hits


def convert_value(schema: Mapping[str, SchemaType], name: str, value: object) -> object:
    """A ``value_map`` string as the schema's type (VENDORS §1.6: values come back as strings); else as is.

    Raises:
        ValueError: the string does not read as the declared type (the parser turns it into
            ``APIResponseError``).
    """
    kind = schema.get(name)
    if kind is None or kind is str or not isinstance(value, str):
        return value
    try:
        if kind is bool:
            lowered = value.strip().lower()
            if lowered not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return lowered in ("true", "1")
        number = float(value)
        if kind is int:
            if not number.is_integer():
                raise ValueError(value)
            return int(number)
        return number
    except ValueError:
        raise ValueError(
            f"value_map[{name!r}] = {value!r} is not a {kind.__name__} (ViSearchOptions schema)"
        ) from None


def record_problems(record_id: str, metadata: Mapping[str, Any]) -> list[str]:
    """What ViSearch would refuse in one record (VENDORS §1.5), named, before anything is sent."""
    problems = []
    if not 1 <= len(record_id) <= MAX_NAME:
        problems.append(f"record {record_id[:40]!r}: im_name must be 1 to {MAX_NAME} characters")
    for key, value in metadata.items():
        if key in _RESERVED:
            problems.append(f"record {record_id!r}: {key!r} is ViSearch's own field, not metadata")
        elif not key.isascii() or not key.replace("_", "a").isalnum() or len(key) > 32:
            problems.append(f"record {record_id!r}: field {key!r} must be [A-Za-z0-9_], <= 32 characters")
        elif isinstance(value, str) and len(value) > MAX_VALUE:
            problems.append(f"record {record_id!r}: field {key!r} is over {MAX_VALUE} characters")
    return problems


def record_errors(raw: Mapping[str, Any], batch: Sequence[PreparedRecord]) -> dict[str, dict[str, Any]]:
    """Per-record errors of insert/remove, keyed by record id (by ``im_name``, else by ``index``)."""
    ids = {r.id for r in batch}
    out: dict[str, dict[str, Any]] = {}
    for error in raw.get("error") or []:
        if not isinstance(error, dict):
            continue
        name, index = error.get("im_name"), error.get("index")
        if isinstance(name, str) and name in ids:
            out[name] = error
        elif isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(batch):
            out[batch[index].id] = error
    return out


def trans_id(raw: Mapping[str, Any]) -> str:
    """``trans_id`` as digits. A JSON integer parses to a Python int, so a 64-bit id stays exact; a float
    (already rounded by whoever produced it) or anything else is refused rather than passed on."""
    value = raw.get("trans_id")
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise TypeError(f"trans_id must be an integer, got {type(value).__name__} {value!r}")
    return str(value)


def fail_code(raw: Mapping[str, Any]) -> int | None:
    """The code of a ``status: fail`` body's first error (None when not a failure or no code is known)."""
    if raw.get("status") != "fail":
        return None
    errors = raw.get("error")
    return code_and_message(errors[0] if isinstance(errors, list) and errors else None)[0]


def code_and_message(error: object) -> tuple[int | None, str]:
    """An ``error`` entry's code and message: an object's ``error_code``, or a string's wording."""
    if isinstance(error, dict):
        code = error.get("error_code")
        message = str(error.get("error_message") or "")
        if isinstance(code, int) and not isinstance(code, bool):
            return code, message
        return code_of_message(message), message
    if isinstance(error, str):
        return code_of_message(error), error
    return None, ""


def as_list(raw: Mapping[str, Any], key: str) -> list[Any]:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise TypeError(f"{key} is not a list")
    return value


def box_of(value: object) -> tuple[int, int, int, int] | None:
    """A ``[x1, y1, x2, y2]`` box (ints), or None when absent or degenerate."""
    if not isinstance(value, list) or len(value) != 4 or not all(is_number(v) for v in value):
        return None
    x1, y1, x2, y2 = (round(v) for v in value)
    return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def int_or(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def request_id(response: httpx.Response, raw: Mapping[str, Any]) -> str | None:
    """VENDORS §1.2: the ``X-Log-ID`` header (the JS client copies it to ``reqid``)."""
    return response.headers.get("x-log-id") or str_or_none(raw.get("reqid"))
