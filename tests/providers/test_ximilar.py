"""Ximilar adapter: the official client's golden vectors, exact request shapes (respx) and payload parsing."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Iterator
from typing import Any, cast

import httpx
import pytest
import respx
from PIL import Image
from pydantic import SecretStr

from visualsearch_sdk import (
    APIResponseError,
    AuthenticationError,
    Capability,
    ConfigurationError,
    ConflictError,
    F,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    UnsupportedCapabilityError,
    VisualSearch,
)
from visualsearch_sdk._config import ClientOptions, parse_provider_url
from visualsearch_sdk._registry import Provider, get_adapter
from visualsearch_sdk.filters import evaluate, parse_filter
from visualsearch_sdk.models import SearchQuery, StoredRecord
from visualsearch_sdk.preprocess import PreparedImage
from visualsearch_sdk.providers._base import PreparedRecord
from visualsearch_sdk.providers.ximilar import (
    _PREFIXES,
    XimilarAdapter,
    XimilarCredentials,
    XimilarOptions,
    XimilarService,
    distance_to_score,
    ximilar_filter,
)

TOKEN = "1af538baa90-----XXX-----baf83ff24"
COLLECTION = "mycoll_id"
BASE = "https://api.ximilar.com/similarity/photos/v2/"
PROTOCOL_HEADERS = ("Authorization", "collection-id", "Content-Type")

Vectors = dict[str, dict[str, Any]]

# Every vector of ximilar_requests.json lands in exactly one of these sets (checked below).
REPRODUCED = {
    "insert",
    "visualKNN_with_filter",
    "visualKNN_by_url_defaults",
    "visualKNN_fashion_uses_visualTagsKNN",
    "get_records",
    "delete",
    "update",
    "random_with_filter",
    "random_defaults",
    "allRecords_page",
    "all_records_iter_follows_next",
    "get_all_ids_unpaged_with_filter",  # build_all_records, for vs.send
    "ping_is_post",  # build_ping, for vs.send
    "constructor_jwt_prefix",
    "constructor_products_endpoint",
    "constructor_fashion_endpoint",
    "constructor_old_photo_endpoint",
}
DIFFERENT_ON_PURPOSE = {
    "constructor_calls_authorize",  # OFFICIAL DEFECT: we make no network call in the constructor
    "constructor_authorize_rejected",  # no authorize call; a 401 {"detail"} anywhere -> AuthenticationError
    "constructor_authorize_non_json",  # OFFICIAL DEFECT: a 502 HTML page -> ServerError, not TypeError
    "insert_base64_noresize_flag_is_sent",  # we never send the client-side 'noresize' flag
    "insert_base64_needs_undeclared_cv2",  # OFFICIAL DEFECT: our preprocessor (Pillow) makes _base64
    "allRecords_paged_filter_silently_dropped",  # OFFICIAL DEFECT: we send the filter while paging
    "error_status_is_not_raised",  # OFFICIAL DEFECT: status.code 403 -> NotFoundError
    "non_json_error_becomes_none",  # OFFICIAL DEFECT: HTML 502 -> ServerError, HTML 200 -> APIResponseError
    "construct_data_kwargs_from_paging",  # by-id pages ask k=offset+limit+1 from 0 (exact paging)
}
NOT_COVERED = {
    # fields_to_return on insert only shapes the echoed answer_records, of which parse_index reads the _id
    # alone: the server's default (["_id"]) is what we need, so we send none.
    "insert_with_request_fields",
    # visualRankRecords ranks records given in the request, possibly not in the collection (a _url without
    # an _id): the answer's hits need not have ids, which SearchHit requires; the fake does not model it.
    "search_and_rank",
}


@pytest.fixture(scope="module")
def vectors(reference_vectors: Callable[[str], list[dict[str, Any]]]) -> Vectors:
    return {v["name"]: v for v in reference_vectors("ximilar_requests.json")}


def make(service: XimilarService = "photos-new", token: str = TOKEN, **kwargs: Any) -> XimilarAdapter:
    creds = XimilarCredentials(token=SecretStr(token), collection_id=COLLECTION)
    return XimilarAdapter(creds, service=service, **kwargs)


def signed(adapter: XimilarAdapter, request: httpx.Request) -> httpx.Request:
    """The request as it leaves the client: after the adapter's auth ran."""
    return next(adapter.auth().sync_auth_flow(request))


