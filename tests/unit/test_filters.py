"""The filter AST: builders, validation, the Mongo-dict parser, and the two evaluators (which must agree)."""

from __future__ import annotations

import copy
import json
import math
import pickle
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from visualsearch_sdk._exceptions import InvalidFilterError
from visualsearch_sdk.filters import (
    MISSING,
    And,
    Between,
    Column,
    Compare,
    CompareOp,
    F,
    Filter,
    In,
    Not,
    Or,
    Scalar,
    evaluate,
    evaluate_mask,
    fields,
    parse_filter,
    to_mongo,
    walk,
)

# --- builders -----------------------------------------------------------------------------------------------


def test_operators_build_compare_nodes() -> None:
    assert (F("a") == 1) == Compare("a", "eq", 1)
    assert (F("a") != "x") == Compare("a", "ne", "x")
    assert (F("a") < 1) == Compare("a", "lt", 1)
    assert (F("a") <= 1) == Compare("a", "le", 1)
    assert (F("a") > 1.5) == Compare("a", "gt", 1.5)
    assert (F("a") >= "m") == Compare("a", "ge", "m")
    assert (3 < F("a")) == Compare("a", "gt", 3)  # noqa: SIM300  (the reflected operator)
    assert F("a").between(1, 9) == Between("a", 1, 9)
    assert F("a").isin(["x", "y"]) == In("a", ("x", "y"))


def test_and_or_flatten_and_not() -> None:
    a, b, c, d = (F(n) == 1 for n in "abcd")
    assert (a & b & c) == And((a, b, c))
    assert ((a & b) & (c & d)) == And((a, b, c, d))
    assert (a | b | c) == Or((a, b, c))
    assert ((a & b) | c) == Or((And((a, b)), c))
    assert ~a == Not(a)
    assert ~~a == a


def test_bool_guard_fails_loudly() -> None:
    with pytest.raises(TypeError, match=r"& \| ~"):
        bool(F("a") == 1)
    with pytest.raises(TypeError, match="no truth value"):
        _ = (F("a") == 1) and (F("b") == 2)
    with pytest.raises(TypeError, match="parenthesize"):
        F("a") == 1 & F("b")  # noqa: B015  (precedence slip: 1 & F("b"))


def test_structural_equality_is_type_aware_and_hashable() -> None:
    assert (F("a") == 1) == (F("a") == 1.0)
    assert (F("a") == 1) != (F("a") == True)  # noqa: E712
    assert hash(F("a") == 1) == hash(F("a") == 1.0)
    assert len({F("a") == 1, F("a") == True, F("a") == 1.0}) == 2  # noqa: E712
    f = F("a").isin([1, True, 1.0, "1", 1])
    assert isinstance(f, In)
    assert f.values == (1, True, "1")
    assert (F("a") == 1) != "a == 1"


def test_isin_dedupes_keeping_order_and_accepts_iterables() -> None:
    f = F("a").isin(v for v in ["y", "x", "y"])
    assert isinstance(f, In)
    assert f.values == ("y", "x")


def test_numpy_scalars_are_accepted_as_values() -> None:
    assert (F("a") == np.int64(3)) == Compare("a", "eq", 3)
    assert json.dumps(to_mongo(F("a").between(np.int64(1), np.float64(2.5)) & F("b").isin([np.str_("x")])))
    f = F("a") == np.float32(0.5)
    assert isinstance(f, Compare)
    assert type(f.value) is float


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: F(""), "non-empty"),
        (lambda: F("$and"), "'\\$and'"),
        (lambda: F(3), "3"),  # type: ignore[arg-type]
        (lambda: F("a") == None, "None is not a filter value"),  # noqa: E711
        (lambda: F("a") == math.nan, "NaN"),
        (lambda: F("a") < math.inf, "inf"),
        (lambda: F("a") == 10**400, "NaN and infinities"),
        (lambda: F("a") == [1], "list is not a filter value"),
        (lambda: F("a") == F("b"), "F is not a filter value"),  # type: ignore[operator]
        (lambda: F("a") < True, "a < True: ordering needs a number or a string"),
        (lambda: F("a").between(5, 1), "a between 5 and 1: the lower bound is above"),
        (lambda: F("a").between("b", "a"), "lower bound is above"),
        (lambda: F("a").between(1, "z"), "must both be numbers or both strings"),
        (lambda: F("a").between(False, True), "must both be numbers or both strings"),
        (lambda: F("a").isin([]), "a in: needs at least one value"),
        (lambda: F("a").isin("abc"), "pass a list"),
        (lambda: F("a").isin([1, None]), "a in: None"),  # type: ignore[list-item]
        (lambda: Compare("a", "like", 1), "unknown comparison 'like'"),  # type: ignore[arg-type]
        (lambda: And(()), "And needs at least one part"),
        (lambda: Or((F("a") == 1, {"b": 1})), "Or part 1 is a dict"),  # type: ignore[arg-type]
        (lambda: Not("a == 1"), "Not needs a Filter"),  # type: ignore[arg-type]
        (lambda: (F("a") == 1) & {"b": 2}, "And part 1 is a dict"),  # type: ignore[operator]
    ],
)
def test_validation_errors_name_the_part(build: Callable[[], object], message: str) -> None:
    with pytest.raises(InvalidFilterError, match=message):
        build()


