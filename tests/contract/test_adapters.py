"""The contract suite: every provider, through the real pipeline, against the same expectations.

Each provider joins with a module in ``tests/contract/cases/`` (URL factories and any server they need).
Tests skip by capability, never by provider name. Every test runs on the sync client and on the async one
(``flavour``).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageEnhance

from tests.conftest import jpeg, solid
from tests.contract.cases import PROVIDERS, Case, ImageHost
from visualsearch_sdk import (
    Capability,
    ConflictError,
    F,
    ImageError,
    ImageRecord,
    InvalidFilterError,
    InvalidQueryError,
    NotFoundError,
    UnsupportedCapabilityError,
    UnsupportedFilterError,
)
from visualsearch_sdk._samples import Sample
from visualsearch_sdk.filters import evaluate, parse_filter


@pytest.fixture(params=sorted(PROVIDERS))
def provider_case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Case]:
    yield from PROVIDERS[request.param](tmp_path)


@pytest.fixture
def vs(make_client: Callable[..., Any], provider_case: Case) -> Any:
    url, kwargs = provider_case[0], provider_case[1]
    return make_client(url, **kwargs)


@pytest.fixture
def image_host(provider_case: Case) -> ImageHost | None:
    """The case's image host, for a provider that indexes only from URLs (see ``cases/__init__.py``)."""
    return provider_case[2] if len(provider_case) > 2 else None


@pytest.fixture
def record(vs: Any, image_host: ImageHost | None) -> Callable[..., ImageRecord]:
    """``record(id, image_bytes, metadata)``: by bytes, or by a URL of the case's image host on a provider
    that indexes only from URLs; skips the test when the provider can do neither."""

    def make(id: str, image: bytes, metadata: dict[str, Any] | None = None) -> ImageRecord:
        if Capability.INDEX_FROM_BYTES in vs.capabilities:
            return ImageRecord(id=id, image=image, metadata=metadata or {})
        if Capability.INDEX_FROM_URL in vs.capabilities and image_host is not None:
            return ImageRecord(id=id, url=image_host.url_for(image), metadata=metadata or {})
        pytest.skip("provider indexes neither image bytes nor URLs this case can serve")

    return make


@pytest.fixture
def loaded(vs: Any, samples: tuple[Sample, ...], record: Callable[..., ImageRecord]) -> Any:
    """A client whose index holds the 24 samples (indexing finished, on a provider that is asynchronous)."""
    needs(vs, Capability.INDEX_WRITE)
    report = vs.index(
        [record(s.id, s.jpeg, s.metadata) for s in samples],
        drop_metadata=Capability.METADATA not in vs.capabilities,  # the provider stores images only
        wait=True,
    )
    assert report.ok and len(report.succeeded) == len(samples)
    return vs


def needs(vs: Any, *capabilities: Capability) -> None:
    missing = [c.value for c in capabilities if c not in vs.capabilities]
    if missing:
        pytest.skip(f"provider lacks {', '.join(missing)}")