def assert_wire(adapter: XimilarAdapter, request: httpx.Request, expected: dict[str, Any]) -> None:
    """Method, URL (path + query), protocol headers and the parsed JSON body."""
    request = signed(adapter, request)
    assert request.method == expected["method"]
    assert str(request.url) == expected["url"]
    for name in PROTOCOL_HEADERS:
        assert request.headers.get(name) == expected["headers"].get(name), name
    body = json.loads(request.content) if request.content else None
    assert body == expected.get("json_body")  # None: no body (ping)


def answer(body: Any, status: int = 200, request: httpx.Request | None = None) -> httpx.Response:
    request = request or httpx.Request("POST", BASE + "visualKNN")
    return httpx.Response(status, json=body, request=request)


def jpeg_image() -> PreparedImage:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (10, 200, 30)).save(buffer, "JPEG")
    return PreparedImage(data=buffer.getvalue(), format="JPEG", size=(8, 6), original_size=(8, 6))


# -- golden vectors ---------------------------------------------------------------------------------------


def test_every_vector_is_accounted_for(vectors: Vectors) -> None:
    sets = (REPRODUCED, DIFFERENT_ON_PURPOSE, NOT_COVERED)
    assert set(vectors) == set().union(*sets)
    assert sum(map(len, sets)) == len(vectors) == 28
    defects = {n for n, v in vectors.items() if (v.get("note") or "").startswith("OFFICIAL DEFECT")}
    assert defects <= DIFFERENT_ON_PURPOSE


def test_vector_insert(vectors: Vectors) -> None:
    v = vectors["insert"]
    records = [
        PreparedRecord("1", None, "http://mydomain.com/img.png"),
        PreparedRecord(
            "2",
            None,
            "http://mydomain.com/another.jpg",
            # tags is an array on the wire; our metadata model holds scalars, the adapter passes values on
            cast(Any, {"category": "apparel", "tags": ["dresses", "short", "polka dot"], "price": 35.5}),
        ),
    ]
    meta = {**records[1].metadata, "active": True, "name": "šaty – été"}
    records[1] = PreparedRecord("2", None, "http://mydomain.com/another.jpg", meta)
    adapter = make()
    assert_wire(adapter, adapter.build_index(records, upsert=False), v["expected"]["requests"][0])
    outcomes = adapter.parse_index(answer(v["expected"]["client_return"]), records)
    assert [(o.id, o.error) for o in outcomes] == [("1", None), ("2", None)]


def test_vector_visual_knn_by_id_with_filter(vectors: Vectors) -> None:
    v = vectors["visualKNN_with_filter"]
    adapter = make()
    # limit=2 by id: Ximilar returns the query record as well, so we ask k=3 and drop it.
    query = SearchQuery(
        mode="id", id="11959", limit=2, fields=("_url",), filter=parse_filter({"artist": {"$ne": "david_27"}})
    )
    assert_wire(adapter, adapter.build_search(query, None), v["expected"]["requests"][0])
    result = adapter.parse_search(answer(v["expected"]["client_return"]), query)
    assert result.ids == ["5950", "28043"]
    assert [h.vendor_score for h in result.hits] == [45.725513, 47.01006]
    assert result.hits[0].score == pytest.approx(1 / (1 + 45.725513 / 50))
    assert result.total is None


def test_vector_visual_knn_by_url(vectors: Vectors) -> None:
    v = vectors["visualKNN_by_url_defaults"]
    adapter = make()
    query = SearchQuery(mode="url", url="http://mydomain.com/q.png", limit=5, fields=())
    assert_wire(adapter, adapter.build_search(query, None), v["expected"]["requests"][0])


def test_vector_fashion_uses_visual_tags_knn(vectors: Vectors) -> None:
    v = vectors["visualKNN_fashion_uses_visualTagsKNN"]
    requests = v["expected"]["requests"]
    assert requests[0]["url"].endswith("/authorization/v2/authorize")  # the constructor call we do not make
    adapter = make("fashion-new")
    query = SearchQuery(mode="id", id="a", limit=9, fields=())
    assert_wire(adapter, adapter.build_search(query, None), requests[1])
    plain = make("fashion-new", search_method="visualKNN").build_search(query, None)
    assert plain.url.path.endswith("/visualKNN")


