"""Our filter AST as ViSearch ``fq`` parameters (VENDORS.md §1.3, doc 002 "Search filter configuration").

ViSearch takes one ``fq=field:value`` per field, all of them ANDed. The value is, by field type:

* string fields: an exact value, or several joined with `` OR ``; a value with special characters is
  double-quoted (``"Women's shoes" OR "Women's Clothes"``);
* int and float fields: an exact number, or an inclusive range ``min,max``.

So this module translates ``==``, ``isin`` (strings), ``between`` and ``>=``/``<=`` on numbers, and ``&`` of
those, conditions on one field being merged (two ranges intersect, two value sets too). ``>``/``<`` are
expressible only on fields the schema declares ``int`` (``> 5`` is ``6,MAX``). Everything else (``!=``,
``~``, ``|`` across fields, string ranges, several numbers in one ``isin``) raises
:class:`UnsupportedFilterError` naming the part, before any request is sent.

The percent-encoding of the result is left to httpx (the official client sends it raw: VENDORS.md §5).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from visualsearch_sdk._exceptions import UnsupportedFilterError
from visualsearch_sdk.filters import And, Between, Compare, Filter, In, Or, Scalar

__all__ = ["RANGE_BOUND", "SchemaType", "format_number", "quote_value", "scalar_to_wire", "visearch_fq"]

SchemaType = type[str] | type[int] | type[float] | type[bool]

RANGE_BOUND = 2_147_483_647
"""The open end of a ``>=``/``<=`` range: ViSearch ranges need both ends, and no "unbounded" is documented.
[?] 2**31 - 1 parses as an int field's value and as a float's; a bound beyond it cannot be expressed."""

_FIELD = re.compile(r"^[A-Za-z0-9_]{1,32}$")  # VENDORS §1.5: field names are [A-Za-z0-9_], <= 32 chars
_PLAIN = re.compile(r"^[A-Za-z0-9_.\-]+$")
_KEYWORDS = frozenset({"OR", "AND", "NOT", "TO"})


@dataclass
class _Range:
    lo: float | int
    hi: float | int
    exact: bool = False  # from ``==``: sent as one number when nothing narrowed it


def visearch_fq(flt: Filter, schema: Mapping[str, SchemaType] | None = None) -> list[str]:
    """The ``fq`` values (``field:value``) for a filter, one per field, in the order fields first appear.

    Raises:
        UnsupportedFilterError: a part ViSearch cannot express (named in the message).
    """
    parts = flt.parts if isinstance(flt, And) else (flt,)
    merged: dict[str, _Range | tuple[str, ...]] = {}
    for part in parts:
        field, condition = _condition(part, schema or {})
        if field not in merged:
            merged[field] = condition
        else:
            merged[field] = _intersect(field, merged[field], condition, part)
    return [f"{field}:{_render(value)}" for field, value in merged.items()]


def format_number(value: float | int) -> str:
    """A number as ViSearch reads it: ints as digits, floats without exponent (``1e-07``: ``0.0000001``)."""
    if isinstance(value, bool):
        raise TypeError("a bool is not a number here")
    if isinstance(value, int):
        return str(value)
    text = repr(float(value))
    if "e" in text or "E" in text:
        text = f"{value:.20f}".rstrip("0").rstrip(".")
    return text


def quote_value(value: str) -> str:
    """A string value for ``fq``: as is when plain, else double-quoted with ``\\`` and ``"`` escaped."""
    if _PLAIN.match(value) and value.upper() not in _KEYWORDS:
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _condition(part: Filter, schema: Mapping[str, SchemaType]) -> tuple[str, _Range | tuple[str, ...]]:
    """One field's condition: a numeric range, or a set of string values (ORed)."""
    if isinstance(part, Or):
        fields = {_field_of(p) for p in part.parts}
        if len(fields) != 1 or None in fields:
            raise _unsupported(part, "'|' across fields (ViSearch ANDs one fq per field)")
        field = fields.pop()
        assert field is not None
        values: list[str] = []
        for p in part.parts:
            _, cond = _condition(p, schema)
            if isinstance(cond, _Range):
                raise _unsupported(part, "'|' of numbers (only string values can be ORed)")
            values += [v for v in cond if v not in values]
        return field, tuple(values)
    if isinstance(part, Compare):
        _check_field(part, part.field)
        value = part.value
        if part.op == "eq":
            if isinstance(value, bool):
                return part.field, ("true" if value else "false",)
            if isinstance(value, str):
                return part.field, (value,)
            return part.field, _Range(value, value, exact=True)
        if part.op == "ne":
            raise _unsupported(part, "'!=' (ViSearch filters have no negation)")
        if isinstance(value, str):
            raise _unsupported(part, "an ordering on strings (ranges are for int and float fields)")
        assert not isinstance(value, bool)  # Compare refuses ordering on bools
        if part.op in ("gt", "lt"):
            if schema.get(part.field) is not int or not isinstance(value, int):
                raise _unsupported(
                    part, "a strict '<' or '>' (ranges are inclusive; exact only for a schema int field)"
                )
            value = value + 1 if part.op == "gt" else value - 1
        low = part.op in ("ge", "gt")
        return part.field, _Range(value, RANGE_BOUND) if low else _Range(-RANGE_BOUND, value)
    if isinstance(part, Between):
        _check_field(part, part.field)
        if isinstance(part.lo, str) or isinstance(part.hi, str):
            raise _unsupported(part, "a range of strings (ranges are for int and float fields)")
        assert not isinstance(part.lo, bool) and not isinstance(part.hi, bool)
        return part.field, _Range(part.lo, part.hi)
    if isinstance(part, In):
        _check_field(part, part.field)
        if all(isinstance(v, str) for v in part.values):
            return part.field, tuple(str(v) for v in part.values)
        if len(part.values) == 1:
            return _condition(Compare(part.field, "eq", part.values[0]), schema)
        raise _unsupported(part, "several numbers or bools in 'isin' (only string values can be ORed)")
    if isinstance(part, And):  # a nested And: its parts join the top level
        raise _unsupported(part, "a nested '&' inside '|'")
    raise _unsupported(part, "'~' (ViSearch filters have no negation)")


