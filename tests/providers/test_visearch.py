"""ViSearch adapter: the official client's golden vectors, exact request shapes and payload parsing.

Every vector of ``visearch_requests.json`` is reproduced, deliberately different (an official defect, or a
choice VENDORS.md recommends), or not covered (an endpoint or parameter we do not use); each set says why.
"""

from __future__ import annotations

import base64
import io
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import numpy as np
import pytest
import respx
from PIL import Image
from pydantic import SecretStr

from visualsearch_sdk import (
    APIResponseError,
    AuthenticationError,
    Capability,
    ConfigurationError,
    F,
    InvalidQueryError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    ServerError,
    UnsupportedCapabilityError,
    UnsupportedFilterError,
    VisualSearch,
)
from visualsearch_sdk._config import ClientOptions, parse_provider_url
from visualsearch_sdk._registry import get_adapter
from visualsearch_sdk._retry import RetryPolicy
from visualsearch_sdk.models import ObjectQuery, SearchQuery
from visualsearch_sdk.preprocess import PreparedImage, prepare_image
from visualsearch_sdk.providers._base import PreparedRecord
from visualsearch_sdk.providers._visearch_errors import CODES
from visualsearch_sdk.providers._visearch_filters import RANGE_BOUND, visearch_fq
from visualsearch_sdk.providers.visearch import (
    ViSearchAdapter,
    ViSearchCredentials,
    ViSearchOptions,
    page_for,
)
from visualsearch_sdk.testing.fakes._visearch_wire import read_request

ACCESS, SECRET = "my_access_key", "my_secret_key"
HTTP_BASE = "http://visearch.visenze.com/"  # the official client's (plain HTTP) default host
Vectors = dict[str, dict[str, Any]]

REPRODUCED = {
    "insert_two_images_with_metadata",
    "insert_single_dict_is_wrapped",
    "update_without_im_url_posts_to_insert",
    "remove_two_images",
    "remove_single_string",
    "insert_status_basic",  # the path; we add error_page/error_limit (see the paging vector)
    "colorsearch_hash_is_stripped",
    "uploadsearch_by_file_raw",  # with preset=None (the official default sends the original file)
    "discoversearch_by_url",  # plus score=true and get_all_fl=true, which we always send
    "discoversearch_by_im_id",
}
DIFFERENT_ON_PURPOSE = {
    "insert_status_with_paging_params_dropped",  # OFFICIAL DEFECT: we send error_page/error_limit
    "search_with_fl_fq_score",  # booleans lower-case (VENDORS §1.3); default-valued params not sent
    "search_defaults",  # limit is ours (10), not always 30; get_all_fl=true and score=true
    "colorsearch_with_fl_fq",  # score=true, not True
    "uploadsearch_by_url_with_box",  # POST with a form body (VENDORS §1.3 prefers it to GET)
    "uploadsearch_by_url_with_query_and_box_list",  # the same, im_url encoded normally
    "uploadsearch_resize_standard_unshimmed",  # OFFICIAL DEFECT: we do not crash on Pillow >= 10
    "uploadsearch_resize_standard_shimmed",  # OFFICIAL DEFECT: aspect kept, box scaled into the upload
    "search_fq_value_with_reserved_chars_unencoded",  # OFFICIAL DEFECT: we percent-encode (and quote)
    "non_200_status_swallows_body",  # OFFICIAL DEFECT: HTTP 401 -> AuthenticationError with its message
    "status_fail_with_http_200_is_returned_not_raised",  # HTTP 200 status:fail -> AuthenticationError
}
NOT_COVERED = {
    "insert_extra_kwargs_become_form_fields",  # no free-form top-level insert fields
    "search_get_all_fl_and_score_range",  # score_max has no counterpart (min_score is score_min)
    "recommendation",  # search by id uses /search
}
IGNORED = {("score_max", "1"), ("score_min", "0"), ("get_all_fl", "False")}  # the official defaults
ALWAYS = {("score", "true"), ("get_all_fl", "true")}  # what we always send (scores, all metadata)


@pytest.fixture(scope="module")
def vectors(reference_vectors: Callable[[str], list[dict[str, Any]]]) -> Vectors:
    return {v["name"]: v for v in reference_vectors("visearch_requests.json")}


def make(base_url: str = HTTP_BASE, **kwargs: Any) -> ViSearchAdapter:
    creds = ViSearchCredentials(access_key=SecretStr(ACCESS), secret_key=SecretStr(SECRET))
    return ViSearchAdapter(creds, base_url=base_url, **kwargs)


def signed(adapter: ViSearchAdapter, request: httpx.Request) -> httpx.Request:
    return next(adapter.auth().sync_auth_flow(request))


def pairs(request: httpx.Request) -> list[tuple[str, str]]:
    """Every parameter as received: query string, then form or multipart text parts (decoded)."""
    request.read()
    return read_request(request).pairs


def vector_pairs(expected: dict[str, Any]) -> list[tuple[str, str]]:
    url = expected["url"]
    found = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    body = expected.get("body")
    if body and body.get("encoding") == "str":
        found += parse_qsl(body["text"], keep_blank_values=True)
    return found