def test_invalid_filter_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        F("")


def test_describe_and_repr_are_readable() -> None:
    f = (F("brand") == "A") & F("price").between(10, 199)
    assert f.describe() == "brand == 'A' & price in [10, 199]"
    assert repr(f) == f.describe()
    g = (f | (F("n") != 1.5)) & ~F("c").isin(["r", "b"]) & ~(F("x") >= 2)
    assert repr(g) == "((brand == 'A' & price in [10, 199]) | n != 1.5) & c not in {'r', 'b'} & ~(x >= 2)"
    assert repr(~(F("a") < 1) | ~((F("a") == 1) | (F("b") == True))) == (  # noqa: E712
        "~(a < 1) | ~(a == 1 | b == True)"
    )
    assert repr(F("a")) == "F('a')"
    assert repr(MISSING) == "MISSING"


def test_missing_is_a_singleton_through_pickle_and_copy() -> None:
    assert pickle.loads(pickle.dumps(MISSING)) is MISSING
    assert copy.deepcopy([MISSING])[0] is MISSING


def test_walk_and_fields() -> None:
    a, b, c = F("a") == 1, F("b").isin([1]), F("c").between(1, 2)
    f = a & ~(b | c)
    assert list(walk(f)) == [f, a, ~(b | c), b | c, b, c]
    assert fields(f) == frozenset({"a", "b", "c"})


# --- Mongo dicts --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"brand": "A"}, F("brand") == "A"),
        ({"a": {"$eq": 1}}, F("a") == 1),
        ({"a": {"$ne": 1}}, F("a") != 1),
        ({"a": {"$lt": 1}}, F("a") < 1),
        ({"a": {"$lte": 1}}, F("a") <= 1),
        ({"a": {"$gt": "m"}}, F("a") > "m"),
        ({"a": {"$gte": 1.5}}, F("a") >= 1.5),
        ({"a": {"$in": ["x", "y"]}}, F("a").isin(["x", "y"])),
        ({"a": {"$nin": [1, 2]}}, ~F("a").isin([1, 2])),
        ({"a": {"$not": {"$gt": 5}}}, ~(F("a") > 5)),
        ({"a": {"$not": {"$nin": [1]}}}, Not(Not(In("a", (1,))))),
        ({"price": {"$gte": 10, "$lte": 199}}, F("price").between(10, 199)),
        ({"price": {"$lte": 199, "$gte": 10}}, F("price").between(10, 199)),
        ({"p": {"$gte": 9, "$lte": 1}}, And((F("p") >= 9, F("p") <= 1))),  # empty range: kept, not refused
        ({"p": {"$gt": 1, "$ne": 5}}, And((F("p") > 1, F("p") != 5))),
        ({"a": 1, "b": True}, (F("a") == 1) & (F("b") == True)),  # noqa: E712
        ({"$and": [{"a": 1}]}, And((F("a") == 1,))),
        ({"$and": [{"a": 1}, {"b": 2}]}, (F("a") == 1) & (F("b") == 2)),
        ({"$or": [{"a": 1}, {"b": 2}]}, (F("a") == 1) | (F("b") == 2)),
        ({"$nor": [{"a": 1}, {"b": 2}]}, ~((F("a") == 1) | (F("b") == 2))),
        ({"$nor": [{"a": 1}]}, ~(F("a") == 1)),
        ({"$or": [F("a") == 1, {"b": 2}]}, (F("a") == 1) | (F("b") == 2)),
    ],
)
def test_parse_every_operator(doc: dict[str, object], expected: Filter) -> None:
    assert parse_filter(doc) == expected