def _intersect(
    field: str, old: _Range | tuple[str, ...], new: _Range | tuple[str, ...], part: Filter
) -> _Range | tuple[str, ...]:
    if isinstance(old, _Range) and isinstance(new, _Range):
        return _Range(max(old.lo, new.lo), min(old.hi, new.hi), exact=old.exact and new.exact)
    if isinstance(old, tuple) and isinstance(new, tuple):
        both = tuple(v for v in old if v in new)
        if not both:
            raise _unsupported(part, f"conditions on {field!r} that no value meets (fq cannot say 'nothing')")
        return both
    raise _unsupported(part, f"a number and a string condition on the same field {field!r}")


def _render(value: _Range | tuple[str, ...]) -> str:
    if isinstance(value, tuple):
        return " OR ".join(quote_value(v) for v in value)
    for bound in (value.lo, value.hi):
        if not math.isfinite(bound) or abs(bound) > RANGE_BOUND:
            raise UnsupportedFilterError(
                f"visearch cannot express a range bound of {bound!r} (beyond ±{RANGE_BOUND})",
                provider="visearch",
                part=f"{value.lo}..{value.hi}",
            )
    if value.exact and value.lo == value.hi:
        return format_number(value.lo)
    return f"{format_number(value.lo)},{format_number(value.hi)}"


def _field_of(part: Filter) -> str | None:
    if isinstance(part, (Compare, Between, In)):
        return part.field
    return None


def _check_field(part: Filter, field: str) -> None:
    if not _FIELD.match(field):
        raise _unsupported(part, f"the field name {field!r} (ViSearch fields are [A-Za-z0-9_], <= 32 chars)")


def _unsupported(part: Filter, what: str) -> UnsupportedFilterError:
    return UnsupportedFilterError(
        f"visearch cannot express {what} in filter part {part.describe()}",
        provider="visearch",
        part=part.describe(),
    )


def scalar_to_wire(value: Scalar) -> str:
    """A metadata value as a form value: bools lowercase (the official client sends ``True``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return format_number(value)
    return value