def official(expected: dict[str, Any]) -> Counter[tuple[str, str]]:
    """The vector's parameters, less the official client's always-sent defaults, booleans lower-cased."""
    fixed = [(k, v.lower() if v in ("True", "False") else v) for k, v in vector_pairs(expected)]
    return Counter(p for p in fixed if (p[0], p[1].capitalize()) not in IGNORED and p not in IGNORED)


def answer(body: Any, request: httpx.Request, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body, request=request)


def jpeg(size: tuple[int, int], colour: tuple[int, int, int] = (200, 30, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


# -- golden vectors ---------------------------------------------------------------------------------------


def test_every_vector_is_accounted_for(vectors: Vectors) -> None:
    sets = (REPRODUCED, DIFFERENT_ON_PURPOSE, NOT_COVERED)
    assert set(vectors) == set().union(*sets)
    assert sum(map(len, sets)) == len(vectors) == 24
    defects = {n for n, v in vectors.items() if (v.get("note") or "").startswith("OFFICIAL DEFECT")}
    assert defects <= DIFFERENT_ON_PURPOSE


@pytest.mark.parametrize(
    ("name", "records"),
    [
        (
            "insert_two_images_with_metadata",
            [
                PreparedRecord(
                    "red_dress",
                    None,
                    "http://mydomain.com/images/red_dress.jpg",
                    {"title": "Red Dress", "price": 100.0, "brand": "Zara"},
                ),
                PreparedRecord(
                    "blue_dress",
                    None,
                    "http://mydomain.com/images/blue_dress.jpg",
                    {"description": "A blue dress", "price": 49.99},
                ),
            ],
        ),
        (
            "insert_single_dict_is_wrapped",
            [
                PreparedRecord(
                    "red_dress",
                    None,
                    "http://mydomain.com/images/red_dress.jpg",
                    {"title": "Red Dress", "price": 100.0, "brand": "Zara"},
                )
            ],
        ),
    ],
)
def test_vector_insert(vectors: Vectors, name: str, records: list[PreparedRecord]) -> None:
    v = vectors[name]
    expected = v["expected"]["requests"][0]
    adapter = make()
    request = signed(adapter, adapter.build_index(records, upsert=False))
    assert (request.method, str(request.url)) == (expected["method"], expected["url"])
    assert request.content.decode() == expected["body"]["text"]  # byte for byte: field[i], urlencoded
    for header in ("Authorization", "Content-Type"):
        assert request.headers[header] == expected["headers"][header]
    outcomes = adapter.parse_index(answer(v["expected"]["client_return"], request), records)
    trans = str(v["expected"]["client_return"]["trans_id"])
    assert [(o.id, o.error, o.transaction_id) for o in outcomes] == [(r.id, None, trans) for r in records]


def test_vector_update_and_remove(vectors: Vectors) -> None:
    adapter = make()
    update = adapter.build_update("red_dress", {"price": 79.5})
    assert (
        update.content.decode()
        == vectors["update_without_im_url_posts_to_insert"]["expected"]["requests"][0]["body"]["text"]
    )
    assert update.url.path == "/insert"
    two = adapter.build_delete(["red_dress", "blue_dress"])
    assert two.content.decode() == vectors["remove_two_images"]["expected"]["requests"][0]["body"]["text"]
    one = vectors["remove_single_string"]
    request = adapter.build_delete(["red_dress"])
    assert (request.url.path, request.content.decode()) == (
        "/remove",
        one["expected"]["requests"][0]["body"]["text"],
    )
    # Its answer: status "warning" with a 102 for the unknown name -> not_found, not an error.
    response = answer(one["expected"]["client_return"], request)
    assert adapter.error_for(response) is None
    report = adapter.parse_delete(response, ["red_dress"])
    assert (report.deleted, report.not_found, report.failed) == ((), ("red_dress",), ())


def test_vector_insert_status_pages_what_the_official_client_drops(vectors: Vectors) -> None:
    basic = vectors["insert_status_basic"]
    adapter = make()
    request = adapter.build_index_status("352649805417295872", 2)
    assert request.url.path == urlsplit(basic["expected"]["requests"][0]["url"]).path
    # OFFICIAL DEFECT (insert_status_with_paging_params_dropped): error_page/error_limit never reach the wire.
    dropped = vectors["insert_status_with_paging_params_dropped"]["expected"]["requests"][0]["url"]
    assert "?" not in dropped
    assert dict(request.url.params) == {"error_page": "2", "error_limit": "100"}
    status = adapter.parse_index_status(answer(basic["expected"]["client_return"], request))
    assert status.finished and status.failed == () and status.next_page is None
    # An empty result list (the other vector's answer) is an unknown transaction.
    with pytest.raises(NotFoundError):
        adapter.parse_index_status(answer({"status": "OK", "result": []}, request))


@pytest.mark.parametrize(
    ("name", "query"),
    [
        (
            "search_with_fl_fq_score",
            SearchQuery(
                mode="id",
                id="blue_dress",
                offset=25,
                limit=25,
                fields=("price", "brand", "title", "im_url"),
                filter=(F("im_cate") == "bags") & F("price").between(10, 199),
            ),
        ),
        ("search_defaults", SearchQuery(mode="id", id="blue_dress", limit=30)),
        ("colorsearch_hash_is_stripped", SearchQuery(mode="color", color=(0xFA, 0x4D, 0x4D), limit=30)),
        (
            "colorsearch_with_fl_fq",
            SearchQuery(
                mode="color",
                color=(0xFA, 0x4D, 0x4D),
                limit=30,
                fields=("price",),
                filter=F("brand") == "Zara",
            ),
        ),
    ],
)
def test_vector_searches(vectors: Vectors, name: str, query: SearchQuery) -> None:
    """Same endpoint and parameters; the differences are the documented ones, and only those:
    ``score=true`` lower-case (VENDORS §1.3; the official client sends ``True``), ``get_all_fl=true`` when no
    fields are named, and none of the official client's always-sent defaults (score_min=0, score_max=1,
    get_all_fl=False)."""
    expected = vectors[name]["expected"]["requests"][0]
    adapter = make()
    request = signed(adapter, adapter.build_search(query, None))
    assert (request.method, request.url.path) == ("GET", urlsplit(expected["url"]).path)
    assert request.headers["Authorization"] == expected["headers"]["Authorization"]
    ours = Counter(pairs(request))
    theirs = official(expected)
    assert theirs - ours == Counter()
    assert set(ours - theirs) <= ALWAYS
    if name == "search_with_fl_fq_score":  # its answer: a value_map of strings, typed by the schema
        typed = make(schema={"price": float})
        result = typed.parse_search(answer(vectors[name]["expected"]["client_return"], request), query)
        assert (result.ids, result.hits[0].score, result.total) == (["red_dress"], 0.91, 1)
        assert result.hits[0].metadata == {"price": 100.0, "title": "Red Dress"}
        untyped = adapter.parse_search(answer(vectors[name]["expected"]["client_return"], request), query)
        assert untyped.hits[0].metadata["price"] == "100.000000"  # no schema: strings, as sent


@pytest.mark.parametrize(
    ("name", "query"),
    [
        (
            "uploadsearch_by_url_with_box",
            SearchQuery(mode="url", url="http://mydomain.com/q.jpg", box=(0, 0, 10, 10), limit=30),
        ),
        (
            "uploadsearch_by_url_with_query_and_box_list",
            SearchQuery(
                mode="url",
                url="https://cdn.example.com/a b.jpg?w=500&h=1",
                box=(10, 20, 300, 400),
                filter=F("price").between(0, 199),
                limit=5,
            ),
        ),
    ],
)
def test_vector_uploadsearch_by_url_is_a_form_post(vectors: Vectors, name: str, query: SearchQuery) -> None:
    """The official client sends GET with a hand-quoted ``im_url`` in the query string; VENDORS §1.3 prefers
    the Java client's POST with a normally encoded form body. Same parameters, same decoded ``im_url``."""
    expected = vectors[name]["expected"]["requests"][0]
    request = make().build_search(query, None)
    assert (expected["method"], request.method) == ("GET", "POST")
    assert request.url.path == "/uploadsearch" and not request.url.query
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    ours, theirs = Counter(pairs(request)), official(expected)
    assert theirs - ours == Counter() and set(ours - theirs) <= ALWAYS
    assert dict(pairs(request))["im_url"] == query.url


def test_vector_uploadsearch_by_file_raw(vectors: Vectors) -> None:
    """preset=None sends the original file as it is (the official default): box and size unchanged."""
    expected = vectors["uploadsearch_by_file_raw"]["expected"]["requests"][0]
    original = jpeg((640, 427))
    query = SearchQuery(mode="image", box=(0, 0, 100, 100), limit=30)
    prepared = prepare_image(original, preset=None, box=query.box, limits=ViSearchAdapter.limits)
    request = make().build_search(query, prepared)
    assert (request.method, request.url.path) == ("POST", "/uploadsearch")
    request.read()
    sent = read_request(request)
    ours, theirs = Counter(httpx.URL(str(request.url)).params.multi_items()), official(expected)
    assert theirs - ours == Counter() and set(ours - theirs) <= ALWAYS  # parameters stay in the query string
    assert sent.image == original and Image.open(io.BytesIO(sent.image)).size == (640, 427)
    assert 'name="image"' in expected["body"]["parts"][0]["part_headers"][0]
    assert b'name="image"; filename="image.jpg"' in request.content  # never a local path


def test_vector_resize_standard_keeps_aspect_and_scales_the_box(vectors: Vectors) -> None:
    """OFFICIAL DEFECTS: Pillow >= 10 crash; a forced 512x512 (distorted) upload; the box sent unscaled.
    We resize 640x427 within 512x512 keeping its aspect (512x342) and send the box in those pixels."""
    crash = vectors["uploadsearch_resize_standard_unshimmed"]["expected"]
    assert crash["requests"] == [] and "ANTIALIAS" in crash["client_error"]
    shimmed = vectors["uploadsearch_resize_standard_shimmed"]["expected"]["requests"][0]
    assert shimmed["body"]["parts"][0]["decoded_image"]["size"] == [512, 512]
    assert "box=0,0,320,213" in shimmed["url"]  # the box of the 640x427 original, sent as it was
    query = SearchQuery(mode="image", box=(0, 0, 320, 213), limit=30)
    prepared = prepare_image(
        jpeg((640, 427)), preset="STANDARD", box=query.box, limits=ViSearchAdapter.limits
    )
    request = make().build_search(query, prepared)
    request.read()
    sent = read_request(request)
    assert sent.image is not None and Image.open(io.BytesIO(sent.image)).size == (512, 342)
    assert dict(request.url.params)["box"] == "0,0,256,171"  # 320 * 0.8, 213 * 342 / 427


@pytest.mark.parametrize(
    ("name", "query", "options"),
    [
        (
            "discoversearch_by_url",
            ObjectQuery(mode="url", url="http://mydomain.com/q.jpg", detection="all", box=(0, 0, 10, 10)),
            {"detection_limit": 3, "detection_sensitivity": "high"},
        ),
        ("discoversearch_by_im_id", ObjectQuery(mode="upload_id", upload_id="abcd1234"), {}),
    ],
)
def test_vector_discoversearch(
    vectors: Vectors, name: str, query: ObjectQuery, options: dict[str, Any]
) -> None:
    expected = vectors[name]["expected"]["requests"][0]
    request = signed(make(**options), make(**options).build_search_objects(query, None))
    assert (request.method, str(request.url)) == ("POST", expected["url"])
    assert request.headers["Content-Type"] == expected["headers"]["Content-Type"]
    ours, theirs = Counter(pairs(request)), official(expected)
    assert theirs - ours == Counter() and set(ours - theirs) <= ALWAYS


def test_vector_fq_values_are_encoded_and_quoted(vectors: Vectors) -> None:
    """OFFICIAL DEFECT: ``fq=brand:H&M`` splits at ``&``, ``+`` becomes a space and ``#`` ends the URL.
    Ours survive the trip: what the server decodes is exactly what was meant (quoted: doc 002)."""
    expected = vectors["search_fq_value_with_reserved_chars_unencoded"]["expected"]["requests"][0]
    assert "fq=brand:H&M" in expected["url"] and "#1" in expected["url"]
    query = SearchQuery(mode="id", id="x", filter=(F("brand") == "H&M") & (F("title") == "a+b c#1"))
    request = make().build_search(query, None)
    assert "#" not in str(request.url) and "H&M" not in str(request.url)
    assert [v for k, v in pairs(request) if k == "fq"] == ['brand:"H&M"', 'title:"a+b c#1"']


def test_vector_errors_are_raised_with_their_message(vectors: Vectors) -> None:
    adapter = make()
    request = adapter.build_search(SearchQuery(mode="id", id="x"), None)
    assert "search error" in vectors["non_200_status_swallows_body"]["expected"]["client_error"]
    error = adapter.error_for(
        answer({"status": "fail", "error": ["Invalid access key or secret key."]}, request, 401)
    )
    assert isinstance(error, AuthenticationError) and error.status_code == 401
    assert error.message == "Invalid access key or secret key." and error.provider_code == "11"
    fail = vectors["status_fail_with_http_200_is_returned_not_raised"]["expected"]["client_return"]
    insert = adapter.build_index(
        [PreparedRecord("red_dress", None, "http://mydomain.com/r.jpg")], upsert=False
    )
    error = adapter.error_for(answer(fail, insert))
    assert isinstance(error, AuthenticationError) and error.provider_code == "11"


# -- configuration ----------------------------------------------------------------------------------------


def from_url(url: str, environ: dict[str, str] | None = None, **kwargs: Any) -> ViSearchAdapter:
    adapter = get_adapter("visearch").from_url(
        parse_provider_url(url),
        options=kwargs.pop("options", None),
        environ=environ or {},
        client_options=ClientOptions(**kwargs),
    )
    assert isinstance(adapter, ViSearchAdapter)
    return adapter


def test_url_forms_default_to_https() -> None:
    assert str(from_url("visearch://A:S@visearch.visenze.com").base_url) == "https://visearch.visenze.com/"
    assert (
        str(from_url("visearch://A:S@visearch.visenze.com.cn").base_url) == "https://visearch.visenze.com.cn/"
    )
    assert str(from_url("visearch://A:S@").base_url) == "https://visearch.visenze.com/"
    served = from_url("visearch://A:S@visearch.visenze.com?base_url=http://127.0.0.1:9/")
    assert str(served.base_url) == "http://127.0.0.1:9/"
    with pytest.raises(ConfigurationError, match="clear"):
        from_url("visearch://A:S@?base_url=http://visearch.visenze.com/")  # Basic credentials in clear text
    assert (
        str(from_url("visearch://A:S@?base_url=http://proxy.example/", allow_http=True).base_url)
        == "http://proxy.example/"
    )
    env = {"VISUALSEARCH_VISEARCH_ACCESS_KEY": "EA", "VISUALSEARCH_VISEARCH_SECRET_KEY": "ES"}
    adapter = from_url("visearch://", env)
    assert (
        adapter.credentials.access_key.get_secret_value(),
        adapter.credentials.secret_key.get_secret_value(),
    ) == ("EA", "ES")
    with pytest.raises(ConfigurationError, match="VISUALSEARCH_VISEARCH_SECRET_KEY"):
        from_url("visearch://onlyaccess@visearch.visenze.com")
    with pytest.raises(ConfigurationError, match="ViSearchOptions"):
        from_url("visearch://A:S@", options=object())


def test_basic_auth_on_every_request_and_capabilities() -> None:
    adapter = make()
    request = signed(adapter, adapter.build_verify())
    assert (
        request.headers["Authorization"]
        == "Basic " + base64.b64encode(f"{ACCESS}:{SECRET}".encode()).decode()
    )
    assert ACCESS not in repr(adapter.auth()) and ACCESS not in repr(adapter.credentials)
    caps = ViSearchAdapter.capabilities
    assert Capability.INDEX_FROM_URL in caps and Capability.INDEX_FROM_BYTES not in caps
    assert {Capability.INDEX_ASYNC, Capability.MULTI_OBJECT, Capability.UPSERT} <= caps
    assert not {Capability.GET, Capability.COUNT, Capability.LIST, Capability.REFUSE_EXISTING} & caps


def test_options_schema_refuses_other_types() -> None:
    assert ViSearchOptions(schema={"price": float}).schema_ == {"price": float}
    with pytest.raises(ValueError, match="subclass"):
        ViSearchOptions(schema={"tags": list})  # type: ignore[dict-item]


# -- paging, filters, values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "limit"), [(0, 10), (20, 10), (5, 10), (7, 3), (993, 5), (0, 1), (999, 1)]
)
def test_page_for_covers_the_span_in_one_page(offset: int, limit: int) -> None:
    page, size = page_for(offset, limit)
    start = (page - 1) * size
    assert size >= limit and start <= offset and offset + limit <= start + size
    if offset % limit == 0:
        assert (page, size) == (offset // limit + 1, limit)


def test_parse_search_slices_an_unaligned_page() -> None:
    adapter = make()
    query = SearchQuery(mode="id", id="q", offset=5, limit=10)
    request = adapter.build_search(query, None)
    page, size = int(request.url.params["page"]), int(request.url.params["limit"])
    assert (page, size) == (1, 15)
    items = [{"im_name": f"r{i}", "score": 1 - i / 100} for i in range(15)]
    result = adapter.parse_search(answer({"status": "OK", "result": items, "total": 40}, request), query)
    assert result.ids == [f"r{i}" for i in range(5, 15)] and result.total == 40 and result.offset == 5


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (F("brand") == "Zara", ["brand:Zara"]),
        (F("brand") == "Women's shoes", ['brand:"Women\'s shoes"']),
        (F("brand").isin(["A", "Women's shoes"]), ['brand:A OR "Women\'s shoes"']),
        ((F("brand") == "A") | (F("brand") == "B"), ["brand:A OR B"]),
        (F("price").between(10, 199), ["price:10,199"]),
        (F("price") >= 10.5, [f"price:10.5,{RANGE_BOUND}"]),
        (F("price") <= 20, [f"price:-{RANGE_BOUND},20"]),
        ((F("price") >= 10) & (F("price") <= 20) & (F("brand") == "A"), ["price:10,20", "brand:A"]),
        (F("price") == 19.5, ["price:19.5"]),
        (F("sale") == True, ["sale:true"]),  # noqa: E712
        (F("title") == 'say "hi"', ['title:"say \\"hi\\""']),
        (F("word") == "OR", ['word:"OR"']),
    ],
)
def test_filters_become_fq(flt: Any, expected: list[str]) -> None:
    assert visearch_fq(flt) == expected


