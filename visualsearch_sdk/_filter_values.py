"""Filter values: the JSON scalars a filter holds, their kinds, and the type-aware comparison.

The semantics are in the ``filters`` module docstring; the builders there and both evaluators share these
helpers, so a value means the same everywhere.
"""

from __future__ import annotations

import math
import operator
from typing import Literal, TypeAlias

import numpy as np

from visualsearch_sdk._exceptions import InvalidFilterError

__all__ = ["MISSING", "CompareOp", "Scalar"]

Scalar: TypeAlias = str | int | float | bool
"""A filter value: a JSON scalar. Not ``None`` (missing fields never equal anything), nor NaN or infinity."""

CompareOp: TypeAlias = Literal["eq", "ne", "lt", "le", "gt", "ge"]
"""The comparison operators of :class:`Compare`."""

_ORDER = {"lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge}

_Kind = Literal["b", "n", "s"]
_Norm: TypeAlias = "tuple[_Kind, float | str | bool]"


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:
        return "MISSING"  # pickle and copy by reference: the sentinel stays a singleton


MISSING: object = _Missing()
"""Sentinel for a row without the field, in :attr:`Column.values` and :meth:`Column.build`."""


def _to_float(x: int | float | np.integer | np.floating) -> float:
    try:
        return float(x)
    except OverflowError:  # an int beyond the double range
        return math.inf if x > 0 else -math.inf


def _classify(x: object) -> _Norm | None:
    """The kind of a value and its comparable form (numbers as floats), or None when it matches nothing."""
    if isinstance(x, (bool, np.bool_)):
        return "b", bool(x)
    if isinstance(x, (int, float, np.integer, np.floating)):
        return "n", _to_float(x)
    if isinstance(x, str):
        return "s", x
    return None


def _norm(v: Scalar) -> _Norm:
    norm = _classify(v)
    assert norm is not None  # filter values are validated scalars
    return norm


def _check_field(field: object) -> str:
    if not isinstance(field, str) or not field or field.startswith("$"):
        raise InvalidFilterError(
            f"field name must be a non-empty string not starting with '$', got {field!r}"
        )
    return field


def _scalar(value: object, where: str) -> Scalar:
    """Validate one filter value; ``where`` names the part for the message."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:
        raise InvalidFilterError(
            f"{where}: None is not a filter value (a missing field never equals anything; "
            "!= and $nin already match records without the field)"
        )
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        if not math.isfinite(_to_float(value)):
            raise InvalidFilterError(
                f"{where}: {value!r} is not a filter value (NaN and infinities are refused)"
            )
        return value
    raise InvalidFilterError(
        f"{where}: {type(value).__name__} is not a filter value; use str, int, float or bool"
    )


def _compare(x: object, op: CompareOp, value: Scalar) -> bool:
    if op == "ne":
        return not _compare(x, "eq", value)
    got, want = _classify(x), _norm(value)
    if got is None or got[0] != want[0]:
        return False
    return got[1] == want[1] if op == "eq" else bool(_ORDER[op](got[1], want[1]))
