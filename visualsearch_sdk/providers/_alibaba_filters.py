"""Our filter AST -> Alibaba Image Search's ``Filter`` string (VENDORS.md §4.3).

Alibaba filters only its eight attribute slots: ``IntAttr``..``IntAttr4`` take ``> >= < <= =`` against an
integer, ``StrAttr``..``StrAttr4`` take ``=`` and ``!=`` against a double-quoted string; conditions are joined
with ``AND``/``OR``; the whole string is at most 256 characters. Our fields reach the slots through the
declared ``AlibabaOptions(attributes={"price": "IntAttr", ...})``.

What we translate, and how:

* ``F(f) == v``, ``!=``, ``<``... on a declared slot of the right type. A negation is pushed down to the
  conditions (``~(a & b)`` -> ``!a OR !b``); ``!=`` on an integer slot becomes ``(S<v OR S>v)``.
* A non-integral bound on an integer slot is exact for stored integers: ``S < 9.5`` -> ``S<10``.
* ``int_scales={"price": 100}`` multiplies the field's numbers before they meet the slot, in filters as in
  stored values (prices in cents: ``price < 9.99`` -> ``IntAttr<999``). Booleans go to integer slots as 1/0.
* ``isin`` -> ``S="a" OR S="b"``; ``between`` on an integer slot -> ``S>=lo AND S<=hi``.
* ``AND`` inside ``OR`` or the reverse is parenthesised. Alibaba documents no grouping [?]; if an instance
  refuses parentheses (``InvalidFilterClause``), ``parentheses=False`` refuses such filters before any I/O.

Refused with :class:`UnsupportedFilterError` (before any I/O), naming the part: an undeclared field, a value
of the other type (a string for an integer slot, a number or bool for a string slot), ordering on a string
slot, equality with a non-integral number, an integer outside 32 bits [?], a string with ``"`` or ``\\`` or a
control character (Alibaba documents no escaping), a mixed AND/OR without parentheses, and a result over 256
characters.

Semantics differ on one edge: Alibaba has no "missing" value. A record without a field holds 0 or ``""`` in
its slot [?], so ``S<10`` (or ``S=""``) matches it, where our semantics say a missing field orders against
nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, TypeAlias, get_args

from visualsearch_sdk._exceptions import UnsupportedFilterError
from visualsearch_sdk.filters import And, Between, Compare, CompareOp, Filter, In, Not, Or, Scalar

__all__ = [
    "INT_MAX",
    "INT_MIN",
    "INT_SLOTS",
    "MAX_FILTER_CHARS",
    "SLOTS",
    "STR_SLOTS",
    "Slot",
    "alibaba_filter",
    "int_value",
]

Slot = Literal["IntAttr", "IntAttr2", "IntAttr3", "IntAttr4", "StrAttr", "StrAttr2", "StrAttr3", "StrAttr4"]
SLOTS: tuple[Slot, ...] = get_args(Slot)
INT_SLOTS = frozenset(s for s in SLOTS if s.startswith("Int"))
STR_SLOTS = frozenset(s for s in SLOTS if s.startswith("Str"))
MAX_FILTER_CHARS = 256  # VENDORS §4.3
INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # [?] the docs say "Integer"; the SDK models use a 32-bit int

_PROVIDER = "alibaba"
_NEGATED: dict[CompareOp, CompareOp] = {
    "eq": "ne",
    "ne": "eq",
    "lt": "ge",
    "ge": "lt",
    "le": "gt",
    "gt": "le",
}
_SYMBOL: dict[CompareOp, str] = {"eq": "=", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


@dataclass(frozen=True)
class _Group:
    """A rendered junction: ``kind`` joins ``parts`` (each a condition string or a nested group)."""

    kind: Literal["AND", "OR"]
    parts: tuple[str | _Group, ...]


_Node: TypeAlias = "str | _Group"


def alibaba_filter(
    f: Filter,
    attributes: Mapping[str, Slot],
    *,
    scales: Mapping[str, int] | None = None,
    parentheses: bool = True,
) -> str:
    """The ``Filter`` string for ``f``; ``attributes`` maps our field names to Alibaba slots, ``scales``
    multiplies a field's numbers before they meet its integer slot (as :func:`int_value` stores them).

    Raises:
        UnsupportedFilterError: ``f`` cannot be expressed (see the module docstring); ``part`` names why.
    """
    text = _text(_node(f, _Slots(attributes, scales or {}), negate=False), parentheses=parentheses, top=True)
    if len(text) > MAX_FILTER_CHARS:
        raise UnsupportedFilterError(
            f"the filter is {len(text)} characters as Alibaba's Filter string; at most {MAX_FILTER_CHARS} "
            "are allowed (simplify it, or filter fewer values)",
            provider=_PROVIDER,
            part=f.describe(),
        )
    return text


@dataclass(frozen=True)
class _Slots:
    attributes: Mapping[str, Slot]
    scales: Mapping[str, int]


def int_value(value: object, scale: int = 1) -> Decimal | None:
    """A number (or bool, as 1/0) times ``scale``, exactly; None for anything else. Floats count by their
    shortest repr, so ``1.15 * 100`` is exactly 115."""
    if isinstance(value, bool):
        return Decimal(int(value)) * scale
    if isinstance(value, int):
        return Decimal(value) * scale
    if isinstance(value, float) and math.isfinite(value):
        return Decimal(repr(value)) * scale
    return None


def _node(f: Filter, slots: _Slots, *, negate: bool) -> _Node:
    if isinstance(f, Not):
        return _node(f.part, slots, negate=not negate)
    if isinstance(f, (And, Or)):
        is_and = isinstance(f, And) != negate  # De Morgan
        parts = tuple(_node(p, slots, negate=negate) for p in f.parts)
        return _group("AND" if is_and else "OR", parts)
    if isinstance(f, In):
        kind: Literal["AND", "OR"] = "AND" if negate else "OR"
        return _group(kind, tuple(_condition(f.field, "eq", v, slots, negate=negate) for v in f.values))
    if isinstance(f, Between):
        if negate:
            parts = (
                _condition(f.field, "lt", f.lo, slots, negate=False),
                _condition(f.field, "gt", f.hi, slots, negate=False),
            )
            return _group("OR", parts)
        return _group(
            "AND",
            (
                _condition(f.field, "ge", f.lo, slots, negate=False),
                _condition(f.field, "le", f.hi, slots, negate=False),
            ),
        )
    assert isinstance(f, Compare)
    return _condition(f.field, f.op, f.value, slots, negate=negate)


def _group(kind: Literal["AND", "OR"], parts: tuple[_Node, ...]) -> _Node:
    flat: list[_Node] = []
    for part in parts:
        if isinstance(part, _Group) and part.kind == kind:
            flat.extend(part.parts)
        else:
            flat.append(part)
    return flat[0] if len(flat) == 1 else _Group(kind, tuple(flat))


def _condition(field: str, op: CompareOp, value: Scalar, slots: _Slots, *, negate: bool) -> _Node:
    op = _NEGATED[op] if negate else op
    where = f"{field} {_SYMBOL[op]} {value!r}"
    slot = slots.attributes.get(field)
    if slot is None:
        declared = ", ".join(f"{k}->{v}" for k, v in slots.attributes.items()) or "none"
        raise UnsupportedFilterError(
            f"alibaba can filter only declared attribute slots; {field!r} is not one "
            f"(declared: {declared}). Add it to AlibabaOptions(attributes={{{field!r}: 'IntAttr'...}})",
            provider=_PROVIDER,
            part=where,
        )
    if slot in INT_SLOTS:
        return _int_condition(slot, op, value, where, slots.scales.get(field, 1))
    return _str_condition(slot, op, value, where)


def _int_condition(slot: Slot, op: CompareOp, value: Scalar, where: str, scale: int) -> _Node:
    number = int_value(value, scale)
    if number is None:
        raise _refuse(f"{slot} holds integers; {value!r} is not a number", where)
    scaled = f" (x{scale})" if scale != 1 else ""
    if op in ("eq", "ne") and number != number.to_integral_value():
        raise _refuse(f"{slot} holds integers{scaled}, which never equal {value!r}", where)
    if op == "ne":  # integer slots have no !=
        return _Group(
            "OR",
            (
                _int_condition(slot, "lt", value, where, scale),
                _int_condition(slot, "gt", value, where, scale),
            ),
        )
    # Stored values are integers, so a fractional bound is exact when rounded towards the kept side.
    bound = math.ceil(number) if op in ("lt", "ge") else math.floor(number)
    if not INT_MIN <= bound <= INT_MAX:
        raise _refuse(f"{slot} holds 32-bit integers; {value!r} is out of range", where)
    return f"{slot}{_SYMBOL[op]}{bound}"


def _str_condition(slot: Slot, op: CompareOp, value: Scalar, where: str) -> _Node:
    if not isinstance(value, str):
        raise _refuse(f"{slot} holds strings; {value!r} is not a string", where)
    if op not in ("eq", "ne"):
        raise _refuse(f"{slot} is a string slot: Alibaba compares strings only with = and !=", where)
    if '"' in value or "\\" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise _refuse(
            "Alibaba documents no escaping in filter strings: a value cannot hold a quote, a backslash "
            "or a control character",
            where,
        )
    return f'{slot}{_SYMBOL[op]}"{value}"'


def _text(node: _Node, *, parentheses: bool, top: bool) -> str:
    if isinstance(node, str):
        return node
    inner = f" {node.kind} ".join(_text(p, parentheses=parentheses, top=False) for p in node.parts)
    if top:
        return inner
    if not parentheses:
        raise UnsupportedFilterError(
            "this filter mixes AND and OR, which needs parentheses; they are off "
            "(AlibabaOptions(filter_parentheses=False))",
            provider=_PROVIDER,
            part=inner,
        )
    return f"({inner})"


def _refuse(reason: str, where: str) -> UnsupportedFilterError:
    return UnsupportedFilterError(f"alibaba cannot filter {where}: {reason}", provider=_PROVIDER, part=where)