def test_parse_passes_filters_and_none_through() -> None:
    f = F("a") == 1
    assert parse_filter(f) is f
    assert parse_filter(None) is None
    assert parse_filter({}) is None


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([{"a": 1}], "must be a Filter, a dict or None, got list"),
        ({"a": {"$regex": "^x"}}, r"filter\['a'\]\['\$regex'\]: unknown operator"),
        ({"a": {"$exists": True}}, "unknown operator '\\$exists'"),
        ({"$in": [1]}, r"filter\['\$in'\]: unknown operator .* put it under a field"),
        ({"$where": "x"}, "unknown operator '\\$where'"),
        ({"a": {"$in": "x"}}, r"filter\['a'\]\['\$in'\]: needs a non-empty list"),
        ({"a": {"$in": []}}, "needs a non-empty list"),
        ({"a": {"$nin": {"x": 1}}}, r"\['\$nin'\]: needs a non-empty list"),
        ({"a": {"$in": [1, None]}}, r"\['\$in'\]\[1\]: None is not a filter value"),
        ({"$and": []}, r"filter\['\$and'\]: \$and needs a non-empty list"),
        ({"$or": {"a": 1}}, "needs a non-empty list"),
        ({"$and": [{}]}, r"filter\['\$and'\]\[0\]: expected a non-empty condition"),
        ({"$and": [{"a": 1}, 3]}, r"\[1\]: expected a non-empty condition dict, got 3"),
        ({"$or": [{"a": {"$foo": 1}}]}, r"filter\['\$or'\]\[0\]\['a'\]\['\$foo'\]"),
        ({"a": {"b": 1}}, r"filter\['a'\]: a dict value must hold only operators"),
        ({"a": {"$gt": 1, "b": 1}}, "nested documents are not supported"),
        ({"a": {}}, "must hold only operators"),
        ({"a": None}, r"filter\['a'\]: None is not a filter value"),
        ({"a": math.nan}, "NaN and infinities"),
        ({"a": {"$lte": math.inf}}, "NaN and infinities"),
        ({"a": [1, 2]}, "list is not a filter value"),
        ({"a": {"$gt": True}}, r"\['\$gt'\]: a > True: ordering needs a number or a string"),
        ({"a": {"$not": 3}}, r"\$not takes an operator dict"),
        ({"a": {"$not": {"$regex": "x"}}}, r"\['\$not'\]\['\$regex'\]: unknown operator"),
        ({"": 1}, r"filter\[''\]: field name must be a non-empty string"),
        ({1: 1}, "got 1"),
    ],
)
def test_parse_errors_name_the_path(doc: object, message: str) -> None:
    with pytest.raises(InvalidFilterError, match=message):
        parse_filter(doc)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("f", "doc"),
    [
        (F("brand") == "A", {"brand": "A"}),
        (F("price").between(10, 199), {"price": {"$gte": 10, "$lte": 199}}),
        (~F("c").isin(["r"]), {"c": {"$nin": ["r"]}}),
        (~(F("a") > 1), {"a": {"$not": {"$gt": 1}}}),
        (~(F("a") == 1), {"a": {"$not": {"$eq": 1}}}),
        ((F("a") == 1) & (F("b") < 2), {"a": 1, "b": {"$lt": 2}}),
        ((F("a") > 1) & (F("a") < 2), {"$and": [{"a": {"$gt": 1}}, {"a": {"$lt": 2}}]}),
        ((F("a") == 1) | (F("b") == 2), {"$or": [{"a": 1}, {"b": 2}]}),
        (~((F("a") == 1) | (F("b") == 2)), {"$nor": [{"a": 1}, {"b": 2}]}),
        (~((F("a") == 1) & (F("b") == 2)), {"$nor": [{"a": 1, "b": 2}]}),
        (Not(Or((F("a") == 1,))), {"$nor": [{"$or": [{"a": 1}]}]}),
    ],
)
def test_to_mongo_is_canonical(f: Filter, doc: dict[str, object]) -> None:
    assert to_mongo(f) == doc
    assert parse_filter(doc) == f


# --- strategies ---------------------------------------------------------------------------------------------

