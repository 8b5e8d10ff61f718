"""Metadata filters: a small AST, built with operators or parsed from a MongoDB-style dict.

Build filters from field references and combine them with ``&``, ``|`` and ``~``::

    (F("brand") == "A") & F("price").between(10, 199) & ~F("colour").isin(["red", "blue"])

or pass the MongoDB-style dict that means the same, through :func:`parse_filter`::

    {"brand": "A", "price": {"$gte": 10, "$lte": 199}, "colour": {"$nin": ["red", "blue"]}}

Accepted: an implicit ``$eq`` (``{"brand": "A"}``); ``$eq $ne $lt $lte $gt $gte $in $nin`` and ``$not``
(wrapping an operator dict) under a field, several operators on one field meaning AND; ``$and $or $nor``
(non-empty lists) at the top; several top-level keys meaning AND. ``{}`` means no filter. Everything else
(``$regex``, ``$exists``, nested documents, ``None``, NaN) raises :class:`InvalidFilterError` naming the
offending part. Field names are taken literally (a dot is part of the name, not a path).
:func:`to_mongo` gives the canonical dict back.

Semantics (the local engine implements exactly this; vendor adapters are checked against it):

* Values are JSON scalars: ``str``, ``int``, ``float``, ``bool``. ``None``, NaN and infinities are refused.
* Types never mix. Numbers (int or float, not bool) compare with numbers, as IEEE doubles (``1 == 1.0``; ints
  beyond 2**53 lose precision as in every JSON backend); strings with strings, by code point; bools only with
  bools (``True != 1``). A record value of another type (``None``, a list, a dict), or a missing field, equals
  nothing and orders against nothing.
* ``eq`` is that type-aware equality. ``ne`` is its negation, so a record *missing* the field matches ``!=``
  (as in MongoDB).
* ``lt le gt ge`` and ``between`` (inclusive both ends) hold only when both sides are numbers or both are
  strings; otherwise, or when the field is missing, they are False. Their filter value cannot be a bool.
* ``isin`` is ``eq`` against any value; ``~isin`` (``$nin``) therefore matches records missing the field.
* ``~`` (``Not``) is the plain logical negation of its part over every record, missing fields included.

:func:`evaluate` checks one record in pure Python; :func:`evaluate_mask` checks a whole column store at once
with numpy; they agree exactly.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import ClassVar, TypeAlias

from ._exceptions import InvalidFilterError
from ._filter_values import _ORDER, MISSING, CompareOp, Scalar, _check_field, _compare, _Kind, _norm, _scalar

__all__ = [
    "MISSING",
    "And",
    "Between",
    "Column",
    "Compare",
    "CompareOp",
    "F",
    "Filter",
    "FilterLike",
    "In",
    "Not",
    "Or",
    "Scalar",
    "evaluate",
    "evaluate_mask",
    "fields",
    "parse_filter",
    "to_mongo",
    "walk",
]

_SYMBOL: dict[str, str] = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_BOOL_HINT = (
    "a Filter has no truth value: combine filters with & | ~ instead of and/or/not, and parenthesize each "
    "comparison: (F('a') == 1) & (F('b') == 2)"
)


class Filter(abc.ABC):
    """Base of the filter AST: combine with ``&``, ``|`` and ``~`` (never ``and``/``or``/``not``)."""

    __slots__ = ()

    @abc.abstractmethod
    def _key(self) -> tuple[object, ...]:
        """What makes two nodes of one type equal."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Filter):
            return NotImplemented
        return type(self) is type(other) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._key()))

    def __and__(self, other: Filter) -> Filter:
        return And(_flat(self, And) + _flat(other, And))

    def __or__(self, other: Filter) -> Filter:
        return Or(_flat(self, Or) + _flat(other, Or))

    def __invert__(self) -> Filter:
        return Not(self)

    def __bool__(self) -> bool:
        raise TypeError(_BOOL_HINT)

    @abc.abstractmethod
    def describe(self) -> str:
        """A readable one-line form, e.g. ``brand == 'A' & price in [10, 199]``."""

    def __repr__(self) -> str:
        return self.describe()


def _flat(f: Filter, kind: type[And] | type[Or]) -> tuple[Filter, ...]:
    return f.parts if isinstance(f, kind) else (f,)