def test_vector_get_records(vectors: Vectors) -> None:
    v = vectors["get_records"]
    adapter = make()
    assert_wire(adapter, adapter.build_get_many(["1", "2", "3"]), v["expected"]["requests"][0])
    records = adapter.parse_records(answer(v["expected"]["client_return"]))
    assert records == [StoredRecord(id="1", url="http://mydomain.com/img.png")]
    single = adapter.build_get("7")
    assert json.loads(single.content) == {"records": [{"_id": "7"}], "fields_to_return": ["*"]}


def test_vector_delete(vectors: Vectors) -> None:
    v = vectors["delete"]
    adapter = make()
    assert_wire(adapter, adapter.build_delete(["1", "2"]), v["expected"]["requests"][0])
    report = adapter.parse_delete(answer(v["expected"]["client_return"]), ["1", "2"])
    assert report.deleted == ("1", "2")
    assert report.not_found == ()


def test_vector_update(vectors: Vectors) -> None:
    v = vectors["update"]
    adapter = make()
    assert_wire(
        adapter, adapter.build_update("1", {"day": "monday", "price": None}), v["expected"]["requests"][0]
    )
    record = adapter.parse_update(answer(v["expected"]["client_return"]), "1")
    assert record == StoredRecord(id="1", metadata={"day": "monday"})


def test_vector_random(vectors: Vectors) -> None:
    adapter = make()
    req = adapter.build_random(2, filter=F("price") >= 200, fields=())
    assert_wire(adapter, req, vectors["random_with_filter"]["expected"]["requests"][0])
    assert_wire(
        adapter, adapter.build_random(10, fields=()), vectors["random_defaults"]["expected"]["requests"][0]
    )
    got = adapter.parse_records(answer(vectors["random_with_filter"]["expected"]["client_return"]))
    assert [r.id for r in got] == ["1", "2"]


def test_vector_all_records_page(vectors: Vectors) -> None:
    v = vectors["allRecords_page"]
    adapter = make()
    assert_wire(
        adapter, adapter.build_list("page=3&size=2", 2, fields=["_url"]), v["expected"]["requests"][0]
    )
    records, cursor = adapter.parse_list(answer(v["expected"]["client_return"]))
    assert [r.id for r in records] == ["5", "6"]
    assert cursor == "page=4&size=2"


def test_vector_all_records_unpaged_with_filter(vectors: Vectors) -> None:
    v = vectors["get_all_ids_unpaged_with_filter"]
    adapter = make()
    request = adapter.build_all_records(fields=["price"], filter=F("price") >= 200)
    assert_wire(adapter, request, v["expected"]["requests"][0])
    records = adapter.parse_records(answer(v["expected"]["client_return"], request=request))
    assert records == [StoredRecord(id="1", metadata={"price": 300})]


def test_vector_ping_is_post(vectors: Vectors) -> None:
    adapter = make()
    assert_wire(adapter, adapter.build_ping(), vectors["ping_is_post"]["expected"]["requests"][0])


def test_vector_all_records_iter_follows_next(vectors: Vectors) -> None:
    v = vectors["all_records_iter_follows_next"]
    adapter = make()
    first = adapter.build_list(None, 2, fields=())
    assert_wire(adapter, first, v["expected"]["requests"][0])
    page1 = {
        "status": {"code": 200, "text": "OK"},
        "answer_records": [{"_id": "1"}, {"_id": "2"}],
        "next": "https://api.ximilar.com/v2/allRecords?page=2&size=2",  # lacks the prefix: never followed
        "answer_count": 3,
    }
    records, cursor = adapter.parse_list(answer(page1, request=first))
    assert cursor is not None
    second = adapter.build_list(cursor, 2, fields=())
    assert_wire(adapter, second, v["expected"]["requests"][1])
    page2 = {"status": {"code": 200, "text": "OK"}, "answer_records": [{"_id": "3"}], "answer_count": 3}
    more, end = adapter.parse_list(answer(page2, request=second))
    assert [r.id for r in records + more] == [r["_id"] for r in v["expected"]["client_return"]]
    assert end is None
    # Without fields, a listing asks for every field so StoredRecord carries metadata.
    assert json.loads(adapter.build_list(None, 2).content) == {"fields_to_return": ["*"]}


