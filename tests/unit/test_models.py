"""Normalised models: ImageRecord validation, SearchHit scores, IndexReport bookkeeping."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pydantic import ValidationError

from visualsearch_sdk import (
    DeleteReport,
    ImageError,
    ImageRecord,
    IndexReport,
    RecordFailure,
    SearchHit,
    SearchResult,
    ServerError,
)
from visualsearch_sdk.models import SearchQuery


def rec(**fields: Any) -> ImageRecord:
    fields.setdefault("id", "sku-1")
    if "image" not in fields and "url" not in fields:
        fields["image"] = b"\xff\xd8\xff"
    return ImageRecord(**fields)


# -- ImageRecord -------------------------------------------------------------------------------------


@pytest.mark.parametrize("record_id", ["a", "sku-1", "x" * 256, "ünïcødé/with spaces", "a:b?c#d"])
def test_valid_ids(record_id: str) -> None:
    assert rec(id=record_id).id == record_id


@pytest.mark.parametrize("record_id", ["", "x" * 257, "tab\tin", "new\nline", "nul\x00", "del\x7f"])
def test_invalid_ids(record_id: str) -> None:
    with pytest.raises(ValidationError, match="id"):
        rec(id=record_id)


def test_id_must_be_a_string() -> None:
    with pytest.raises(ValidationError):
        rec(id=123)


@pytest.mark.parametrize(
    "metadata",
    [
        {"brand": "A", "price": 9.5, "stock": 3, "sale": True},
        {"a-b c.d": "x"},
        {},
    ],
)
def test_scalar_metadata(metadata: dict[str, Any]) -> None:
    assert rec(metadata=metadata).metadata == metadata


def test_metadata_types_are_kept() -> None:
    metadata = rec(metadata={"flag": True, "n": 1, "x": 1.5, "s": "1"}).metadata
    assert [type(v) for v in metadata.values()] == [bool, int, float, str]


@pytest.mark.parametrize(
    "metadata",
    [
        {"tags": ["a", "b"]},
        {"nested": {"a": 1}},
        {"none": None},
        {"bytes": object()},
    ],
)
def test_non_scalar_metadata_refused(metadata: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        rec(metadata=metadata)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_metadata_refused(value: float) -> None:
    with pytest.raises(ValidationError, match="finite"):
        rec(metadata={"price": value})


@pytest.mark.parametrize("key", ["", "$where", "a\nb", "x" * 129])
def test_bad_metadata_field_names(key: str) -> None:
    with pytest.raises(ValidationError, match="metadata field"):
        rec(metadata={key: 1})


@pytest.mark.parametrize(
    "url", ["https://cdn.example.com/a.jpg", "http://example.com/x?y=1", "HTTPS://EXAMPLE.COM/a"]
)
def test_valid_urls(url: str) -> None:
    assert rec(url=url).url == url


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/a.jpg", "file:///etc/passwd", "example.com/a.jpg", "https://", "https://a b/c", ""],
)
def test_invalid_urls(url: str) -> None:
    with pytest.raises(ValidationError, match="url"):
        rec(url=url)


def test_needs_image_or_url() -> None:
    with pytest.raises(ValidationError, match="neither image nor url"):
        ImageRecord(id="a")
    assert ImageRecord(id="a", url="https://example.com/a.jpg").image is None


def test_image_kinds(tmp_path: Path) -> None:
    picture = Image.new("RGB", (4, 4))
    for image in (b"abc", bytearray(b"abc"), memoryview(b"abc"), "p.jpg", tmp_path / "p.jpg", picture):
        assert rec(image=image).image is image


def test_image_file_object(tmp_path: Path) -> None:
    stream = io.BytesIO(b"abc")
    assert rec(image=stream).image is stream
    path = tmp_path / "p.jpg"
    path.write_bytes(b"abc")
    with path.open("rb") as handle:
        assert rec(image=handle).image is handle


@pytest.mark.parametrize("image", [123, 4.5, ["a"], {"path": "x"}])
def test_bad_image_kinds(image: object) -> None:
    with pytest.raises(ValidationError, match="image must be"):
        rec(image=image)


def test_frozen() -> None:
    record = rec()
    with pytest.raises(ValidationError):
        record.id = "other"
    assert record.id == "sku-1"


def test_extra_fields_forbidden() -> None:
    with pytest.raises(ValidationError, match="extra"):
        ImageRecord(id="a", image=b"x", metdata={"typo": 1})


def test_image_bytes_are_not_in_repr() -> None:
    assert "SECRETBYTES" not in repr(rec(image=b"SECRETBYTES"))


def test_from_dict() -> None:
    record = ImageRecord.model_validate({"id": "a", "url": "https://example.com/a.jpg", "metadata": {"k": 1}})
    assert (record.id, record.metadata) == ("a", {"k": 1})


# -- SearchHit / SearchResult ------------------------------------------------------------------------


@pytest.mark.parametrize("score", [0.0, 0.5, 1.0, 0, 1])
def test_score_in_bounds(score: float) -> None:
    assert SearchHit(id="a", score=score).score == score


@pytest.mark.parametrize("score", [-0.0001, 1.0001, 2, -1, float("nan"), float("inf")])
def test_score_out_of_bounds(score: float) -> None:
    with pytest.raises(ValidationError):
        SearchHit(id="a", score=score)


def test_vendor_score_is_free() -> None:
    assert SearchHit(id="a", score=0.2, vendor_score=-731.5).vendor_score == -731.5


def test_search_result_iterates_hits() -> None:
    hits = (SearchHit(id="a", score=0.9), SearchHit(id="b", score=0.5))
    result = SearchResult(hits=hits, provider="local", raw={"x": 1})
    assert list(result) == list(hits)
    assert len(result) == 2
    assert result.ids == ["a", "b"]
    assert "raw" not in repr(result)


def test_search_query_bounds() -> None:
    with pytest.raises(ValidationError):
        SearchQuery(mode="id", id="a", limit=0)
    with pytest.raises(ValidationError):
        SearchQuery(mode="id", id="a", offset=-1)
    with pytest.raises(ValidationError):
        SearchQuery(mode="nope", id="a")


# -- reports -----------------------------------------------------------------------------------------


def failure(record_id: str) -> RecordFailure:
    return RecordFailure(id=record_id, error=ImageError("bad", reason="unreadable"), reason="unreadable")


def test_index_report_empty() -> None:
    report = IndexReport()
    assert report.ok
    assert report.total == 0


def test_index_report_ok_and_total() -> None:
    assert IndexReport(succeeded=("a", "b")).ok
    assert IndexReport(succeeded=("a",), skipped=("s",)).ok
    report = IndexReport(succeeded=("a",), failed=(failure("b"),), skipped=("c",))
    assert not report.ok
    assert report.total == 3
    assert not IndexReport(succeeded=("a",), stopped_early="authentication failed").ok


def test_index_report_merge() -> None:
    left = IndexReport(succeeded=("a",), failed=(failure("b"),), transaction_ids=("t1",))
    right = IndexReport(succeeded=("c", "d"), skipped=("e",), transaction_ids=("t2",))
    merged = left.merge(right)
    assert merged.succeeded == ("a", "c", "d")
    assert [f.id for f in merged.failed] == ["b"]
    assert merged.skipped == ("e",)
    assert merged.transaction_ids == ("t1", "t2")
    assert merged.total == left.total + right.total == 5
    assert merged.stopped_early is None
    assert left.succeeded == ("a",)  # inputs untouched


def test_index_report_merge_keeps_stop_reason() -> None:
    stopped = IndexReport(stopped_early="auth")
    assert IndexReport().merge(stopped).stopped_early == "auth"
    assert stopped.merge(IndexReport()).stopped_early == "auth"
    assert not IndexReport(succeeded=("a",)).merge(stopped).ok


def test_record_failure() -> None:
    item = RecordFailure(id="a", error=ServerError("x", provider="p", status_code=503), reason="ServerError")
    assert item.error_type == "ServerError"
    assert "ServerError(" not in repr(item)


def test_delete_report_ok() -> None:
    assert DeleteReport(deleted=("a",), not_found=("b",)).ok
    assert not DeleteReport(failed=(failure("c"),)).ok