def _tag(v: Scalar) -> tuple[_Kind, Scalar]:
    # Structural equality must not conflate True with 1 (they mean different filters); 1 and 1.0 may.
    return (_norm(v)[0], v)


def _braces(values: tuple[Scalar, ...]) -> str:
    return "{" + ", ".join(map(repr, values)) + "}"


def _wrap(f: Filter) -> str:
    return f"({f.describe()})" if isinstance(f, (And, Or)) else f.describe()


@dataclass(frozen=True, eq=False, repr=False)
class Compare(Filter):
    """``field <op> value``: built by ``F("price") < 10`` and friends."""

    field: str
    op: CompareOp
    value: Scalar

    def __post_init__(self) -> None:
        _check_field(self.field)
        if self.op not in _SYMBOL:
            raise InvalidFilterError(
                f"{self.field}: unknown comparison {self.op!r}; use one of {list(_SYMBOL)}"
            )
        where = f"{self.field} {_SYMBOL[self.op]}"
        value = _scalar(self.value, where)
        if self.op in _ORDER and isinstance(value, bool):
            raise InvalidFilterError(f"{where} {value!r}: ordering needs a number or a string, not a bool")
        object.__setattr__(self, "value", value)

    def _key(self) -> tuple[object, ...]:
        return (self.field, self.op, _tag(self.value))

    def describe(self) -> str:
        """``field == 'value'``."""
        return f"{self.field} {_SYMBOL[self.op]} {self.value!r}"


@dataclass(frozen=True, eq=False, repr=False)
class Between(Filter):
    """``lo <= field <= hi``, inclusive: both bounds numbers, or both strings, with ``lo <= hi``."""

    field: str
    lo: Scalar
    hi: Scalar

    def __post_init__(self) -> None:
        _check_field(self.field)
        where = f"{self.field} between"
        lo, hi = _scalar(self.lo, where), _scalar(self.hi, where)
        if isinstance(lo, bool) or _norm(lo)[0] != _norm(hi)[0]:
            raise InvalidFilterError(
                f"{where} {self.lo!r} and {self.hi!r}: bounds must both be numbers or both strings"
            )
        if _compare(hi, "lt", lo):
            raise InvalidFilterError(
                f"{where} {self.lo!r} and {self.hi!r}: the lower bound is above the upper"
            )
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)

    def _key(self) -> tuple[object, ...]:
        return (self.field, _tag(self.lo), _tag(self.hi))

    def describe(self) -> str:
        """``field in [lo, hi]``."""
        return f"{self.field} in [{self.lo!r}, {self.hi!r}]"


@dataclass(frozen=True, eq=False, repr=False)
class In(Filter):
    """``field`` equals one of ``values`` (non-empty; duplicates dropped, order kept)."""

    field: str
    values: tuple[Scalar, ...]

    def __post_init__(self) -> None:
        _check_field(self.field)
        where = f"{self.field} in"
        if isinstance(self.values, (str, bytes, Mapping)) or not isinstance(self.values, Iterable):
            raise InvalidFilterError(f"{where}: pass a list of values, got {type(self.values).__name__}")
        unique: dict[tuple[_Kind, Scalar], Scalar] = {}
        for v in self.values:
            v = _scalar(v, where)
            unique.setdefault(_tag(v), v)
        if not unique:
            raise InvalidFilterError(f"{where}: needs at least one value")
        object.__setattr__(self, "values", tuple(unique.values()))

    def _key(self) -> tuple[object, ...]:
        return (self.field, tuple(_tag(v) for v in self.values))

    def describe(self) -> str:
        """``field in {'a', 'b'}``."""
        return f"{self.field} in {_braces(self.values)}"


def _check_parts(node: _Junction) -> None:
    parts = tuple(node.parts)
    if not parts:
        raise InvalidFilterError(f"{type(node).__name__} needs at least one part")
    for i, p in enumerate(parts):
        if not isinstance(p, Filter):
            raise InvalidFilterError(f"{type(node).__name__} part {i} is a {type(p).__name__}, not a Filter")
    object.__setattr__(node, "parts", parts)


