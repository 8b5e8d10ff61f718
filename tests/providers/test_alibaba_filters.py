"""Filter translation to Alibaba's ``Filter`` string: the table, the refusals, agreement with our semantics.

The agreement check reads every translated string back with the fake server's parser and evaluates it on the
slot values the adapter would store, for every sample record: it must select exactly the records our own
evaluator selects.
"""

from __future__ import annotations

from typing import Any

import pytest

from visualsearch_sdk import F, UnsupportedFilterError
from visualsearch_sdk._samples import Sample
from visualsearch_sdk.filters import Filter, evaluate, parse_filter
from visualsearch_sdk.providers._alibaba_filters import Slot, alibaba_filter
from visualsearch_sdk.providers._alibaba_metadata import slot_params
from visualsearch_sdk.testing.fakes._alibaba_grammar import (
    INT_SLOTS,
    SLOTS,
    FilterClauseError,
    parse_clause,
)

ATTRIBUTES: dict[str, Slot] = {
    "price": "IntAttr",
    "stock": "IntAttr2",
    "sale": "IntAttr3",
    "brand": "StrAttr",
    "category": "StrAttr2",
    "colour": "StrAttr3",
}
SCALES = {"price": 100}


def translate(f: Any, *, parentheses: bool = True) -> str:
    parsed = parse_filter(f)
    assert parsed is not None
    return alibaba_filter(parsed, ATTRIBUTES, scales=SCALES, parentheses=parentheses)


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (F("brand") == "Aurora", 'StrAttr="Aurora"'),
        (F("brand") != "value 1", 'StrAttr!="value 1"'),
        (F("stock") >= 100, "IntAttr2>=100"),
        (F("stock") > 100, "IntAttr2>100"),
        (F("stock") < 5, "IntAttr2<5"),
        (F("stock") <= 5, "IntAttr2<=5"),
        (F("stock") == 7, "IntAttr2=7"),
        (F("stock") == 7.0, "IntAttr2=7"),
        (F("stock") != 7, "IntAttr2<7 OR IntAttr2>7"),
        (F("stock") < 9.5, "IntAttr2<10"),
        (F("stock") <= 9.5, "IntAttr2<=9"),
        (F("stock") > 9.5, "IntAttr2>9"),
        (F("stock") >= 9.5, "IntAttr2>=10"),
        (F("stock") >= -3, "IntAttr2>=-3"),
        (F("price") < 9.99, "IntAttr<999"),  # scaled by 100: cents
        (F("price") == 1.15, "IntAttr=115"),  # exact decimal scaling, not 114.99999999999999
        (F("price").between(30, 150), "IntAttr>=3000 AND IntAttr<=15000"),
        (F("sale") == True, "IntAttr3=1"),  # noqa: E712  bools are 1/0 in integer slots
        (F("sale") != False, "IntAttr3<0 OR IntAttr3>0"),  # noqa: E712
        (F("category").isin(["shoe", "bag"]), 'StrAttr2="shoe" OR StrAttr2="bag"'),
        (~F("category").isin(["shoe", "bag"]), 'StrAttr2!="shoe" AND StrAttr2!="bag"'),
        (~(F("colour") == "red"), 'StrAttr3!="red"'),
        (~(F("stock") < 5), "IntAttr2>=5"),
        (~F("stock").between(1, 9), "IntAttr2<1 OR IntAttr2>9"),
        (~~(F("brand") == "A"), 'StrAttr="A"'),
        ((F("brand") == "A") & (F("stock") > 1), 'StrAttr="A" AND IntAttr2>1'),
        (
            F("category").isin(["shoe", "bag"]) | (F("price") > 180),
            'StrAttr2="shoe" OR StrAttr2="bag" OR IntAttr>18000',
        ),
        (
            {"brand": {"$in": ["Boreal", "Cirrus"]}, "price": {"$lt": 100}},
            '(StrAttr="Boreal" OR StrAttr="Cirrus") AND IntAttr<10000',
        ),
        (
            ((F("brand") == "A") & (F("stock") > 1)) | (F("colour") == "red"),
            '(StrAttr="A" AND IntAttr2>1) OR StrAttr3="red"',
        ),
        (~((F("brand") == "A") | (F("stock") > 1)), 'StrAttr!="A" AND IntAttr2<=1'),
        ((F("stock") != 3) & (F("brand") == "A"), '(IntAttr2<3 OR IntAttr2>3) AND StrAttr="A"'),
        (F("brand") == "连衣裙 été – ☂", 'StrAttr="连衣裙 été – ☂"'),
    ],
)
def test_translation_table(flt: Any, expected: str) -> None:
    assert translate(flt) == expected