@pytest.mark.parametrize(
    ("name", "service"),
    [
        ("constructor_calls_authorize", "photos-new"),
        ("constructor_jwt_prefix", "photos-new"),
        ("constructor_products_endpoint", "products-new"),
        ("constructor_fashion_endpoint", "fashion-new"),
        ("constructor_old_photo_endpoint", "photos"),
    ],
)
def test_vector_constructor_headers_and_endpoint(
    vectors: Vectors, name: str, service: XimilarService
) -> None:
    v = vectors[name]
    token = v["inputs"]["token"]
    expected = v["expected"]["client_return"]
    with respx.mock(assert_all_called=False) as mock:
        authorize = mock.post("https://api.ximilar.com/authorization/v2/authorize")
        adapter = XimilarAdapter.from_url(
            parse_provider_url(f"ximilar://{token}@api.ximilar.com/{COLLECTION}?service={service}"),
            options=None,
            environ={},
            client_options=ClientOptions(),
        )
        assert not authorize.called  # OFFICIAL DEFECT not copied: no network call in the constructor
    assert str(adapter.endpoint) == expected["endpoint"]
    request = signed(adapter, adapter.build_count())
    assert request.headers["Authorization"] == expected["headers"]["Authorization"]
    assert request.headers["collection-id"] == expected["headers"]["collection-id"]
    assert token[:5] not in request.headers.get("User-Agent", "")  # the official UA leaks 5 token characters


def test_vector_authorize_rejected_and_non_json(vectors: Vectors) -> None:
    assert "Invalid token" in vectors["constructor_authorize_rejected"]["expected"]["client_error"]
    assert "TypeError" in vectors["constructor_authorize_non_json"]["expected"]["client_error"]
    adapter = make()
    rejected = adapter.error_for(answer({"detail": "Invalid token."}, 401))
    assert isinstance(rejected, AuthenticationError)
    assert rejected.message == "Invalid token."
    html = httpx.Response(502, text="<html>Bad gateway</html>", request=adapter.build_count())
    error = adapter.error_for(html)
    assert isinstance(error, ServerError)
    assert "Bad gateway" in error.body


def test_vector_base64_insert_has_no_client_flags(vectors: Vectors) -> None:
    noresize = vectors["insert_base64_noresize_flag_is_sent"]["expected"]["requests"][0]["json_body"]
    assert noresize["records"][0]["noresize"] is True
    assert "cv2" in vectors["insert_base64_needs_undeclared_cv2"]["expected"]["client_error"]
    image = jpeg_image()
    adapter = make()
    body = json.loads(adapter.build_index([PreparedRecord("4", image, None, {"k": 1})], upsert=False).content)
    assert body == {"records": [{"_id": "4", "k": 1, "_base64": base64.b64encode(image.data).decode()}]}


def test_vector_paged_all_records_keeps_the_filter(vectors: Vectors) -> None:
    v = vectors["allRecords_paged_filter_silently_dropped"]
    expected = v["expected"]["requests"][0]
    adapter = make()
    request = adapter.build_list(None, 2, fields=(), filter=F("price") >= 200)
    assert str(request.url) == expected["url"]
    assert "filter" not in expected["json_body"]
    assert json.loads(request.content) == {**expected["json_body"], "filter": {"price": {"$gte": 200}}}


def test_vector_error_status_is_raised(vectors: Vectors) -> None:
    v = vectors["error_status_is_not_raised"]
    adapter = make()
    query = SearchQuery(mode="id", id="missing", limit=4, fields=())
    request = adapter.build_search(query, None)
    assert_wire(adapter, request, v["expected"]["requests"][0])
    for status in (403, 200):  # the HTTP status, and the same body inside a 2xx
        error = adapter.error_for(answer(v["expected"]["client_return"], status, request))
        assert isinstance(error, NotFoundError)  # an unknown query _id, not an authentication failure
        assert error.provider_code == "403"
        assert error.message == "wrong query record"
    by_url = adapter.build_search(SearchQuery(mode="url", url="http://x/q.png"), None)
    error = adapter.error_for(answer(v["expected"]["client_return"], 200, by_url))
    assert type(error) is InvalidRequestError


def test_vector_non_json_answers_raise(vectors: Vectors) -> None:
    v = vectors["non_json_error_becomes_none"]
    assert v["expected"]["client_return"] is None
    adapter = make()
    query = SearchQuery(mode="id", id="a", limit=4, fields=())
    request = adapter.build_search(query, None)
    assert_wire(adapter, request, v["expected"]["requests"][0])
    html = "<html><body>502 Bad Gateway</body></html>"
    assert isinstance(adapter.error_for(httpx.Response(502, text=html, request=request)), ServerError)
    ok_html = httpx.Response(200, text=html, request=request)
    assert adapter.error_for(ok_html) is None
    with pytest.raises(APIResponseError) as info:
        adapter.parse_search(ok_html, query)
    assert "502 Bad Gateway" in info.value.body