def test_strict_comparisons_only_on_schema_ints() -> None:
    assert visearch_fq(F("count") > 5, {"count": int}) == [f"count:6,{RANGE_BOUND}"]
    assert visearch_fq(F("count") < 5, {"count": int}) == [f"count:-{RANGE_BOUND},4"]
    with pytest.raises(UnsupportedFilterError, match="strict"):
        visearch_fq(F("price") > 5, {"price": float})


@pytest.mark.parametrize(
    "flt",
    [
        F("brand") != "A",
        ~(F("brand") == "A"),
        (F("brand") == "A") | (F("price") > 3),
        F("brand").between("a", "m"),
        F("price").isin([1, 2]),
        (F("brand") == "A") & (F("brand") == "B"),
        F("price") >= 3e9,
        F("bad:name") == "x",
    ],
)
def test_inexpressible_filters_are_refused_before_io(flt: Any) -> None:
    with pytest.raises(UnsupportedFilterError) as info:
        visearch_fq(flt)
    assert info.value.part and info.value.provider == "visearch"
    with (
        respx.mock(assert_all_called=False) as mock,
        VisualSearch("visearch://A:S@visearch.visenze.com", retry=RetryPolicy(max_retries=0)) as vs,
    ):
        route = mock.route()
        with pytest.raises(UnsupportedFilterError):
            vs.search(id="x", filter=flt)
        assert not route.called


