"""Ximilar-only power on the adapter: near-duplicate insert and multi-image queries (request shape, parsing).

Wire facts from doc 001 (``/v2/nearDupsInsert``, ``/v2/visualKNNMulti``) and VENDORS.md §2.4; the golden
vectors hold no call of either operation (the official client's calls are not in them).
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import httpx
import pytest
from PIL import Image
from pydantic import SecretStr, ValidationError

from visualsearch_sdk import ConflictError, F, InvalidQueryError
from visualsearch_sdk._config import ClientOptions, parse_provider_url
from visualsearch_sdk.preprocess import PreparedImage
from visualsearch_sdk.providers._base import PreparedRecord
from visualsearch_sdk.providers.ximilar import (
    NearDuplicateError,
    XimilarAdapter,
    XimilarCredentials,
    XimilarMultiQuery,
    XimilarOptions,
    XimilarService,
)

BASE = "https://api.ximilar.com/photo/search/v2/"

# doc 001, /v2/nearDupsInsert "Example response"
NEAR_DUPS_ANSWER: dict[str, Any] = {
    "status": {"code": 211, "text": "record(s) duplicate"},
    "statistics": {"OperationTime": 4},
    "answer_records": [{"_id": "1"}],
    "skipped_records": [
        {
            "_id": "3",
            "_reason": {
                "status": {"code": 211, "text": "record(s) duplicate"},
                "answer_records": [{"_id": "10"}],
                "answer_distances": [3.0],
            },
        },
        {"_id": "2", "_reason": {"status": {"code": 211, "text": "record(s) duplicate"}}},
    ],
    "answer_count": 1,
}
# doc 001, /v2/visualKNNMulti "Example response"
MULTI_ANSWER: dict[str, Any] = {
    "status": {"code": 200, "text": "OK"},
    "statistics": {"OperationTime": 5},
    "answer_records": [{"_id": "1"}, {"_id": "2"}, {"_id": "3"}],
    "answer_distances": [40.0, 50.0, 60.0],
    "query_records": [{"_id": "10"}, {"_id": "11"}],
    "answer_count": 3,
}


def make(service: XimilarService = "photos", **kwargs: Any) -> XimilarAdapter:
    creds = XimilarCredentials(token=SecretStr("tok"), collection_id="mycoll_id")
    return XimilarAdapter(creds, service=service, **kwargs)


def from_options(options: XimilarOptions) -> XimilarAdapter:
    url = parse_provider_url("ximilar://tok@api.ximilar.com/mycoll_id?service=photos")
    return XimilarAdapter.from_url(url, options=options, environ={}, client_options=ClientOptions())


def records() -> list[PreparedRecord]:
    return [
        PreparedRecord("1", None, "http://mydomain.com/img.png"),
        PreparedRecord("2", None, "http://mydomain.com/two.png"),
        PreparedRecord("3", None, "http://mydomain.com/another_image.jpg"),
    ]


def respond(request: httpx.Request, body: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body, request=request)


def jpeg() -> PreparedImage:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (10, 200, 30)).save(buffer, "JPEG")
    return PreparedImage(data=buffer.getvalue(), format="JPEG", size=(8, 6), original_size=(8, 6))


# -- near-duplicate insert ----------------------------------------------------------------------------------


def test_near_dups_insert_request_shape() -> None:
    adapter = from_options(XimilarOptions(insert_method="nearDupsInsert", near_duplicate_radius=3.5))
    request = adapter.build_index(records(), upsert=False)
    assert str(request.url) == BASE + "nearDupsInsert"
    body = json.loads(request.content)
    assert body == {
        "records": [{"_id": r.id, "_url": r.url} for r in records()],
        "radius": 3.5,
    }
    # Without a radius, Ximilar's default (5.0) applies: none is sent.
    default = from_options(XimilarOptions(insert_method="nearDupsInsert")).build_index(
        records(), upsert=False
    )
    assert "radius" not in json.loads(default.content)
    # The plain insert is unchanged.
    plain = make().build_index(records(), upsert=False)
    assert plain.url.path.endswith("/insert")
    assert "radius" not in json.loads(plain.content)


def test_near_duplicate_refusal_is_a_conflict_naming_the_near_duplicates() -> None:
    adapter = make(insert_method="nearDupsInsert")
    request = adapter.build_index(records(), upsert=False)
    response = respond(request, NEAR_DUPS_ANSWER)
    assert adapter.error_for(response) is None
    outcomes = {o.id: o.error for o in adapter.parse_index(response, records())}
    assert outcomes["1"] is None
    near = outcomes["3"]
    assert isinstance(near, NearDuplicateError)
    assert isinstance(near, ConflictError)
    assert near.near_duplicates == ("10",)
    assert near.distances == (3.0,)
    assert near.reason == "near duplicate of 10"
    assert "near duplicate of 10" in str(near)
    assert (near.status_code, near.provider_code) == (409, "211")
    plain = outcomes["2"]  # no near duplicates listed: a duplicate _id, the plain conflict
    assert type(plain) is ConflictError
    assert plain.provider_code == "211"


def test_every_record_refused_411_is_per_record_and_long_lists_are_shortened() -> None:
    adapter = make(insert_method="nearDupsInsert")
    request = adapter.build_index(records()[:1], upsert=False)
    near = [{"_id": f"n{i}"} for i in range(8)]
    body = {
        "status": {"code": 411, "text": "record duplicate"},
        "answer_records": [],
        "skipped_records": [
            {
                "_id": "1",
                "_reason": {
                    "status": {"code": 211, "text": "record(s) duplicate"},
                    "answer_records": near,
                    "answer_distances": [float(i) for i in range(8)],
                },
            }
        ],
    }
    response = respond(request, body, status=411)
    assert adapter.error_for(response) is None  # per-record outcomes, not an exception
    [outcome] = adapter.parse_index(response, records()[:1])
    assert isinstance(outcome.error, NearDuplicateError)
    assert len(outcome.error.near_duplicates) == 8
    assert "n0, n1, n2, n3, n4 and 3 more" in str(outcome.error)


def test_near_duplicate_options_are_checked() -> None:
    with pytest.raises(ValidationError, match="nearDupsInsert"):
        XimilarOptions(near_duplicate_radius=2.0)
    with pytest.raises(ValidationError):
        XimilarOptions(insert_method="nearDupsInsert", near_duplicate_radius=-1.0)
    with pytest.raises(ValidationError):
        XimilarOptions(insert_method="nearDupsInsert", near_duplicate_radius=float("nan"))
    with pytest.raises(ValidationError):
        XimilarOptions(insert_method="upsert")  # type: ignore[arg-type]


# -- multi-image queries -------------------------------------------------------------------------------------


def test_multi_query_by_urls_matches_the_documented_body() -> None:
    adapter = make()
    query = XimilarMultiQuery(
        urls=("http://mydomain.com/a.png", "http://mydomain.com/b.png"),
        limit=3,
        fields=(),
        filter=F("price") >= 200,
    )
    request = adapter.build_search_multi(query)
    assert str(request.url) == BASE + "visualKNNMulti"
    assert json.loads(request.content) == {
        "query_records": [{"_url": "http://mydomain.com/a.png"}, {"_url": "http://mydomain.com/b.png"}],
        "k": 3,
        "fields_to_return": ["_id"],
        "filter": {"price": {"$gte": 200}},  # the canonical form of the docs' {"$gte": {"price": 200}}
    }
    paged = json.loads(adapter.build_search_multi(query.model_copy(update={"offset": 6})).content)
    assert (paged["k"], paged["from"]) == (3, 6)


def test_multi_query_by_ids_asks_from_zero_and_leaves_the_query_records_out() -> None:
    adapter = make()
    query = XimilarMultiQuery(ids=("10", "11"), limit=2, offset=1, fields=())
    request = adapter.build_search_multi(query)
    body = json.loads(request.content)
    assert body["query_records"] == [{"_id": "10"}, {"_id": "11"}]
    assert body["k"] == 1 + 2 + 2 and "from" not in body
    answer = {
        **MULTI_ANSWER,
        "answer_records": [{"_id": "10"}, {"_id": "1"}, {"_id": "11"}, {"_id": "2"}, {"_id": "3"}],
        "answer_distances": [0.0, 40.0, 0.0, 50.0, 60.0],
    }
    result = adapter.parse_search_multi(respond(request, answer), query)
    assert result.ids == ["2", "3"]  # page 2 of the hits that are not query records
    assert [h.vendor_score for h in result.hits] == [50.0, 60.0]
    assert (result.offset, result.limit, result.provider) == (1, 2, "ximilar")


def test_multi_query_parses_the_documented_answer_and_images_go_as_base64() -> None:
    adapter = make()
    image = jpeg()
    query = XimilarMultiQuery(images=(image,), urls=("https://x.example/q.jpg",), limit=3)
    request = adapter.build_search_multi(query)
    sent = json.loads(request.content)["query_records"]
    assert sent == [
        {"_base64": base64.b64encode(image.data).decode()},
        {"_url": "https://x.example/q.jpg"},
    ]
    result = adapter.parse_search_multi(respond(request, MULTI_ANSWER), query)
    assert result.ids == ["1", "2", "3"]
    assert result.hits[0].score == pytest.approx(1 / (1 + 40 / 50))
    assert result.raw == MULTI_ANSWER


def test_multi_query_follows_the_search_method() -> None:
    fashion = make("fashion-new")
    request = fashion.build_search_multi(XimilarMultiQuery(ids=("a",)))
    assert request.url.path.endswith("/visualTagsKNNMulti")
    plain = make("fashion-new", search_method="visualKNN").build_search_multi(XimilarMultiQuery(ids=("a",)))
    assert plain.url.path.endswith("/visualKNNMulti")
    with_product = make(product_field="product_id").build_search_multi(XimilarMultiQuery(ids=("a",)))
    assert json.loads(with_product.content)["product_field"] == "product_id"  # a visualKNN key (§2.4)


def test_multi_query_is_validated() -> None:
    with pytest.raises(ValidationError, match="at least one"):
        XimilarMultiQuery()
    with pytest.raises(ValidationError, match="http"):
        XimilarMultiQuery(urls=("ftp://x/y.jpg",))
    with pytest.raises(ValidationError):
        XimilarMultiQuery(ids=("",))
    with pytest.raises(ValidationError):
        XimilarMultiQuery(ids=("a",), filter={"price": {"$regex": "x"}})
    assert XimilarMultiQuery(ids=("a",), filter={"price": {"$lt": 5}}).filter == (F("price") < 5)
    adapter = make()
    with pytest.raises(InvalidQueryError, match="at most 100"):
        adapter.build_search_multi(XimilarMultiQuery(ids=("a",), limit=101))
    with pytest.raises(InvalidQueryError, match="1000"):
        adapter.build_search_multi(XimilarMultiQuery(ids=("a",), limit=50, offset=990))