def test_vector_paging_from(vectors: Vectors) -> None:
    v = vectors["construct_data_kwargs_from_paging"]
    wire = v["expected"]["requests"][0]["json_body"]
    adapter = make()
    by_url = adapter.build_search(
        SearchQuery(mode="url", url="http://x/q.png", limit=20, offset=40, fields=()), None
    )
    assert json.loads(by_url.content) == {**wire, "query_record": {"_url": "http://x/q.png"}}
    # By id we differ on purpose: the query record's own rank is unknown, so a page is sliced from rank 0.
    by_id = adapter.build_search(SearchQuery(mode="id", id="a", limit=20, offset=40, fields=()), None)
    assert json.loads(by_id.content) == {"query_record": {"_id": "a"}, "k": 61, "fields_to_return": ["_id"]}


# -- configuration and auth ---------------------------------------------------------------------------------


def test_registry_and_capabilities() -> None:
    assert get_adapter(Provider.XIMILAR) is XimilarAdapter
    caps = XimilarAdapter.capabilities
    assert Capability.SEARCH_BY_COLOR not in caps
    assert Capability.SERVER_CROP not in caps
    assert Capability.MIN_SCORE not in caps
    assert {Capability.SEARCH_BY_URL, Capability.INDEX_FROM_URL, Capability.LIST, Capability.COUNT} <= caps
    assert XimilarAdapter.batch_size == 10
    assert "index" not in XimilarAdapter.idempotent
    assert {"update", "delete", "search"} <= XimilarAdapter.idempotent
    assert set(_PREFIXES) == set(XimilarService.__args__)  # type: ignore[attr-defined]


def build(url: str, environ: dict[str, str] | None = None, **kwargs: Any) -> XimilarAdapter:
    allow_http = kwargs.pop("allow_http", False)
    return XimilarAdapter.from_url(
        parse_provider_url(url),
        options=kwargs.pop("options", None),
        environ=environ or {},
        client_options=ClientOptions(allow_http=allow_http),
    )


def test_env_fills_what_the_url_lacks_and_options_win() -> None:
    env = {"VISUALSEARCH_XIMILAR_TOKEN": "env-token", "VISUALSEARCH_XIMILAR_COLLECTION": "env-coll"}
    a = build("ximilar://", env)
    assert a.credentials.token.get_secret_value() == "env-token"
    assert a.credentials.collection_id == "env-coll"
    assert str(a.endpoint) == "https://api.ximilar.com/similarity/products/v2/"
    b = build("ximilar://url-token@api.ximilar.com/url-coll?service=custom", env)
    assert (b.credentials.token.get_secret_value(), b.credentials.collection_id) == ("url-token", "url-coll")
    assert str(b.endpoint) == "https://api.ximilar.com/similarity/custom/v2/"
    opts = XimilarOptions(
        credentials=XimilarCredentials(token=SecretStr("opt-secret"), collection_id="opt-coll"),
        service="image_matching",
        product_field="product_id",
    )
    c = build("ximilar://url-token@api.ximilar.com/url-coll?service=custom", env, options=opts)
    assert c.credentials.collection_id == "opt-coll"
    assert str(c.endpoint) == "https://api.ximilar.com/image_matching/v2/"
    body = json.loads(c.build_search(SearchQuery(mode="url", url="http://x/q.png"), None).content)
    assert body["product_field"] == "product_id"
    assert "opt-secret" not in repr(c.credentials) and "url-token" not in repr(
        parse_provider_url("ximilar://url-token@h/c")
    )


def test_missing_token_or_collection_says_how_to_pass_it() -> None:
    with pytest.raises(ConfigurationError) as info:
        build("ximilar://api.ximilar.com/coll")
    assert "ximilar://TOKEN@" in str(info.value) and "VISUALSEARCH_XIMILAR_TOKEN" in str(info.value)
    with pytest.raises(ConfigurationError, match="VISUALSEARCH_XIMILAR_COLLECTION"):
        build("ximilar://tok@api.ximilar.com/")
    with pytest.raises(ConfigurationError, match="unknown Ximilar service"):
        build("ximilar://tok@api.ximilar.com/c?service=videos")
    with pytest.raises(ConfigurationError, match="XimilarOptions"):
        build("ximilar://tok@api.ximilar.com/c", options={"service": "photos"})