@dataclass(frozen=True, eq=False, repr=False)
class _Junction(Filter):
    """``And`` and ``Or``: a non-empty tuple of parts joined by one operator."""

    parts: tuple[Filter, ...]
    _symbol: ClassVar[str]

    def __post_init__(self) -> None:
        _check_parts(self)

    def _key(self) -> tuple[object, ...]:
        return self.parts

    def describe(self) -> str:
        """The parts joined by the operator, compound parts in parentheses."""
        return f" {self._symbol} ".join(map(_wrap, self.parts))


class And(_Junction):
    """Every part holds. ``a & b`` builds one, flattening nested ``And``s."""

    _symbol = "&"


class Or(_Junction):
    """At least one part holds. ``a | b`` builds one, flattening nested ``Or``s."""

    _symbol = "|"


@dataclass(frozen=True, eq=False, repr=False)
class Not(Filter):
    """The part does not hold (missing fields included). ``~f`` builds one; ``~~f`` gives back ``f``."""

    part: Filter

    def __post_init__(self) -> None:
        if not isinstance(self.part, Filter):
            raise InvalidFilterError(f"Not needs a Filter, got {type(self.part).__name__}")

    def _key(self) -> tuple[object, ...]:
        return (self.part,)

    def __invert__(self) -> Filter:
        return self.part

    def describe(self) -> str:
        """``field not in {...}`` or ``~(...)``."""
        if isinstance(self.part, In):
            return f"{self.part.field} not in {_braces(self.part.values)}"
        return f"~({self.part.describe()})"


class F:
    """A field reference: ``F("price") < 10``, ``F("brand").isin(["A", "B"])``."""

    __slots__ = ("field",)

    def __init__(self, field: str) -> None:
        self.field = _check_field(field)

    def __repr__(self) -> str:
        return f"F({self.field!r})"

    def __eq__(self, value: Scalar) -> Filter:  # type: ignore[override]
        return Compare(self.field, "eq", value)

    def __ne__(self, value: Scalar) -> Filter:  # type: ignore[override]
        return Compare(self.field, "ne", value)

    def __lt__(self, value: Scalar) -> Filter:
        return Compare(self.field, "lt", value)

    def __le__(self, value: Scalar) -> Filter:
        return Compare(self.field, "le", value)

    def __gt__(self, value: Scalar) -> Filter:
        return Compare(self.field, "gt", value)

    def __ge__(self, value: Scalar) -> Filter:
        return Compare(self.field, "ge", value)

    def between(self, lo: Scalar, hi: Scalar) -> Filter:
        """``lo <= field <= hi``, inclusive; both numbers or both strings, ``lo <= hi``."""
        return Between(self.field, lo, hi)

    def isin(self, values: Iterable[Scalar]) -> Filter:
        """``field`` equals one of ``values`` (a non-empty iterable; duplicates are dropped)."""
        if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
            raise InvalidFilterError(f"{self.field} in: pass a list of values, got {type(values).__name__}")
        return In(self.field, tuple(values))

    def _no_combine(self, other: object) -> Filter:
        raise TypeError(f"cannot combine a bare field {self!r}: {_BOOL_HINT}")

    __and__ = __rand__ = __or__ = __ror__ = _no_combine


FilterLike: TypeAlias = Filter | Mapping[str, object]
"""What search calls accept as ``filter=``: a :class:`Filter` or a MongoDB-style dict."""


# --- Walking the tree ---------------------------------------------------------------------------------------


def walk(f: Filter) -> Iterator[Filter]:
    """Every node of ``f``, pre-order (``f`` first)."""
    yield f
    if isinstance(f, (And, Or)):
        for p in f.parts:
            yield from walk(p)
    elif isinstance(f, Not):
        yield from walk(f.part)


def fields(f: Filter) -> frozenset[str]:
    """The field names ``f`` refers to."""
    return frozenset(n.field for n in walk(f) if isinstance(n, (Compare, Between, In)))


# The evaluators and the dict parser live in their own modules (they need the node classes above, defined by
# now); Scalar, CompareOp and MISSING come from _filter_values. All are re-exported here.
from visualsearch_sdk._filter_eval import Column, evaluate, evaluate_mask  # noqa: E402
from visualsearch_sdk._filter_mongo import parse_filter, to_mongo  # noqa: E402