FIELDS = ("a", "b", "c")
_numbers = st.one_of(
    st.integers(-3, 3),
    st.sampled_from([0.0, 1.0, -1.5, 2.5, 1e300, 2**53, 2**53 + 1]),
    st.floats(-4, 4, allow_nan=False, width=16),
)
_strings = st.sampled_from(["", "a", "ab", "b", "B", "1", "True", "é", "z"])
_scalars: st.SearchStrategy[Scalar] = st.one_of(_numbers, _strings, st.booleans())
_OPS: tuple[CompareOp, ...] = ("eq", "ne", "lt", "le", "gt", "ge")
_ops = st.sampled_from(_OPS)


@st.composite
def _compare(draw: st.DrawFn) -> Filter:
    op = draw(_ops)
    value = draw(_scalars if op in ("eq", "ne") else st.one_of(_numbers, _strings))
    return Compare(draw(st.sampled_from(FIELDS)), op, value)


@st.composite
def _between(draw: st.DrawFn) -> Filter:
    lo, hi = sorted(
        draw(st.lists(st.one_of(_numbers) if draw(st.booleans()) else _strings, min_size=2, max_size=2))
    )
    return Between(draw(st.sampled_from(FIELDS)), lo, hi)


_leaves = st.one_of(
    _compare(),
    _between(),
    st.builds(In, st.sampled_from(FIELDS), st.lists(_scalars, min_size=1, max_size=4).map(tuple)),
)
filters: st.SearchStrategy[Filter] = st.recursive(
    _leaves,
    lambda kids: st.one_of(
        st.lists(kids, min_size=1, max_size=3).map(lambda ps: And(tuple(ps))),
        st.lists(kids, min_size=1, max_size=3).map(lambda ps: Or(tuple(ps))),
        kids.map(Not),
    ),
    max_leaves=8,
)
# Record values: the filter scalars plus what a record may hold that matches nothing (and numpy scalars).
_record_values = st.one_of(
    _scalars,
    st.sampled_from([None, math.nan, math.inf, -math.inf, [1], {"x": 1}, 10**400]),
    st.sampled_from([np.int64(1), np.float32(0.5), np.bool_(True), np.str_("a"), np.float64(2.5)]),
)
records = st.lists(st.dictionaries(st.sampled_from(FIELDS), _record_values), max_size=12)


@settings(max_examples=300, deadline=None)
@given(filters)
def test_to_mongo_round_trips_through_parse_and_json(f: Filter) -> None:
    doc = to_mongo(f)
    assert parse_filter(doc) == f
    assert parse_filter(json.loads(json.dumps(doc))) == f
    assert repr(parse_filter(doc)) == repr(f)


def _mask(f: Filter, rows: list[dict[str, object]]) -> list[bool]:
    cols = {name: Column.build([r.get(name, MISSING) for r in rows]) for name in FIELDS}
    mask = evaluate_mask(f, cols.__getitem__, len(rows))
    assert mask.dtype == np.bool_
    assert mask.shape == (len(rows),)
    return [bool(m) for m in mask]


@settings(max_examples=400, deadline=None)
@given(filters, records)
def test_evaluate_and_evaluate_mask_agree(f: Filter, rows: list[dict[str, object]]) -> None:
    assert _mask(f, rows) == [evaluate(f, r) for r in rows]


@settings(max_examples=200, deadline=None)
@given(filters, records)
def test_not_is_complement_and_ne_is_not_eq(f: Filter, rows: list[dict[str, object]]) -> None:
    for r in rows:
        assert evaluate(~f, r) is (not evaluate(f, r))
        if isinstance(f, Compare) and f.op == "eq":
            assert evaluate(F(f.field) != f.value, r) is (not evaluate(f, r))


# --- semantics table ----------------------------------------------------------------------------------------