def test_value_map_strings_follow_the_schema() -> None:
    adapter = make(schema={"price": float, "stock": int, "sale": bool})
    query = SearchQuery(mode="id", id="q")
    item = {
        "im_name": "a",
        "score": 0.5,
        "value_map": {"price": "67.500000", "stock": "3", "sale": "true", "t": "x"},
    }
    result = adapter.parse_search(
        answer({"status": "OK", "result": [item]}, adapter.build_search(query, None)), query
    )
    assert result.hits[0].metadata == {"price": 67.5, "stock": 3, "sale": True, "t": "x"}
    bad = {"im_name": "a", "score": 0.5, "value_map": {"stock": "many"}}
    with pytest.raises(ValueError, match="not a int"):
        adapter.parse_search(
            answer({"status": "OK", "result": [bad]}, adapter.build_search(query, None)), query
        )


# -- indexing, status, update, delete ---------------------------------------------------------------------


def test_bad_records_are_named_before_any_request() -> None:
    adapter = make()
    bad = [
        PreparedRecord("x" * 129, None, "http://a/1.jpg"),
        PreparedRecord("ok", None, "http://a/2.jpg", {"im_url": "x"}),
        PreparedRecord("ok2", None, "http://a/3.jpg", {"bad-name": 1}),
    ]
    with pytest.raises(InvalidQueryError) as info:
        adapter.build_index(bad, upsert=False)
    assert "128" in str(info.value) and "'im_url'" in str(info.value) and "'bad-name'" in str(info.value)