def _png_header(width: int, height: int) -> bytes:
    """A tiny PNG file that claims a huge size: it must be refused from its header, before any decoding."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def reshoot(sample: Sample) -> Image.Image:
    """The same product photographed again: cropped, smaller, darker."""
    image = Image.open(io.BytesIO(sample.jpeg)).convert("RGB")
    w, h = image.size
    return ImageEnhance.Brightness(
        image.crop((w // 12, h // 16, w - w // 14, h - h // 20)).resize((230, 240))
    ).enhance(0.85)


# -- index, get, count --------------------------------------------------------------------------------


def test_index_reports_every_record_and_get_returns_metadata(
    loaded: Any, samples: tuple[Sample, ...]
) -> None:
    needs(loaded, Capability.COUNT, Capability.GET, Capability.METADATA)
    assert loaded.count() == len(samples)
    record = loaded.get(samples[3].id)
    assert record.id == samples[3].id
    assert record.metadata == samples[3].metadata


def test_get_missing_raises_not_found(loaded: Any) -> None:
    needs(loaded, Capability.GET)
    with pytest.raises(NotFoundError) as info:
        loaded.get("no-such-id")
    assert info.value.status_code == 404


def test_existing_id_is_a_conflict_unless_upsert(loaded: Any, samples: tuple[Sample, ...]) -> None:
    needs(loaded, Capability.REFUSE_EXISTING)
    record = ImageRecord(id=samples[0].id, image=samples[5].jpeg, metadata={"brand": "Z"})
    drop = Capability.METADATA not in loaded.capabilities
    report = loaded.index([record], drop_metadata=drop)
    assert report.succeeded == ()
    assert [f.id for f in report.failed] == [samples[0].id]
    assert isinstance(report.failed[0].error, ConflictError)
    replaced = loaded.index([record], upsert=True, drop_metadata=drop)
    assert replaced.succeeded == (samples[0].id,)
    if Capability.GET in loaded.capabilities:
        assert loaded.get(samples[0].id).metadata == ({} if drop else {"brand": "Z"})
    hits = loaded.search(image=samples[5].jpeg, limit=2).ids
    assert set(hits) == {samples[0].id, samples[5].id}


def test_bad_images_fail_per_record_and_the_rest_is_indexed(
    vs: Any, samples: tuple[Sample, ...], tmp_path: Path
) -> None:
    needs(vs, Capability.INDEX_WRITE, Capability.INDEX_FROM_BYTES)
    good = samples[0].jpeg
    records = [
        ImageRecord(id="good-1", image=good),
        ImageRecord(id="corrupt", image=b"\xff\xd8\xff\xe0 definitely not a jpeg"),
        ImageRecord(id="truncated", image=good[: len(good) // 3]),
        ImageRecord(id="empty", image=b""),
        ImageRecord(id="missing-file", image=str(tmp_path / "nope.jpg")),
        ImageRecord(id="pdf", image=b"%PDF-1.7\n1 0 obj<<>>endobj\n"),
        ImageRecord(id="huge", image=_png_header(40_000, 40_000)),
        ImageRecord(id="good-2", image=samples[1].jpeg),
    ]
    report = vs.index(records)
    assert report.succeeded == ("good-1", "good-2")
    reasons = {f.id: f.reason for f in report.failed}
    assert set(reasons) == {"corrupt", "truncated", "empty", "missing-file", "pdf", "huge"}
    assert all(isinstance(f.error, ImageError) for f in report.failed)
    assert reasons["truncated"] == "truncated"
    assert reasons["pdf"] == "unsupported_format"
    assert reasons["huge"] == "decompression_bomb"
    if Capability.COUNT in vs.capabilities:
        assert vs.count() == 2


# -- search -------------------------------------------------------------------------------------------


def test_search_by_image_finds_the_reshot_product_first(loaded: Any, samples: tuple[Sample, ...]) -> None:
    for sample in samples[::5]:
        result = loaded.search(image=reshoot(sample), limit=5)
        assert result.hits[0].id == sample.id
        scores = [hit.score for hit in result.hits]
        assert scores == sorted(scores, reverse=True)
        assert all(0.0 <= s <= 1.0 for s in scores)
        assert result.provider == loaded.provider


def test_search_by_exact_image_scores_near_one(loaded: Any, samples: tuple[Sample, ...]) -> None:
    top = loaded.search(image=samples[2].jpeg, limit=1).hits[0]
    assert top.id == samples[2].id
    assert top.score > 0.97


def test_search_by_url_finds_the_image_behind_it(
    loaded: Any, samples: tuple[Sample, ...], image_host: ImageHost | None
) -> None:
    needs(loaded, Capability.SEARCH_BY_URL)
    if image_host is None:  # the case, not the provider: nothing serves URLs its provider could fetch
        pytest.skip("this case has no image host for its provider to download query images from")
    exact = loaded.search(url=image_host.url_for(samples[2].jpeg), limit=3)
    assert exact.hits[0].id == samples[2].id
    assert exact.hits[0].score > 0.97
    for sample in samples[::7]:
        result = loaded.search(url=image_host.url_for(jpeg(reshoot(sample))), limit=5)
        assert result.hits[0].id == sample.id
        assert [h.score for h in result.hits] == sorted((h.score for h in result.hits), reverse=True)


def test_search_by_id_ranks_others(loaded: Any, samples: tuple[Sample, ...]) -> None:
    needs(loaded, Capability.SEARCH_BY_ID)
    result = loaded.search(id="dress-red", limit=5)
    assert "dress-red" not in result.ids
    assert len(result.hits) == 5
    with pytest.raises(NotFoundError):
        loaded.search(id="no-such-id")


def test_search_by_colour_ranks_that_colour_first(loaded: Any, samples: tuple[Sample, ...]) -> None:
    needs(loaded, Capability.SEARCH_BY_COLOR)
    for hex_colour, name in (("#c8282d", "red"), ("#e1be28", "yellow")):
        result = loaded.search(color=hex_colour, limit=3)
        colours = [next(s.metadata["colour"] for s in samples if s.id == i) for i in result.ids]
        assert colours and colours[0] == name


@pytest.mark.parametrize(
    "flt",
    [
        F("brand") == "Aurora",
        (F("brand") == "Aurora") & F("price").between(30, 150),
        F("category").isin(["shoe", "bag"]) | (F("price") > 180),
        ~(F("colour") == "red"),
        {"brand": {"$in": ["Boreal", "Cirrus"]}, "price": {"$lt": 100}},
    ],
    ids=["eq", "and-between", "or-isin", "not", "mongo-dict"],
)
def test_every_hit_satisfies_the_filter(loaded: Any, samples: tuple[Sample, ...], flt: Any) -> None:
    needs(loaded, Capability.FILTERS)
    parsed = parse_filter(flt)
    assert parsed is not None
    expected = {s.id for s in samples if evaluate(parsed, s.metadata)}
    try:
        result = loaded.search(image=samples[0].jpeg, filter=flt, limit=50)
    except UnsupportedFilterError as exc:  # refused before any I/O, naming the part
        pytest.skip(f"provider cannot express this filter: {exc}")
    assert set(result.ids) == expected
    assert result.total in (None, len(expected))  # a provider may not know the total (Ximilar kNN)


def test_fields_limit_the_metadata_returned(loaded: Any, samples: tuple[Sample, ...]) -> None:
    needs(loaded, Capability.METADATA)
    result = loaded.search(image=samples[0].jpeg, fields=["price"], limit=3)
    assert all(set(hit.metadata) == {"price"} for hit in result.hits)
    full = loaded.search(image=samples[0].jpeg, limit=1).hits[0]
    assert full.metadata == next(s.metadata for s in samples if s.id == full.id)


def test_min_score_keeps_only_near_duplicates(loaded: Any, samples: tuple[Sample, ...]) -> None:
    needs(loaded, Capability.MIN_SCORE)
    result = loaded.search(image=samples[4].jpeg, min_score=0.95, limit=10)
    assert result.ids == [samples[4].id]
    assert all(hit.score >= 0.95 for hit in result.hits)


def test_pages_agree_with_one_big_page_and_iter_search_covers_all(
    loaded: Any, samples: tuple[Sample, ...]
) -> None:
    whole = loaded.search(image=samples[6].jpeg, limit=20).ids
    pages = [loaded.search(image=samples[6].jpeg, limit=5, offset=o).ids for o in (0, 5, 10, 15)]
    assert [i for page in pages for i in page] == whole
    every = [hit.id for hit in loaded.iter_search(image=samples[6].jpeg, page_size=7)]
    assert len(every) == len(samples) == len(set(every))
    assert every[:20] == whole


def test_box_crops_the_query_and_is_returned_in_original_pixels(
    loaded: Any, samples: tuple[Sample, ...]
) -> None:
    left, right = (Image.open(io.BytesIO(samples[i].jpeg)).convert("RGB") for i in (9, 14))
    canvas = Image.new("RGB", (1600, 800), (255, 255, 255))
    canvas.paste(left.resize((800, 800)), (0, 0))
    canvas.paste(right.resize((800, 800)), (800, 0))
    for box, expected in (((0, 0, 800, 800), samples[9].id), ((800, 0, 1600, 800), samples[14].id)):
        result = loaded.search(image=jpeg(canvas), box=box, limit=1)
        assert result.ids == [expected]
        assert result.query_box is not None
        assert all(abs(a - b) <= 4 for a, b in zip(result.query_box, box))


# -- update, delete, listing --------------------------------------------------------------------------


def test_update_merges_metadata_and_none_removes(loaded: Any) -> None:
    needs(loaded, Capability.INDEX_UPDATE)
    updated = loaded.update("shoe-navy", {"price": 1.5, "sale": True})
    assert updated.metadata["price"] == 1.5 and updated.metadata["sale"] is True
    assert loaded.search(id="shoe-green", filter=F("sale") == True, limit=5).ids == ["shoe-navy"]  # noqa: E712
    try:
        removed = loaded.update("shoe-navy", {"brand": None})
    except UnsupportedCapabilityError:
        pass  # refused before any I/O: the provider cannot remove a field (ViSearch)
    else:
        assert "brand" not in removed.metadata and removed.metadata["sale"] is True
        if Capability.GET in loaded.capabilities:
            assert loaded.get("shoe-navy").metadata == removed.metadata
    with pytest.raises(NotFoundError):
        loaded.update("no-such-id", {"a": 1})


def test_delete_reports_deleted_and_missing(loaded: Any, samples: tuple[Sample, ...]) -> None:
    needs(loaded, Capability.INDEX_DELETE)
    report = loaded.delete([samples[0].id, "no-such-id", samples[1].id, samples[0].id])
    assert report.deleted == (samples[0].id, samples[1].id)
    assert report.not_found == ("no-such-id",)
    assert samples[0].id not in loaded.search(image=samples[0].jpeg, limit=30).ids
    if Capability.COUNT in loaded.capabilities:
        assert loaded.count() == len(samples) - 2


def test_iter_records_yields_each_record_once(loaded: Any, samples: tuple[Sample, ...]) -> None:
    needs(loaded, Capability.LIST)
    ids = [r.id for r in loaded.iter_records(page_size=5)]
    assert sorted(ids) == sorted(s.id for s in samples)


def test_index_many_streams_and_reports_each_record_once(
    vs: Any, samples: tuple[Sample, ...], record: Callable[..., ImageRecord]
) -> None:
    needs(vs, Capability.INDEX_WRITE)
    seen: list[tuple[int, int]] = []

    def stream() -> Iterator[Any]:
        for s in samples:
            yield record(s.id, s.jpeg, s.metadata)
        yield record(samples[0].id, samples[0].jpeg)  # a duplicate id in the same run
        yield {"id": "broken", "image": b"not an image"}
        yield {"no_id": True}

    report = vs.index_many(
        stream(),
        concurrency=3,
        batch_size=4,
        progress=lambda d, f: seen.append((d, f)),
        drop_metadata=Capability.METADATA not in vs.capabilities,
    )
    assert sorted(report.succeeded) == sorted(s.id for s in samples)
    assert len(report.failed) == 3
    assert {f.reason for f in report.failed} >= {"duplicate id", "invalid record"}
    assert report.total == len(samples) + 3
    assert seen and seen[-1] == (len(samples) + 3, 3)


# -- asynchronous indexing, multi-object search, searching an upload again -----------------------------


def test_wait_for_indexing_settles_every_record_once(
    vs: Any, samples: tuple[Sample, ...], record: Callable[..., ImageRecord], image_host: ImageHost | None
) -> None:
    needs(vs, Capability.INDEX_WRITE)
    ids = [s.id for s in samples[:3]]
    records = [record(s.id, s.jpeg, s.metadata) for s in samples[:3]]
    by_url = Capability.INDEX_FROM_BYTES not in vs.capabilities and image_host is not None
    if by_url:  # a URL the provider cannot download: it fails, with the provider's own code
        records.insert(1, ImageRecord(id="unreachable", url=f"{image_host.base}missing.jpg"))
    drop = Capability.METADATA not in vs.capabilities
    report = vs.index(records, drop_metadata=drop)
    settled = vs.wait_for_indexing(report, timeout=60, poll_interval=0)
    if Capability.INDEX_ASYNC not in vs.capabilities:
        assert settled == report  # indexing was synchronous: nothing to wait for
    else:
        assert report.transaction_ids
    assert settled.succeeded == tuple(ids)
    assert [f.id for f in settled.failed] == (["unreachable"] if by_url else [])
    assert all(getattr(f.error, "provider_code", None) for f in settled.failed)
    assert settled.total == len(records)
    assert vs.wait_for_indexing(settled, timeout=60, poll_interval=0) == settled  # waiting again is harmless
    assert vs.index([record(samples[4].id, samples[4].jpeg)], drop_metadata=drop, wait=True).ok
    assert vs.search(image=samples[4].jpeg, limit=1).ids == [samples[4].id]


def test_search_objects_without_the_capability_is_refused_before_io(vs: Any) -> None:
    if Capability.MULTI_OBJECT in vs.capabilities:
        pytest.skip("provider detects objects")
    with pytest.raises(UnsupportedCapabilityError) as info:
        vs.search_objects(image=jpeg(solid((10, 20, 30))))
    assert info.value.capability == Capability.MULTI_OBJECT.value


def test_search_objects_gives_each_object_its_hits_and_box_in_original_pixels(
    loaded: Any, samples: tuple[Sample, ...]
) -> None:
    needs(loaded, Capability.MULTI_OBJECT)
    left, right = (Image.open(io.BytesIO(samples[i].jpeg)).convert("RGB") for i in (9, 14))
    canvas = Image.new("RGB", (1600, 800), (255, 255, 255))
    canvas.paste(left.resize((800, 800)), (0, 0))
    canvas.paste(right.resize((800, 800)), (800, 0))
    whole = loaded.search_objects(image=jpeg(canvas), limit_per_object=3)
    assert whole.objects and whole.provider == loaded.provider
    for obj in whole.objects:
        assert obj.type and 0 < len(obj.hits) <= 3
        assert obj.box is not None
        assert 0 <= obj.box[0] < obj.box[2] <= 1600 and 0 <= obj.box[1] < obj.box[3] <= 800
        scores = [hit.score for hit in obj.hits]
        assert scores == sorted(scores, reverse=True)
    box = (800, 0, 1600, 800)
    boxed = loaded.search_objects(image=jpeg(canvas), box=box, limit_per_object=1)
    assert any(obj.hits[0].id == samples[14].id for obj in boxed.objects if obj.hits)
    for obj in boxed.objects:  # an object found in the box lies in it (in the original's pixels)
        assert obj.box is not None
        assert box[0] - 4 <= obj.box[0] < obj.box[2] <= box[2] + 4 and box[1] - 4 <= obj.box[1]
        assert obj.box[3] <= box[3] + 4


def test_upload_id_searches_the_same_upload_again(loaded: Any, samples: tuple[Sample, ...]) -> None:
    first = loaded.search(image=reshoot(samples[7]), limit=5)
    if Capability.SEARCH_BY_UPLOAD_ID not in loaded.capabilities:
        assert first.upload_id is None
        with pytest.raises(UnsupportedCapabilityError):
            loaded.search(upload_id="an-earlier-upload")
        return
    assert first.upload_id and first.ids[0] == samples[7].id
    again = loaded.search(upload_id=first.upload_id, limit=5)
    assert again.ids == first.ids
    assert [hit.id for hit in loaded.iter_search(upload_id=first.upload_id, page_size=2)][:5] == first.ids


# -- refused before any I/O ---------------------------------------------------------------------------


def test_malformed_arguments_raise_typed_errors(vs: Any) -> None:
    img = jpeg(solid((10, 20, 30)))
    with pytest.raises(InvalidQueryError):
        vs.search(image=img, id="x")
    with pytest.raises(InvalidQueryError):
        vs.search()
    if Capability.SEARCH_BY_COLOR in vs.capabilities:
        with pytest.raises(InvalidQueryError):
            vs.search(color="#12345g")
    with pytest.raises(ImageError) as bad_box:
        vs.search(image=img, box=(10, 10, 5, 5))
    assert bad_box.value.reason == "bad_box"
    with pytest.raises(InvalidFilterError):
        vs.search(image=img, filter={"price": {"$regex": "x"}})
    with pytest.raises(InvalidQueryError):
        vs.search(image=img, limit=0)
    with pytest.raises(InvalidQueryError):
        vs.search(image=img, min_score=1.5)


def test_min_score_without_the_capability_is_refused_not_ignored(vs: Any) -> None:
    if Capability.MIN_SCORE in vs.capabilities:
        pytest.skip("provider drops hits below a score itself")
    with pytest.raises(UnsupportedCapabilityError):
        vs.search(image=jpeg(solid((10, 20, 30))), min_score=0.5)


def test_missing_capabilities_raise_before_io(vs: Any) -> None:
    if Capability.SEARCH_BY_URL in vs.capabilities:
        pytest.skip("provider searches by URL")
    with pytest.raises(UnsupportedCapabilityError) as info:
        vs.search(url="https://example.com/a.jpg")
    assert info.value.capability == Capability.SEARCH_BY_URL.value