@pytest.mark.parametrize(
    ("flt", "why"),
    [
        (F("undeclared") == 1, "declared"),
        (F("brand") < "m", "only with = and !="),
        (F("brand").between("a", "m"), "only with = and !="),
        (F("brand") == 3, "not a string"),
        (F("brand") == True, "not a string"),  # noqa: E712
        (F("stock") == "3", "not a number"),
        (F("stock") == 2.5, "never equal"),
        (F("price") == 1.555, "never equal"),  # 155.5 cents
        (F("stock") > 2**31, "32-bit"),
        (F("brand") == 'say "hi"', "escaping"),
        (F("brand") == "back\\slash", "escaping"),
        (F("brand") == "line\nbreak", "escaping"),
        (F("category").isin([f"category-number-{i}" for i in range(12)]), "256"),
    ],
)
def test_refusals_name_the_part(flt: Filter, why: str) -> None:
    with pytest.raises(UnsupportedFilterError, match=why) as info:
        translate(flt)
    assert info.value.part
    assert info.value.capability == "filters"


def test_mixed_and_or_without_parentheses_is_refused() -> None:
    assert (
        translate((F("brand") == "A") & (F("stock") > 1), parentheses=False) == 'StrAttr="A" AND IntAttr2>1'
    )
    with pytest.raises(UnsupportedFilterError, match="parentheses"):
        translate((F("brand") == "A") & F("category").isin(["x", "y"]), parentheses=False)


def test_the_fake_reads_what_the_adapter_writes_and_refuses_the_rest() -> None:
    text = translate({"brand": {"$in": ["Boreal", "Cirrus"]}, "price": {"$lt": 100}})
    assert parse_clause(text).describe() == "(StrAttr == 'Boreal' | StrAttr == 'Cirrus') & IntAttr < 10000"
    assert parse_clause('int_attr>=100 AND str_attr!="value1"').describe() == (
        "IntAttr >= 100 & StrAttr != 'value1'"
    )  # the docs' spelling
    for bad in (
        'StrAttr<"a"',
        "IntAttr!=3",
        'IntAttr="3"',
        "Price>3",
        "IntAttr>3 AND",
        "(IntAttr>3",
        "IntAttr>3 IntAttr<5",
        "x" * 257,
        "",
    ):
        with pytest.raises(FilterClauseError):
            parse_clause(bad)
    with pytest.raises(FilterClauseError, match="parentheses"):
        parse_clause("(IntAttr>3)", parentheses=False)
    # AND binds tighter than OR [?]: a AND b OR c == (a AND b) OR c
    assert parse_clause("IntAttr=1 AND IntAttr2=2 OR IntAttr3=3") == parse_clause(
        "(IntAttr=1 AND IntAttr2=2) OR IntAttr3=3"
    )


def _slot_record(sample: Sample, extra: dict[str, Any]) -> dict[str, Any]:
    """The slot values the fake would hold for a sample (unset slots 0 / "")."""
    meta = {**sample.metadata, **extra}
    params = slot_params(sample.id, meta, ATTRIBUTES, scales=SCALES, custom_content=False, reset=True)
    return {s: (int(params[s]) if s in INT_SLOTS else params[s]) for s in SLOTS if s in params} | {
        s: (0 if s in INT_SLOTS else "") for s in SLOTS if s not in params
    }


@pytest.mark.parametrize(
    "flt",
    [
        F("brand") == "Aurora",
        (F("brand") == "Aurora") & F("price").between(30, 150),
        F("category").isin(["shoe", "bag"]) | (F("price") > 180),
        ~(F("colour") == "red"),
        {"brand": {"$in": ["Boreal", "Cirrus"]}, "price": {"$lt": 100}},
        ~((F("brand") == "Aurora") | (F("price") >= 99.5)),
        (F("stock") != 3) & ~F("category").isin(["lamp"]),
        ((F("sale") == True) & (F("price") < 100)) | (F("colour") == "black"),  # noqa: E712
        ~F("price").between(34, 124) & (F("brand") != "Cirrus"),
    ],
)
def test_translated_filters_select_what_we_select(flt: Any, samples: tuple[Sample, ...]) -> None:
    parsed = parse_filter(flt)
    assert parsed is not None
    clause = parse_clause(translate(parsed))
    for i, sample in enumerate(samples):
        extra = {"stock": i % 7, "sale": i % 3 == 0}
        ours = evaluate(parsed, {**sample.metadata, **extra})
        theirs = evaluate(clause, _slot_record(sample, extra))
        assert ours == theirs, (sample.id, translate(parsed))