_SEMANTICS: list[tuple[Filter, dict[str, object], bool]] = [
    (F("a") == 1, {"a": 1}, True),
    (F("a") == 1, {"a": 1.0}, True),
    (F("a") == 1, {"a": True}, False),
    (F("a") == True, {"a": 1}, False),  # noqa: E712
    (F("a") == True, {"a": True}, True),  # noqa: E712
    (F("a") == True, {"a": np.bool_(True)}, True),  # noqa: E712
    (F("a") == 1, {"a": "1"}, False),
    (F("a") == "1", {"a": 1}, False),
    (F("a") == 1, {"a": np.int64(1)}, True),
    (F("a") == 1, {}, False),
    (F("a") == 1, {"a": None}, False),
    (F("a") == 1, {"a": [1]}, False),
    (F("a") != 1, {}, True),
    (F("a") != 1, {"a": None}, True),
    (F("a") != 1, {"a": True}, True),
    (F("a") != 1, {"a": 1.0}, False),
    (F("a") != 1.0, {"a": math.nan}, True),
    (F("a") < 2, {"a": 1}, True),
    (F("a") < 2, {"a": True}, False),
    (F("a") < 2, {"a": "1"}, False),
    (F("a") < 2, {}, False),
    (F("a") < 2, {"a": math.nan}, False),
    (F("a") >= 2, {"a": math.inf}, True),
    (F("a") < "b", {"a": "a"}, True),
    (F("a") < "b", {"a": "B"}, True),  # code points: "B" < "b"
    (F("a") > "b", {"a": "ba"}, True),
    (F("a") <= "b", {"a": "b"}, True),
    (F("a") < "b", {"a": 1}, False),
    (F("a").between(1, 3), {"a": 3}, True),
    (F("a").between(1, 3), {"a": 1.0}, True),
    (F("a").between(1, 3), {"a": 3.5}, False),
    (F("a").between(1, 3), {"a": True}, False),
    (F("a").between(1, 3), {}, False),
    (F("a").between("a", "c"), {"a": "bz"}, True),
    (F("a").between("a", "c"), {"a": "cz"}, False),
    (F("a").isin([1, "x"]), {"a": "x"}, True),
    (F("a").isin([1, "x"]), {"a": 1.0}, True),
    (F("a").isin([1, "x"]), {"a": True}, False),
    (F("a").isin([True]), {"a": 1}, False),
    (F("a").isin([1]), {}, False),
    (~F("a").isin([1]), {}, True),
    (~F("a").isin([1]), {"a": 2}, True),
    (~F("a").isin([1]), {"a": 1}, False),
    (~(F("a") < 2), {}, True),
    (~(F("a") < 2), {"a": "x"}, True),
    ((F("a") == 1) & (F("b") == 2), {"a": 1, "b": 2}, True),
    ((F("a") == 1) & (F("b") == 2), {"a": 1}, False),
    ((F("a") == 1) | (F("b") == 2), {"b": 2}, True),
]


@pytest.mark.parametrize(("f", "record", "expected"), _SEMANTICS, ids=[repr(s[0]) for s in _SEMANTICS])
def test_semantics_table(f: Filter, record: dict[str, object], expected: bool) -> None:
    assert evaluate(f, record) is expected
    assert _mask(f, [record, {}, record]) == [expected, evaluate(f, {}), expected]


def test_semantics_table_as_one_column_store() -> None:
    for f in {f for f, _, _ in _SEMANTICS}:
        rows = [r for _, r, _ in _SEMANTICS]
        assert _mask(f, rows) == [evaluate(f, r) for r in rows]


# --- Column and evaluate_mask -------------------------------------------------------------------------------


def test_column_build() -> None:
    col = Column.build([1, 2.5, True, "x", None, MISSING, [1, 2], np.int64(7)])
    assert col.values.dtype == object
    assert col.values[5] is MISSING
    assert col.values[6] == [1, 2]
    np.testing.assert_array_equal(col.numbers, [1.0, 2.5, np.nan, np.nan, np.nan, np.nan, np.nan, 7.0])
    empty = Column.build([])
    assert evaluate_mask(F("a") == "x", lambda _: empty, 0).shape == (0,)


def test_column_rejects_mismatched_arrays() -> None:
    with pytest.raises(ValueError, match="equally long"):
        Column(np.empty(2, dtype=object), np.zeros(3))


def test_evaluate_mask_checks_the_column_length() -> None:
    col = Column.build([1, 2])
    with pytest.raises(ValueError, match=r"column 'a' has shape \(2,\), expected \(3,\)"):
        evaluate_mask(F("a") == 1, lambda _: col, 3)


def test_evaluate_mask_on_a_large_index_matches_a_row_by_row_count() -> None:
    # Speed is measured in benchmarks/bench_search.py, never here; this checks the vectorised path at scale.
    n = 100_000
    rng = np.random.default_rng(0)
    prices = Column.build(rng.integers(0, 1000, n).tolist())
    brands = Column.build(rng.choice(["A", "B", "C", "D"], n).tolist())
    cols = {"price": prices, "brand": brands}
    f = (F("price") < 500) & (F("brand") == "A")
    mask = evaluate_mask(f, cols.__getitem__, n)
    assert mask.shape == (n,)
    assert int(mask.sum()) == sum(
        1 for p, b in zip(prices.values, brands.values, strict=True) if p < 500 and b == "A"
    )