def test_trans_id_stays_an_exact_integer() -> None:
    adapter = make()
    records = [PreparedRecord("a", None, "http://a/1.jpg")]
    request = adapter.build_index(records, upsert=False)
    big = 2**63 - 1  # far above 2**53: a float would round it
    raw = httpx.Response(
        200, content=b'{"status":"OK","method":"insert","total":1,"trans_id":%d}' % big, request=request
    )
    assert adapter.parse_index(raw, records)[0].transaction_id == str(big)
    assert float(big) != big  # what a float round trip would have lost
    rounded = httpx.Response(
        200, content=b'{"status":"OK","total":1,"trans_id":3.5264980541729587e17}', request=request
    )
    with pytest.raises(TypeError, match="trans_id"):
        adapter.parse_index(rounded, records)


def test_insert_errors_are_per_record() -> None:
    adapter = make()
    records = [PreparedRecord(i, None, f"http://a/{i}.jpg") for i in ("a", "b", "c")]
    request = adapter.build_index(records, upsert=False)
    body = {
        "status": "warning",
        "trans_id": 7,
        "error": [{"index": 1, "im_name": "b", "error_code": 107, "error_message": "Invalid im_name."}],
    }
    outcomes = adapter.parse_index(answer(body, request), records)
    assert [(o.id, o.transaction_id) for o in outcomes] == [("a", "7"), ("b", None), ("c", "7")]
    assert isinstance(outcomes[1].error, InvalidRequestError) and outcomes[1].error.provider_code == "107"
    every = {
        "status": "fail",
        "error": [{"index": i, "im_name": r.id, "error_code": 108} for i, r in enumerate(records)],
    }
    assert adapter.error_for(answer(every, request)) is None  # per record: parse_index reports each
    assert all(
        o.error is not None and o.error.provider_code == "108"
        for o in adapter.parse_index(answer(every, request), records)
    )


