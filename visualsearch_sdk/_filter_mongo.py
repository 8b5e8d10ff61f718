"""MongoDB-style filter dicts: :func:`parse_filter` reads one into the AST, :func:`to_mongo` writes it back.

The accepted syntax is in the ``filters`` module docstring.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from visualsearch_sdk._exceptions import InvalidFilterError
from visualsearch_sdk._filter_values import CompareOp, Scalar, _check_field, _scalar
from visualsearch_sdk.filters import And, Between, Compare, Filter, FilterLike, In, Not, Or

__all__ = ["parse_filter", "to_mongo"]

_TO_MONGO: dict[str, str] = {"eq": "$eq", "ne": "$ne", "lt": "$lt", "le": "$lte", "gt": "$gt", "ge": "$gte"}
_FROM_MONGO: dict[str, CompareOp] = {
    "$eq": "eq", "$ne": "ne", "$lt": "lt", "$lte": "le", "$gt": "gt", "$gte": "ge"
}  # fmt: skip
_FIELD_OPS = (*_FROM_MONGO, "$in", "$nin", "$not")


def parse_filter(value: FilterLike | None) -> Filter | None:
    """Turn a Filter (returned as is), a MongoDB-style dict (``{}`` means none) or None into a Filter or None.

    Raises:
        InvalidFilterError: malformed dict or value; the message names the offending path.
    """
    if value is None or isinstance(value, Filter):
        return value
    if not isinstance(value, Mapping):
        raise InvalidFilterError(f"filter must be a Filter, a dict or None, got {type(value).__name__}")
    return _parse_doc(value, "filter") if value else None


@contextmanager
def _at(path: str) -> Iterator[None]:
    """Prefix the path to errors raised while building a node."""
    try:
        yield
    except InvalidFilterError as exc:
        raise InvalidFilterError(f"{path}: {exc.message}") from exc


def _parse_doc(doc: object, path: str) -> Filter:
    if isinstance(doc, Filter):
        return doc
    if not isinstance(doc, Mapping) or not doc:
        raise InvalidFilterError(f"{path}: expected a non-empty condition dict, got {doc!r}")
    nodes = [_parse_item(key, value, f"{path}[{key!r}]") for key, value in doc.items()]
    return nodes[0] if len(nodes) == 1 else And(tuple(nodes))


def _parse_item(key: object, value: object, path: str) -> Filter:
    if key in ("$and", "$or", "$nor"):
        if not isinstance(value, (list, tuple)) or not value:
            raise InvalidFilterError(f"{path}: {key} needs a non-empty list of conditions, got {value!r}")
        parts = tuple(_parse_doc(v, f"{path}[{i}]") for i, v in enumerate(value))
        if key == "$and":
            return And(parts)
        if key == "$or":
            return Or(parts)
        return Not(parts[0] if len(parts) == 1 else Or(parts))
    if isinstance(key, str) and key.startswith("$"):
        hint = f"; put it under a field: {{'field': {{{key!r}: ...}}}}" if key in _FIELD_OPS else ""
        raise InvalidFilterError(
            f"{path}: unknown operator {key!r} where a field or $and/$or/$nor is expected{hint}"
        )
    with _at(path):
        field = _check_field(key)
    if isinstance(value, Mapping):
        return _parse_ops(field, value, path)
    return Compare(field, "eq", _scalar(value, path))


def _values(arg: object, path: str) -> tuple[Scalar, ...]:
    if not isinstance(arg, (list, tuple)) or not arg:
        raise InvalidFilterError(f"{path}: needs a non-empty list of values, got {arg!r}")
    return tuple(_scalar(v, f"{path}[{i}]") for i, v in enumerate(arg))


def _parse_ops(field: str, ops: Mapping[object, object], path: str) -> Filter:
    keys = list(ops)
    if not keys or not all(isinstance(k, str) and k.startswith("$") for k in keys):
        raise InvalidFilterError(
            f"{path}: a dict value must hold only operators ({', '.join(_FIELD_OPS)}); "
            f"nested documents are not supported, got {dict(ops)!r}"
        )
    if set(keys) == {"$gte", "$lte"}:
        try:
            return Between(field, _scalar(ops["$gte"], path), _scalar(ops["$lte"], path))
        except InvalidFilterError:
            pass  # not a well-formed range (mixed kinds, lo > hi): keep the two comparisons
    nodes: list[Filter] = []
    for op, arg in ops.items():
        where = f"{path}[{op!r}]"
        if op in _FROM_MONGO:
            value = _scalar(arg, where)
            with _at(where):
                nodes.append(Compare(field, _FROM_MONGO[str(op)], value))
        elif op in ("$in", "$nin"):
            node = In(field, _values(arg, where))
            nodes.append(node if op == "$in" else Not(node))
        elif op == "$not":
            if not isinstance(arg, Mapping):
                raise InvalidFilterError(f"{where}: $not takes an operator dict such as {{'$in': [...]}}")
            nodes.append(Not(_parse_ops(field, arg, where)))
        else:
            raise InvalidFilterError(f"{where}: unknown operator {op!r}; supported: {', '.join(_FIELD_OPS)}")
    return nodes[0] if len(nodes) == 1 else And(tuple(nodes))


def _ops(f: Filter) -> tuple[str, dict[str, object]] | None:
    """The field and operator dict of a single-field node; None for And/Or and negations of them."""
    if isinstance(f, Compare):
        return f.field, {_TO_MONGO[f.op]: f.value}
    if isinstance(f, Between):
        return f.field, {"$gte": f.lo, "$lte": f.hi}
    if isinstance(f, In):
        return f.field, {"$in": list(f.values)}
    if isinstance(f, Not):
        if isinstance(f.part, In):
            return f.part.field, {"$nin": list(f.part.values)}
        inner = _ops(f.part)
        if inner is not None:
            return inner[0], {"$not": inner[1]}
    return None


def to_mongo(f: Filter) -> dict[str, object]:
    """The canonical MongoDB-style dict of a filter; ``parse_filter(to_mongo(f)) == f``."""
    if isinstance(f, Compare) and f.op == "eq":
        return {f.field: f.value}
    single = _ops(f)
    if single is not None:
        return {single[0]: single[1]}
    if isinstance(f, Or):
        return {"$or": [to_mongo(p) for p in f.parts]}
    if isinstance(f, And):
        docs = [to_mongo(p) for p in f.parts]
        keys = [next(iter(d)) for d in docs if len(d) == 1]
        if len(docs) > 1 and len(keys) == len(docs) == len(set(keys)):
            return {
                k: d[k] for k, d in zip(keys, docs, strict=True)
            }  # several top-level keys parse back to this And
        return {"$and": docs}
    assert isinstance(f, Not)
    if isinstance(f.part, Or) and len(f.part.parts) > 1:
        return {"$nor": [to_mongo(p) for p in f.part.parts]}
    return {"$nor": [to_mongo(f.part)]}  # a one-element $nor parses back to Not(part)