def test_base_url_override_and_plain_http_rules() -> None:
    a = build("ximilar://tok@api.ximilar.com/c?service=photos&base_url=http://127.0.0.1:8080/x")
    assert str(a.endpoint) == "http://127.0.0.1:8080/x/photo/search/v2/"
    with pytest.raises(ConfigurationError, match="plain http"):
        build("ximilar://tok@/c?base_url=http://ximilar.example.com")
    b = build("ximilar://tok@/c?base_url=http://ximilar.example.com", allow_http=True)
    assert b.base_url == httpx.URL("http://ximilar.example.com/")


def test_jwt_rule_is_by_length() -> None:
    short, long = "t" * 69, "t" * 70
    assert signed(make(token=short), make().build_count()).headers["Authorization"] == f"Token {short}"
    assert signed(make(token=long), make().build_count()).headers["Authorization"] == f"JWT {long}"


# -- requests and parsing -----------------------------------------------------------------------------------


def test_image_search_sends_base64_and_drops_nothing() -> None:
    adapter = make()
    image = jpeg_image()
    query = SearchQuery(mode="image", limit=2, offset=4)
    body = json.loads(adapter.build_search(query, image).content)
    assert body == {
        "query_record": {"_base64": base64.b64encode(image.data).decode()},
        "k": 2,
        "from": 4,
        "fields_to_return": ["*"],
    }
    raw = {
        "status": {"code": 200, "text": "OK"},
        "answer_records": [{"_id": "x", "colour": "red", "_tags_simple": ["a"]}, {"_id": "y"}],
        "answer_distances": [0.0, 150.0],
    }
    result = adapter.parse_search(answer(raw), query)
    assert result.ids == ["x", "y"]
    assert result.hits[0].score == 1.0 and result.hits[0].metadata == {"colour": "red"}
    assert result.hits[1].score == pytest.approx(0.25)
    with pytest.raises(UnsupportedCapabilityError):
        adapter.build_search(SearchQuery(mode="color", color=(1, 2, 3)), None)


def test_by_id_pages_are_exact_whatever_the_query_record_rank() -> None:
    adapter = make()
    ranked = ["d0", "q", "d1", "d2", "d3", "d4"]  # the query record q ties with an exact duplicate
    distances = [0.0, 0.0, 1.0, 2.0, 3.0, 4.0]
    pages = []
    for offset in (0, 2, 4):
        query = SearchQuery(mode="id", id="q", limit=2, offset=offset)
        body = json.loads(adapter.build_search(query, None).content)
        assert body["k"] == offset + 3 and "from" not in body
        window = {
            "status": {"code": 200, "text": "OK"},
            "answer_records": [{"_id": i} for i in ranked[: body["k"]]],
            "answer_distances": distances[: body["k"]],
        }
        pages.append(adapter.parse_search(answer(window), query).ids)
    assert pages == [["d0", "d1"], ["d2", "d3"], ["d4"]]


def test_distance_to_score_is_monotonic() -> None:
    assert distance_to_score(0.0) == 1.0
    assert distance_to_score(50.0) == 0.5
    assert distance_to_score(-1.0) == 1.0
    values = [distance_to_score(d) for d in (0, 5, 40, 60, 1000)]
    assert values == sorted(values, reverse=True) and all(0 < s <= 1 for s in values)


@pytest.mark.parametrize(
    "expr",
    [
        {"$nor": [{"a": 1}, {"b": {"$gt": 2}}]},
        {"$nor": [{"$and": [{"a": 1}, {"b": 2}]}]},
        {"a": {"$nin": ["x", "y"]}, "b": {"$not": {"$lt": 3}}},
        {"$or": [{"a": "x"}, {"price": {"$gte": 1, "$lte": 9}}]},
    ],
)
def test_filters_use_only_operators_ximilar_has(expr: dict[str, Any]) -> None:
    f = parse_filter(expr)
    assert f is not None
    out = ximilar_filter(f)
    assert "$nor" not in json.dumps(out)
    back = parse_filter(out)
    assert back is not None
    rows: list[dict[str, object]] = [{"a": 1, "b": 3}, {"a": 1, "b": 2}, {"a": "x"}, {"b": 1, "price": 5}, {}]
    assert [evaluate(back, r) for r in rows] == [evaluate(f, r) for r in rows]


