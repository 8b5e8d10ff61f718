"""Evaluating filters: one record in pure Python (``evaluate``) or a whole index at once with numpy
(``evaluate_mask`` over cached ``Column`` s). The two agree exactly; the semantics are in ``filters``.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from visualsearch_sdk._filter_values import _ORDER, MISSING, CompareOp, Scalar, _classify, _compare, _norm
from visualsearch_sdk.filters import And, Between, Compare, Filter, In, Not, Or

__all__ = ["Column", "evaluate", "evaluate_mask"]


def evaluate(f: Filter, metadata: Mapping[str, object]) -> bool:
    """Whether one record's metadata matches ``f`` (pure Python; the semantics of the module docstring)."""
    if isinstance(f, Compare):
        return _compare(metadata.get(f.field, MISSING), f.op, f.value)
    if isinstance(f, Between):
        x = metadata.get(f.field, MISSING)
        return _compare(x, "ge", f.lo) and _compare(x, "le", f.hi)
    if isinstance(f, In):
        x = metadata.get(f.field, MISSING)
        return any(_compare(x, "eq", v) for v in f.values)
    if isinstance(f, And):
        return all(evaluate(p, metadata) for p in f.parts)
    if isinstance(f, Or):
        return any(evaluate(p, metadata) for p in f.parts)
    assert isinstance(f, Not)
    return not evaluate(f.part, metadata)


_BoolArray: TypeAlias = npt.NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class Column:
    """One field over ``n`` rows, as :func:`evaluate_mask` reads it; build once per field and cache it."""

    values: npt.NDArray[np.object_]
    """The raw value per row, :data:`MISSING` where the row lacks the field."""
    numbers: npt.NDArray[np.float64]
    """The value as a float where it is an int or float (not a bool), else NaN."""

    def __post_init__(self) -> None:
        if self.values.ndim != 1 or self.values.shape != self.numbers.shape:
            raise ValueError(
                f"Column arrays must be 1-D and equally long: {self.values.shape} {self.numbers.shape}"
            )

    @classmethod
    def build(cls, values: Sequence[object]) -> Column:
        """Build a column from one value per row (:data:`MISSING` for absent)."""
        n = len(values)
        norms = [_classify(v) for v in values]
        numbers = np.fromiter((c[1] if c and c[0] == "n" else math.nan for c in norms), np.float64, count=n)
        return cls(np.fromiter(values, dtype=object, count=n), numbers)

    @cached_property
    def _bools(self) -> npt.NDArray[np.int8]:
        """1 or 0 where the value is a bool, else -1."""
        norms = (_classify(v) for v in self.values)
        return np.fromiter((int(c[1]) if c and c[0] == "b" else -1 for c in norms), np.int8, len(self.values))

    @cached_property
    def _strings(self) -> tuple[list[str], npt.NDArray[np.intp]]:
        """The sorted distinct strings, and per row the index of its string in them (else -1)."""
        uniq = sorted({v for v in self.values if isinstance(v, str)})
        pos = {s: i for i, s in enumerate(uniq)}
        codes = np.fromiter((pos.get(v, -1) if isinstance(v, str) else -1 for v in self.values), np.intp)
        return uniq, codes


def _mask_compare(col: Column, op: CompareOp, value: Scalar) -> _BoolArray:
    if op == "ne":
        return ~_mask_compare(col, "eq", value)
    kind, v = _norm(value)
    if kind == "n":
        return np.asarray(_ORDER[op](col.numbers, v) if op != "eq" else col.numbers == v, dtype=np.bool_)
    if kind == "b":  # only eq: ordering on bools is refused at construction
        return np.asarray(col._bools == int(v), dtype=np.bool_)
    # Strings compare through their rank among the column's sorted distinct strings: exact and vectorised.
    uniq, codes = col._strings
    lo, hi = bisect_left(uniq, str(v)), bisect_right(uniq, str(v))
    if op == "eq":
        code = _code(uniq, str(v))  # -1 marks non-strings, so an absent string must match nothing
        return np.asarray(codes == code, dtype=np.bool_) if code >= 0 else np.zeros(len(codes), np.bool_)
    if op in ("lt", "le"):
        return (codes >= 0) & (codes < (lo if op == "lt" else hi))
    return codes >= (hi if op == "gt" else lo)


def _code(uniq: list[str], s: str) -> int:
    """The index of ``s`` among the sorted distinct strings, or -1."""
    i = bisect_left(uniq, s)
    return i if i < len(uniq) and uniq[i] == s else -1


def _mask_in(col: Column, values: tuple[Scalar, ...]) -> _BoolArray:
    norms = [_norm(v) for v in values]
    uniq, codes = col._strings
    mask = np.isin(col.numbers, [v for k, v in norms if k == "n"])
    mask |= np.isin(col._bools, [int(v) for k, v in norms if k == "b"])
    return mask | np.isin(codes, [c for k, v in norms if k == "s" and (c := _code(uniq, str(v))) >= 0])


def evaluate_mask(f: Filter, column: Callable[[str], Column], n: int) -> _BoolArray:
    """Which of ``n`` rows match ``f``, as a bool array; ``column(field)`` gives each field's :class:`Column`.

    Agrees exactly with :func:`evaluate` on every row.
    """
    if isinstance(f, (Compare, Between, In)):
        col = column(f.field)
        if col.values.shape != (n,):
            raise ValueError(f"column {f.field!r} has shape {col.values.shape}, expected ({n},)")
        if isinstance(f, Compare):
            return _mask_compare(col, f.op, f.value)
        if isinstance(f, Between):
            return _mask_compare(col, "ge", f.lo) & _mask_compare(col, "le", f.hi)
        return _mask_in(col, f.values)
    if isinstance(f, (And, Or)):
        masks = [evaluate_mask(p, column, n) for p in f.parts]
        combine = np.logical_and if isinstance(f, And) else np.logical_or
        return np.asarray(combine.reduce(masks), dtype=np.bool_) if len(masks) > 1 else masks[0]
    assert isinstance(f, Not)
    return ~evaluate_mask(f.part, column, n)