def test_index_status_pages_its_failures() -> None:
    adapter = make()
    request = adapter.build_index_status("9", 1)
    running = {
        "status": "OK",
        "result": [{"trans_id": 9, "processed_percent": 40, "fail_count": 1, "error_list": []}],
    }
    assert not adapter.parse_index_status(answer(running, request)).finished
    errors = [
        {"im_name": f"r{i}", "error_code": 201, "error_message": "Could not download"} for i in range(100)
    ]
    done = {
        "status": "OK",
        "result": [
            {
                "processed_percent": 100,
                "fail_count": 150,
                "error_list": errors,
                "error_page": 1,
                "error_limit": 100,
            }
        ],
    }
    status = adapter.parse_index_status(answer(done, request))
    assert status.finished and status.next_page == 2 and len(status.failed) == 100
    assert status.failed[0].error is not None and status.failed[0].error.provider_code == "201"
    last = {
        "status": "OK",
        "result": [
            {
                "processed_percent": 100,
                "fail_count": 150,
                "error_list": errors[:50],
                "error_page": 2,
                "error_limit": 100,
            }
        ],
    }
    assert adapter.parse_index_status(answer(last, adapter.build_index_status("9", 2))).next_page is None
    with pytest.raises(InvalidQueryError):
        adapter.build_index_status("../remove", 1)


def test_update_cannot_remove_fields_and_unknown_names_are_not_found() -> None:
    adapter = make(schema={"price": float})
    with pytest.raises(UnsupportedCapabilityError, match="remove"):
        adapter.build_update("a", {"price": 1.0, "brand": None})
    request = adapter.build_update("a", {"price": 2.5, "sale": True})
    assert request.content.decode() == "im_name%5B0%5D=a&price%5B0%5D=2.5&sale%5B0%5D=true"
    record = adapter.parse_update(answer({"status": "OK", "trans_id": 3, "total": 1}, request), "a")
    assert record.metadata == {"price": 2.5, "sale": "true"}  # sale is not in the schema: a string
    missing = {
        "status": "fail",
        "error": [{"index": 0, "im_name": "a", "error_code": 108, "error_message": "Missing im_url."}],
    }
    with pytest.raises(NotFoundError):
        adapter.parse_update(answer(missing, request), "a")


# -- errors -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_documented_code_maps_and_retries_as_documented(code: int) -> None:
    adapter = make()
    request = adapter.build_search(SearchQuery(mode="id", id="x"), None)
    error = adapter.error_for(
        answer({"status": "fail", "error": [{"error_code": code, "error_message": "m"}]}, request)
    )
    if code == 1107:  # an application without images: an empty result, not an error
        assert error is None
        assert (
            adapter.parse_search(
                answer({"status": "fail", "error": ["The app has no images."]}, request),
                SearchQuery(mode="id", id="x"),
            ).hits
            == ()
        )
        return
    assert error is not None and error.provider_code == str(code)
    retryable = RetryPolicy().is_retryable(error, idempotent=True)
    assert retryable == (code in {31, 32, 1001, 1105, 1106})  # VENDORS §1.6 (and 32, a system error)
    assert isinstance(error, CODES[code][0])