def test_insert_partial_success_and_duplicates() -> None:
    adapter = make()
    batch = [PreparedRecord(i, None, f"https://x/{i}.jpg") for i in ("1", "2", "3")]
    request = adapter.build_index(batch, upsert=False)
    raw = {
        "status": {"code": 211, "text": "some records inserted"},
        "answer_records": [{"_id": "1"}, {"_id": "2"}],
        "skipped_records": [
            {"_id": "3", "_reason": {"status": {"code": 211, "text": "record(s) duplicate"}}}
        ],
    }
    response = answer(raw, request=request)
    assert adapter.error_for(response) is None
    outcomes = adapter.parse_index(response, batch)
    assert [o.error for o in outcomes[:2]] == [None, None]
    assert isinstance(outcomes[2].error, ConflictError)
    assert outcomes[2].error.status_code == 409 and outcomes[2].error.provider_code == "211"
    all_dup = answer({"status": {"code": 411, "text": "record duplicate"}}, 400, request)
    assert adapter.error_for(all_dup) is None  # reported per record
    assert all(isinstance(o.error, ConflictError) for o in adapter.parse_index(all_dup, batch))
    with pytest.raises(UnsupportedCapabilityError, match="upsert"):
        adapter.build_index(batch, upsert=True)


def test_delete_reports_missing_ids() -> None:
    adapter = make()
    request = adapter.build_delete(["1", "2", "3"])
    raw = {
        "status": {"code": 206, "text": "some of the records not found"},
        "answer_records": [{"_id": "1"}],
        "skipped_records": [{"_id": "3", "_reason": {"status": {"code": 404, "text": "records not found"}}}],
    }
    report = adapter.parse_delete(answer(raw, request=request), ["1", "2", "3"])
    assert report.deleted == ("1", "2") and report.not_found == ("3",)
    none = answer({"status": {"code": 404, "text": "records not found"}}, 404, request)
    assert adapter.error_for(none) is None
    assert adapter.parse_delete(none, ["1", "2", "3"]).not_found == ("1", "2", "3")


def test_metadata_names_starting_with_underscore_are_refused() -> None:
    with pytest.raises(Exception, match="reserves"):
        make().build_update("1", {"_url": "x"})


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (404, NotFoundError),
        (402, ServerError),
        (412, InvalidRequestError),
        (500, ServerError),
        (411, ConflictError),
    ],
)
def test_error_codes_inside_2xx_bodies(code: int, cls: type[Exception]) -> None:
    adapter = make()
    body = {"status": {"code": code, "text": "t", "error_description": "first line\n\tat java.Foo"}}
    error = adapter.error_for(answer(body, 200, adapter.build_get("1")))
    assert type(error) is cls
    assert error is not None and error.provider_code == str(code) and error.message == "t: first line"


def test_http_statuses_without_ximilar_body() -> None:
    adapter = make()
    no_credits = adapter.error_for(answer({"detail": "No credits"}, 402))
    assert isinstance(no_credits, InvalidRequestError) and not isinstance(no_credits, RateLimitError)
    assert not RetryPolicy().is_retryable(no_credits, idempotent=True)  # retrying cannot buy credits
    assert isinstance(adapter.error_for(answer({"detail": "slow down"}, 429)), RateLimitError)
    assert adapter.error_for(answer({"status": {"code": 205, "text": "records found"}}, 200)) is None


# -- the full client over respx -----------------------------------------------------------------------------


@pytest.fixture
def client() -> Iterator[VisualSearch]:
    with VisualSearch(f"ximilar://{TOKEN}@api.ximilar.com/{COLLECTION}?service=photos-new", environ={}) as c:
        yield c


def test_client_round_trip(client: VisualSearch) -> None:
    with respx.mock(base_url=BASE, assert_all_called=True) as mock:
        knn = mock.post("visualKNN").respond(
            json={
                "status": {"code": 200, "text": "OK"},
                "answer_records": [{"_id": "q"}, {"_id": "b", "brand": "A"}],
                "answer_distances": [0.0, 25.0],
            }
        )
        count = mock.get("getRecordCount").respond(json={"status": {"code": 200}, "answer_count": 5})
        get = mock.post("get").respond(
            json={"status": {"code": 205}, "answer_records": [{"_id": "b", "x": 1}]}
        )
        result = client.search(id="q", limit=1, filter=F("brand") == "A")
        assert client.count() == 5
        assert client.get("b") == StoredRecord(id="b", metadata={"x": 1})
        client.verify()
    sent = knn.calls.last.request
    assert sent.headers["Authorization"] == f"Token {TOKEN}" and sent.headers["collection-id"] == COLLECTION
    assert json.loads(sent.content)["filter"] == {"brand": "A"}
    assert result.ids == ["b"] and result.hits[0].score == pytest.approx(2 / 3)
    assert count.call_count == 2 and get.called


