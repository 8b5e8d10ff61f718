"""Near-duplicate insert and multi-image queries, end to end through the fake Ximilar.

The fake's wire answers first (raw httpx, doc 001's shapes), then the SDK on the sync client and on the async
one (``make_client``): ``XimilarOptions(insert_method="nearDupsInsert")`` through ``index``/``index_many``,
and ``visualKNNMulti`` through ``vs.send`` with the adapter's builder and parser.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from visualsearch_sdk import ConflictError, F, ImageRecord
from visualsearch_sdk._samples import Sample
from visualsearch_sdk.preprocess import prepare_image
from visualsearch_sdk.providers.ximilar import NearDuplicateError, XimilarMultiQuery, XimilarOptions
from visualsearch_sdk.testing.fakes import FakeXimilar

TOKEN = "power-ximilar-token"
PREFIX = "https://api.ximilar.com/similarity/products/v2/"
MakeClient = Callable[..., Any]


def _urls(samples: tuple[Sample, ...]) -> dict[str, bytes]:
    return {f"https://img.example/{s.id}.jpg": s.jpeg for s in samples}


@pytest.fixture
def fake(samples: tuple[Sample, ...]) -> Iterator[FakeXimilar]:
    server = FakeXimilar(token=TOKEN, collection_id="power", url_resolver=_urls(samples).__getitem__)
    yield server
    server.close()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _reencoded(data: bytes, quality: int = 60) -> bytes:
    """The same picture saved again: a near duplicate, not an identical file."""
    buffer = io.BytesIO()
    Image.open(io.BytesIO(data)).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


@pytest.fixture
def wire(fake: FakeXimilar, samples: tuple[Sample, ...]) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Token {TOKEN}", "collection-id": "power"}
    with httpx.Client(transport=fake.mount(), base_url=PREFIX, headers=headers) as client:
        records = [{"_id": s.id, "_base64": _b64(s.jpeg), **s.metadata} for s in samples[:6]]
        assert client.post("insert", json={"records": records}).status_code == 210
        yield client


# -- the fake's wire answers -------------------------------------------------------------------------------


def test_fake_near_dups_insert_answers_like_doc_001(wire: httpx.Client, samples: tuple[Sample, ...]) -> None:
    records = [
        {"_id": "fresh", "_base64": _b64(samples[10].jpeg)},
        {"_id": "copy", "_base64": _b64(_reencoded(samples[0].jpeg)), "note": "x"},
        {"_id": samples[1].id, "_base64": _b64(samples[11].jpeg)},  # an existing _id
    ]
    response = wire.post("nearDupsInsert", json={"records": records, "fields_to_return": ["_id"]})
    assert response.status_code == 211
    body = response.json()
    assert body["status"]["code"] == 211
    assert body["answer_records"] == [{"_id": "fresh"}]
    skipped = {s["_id"]: s["_reason"] for s in body["skipped_records"]}
    assert skipped["copy"]["status"] == {"code": 211, "text": "record(s) duplicate"}
    assert skipped["copy"]["answer_records"] == [{"_id": samples[0].id}]
    assert 0 < skipped["copy"]["answer_distances"][0] < 5.0
    assert "answer_records" not in skipped[samples[1].id]  # a plain duplicate _id
    # A wider radius finds more near duplicates; every record refused -> 411, as insert answers.
    again = wire.post("nearDupsInsert", json={"records": [records[1]], "radius": 40}).json()
    assert again["status"]["code"] == 411
    reason = again["skipped_records"][0]["_reason"]
    assert len(reason["answer_records"]) > 1
    assert reason["answer_distances"] == sorted(reason["answer_distances"])
    assert reason["answer_records"][0]["category"] == samples[0].metadata["category"]  # fields: ["*"]
    assert wire.post("nearDupsInsert", json={"records": records, "radius": "5"}).status_code == 400


def test_fake_visual_knn_multi_merges_the_queries(wire: httpx.Client, samples: tuple[Sample, ...]) -> None:
    a, b = samples[0].id, samples[3].id
    multi = wire.post("visualKNNMulti", json={"query_records": [{"_id": a}, {"_id": b}], "k": 6}).json()
    ids = [r["_id"] for r in multi["answer_records"]]
    assert set(ids[:2]) == {a, b}  # each stored query record answers itself at 0
    assert multi["answer_distances"][:2] == [0.0, 0.0]
    assert multi["answer_distances"] == sorted(multi["answer_distances"])
    assert multi["query_records"] == [{"_id": a}, {"_id": b}]
    for record_id, distance in zip(ids, multi["answer_distances"]):  # the smaller of the two distances
        single = [wire.post("visualKNN", json={"query_record": {"_id": q}, "k": 6}).json() for q in (a, b)]
        found = [
            d
            for answer in single
            for r, d in zip(answer["answer_records"], answer["answer_distances"])
            if r["_id"] == record_id
        ]
        assert distance == min(found)
    assert wire.post("visualKNNMulti", json={"query_records": []}).status_code == 400
    assert wire.post("visualKNNMulti", json={"query_records": [{"_id": "nope"}]}).status_code == 403


# -- through the SDK -----------------------------------------------------------------------------------------


def _near_client(make_client: MakeClient, fake: FakeXimilar, **options: Any) -> Any:
    opts = XimilarOptions(insert_method="nearDupsInsert", **options)
    return make_client(fake.client_url(), transport=fake.mount(), options=opts)


def test_near_duplicates_fail_per_record_naming_them(
    make_client: MakeClient, fake: FakeXimilar, samples: tuple[Sample, ...]
) -> None:
    vs = _near_client(make_client, fake)
    first = vs.index(ImageRecord(id=s.id, image=s.jpeg, metadata=s.metadata) for s in samples[:6])
    assert first.ok
    report = vs.index(
        [
            ImageRecord(id="copy", image=_reencoded(samples[0].jpeg)),
            ImageRecord(id="fresh", image=samples[12].jpeg),
            ImageRecord(id=samples[2].id, image=samples[13].jpeg),
        ]
    )
    assert report.succeeded == ("fresh",)
    failures = {f.id: f for f in report.failed}
    assert set(failures) == {"copy", samples[2].id}
    near = failures["copy"].error
    assert isinstance(near, NearDuplicateError) and isinstance(near, ConflictError)
    assert near.near_duplicates == (samples[0].id,)
    assert failures["copy"].reason == f"near duplicate of {samples[0].id}"
    assert type(failures[samples[2].id].error) is ConflictError  # an existing id: the plain conflict
    assert vs.count() == 7
    assert [r.url.path.rsplit("/", 1)[-1] for r in fake.requests].count("insert") == 0


def test_upsert_deletes_only_records_refused_for_their_id(
    make_client: MakeClient, fake: FakeXimilar, samples: tuple[Sample, ...]
) -> None:
    vs = _near_client(make_client, fake)
    assert vs.index(ImageRecord(id=s.id, image=s.jpeg, metadata=s.metadata) for s in samples[:6]).ok
    fake.requests.clear()
    report = vs.index(
        [
            ImageRecord(id="copy", image=_reencoded(samples[0].jpeg)),  # a new id, a near duplicate
            ImageRecord(id=samples[2].id, image=samples[13].jpeg, metadata={"v": 2}),  # an existing id
        ],
        upsert=True,
    )
    assert report.succeeded == (samples[2].id,)
    assert [f.id for f in report.failed] == ["copy"]
    assert isinstance(report.failed[0].error, NearDuplicateError)
    deletes = [r for r in fake.requests if r.url.path.endswith("/delete")]
    assert [json.loads(r.content)["records"] for r in deletes] == [[{"_id": samples[2].id}]]
    assert vs.get(samples[2].id).metadata == {"v": 2}
    assert vs.count() == 6


def test_upsert_of_an_existing_id_whose_new_image_is_a_near_duplicate_is_reported_lost(
    make_client: MakeClient, fake: FakeXimilar, samples: tuple[Sample, ...]
) -> None:
    """The documented risk of an emulated upsert: deleted, then refused on re-insert; the report says so."""
    vs = _near_client(make_client, fake)
    assert vs.index(ImageRecord(id=s.id, image=s.jpeg) for s in samples[:6]).ok
    report = vs.index([ImageRecord(id=samples[1].id, image=_reencoded(samples[0].jpeg))], upsert=True)
    assert report.succeeded == () and isinstance(report.failed[0].error, NearDuplicateError)
    assert vs.count() == 5


def test_radius_zero_lets_a_reencoded_copy_in(
    make_client: MakeClient, fake: FakeXimilar, samples: tuple[Sample, ...]
) -> None:
    vs = _near_client(make_client, fake, near_duplicate_radius=0.0)
    assert vs.index([ImageRecord(id=samples[0].id, image=samples[0].jpeg)]).ok
    copy = vs.index([ImageRecord(id="copy", image=_reencoded(samples[0].jpeg))])
    assert copy.succeeded == ("copy",)
    exact = vs.index([ImageRecord(id="exact", image=samples[0].jpeg)])
    assert isinstance(exact.failed[0].error, NearDuplicateError)  # distance 0 is within radius 0


def test_index_many_reports_near_duplicates_once_each(
    make_client: MakeClient, fake: FakeXimilar, samples: tuple[Sample, ...]
) -> None:
    vs = _near_client(make_client, fake)
    assert vs.index_many(iter([ImageRecord(id=s.id, image=s.jpeg) for s in samples[:12]]), batch_size=5).ok
    # Batches run concurrently: the near duplicates of a run are checked against what was stored before it.
    records = [ImageRecord(id=s.id, image=s.jpeg) for s in samples[12:]]
    records += [ImageRecord(id=f"dup-{s.id}", image=s.jpeg) for s in samples[:12:3]]
    report = vs.index_many(iter(records), batch_size=5, concurrency=3)
    assert sorted(report.succeeded) == sorted(s.id for s in samples[12:])
    assert sorted(f.id for f in report.failed) == sorted(f"dup-{s.id}" for s in samples[:12:3])
    for failure in report.failed:
        assert isinstance(failure.error, NearDuplicateError)
        assert failure.error.near_duplicates[0] == failure.id.removeprefix("dup-")


def test_multi_image_query_through_send(
    make_client: MakeClient, fake: FakeXimilar, samples: tuple[Sample, ...]
) -> None:
    vs = make_client(fake.client_url(), transport=fake.mount())
    assert vs.index(ImageRecord(id=s.id, image=s.jpeg, metadata=s.metadata) for s in samples).ok
    x = vs.adapter
    a, b = samples[0], samples[9]
    by_ids = XimilarMultiQuery(ids=(a.id, b.id), limit=6)
    result = x.parse_search_multi(vs.send(x.build_search_multi(by_ids), idempotent=True), by_ids)
    assert len(result.hits) == 6 and not {a.id, b.id} & set(result.ids)
    best_single = {vs.search(id=a.id, limit=1).hits[0].id, vs.search(id=b.id, limit=1).hits[0].id}
    assert result.ids[0] in best_single
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)
    # Pages agree with one big page.
    pages = []
    for offset in (0, 3):
        page = by_ids.model_copy(update={"offset": offset, "limit": 3})
        pages += x.parse_search_multi(vs.send(x.build_search_multi(page), idempotent=True), page).ids
    assert pages == result.ids
    # By image and by URL: each query image finds itself; a filter holds on every hit.
    image = prepare_image(a.jpeg, preset=x.preset, limits=x.limits)
    url = f"https://img.example/{b.id}.jpg"
    mixed = XimilarMultiQuery(images=(image,), urls=(url,), limit=2)
    found = x.parse_search_multi(vs.send(x.build_search_multi(mixed), idempotent=True), mixed)
    assert set(found.ids) == {a.id, b.id}
    assert all(h.score > 0.97 for h in found.hits)
    category = a.metadata["category"]
    only = XimilarMultiQuery(urls=(url,), filter=F("category") == category, limit=5, fields=("category",))
    filtered = x.parse_search_multi(vs.send(x.build_search_multi(only), idempotent=True), only)
    assert filtered.hits and all(h.metadata == {"category": category} for h in filtered.hits)
