"""Our metadata <-> Alibaba's fixed slots, and ``Region`` strings <-> our boxes (VENDORS.md §4.3, §4.4).

Metadata goes two ways at once: each field declared in ``attributes`` is written to its slot
(``IntAttr..IntAttr4`` take 32-bit integers: numbers times the field's scale, bools as 1/0;
``StrAttr..StrAttr4`` take strings), so it can be filtered; and the
whole dict is kept as compact JSON in ``CustomContent`` (at most 4,096 characters), so it comes back intact
(types included). A field that fits no slot while ``CustomContent`` is off, a value of the wrong type for its
slot, or JSON over the limit is an ``InvalidQueryError`` naming the record: that record fails, never silently
loses a field.

Alibaba's ``Region`` is ``x1,x2,y1,y2`` (left, right, top, bottom); our boxes are ``(x1, y1, x2, y2)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from visualsearch_sdk._exceptions import InvalidQueryError
from visualsearch_sdk.preprocess import PreparedImage
from visualsearch_sdk.providers._alibaba_filters import (
    INT_MAX,
    INT_MIN,
    INT_SLOTS,
    STR_SLOTS,
    Slot,
    int_value,
)

Box = tuple[int, int, int, int]

__all__ = [
    "MAX_CUSTOM_CONTENT",
    "MAX_STR_ATTR",
    "metadata_of",
    "pic_info_boxes",
    "region_box",
    "region_param",
    "slot_params",
]

MAX_CUSTOM_CONTENT = 4096  # VENDORS §4.4
MAX_STR_ATTR = 128  # VENDORS §4.4 [?]


def slot_params(
    record_id: str,
    metadata: Mapping[str, Any],
    attributes: Mapping[str, Slot],
    *,
    scales: Mapping[str, int],
    custom_content: bool,
    reset: bool,
) -> dict[str, str]:
    """The ``IntAttr*``/``StrAttr*``/``CustomContent`` parameters of one record.

    With ``reset``, a declared slot whose field is absent is sent empty (``0`` / ``""``), as a replacing
    ``UpdateImage`` needs.

    Raises:
        InvalidQueryError: the metadata cannot be stored (the message names the record and the field).
    """
    params: dict[str, str] = {}
    for field, value in metadata.items():
        slot = attributes.get(field)
        if slot is not None:
            params[slot] = _slot_value(record_id, field, slot, value, scales.get(field, 1))
        elif not custom_content:
            raise InvalidQueryError(
                f"record {record_id!r}: metadata field {field!r} fits no declared slot and CustomContent is "
                f"off; declare it (AlibabaOptions(attributes={{{field!r}: 'StrAttr2'}})) or keep "
                "custom_content=True"
            )
    if reset:
        for field, slot in attributes.items():
            if field not in metadata:
                params[slot] = "0" if slot in INT_SLOTS else ""
    if custom_content:
        content = json.dumps(dict(metadata), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        if len(content) > MAX_CUSTOM_CONTENT:
            raise InvalidQueryError(
                f"record {record_id!r}: its metadata is {len(content)} characters as JSON, and Alibaba's "
                f"CustomContent holds at most {MAX_CUSTOM_CONTENT}; shorten it, or keep only declared "
                "slots (custom_content=False)"
            )
        params["CustomContent"] = content
    return params


def _slot_value(record_id: str, field: str, slot: Slot, value: object, scale: int) -> str:
    where = f"record {record_id!r}: metadata field {field!r} = {value!r}"
    if slot in INT_SLOTS:
        exact = int_value(value, scale)
        if exact is None or exact != exact.to_integral_value():
            times = f" (after x{scale})" if scale != 1 else ""
            raise InvalidQueryError(f"{where} cannot go to {slot}, which holds integers{times} only")
        number = int(exact)
        if not INT_MIN <= number <= INT_MAX:
            raise InvalidQueryError(f"{where} is out of {slot}'s 32-bit range")
        return str(number)
    if not isinstance(value, str):
        raise InvalidQueryError(f"{where} cannot go to {slot}, which holds strings only")
    if len(value) > MAX_STR_ATTR:
        raise InvalidQueryError(f"{where[:80]}... is longer than {slot}'s {MAX_STR_ATTR} characters")
    return value


def metadata_of(
    item: Mapping[str, Any],
    attributes: Mapping[str, Slot],
    *,
    scales: Mapping[str, int],
    custom_content: bool,
) -> dict[str, Any]:
    """The metadata of an ``Auctions`` item: the ``CustomContent`` JSON when it holds an object, else the
    declared slots (integers, non-empty strings) plus a non-JSON ``CustomContent`` under that name."""
    content = item.get("CustomContent")
    if custom_content and isinstance(content, str) and content:
        try:
            parsed = json.loads(content)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    out: dict[str, Any] = {}
    for field, slot in attributes.items():
        value = item.get(slot)
        if slot in INT_SLOTS and isinstance(value, (int, str)) and not isinstance(value, bool):
            try:
                number = int(value)
            except ValueError:
                continue
            scale = scales.get(field, 1)
            out[field] = number if scale == 1 else number / scale
        elif slot in STR_SLOTS and isinstance(value, str) and value:
            out[field] = value
    if isinstance(content, str) and content:
        out["CustomContent"] = content
    return out


def region_param(box: tuple[int, int, int, int]) -> str:
    """Our ``(x1, y1, x2, y2)`` -> Alibaba's ``"x1,x2,y1,y2"``."""
    x1, y1, x2, y2 = box
    return f"{x1},{x2},{y1},{y2}"


def pic_info_boxes(pic_info: object, image: object) -> tuple[Box | None, tuple[Box, ...]]:
    """``PicInfo``'s ``Region`` and ``MultiRegion`` (in the uploaded image's pixels, ``x1,x2,y1,y2``) as our
    boxes in the original image's pixels, mapped through the prepared image; nothing without one."""
    if not isinstance(pic_info, dict) or not isinstance(image, PreparedImage):
        return None, ()
    main = pic_info.get("Region")
    regions = [r.get("Region") for r in pic_info.get("MultiRegion") or [] if isinstance(r, dict)]
    boxes = tuple(image.to_original(region_box(r)) for r in regions if isinstance(r, str) and r)
    return (image.to_original(region_box(main)) if isinstance(main, str) and main else None), boxes


def region_box(region: str) -> tuple[int, int, int, int]:
    """Alibaba's ``"x1,x2,y1,y2"`` -> our ``(x1, y1, x2, y2)``.

    Raises:
        ValueError: not four integers.
    """
    parts = [int(float(p)) for p in region.split(",")]
    if len(parts) != 4:
        raise ValueError(f"Region {region!r} is not x1,x2,y1,y2")
    x1, x2, y1, y2 = parts
    return x1, y1, x2, y2