def test_client_errors(client: VisualSearch) -> None:
    with respx.mock(base_url=BASE, assert_all_called=True) as mock:
        mock.post("get").respond(json={"status": {"code": 404, "text": "records not found"}})
        mock.post("visualKNN").respond(json={"status": {"code": 200}, "answer_records": "nope"})
        mock.post("update").respond(json=["not", "an", "object"])
        with pytest.raises(NotFoundError):
            client.get("nope")
        with pytest.raises(APIResponseError):
            client.search(url="https://x/q.png")
        with pytest.raises(APIResponseError):
            client.update("1", {"a": 1})


def test_client_lists_every_record(client: VisualSearch) -> None:
    with respx.mock(base_url=BASE, assert_all_called=True) as mock:
        route = mock.post("allRecords")
        route.side_effect = [
            httpx.Response(
                200, json={"status": {"code": 200}, "answer_records": [{"_id": "1"}], "next": "x?page=2"}
            ),
            httpx.Response(
                200, json={"status": {"code": 200}, "answer_records": [{"_id": "2", "_url": "u"}]}
            ),
        ]
        records = list(client.iter_records(page_size=1))
    assert [r.id for r in records] == ["1", "2"] and records[1].url == "u"
    assert [dict(c.request.url.params) for c in route.calls] == [
        {"size": "1", "page": "1"},
        {"size": "1", "page": "2"},
    ]


def test_client_index_batches_of_ten_with_a_duplicate(client: VisualSearch) -> None:
    records = [{"id": str(i), "url": f"https://x/{i}.jpg", "metadata": {"n": i}} for i in range(12)]
    with respx.mock(base_url=BASE, assert_all_called=True) as mock:
        route = mock.post("insert")
        route.side_effect = [
            httpx.Response(
                200,
                json={
                    "status": {"code": 211, "text": "some records inserted"},
                    "answer_records": [{"_id": str(i)} for i in range(1, 10)],
                    "skipped_records": [
                        {"_id": "0", "_reason": {"status": {"code": 211, "text": "duplicate"}}}
                    ],
                },
            ),
            httpx.Response(200, json={"status": {"code": 210, "text": "records inserted"}}),
        ]
        report = client.index(records)
    assert [len(json.loads(c.request.content)["records"]) for c in route.calls] == [10, 2]
    assert json.loads(route.calls[0].request.content)["records"][3] == {
        "_id": "3",
        "n": 3,
        "_url": "https://x/3.jpg",
    }
    assert report.succeeded == tuple(str(i) for i in range(1, 12))
    assert [(f.id, f.error_type) for f in report.failed] == [("0", "ConflictError")]


def test_one_record_with_a_reserved_field_fails_alone_not_its_batch() -> None:
    """Ximilar refuses metadata names starting with '_' while building the batch: that record fails with the
    reason, the nine others of its batch of ten are still indexed, in one request."""
    from visualsearch_sdk import ImageRecord, InvalidQueryError, VisualSearch
    from visualsearch_sdk._samples import make_samples
    from visualsearch_sdk.testing.fakes import FakeXimilar

    samples = make_samples()[:10]
    fake = FakeXimilar()
    with VisualSearch(fake.client_url(), transport=fake.mount()) as vs:
        records = [ImageRecord(id=s.id, image=s.jpeg, metadata={"n": i}) for i, s in enumerate(samples)]
        records[3] = ImageRecord(id="reserved", image=samples[3].jpeg, metadata={"_private": 1})
        report = vs.index(records)
        assert [f.id for f in report.failed] == ["reserved"]
        assert isinstance(report.failed[0].error, InvalidQueryError) and "'_private'" in str(
            report.failed[0].error
        )
        assert report.succeeded == tuple(r.id for r in records if r.id != "reserved")
        assert vs.count() == 9
    inserts = [r for r in fake.requests if r.url.path.endswith("/insert")]
    assert len(inserts) == 1 and len(json.loads(inserts[0].content)["records"]) == 9
    fake.close()