@pytest.mark.parametrize(
    ("message", "cls", "code"),
    [
        ("Invalid access key or secret key.", AuthenticationError, "11"),
        ("System busy, please retry later.", ServerError, "31"),
        ("Image not found with im_name.", NotFoundError, "1101"),
        ("Could not download the image, please retry.", ServerError, "1105"),
        ("something new", InvalidRequestError, None),
    ],
)
def test_search_error_strings_are_recognised(message: str, cls: type[Exception], code: str | None) -> None:
    adapter = make()
    request = adapter.build_search(SearchQuery(mode="id", id="x"), None)
    error = adapter.error_for(answer({"status": "fail", "error": [message]}, request))
    assert isinstance(error, cls) and error.provider_code == code and error.message == message


def test_http_errors_keep_their_class_and_html_pages_are_handled() -> None:
    adapter = make()
    request = adapter.build_search(SearchQuery(mode="id", id="x"), None)
    limited = adapter.error_for(
        httpx.Response(429, headers={"retry-after": "2"}, json={"status": "fail"}, request=request)
    )
    assert isinstance(limited, RateLimitError) and limited.retry_after == 2.0
    page = adapter.error_for(httpx.Response(502, text="<html>bad gateway</html>", request=request))
    assert isinstance(page, ServerError) and "bad gateway" in page.body
    ok_html = httpx.Response(200, text="<html>captive portal</html>", request=request)
    assert adapter.error_for(ok_html) is None
    with pytest.raises(APIResponseError):
        adapter.parse_search(ok_html, SearchQuery(mode="id", id="x"))


def test_verify_probe_accepts_an_unknown_transaction() -> None:
    adapter = make()
    request = adapter.build_verify()
    unknown = {"status": "fail", "error": [{"error_code": 101, "error_message": "Transaction not found."}]}
    assert adapter.error_for(answer(unknown, request)) is None
    denied = {"status": "fail", "error": ["Invalid access key or secret key."]}
    assert isinstance(adapter.error_for(answer(denied, request)), AuthenticationError)


# -- multi-object search ----------------------------------------------------------------------------------


def test_search_objects_maps_boxes_back_to_the_original() -> None:
    adapter = make()
    prepared = prepare_image(
        jpeg((1600, 800)), preset="STANDARD", box=(800, 0, 1600, 800), limits=adapter.limits
    )
    assert prepared.size == (512, 256) and prepared.box == (256, 0, 512, 256)
    query = ObjectQuery(mode="image", box=(800, 0, 1600, 800), limit_per_object=2)
    request = adapter.build_search_objects(query, prepared)
    assert request.url.path == "/discoversearch" and dict(request.url.params)["box"] == "256,0,512,256"
    body = {
        "status": "OK",
        "im_id": "u1.jpg",
        "objects": [
            {
                "type": "bag",
                "score": 0.9,
                "box": [256, 0, 512, 256],
                "total": 3,
                "result": [
                    {"im_name": "a", "score": 0.8},
                    {"im_name": "b", "score": 0.7},
                    {"im_name": "c", "score": 0.1},
                ],
            },
            {"type": "shoe", "score": 0.5, "box": [0, 128, 64, 256], "result": []},
        ],
    }
    result = adapter.parse_search_objects(answer(body, request), query, prepared)
    assert [(o.type, o.score, o.box) for o in result] == [
        ("bag", 0.9, (800, 0, 1600, 800)),
        ("shoe", 0.5, (0, 400, 200, 800)),
    ]
    assert [h.id for h in result.objects[0].hits] == ["a", "b"] and result.upload_id == "u1.jpg"
    by_id = adapter.parse_search_objects(
        answer(body, request), ObjectQuery(mode="upload_id", upload_id="u1.jpg"), None
    )
    assert by_id.objects[0].box is None  # an earlier upload's geometry is not known here


def test_multi_object_absent_elsewhere_is_refused_before_io() -> None:
    with VisualSearch("memory://") as vs, pytest.raises(UnsupportedCapabilityError) as info:
        vs.search_objects(image=jpeg((120, 120)))
    assert info.value.capability == "multi_object"
    with VisualSearch("memory://") as vs, pytest.raises(UnsupportedCapabilityError):
        vs.search(upload_id="abc")


# -- the client over respx ----------------------------------------------------------------------------


def test_client_request_shape_over_respx() -> None:
    base = "https://visearch.visenze.com"
    with respx.mock(base_url=base, assert_all_called=True) as mock:
        route = mock.get("/search").mock(
            side_effect=[
                httpx.Response(200, json={"status": "fail", "error": ["System busy, please retry later."]}),
                httpx.Response(
                    200,
                    json={
                        "status": "OK",
                        "total": 1,
                        "result": [{"im_name": "b", "score": 0.7, "value_map": {"price": "9.500000"}}],
                    },
                    headers={"X-Log-ID": "log-1"},
                ),
            ]
        )
        options = ViSearchOptions(schema={"price": float})
        policy = RetryPolicy(max_retries=2, initial_backoff=0, max_backoff=0)
        with VisualSearch(
            f"visearch://{ACCESS}:{SECRET}@visearch.visenze.com", options=options, retry=policy
        ) as vs:
            result = vs.search(
                id="a", fields=["price"], filter=F("price").between(1, 10), min_score=0.25, limit=5
            )
        assert route.call_count == 2  # code 31 (busy) retried
        sent = route.calls.last.request
        assert sent.headers["authorization"].startswith("Basic ")
        assert list(sent.url.params.multi_items()) == [
            ("im_name", "a"),
            ("page", "1"),
            ("limit", "5"),
            ("fl", "price"),
            ("fq", "price:1,10"),
            ("score", "true"),
            ("score_min", "0.25"),
        ]
    assert (result.ids, result.hits[0].metadata, result.request_id) == (["b"], {"price": 9.5}, "log-1")


def test_prepared_image_box_is_sent_in_uploaded_pixels() -> None:
    adapter = make()
    prepared = PreparedImage(
        data=jpeg((100, 50)),
        format="JPEG",
        size=(100, 50),
        original_size=(400, 200),
        box=(10, 5, 50, 25),
        scale=(0.25, 0.25),
    )
    request = adapter.build_search(SearchQuery(mode="image", box=(40, 20, 200, 100)), prepared)
    assert dict(request.url.params)["box"] == "10,5,50,25"


# -- the box round trip: a 4000x3000 portrait photo with EXIF rotation ------------------------------------


def _portrait_with_exif(box: tuple[int, int, int, int]) -> bytes:
    """A JPEG stored as 4000x3000 landscape pixels with EXIF orientation 6: upright, a 3000x4000 portrait
    with a red rectangle exactly at ``box`` (upright pixels) on white."""
    upright = Image.new("RGB", (3000, 4000), (255, 255, 255))
    upright.paste((220, 20, 20), box)
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # orientation 6 turns it back clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", quality=90, exif=exif.tobytes())
    return buffer.getvalue()


def _mean(image: Image.Image, box: tuple[int, int, int, int]) -> tuple[float, ...]:
    pixels = np.asarray(image.crop(box), dtype=np.float64).reshape(-1, 3)
    return tuple(float(v) for v in pixels.mean(axis=0))


def test_box_round_trip_on_an_exif_rotated_portrait() -> None:
    """The box is given in the upright photo's pixels; it lands on the same pixels of the uploaded (upright,
    512-bounded) image, and comes back in the original's pixels, from upload and multi-object search."""
    from tests.contract.cases import ImageHost
    from visualsearch_sdk.testing.fakes import FakeViSearch

    box = (600, 1000, 2400, 3000)
    photo = _portrait_with_exif(box)
    stored = Image.open(io.BytesIO(photo))
    assert stored.size == (4000, 3000) and stored.getexif()[0x0112] == 6
    host = ImageHost()
    fake = FakeViSearch(url_resolver=host.resolve, settle_after_polls=1)
    with VisualSearch(fake.client_url(), transport=fake.mount()) as vs:
        assert vs.index([{"id": "red", "url": host.url_for(jpeg((300, 300), (220, 20, 20)))}], wait=True).ok
        result = vs.search(image=photo, box=box, limit=1)
        objects = vs.search_objects(image=photo, box=box)
    fake.close()

    uploads = [r for r in fake.requests if r.url.path in ("/uploadsearch", "/discoversearch")]
    assert len(uploads) == 2
    for request in uploads:
        sent = read_request(request)
        assert sent.image is not None
        uploaded = Image.open(io.BytesIO(sent.image)).convert("RGB")
        assert uploaded.size == (384, 512)  # upright (EXIF applied), aspect kept, within 512x512
        assert not Image.open(io.BytesIO(sent.image)).getexif().get(0x0112)  # no rotation left to apply
        x1, y1, x2, y2 = (int(v) for v in dict(sent.pairs)["box"].split(","))
        assert (x1, y1, x2, y2) == (77, 128, 307, 384)  # box * 384/3000 (= 512/4000)
        red, inside_edge = (
            _mean(uploaded, (x1 + 2, y1 + 2, x2 - 2, y2 - 2)),
            _mean(uploaded, (x1, y1, x1 + 2, y2)),
        )
        assert red[0] > 200 and red[1] < 50 and red[2] < 50, red  # the box covers the red rectangle
        assert inside_edge[0] > 150
        for outside in (
            (0, 0, x1 - 3, 512),
            (x2 + 3, 0, 384, 512),
            (0, 0, 384, y1 - 3),
            (0, y2 + 3, 384, 512),
        ):
            assert min(_mean(uploaded, outside)) > 235  # and nothing red outside it
    # The official client would have sent the box unscaled: nowhere inside a 512-pixel upload.
    assert box[2] > 512 and box[3] > 512
    assert result.query_box is not None and all(abs(a - b) <= 8 for a, b in zip(result.query_box, box))
    assert result.ids == ["red"]
    (obj,) = objects.objects
    assert obj.box is not None and all(abs(a - b) <= 8 for a, b in zip(obj.box, box))
    assert obj.hits[0].id == "red"
