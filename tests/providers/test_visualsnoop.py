"""VisualSnoop adapter: both golden vector files, exact request shapes, signing, parsing and error mapping."""

from __future__ import annotations

import base64
import functools
import io
import json
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from typing import Any

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
    InvalidQueryError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    ServerError,
    UnsupportedCapabilityError,
    VisualSearch,
)
from visualsearch_sdk._config import ClientOptions, parse_provider_url
from visualsearch_sdk._registry import Provider, get_adapter
from visualsearch_sdk.models import SearchQuery, StoredRecord
from visualsearch_sdk.preprocess import PreparedImage
from visualsearch_sdk.providers import _visualsnoop_auth as vsauth
from visualsearch_sdk.providers._base import PreparedRecord
from visualsearch_sdk.providers.visualsnoop import (
    VisualSnoopAdapter,
    VisualSnoopCredentials,
    VisualSnoopHmacAuth,
    VisualSnoopOptions,
    id_segment,
    rank_to_score,
)

PUBLIC, SECRET = "24d337fe0ed9427cb512", "sUGSL96ZvNxqHixSPUopX5L1M"
PINNED = "Mon, 26 Jan 2015 10:00:00 GMT"  # visualsnoop_requests.json pins every Date to this
BASE = "http://visualsnoop.com/api/v1/"
SIGNED_HEADERS = ("Authorization", "Date", "X-Visualsnoop-Client-Version")

Vectors = dict[str, dict[str, Any]]

# Every vector of visualsnoop_requests.json lands in exactly one set (checked below).
REPRODUCED = {
    "constructor_makes_network_call",  # build_verify(): sent only by verify(), never by a constructor
    "add_image_generated_id",  # build_add_image (no client flow sends it: it is not retry-safe)
    "add_image_with_id",
    "add_image_update_existing_uses_put",  # index(..., upsert=True)
    "update_existing_without_id_still_posts",  # the same POST /image as add_image_generated_id
    "get_image",
    "get_images_default",  # build_list(None, None); the client always sends count=
    "get_images_paged",
    "search_images_by_id",
    "search_images_upload",
    "delete_image",
}
DIFFERENT_ON_PURPOSE = {
    "image_id_not_url_encoded_by_client",  # OFFICIAL DEFECT (VENDORS §5): we percent-encode the id
}


def epoch(date: str) -> float:
    return parsedate_to_datetime(date).timestamp()


def make(**kwargs: Any) -> VisualSnoopAdapter:
    creds = VisualSnoopCredentials(public_key=PUBLIC, secret_key=SecretStr(SECRET))
    return VisualSnoopAdapter(creds, clock=kwargs.pop("clock", lambda: epoch(PINNED)), **kwargs)


def signed(adapter: VisualSnoopAdapter, request: httpx.Request) -> httpx.Request:
    """The request as it leaves the client: after the adapter's auth ran."""
    return next(adapter.auth().sync_auth_flow(request))


def wire(url: httpx.URL | str) -> tuple[str, str, int | None, bytes]:
    """What goes on the wire for a URL: scheme, host, port and the raw request target."""
    parsed = httpx.URL(url)
    return parsed.scheme, parsed.host, parsed.port, parsed.raw_path


def jpeg(size: tuple[int, int] = (8, 6)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(buffer, "JPEG")
    return buffer.getvalue()


def prepared(data: bytes) -> PreparedImage:
    return PreparedImage(data=data, format="JPEG", size=(8, 6), original_size=(8, 6))


def answer(body: Any, status: int = 200, request: httpx.Request | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, request=request or httpx.Request("GET", BASE + "search/q"))


@pytest.fixture(scope="module")
def auth_vectors(reference_vectors: Callable[[str], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return reference_vectors("visualsnoop_auth.json")


@pytest.fixture(scope="module")
def vectors(reference_vectors: Callable[[str], list[dict[str, Any]]]) -> Vectors:
    return {v["name"]: v for v in reference_vectors("visualsnoop_requests.json")}


# -- visualsnoop_auth.json: signatures byte for byte ------------------------------------------------------


def test_every_auth_vector_is_reproduced(auth_vectors: list[dict[str, Any]]) -> None:
    assert len(auth_vectors) == 14
    for v in auth_vectors:
        i, e = v["inputs"], v["expected"]
        auth = VisualSnoopHmacAuth(
            i["public_key"], i["secret_key"], clock=functools.partial(epoch, i["date"])
        )
        request = next(auth.sync_auth_flow(httpx.Request(i["method"], i["url"])))
        # Step by step, so a mismatch names the broken step.
        assert request.method == e["prepared_method"], v["name"]
        assert wire(request.url) == wire(e["prepared_url"]), v["name"]
        assert vsauth.signed_path(request.url.raw_path) == e["signed_path"], v["name"]
        sts = vsauth.string_to_sign(request.method, e["signed_path"], i["date"])
        assert sts == e["string_to_sign"], v["name"]
        assert vsauth.signature(i["secret_key"], sts) == e["signature"], v["name"]
        for name in SIGNED_HEADERS:
            assert request.headers[name] == e["headers"][name], (v["name"], name)


def test_query_and_body_are_not_signed(auth_vectors: list[dict[str, Any]]) -> None:
    by_name = {v["name"]: v["expected"]["signature"] for v in auth_vectors}
    assert by_name["query_string_is_not_signed_a"] == by_name["query_string_is_not_signed_b"]
    auth = VisualSnoopHmacAuth("pub", "secret", clock=lambda: epoch(PINNED))
    one, two = (
        next(auth.sync_auth_flow(httpx.Request("POST", "http://h/search", content=body)))
        for body in (b"a", b"b")
    )
    assert one.headers["Authorization"] == two.headers["Authorization"]


# -- visualsnoop_requests.json: requests by method, URL, signed headers and body ------------------------


def test_every_request_vector_is_accounted_for(vectors: Vectors) -> None:
    assert set(vectors) == REPRODUCED | DIFFERENT_ON_PURPOSE
    assert not REPRODUCED & DIFFERENT_ON_PURPOSE and len(vectors) == 12


def assert_wire(adapter: VisualSnoopAdapter, request: httpx.Request, expected: dict[str, Any]) -> None:
    request = signed(adapter, request)
    assert request.method == expected["method"]
    assert wire(request.url) == wire(expected["url"])
    for name in SIGNED_HEADERS:
        assert request.headers[name] == expected["headers"][name], name
    assert "Content-Type" not in request.headers and "Content-Type" not in expected["headers"]
    body = expected["body"]
    assert request.content == (b"" if body is None else base64.b64decode(body["text"]))


def _built(adapter: VisualSnoopAdapter, name: str, data: bytes) -> httpx.Request:
    record = [PreparedRecord("myid12", prepared(data), None)]
    return {
        "constructor_makes_network_call": lambda: adapter.build_verify(),
        "add_image_generated_id": lambda: adapter.build_add_image(prepared(data)),
        "update_existing_without_id_still_posts": lambda: adapter.build_add_image(prepared(data)),
        "add_image_with_id": lambda: adapter.build_index(record, upsert=False),
        "add_image_update_existing_uses_put": lambda: adapter.build_index(record, upsert=True),
        "get_image": lambda: adapter.build_get("myid12"),
        "get_images_default": lambda: adapter.build_list(None, None),
        "get_images_paged": lambda: adapter.build_list("myid12", 50),
        "search_images_by_id": lambda: adapter.build_search(SearchQuery(mode="id", id="myid12"), None),
        "search_images_upload": lambda: adapter.build_search(SearchQuery(mode="image"), prepared(data)),
        "delete_image": lambda: adapter.build_delete(["myid12"]),
    }[name]()


@pytest.mark.parametrize("name", sorted(REPRODUCED))
def test_request_vector(vectors: Vectors, name: str) -> None:
    v = vectors[name]
    data = base64.b64decode(v["inputs"].get("image_bytes_b64", ""))
    adapter = make()
    request = _built(adapter, name, data)
    assert_wire(adapter, request, v["expected"]["requests"][0])
    assert adapter.error_for(answer(v["expected"]["client_return"], request=request)) is None


def test_request_vector_answers_parse(vectors: Vectors) -> None:
    adapter = make()

    def ret(name: str) -> dict[str, Any]:
        return dict(vectors[name]["expected"]["client_return"])

    assert adapter.parse_added_id(answer(ret("add_image_generated_id"))) == "c14d4bae93a95c159360e29de998181b"
    assert adapter.parse_get(answer(ret("get_image"))) == StoredRecord(id="myid12")
    assert adapter.parse_list(answer(ret("get_images_paged"))) == ([], None)
    record = [PreparedRecord("myid12", prepared(b"x"), None)]
    assert adapter.parse_index(answer(ret("add_image_update_existing_uses_put")), record)[0].error is None
    upload = adapter.parse_search(answer(ret("search_images_upload")), SearchQuery(mode="image"))
    assert [(h.id, h.score, h.vendor_score) for h in upload.hits] == [("myid12", 1.0, 0.0)]
    # The canned by-id answer lists the query image itself; a search by id never returns its query.
    by_id = adapter.parse_search(answer(ret("search_images_by_id")), SearchQuery(mode="id", id="myid12"))
    assert by_id.hits == ()
    report = adapter.parse_delete(answer(ret("delete_image")), ["myid12"])
    assert report.deleted == ("myid12",)


def test_constructor_makes_no_network_call(vectors: Vectors) -> None:
    """OFFICIAL DEFECT not copied: the handshake request is only sent by verify()."""
    url = f"visualsnoop://{PUBLIC}:{SECRET}@?allow_http=true"
    with respx.mock(assert_all_called=False) as mock:
        route = mock.get(BASE + "collection").respond(json={"collection_id": "6b7c9142", "status": 200})
        client = VisualSearch(url, environ={})
        assert not route.called
        client.verify()
        client.close()
    assert route.call_count == 1
    sent = route.calls.last.request
    assert wire(sent.url) == wire(vectors["constructor_makes_network_call"]["expected"]["requests"][0]["url"])


def test_unencoded_id_vector_differs_on_purpose(vectors: Vectors) -> None:
    v = vectors["image_id_not_url_encoded_by_client"]
    official = v["expected"]["requests"][0]
    assert httpx.URL(official["url"]).query == b"d"  # the official client turned '?d' into a query string
    adapter = make()
    request = signed(adapter, adapter.build_get("a b/c?d"))
    assert request.url.raw_path == b"/api/v1/image/a%20b%2Fc%3Fd" and request.url.query == b""
    expected = vsauth.authorization_header(PUBLIC, SECRET, "GET", "/api/v1/image/a%20b%2Fc%3Fd", PINNED)
    assert request.headers["Authorization"] == expected != official["headers"]["Authorization"]


# -- ids --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record_id", "segment"),
    [
        ("a b/c?d", "a%20b%2Fc%3Fd"),
        ("#frag", "%23frag"),
        ("café 1", "caf%C3%A9%201"),
        ("价格/€", "%E4%BB%B7%E6%A0%BC%2F%E2%82%AC"),
        ("100%", "100%25"),
        ("a+b;c=d&e@f:g", "a%2Bb%3Bc%3Dd%26e%40f%3Ag"),
        (".", "%2E"),
        ("..", "%2E%2E"),
        ("..x", "..x"),
        ("%2F", "%252F"),
    ],
)
def test_ids_are_one_path_segment_on_the_wire(record_id: str, segment: str) -> None:
    assert id_segment(record_id) == segment
    adapter = make()
    for request in (
        adapter.build_get(record_id),
        adapter.build_delete([record_id]),
        adapter.build_search(SearchQuery(mode="id", id=record_id), None),
        adapter.build_index([PreparedRecord(record_id, prepared(b"x"), None)], upsert=True),
    ):
        raw = signed(adapter, request).url.raw_path
        assert raw.endswith(b"/" + segment.encode()) and raw.count(b"/") == 4, raw
        assert request.url.query == b""
        path = raw.decode()
        expected = vsauth.authorization_header(PUBLIC, SECRET, request.method, path, PINNED)
        assert request.headers["Authorization"] == expected  # the signature covers the encoded path


def test_ids_longer_than_100_characters_are_refused() -> None:
    assert id_segment("x" * 100) == "x" * 100
    with pytest.raises(InvalidQueryError, match="100"):
        make().build_get("x" * 101)


# -- signing ----------------------------------------------------------------------------------------------


def test_auth_re_signs_with_a_fresh_date_and_replaces_stale_headers() -> None:
    times = iter([epoch(PINNED), epoch(PINNED) + 61])
    auth = VisualSnoopHmacAuth("pub", "secret", clock=lambda: next(times))
    request = httpx.Request("GET", "http://h/api/v1/images?count=5")
    first = next(auth.sync_auth_flow(request)).headers["Authorization"]
    again = next(auth.sync_auth_flow(request))  # the same object sent twice: re-dated, not stacked
    assert again.headers["Date"] == "Mon, 26 Jan 2015 10:01:01 GMT"
    assert again.headers["Authorization"] != first
    assert again.headers.get_list("Authorization") == [again.headers["Authorization"]]


def test_auth_refuses_other_origins_and_foreign_authorization() -> None:
    auth = make().auth()
    with pytest.raises(ConfigurationError, match="refusing to sign"):
        next(auth.sync_auth_flow(httpx.Request("GET", "https://evil.example/api/v1/images")))
    with pytest.raises(ConfigurationError, match="refusing to sign"):
        next(auth.sync_auth_flow(httpx.Request("GET", "http://visualsnoop.com:8080/api/v1/images")))
    foreign = httpx.Request("GET", BASE + "images", headers={"Authorization": "Bearer x"})
    with pytest.raises(ConfigurationError, match="Authorization"):
        next(auth.sync_auth_flow(foreign))
    with pytest.raises(ConfigurationError):
        VisualSnoopHmacAuth("pub", "   ")


def test_auth_reprs_hide_the_secret() -> None:
    auth = VisualSnoopHmacAuth(PUBLIC, SECRET)
    creds = VisualSnoopCredentials(public_key=PUBLIC, secret_key=SecretStr(SECRET))
    texts = [repr(auth), str(auth), repr(creds), creds.model_dump_json(), repr(make()), make().describe()]
    assert all(SECRET not in text for text in texts)


# -- the requests flavour (skipped when requests is not installed) ---------------------------------------


def test_requests_auth_reproduces_the_vectors(auth_vectors: list[dict[str, Any]]) -> None:
    requests = pytest.importorskip("requests")
    from visualsearch_sdk.providers.visualsnoop import VisualSnoopRequestsAuth

    assert issubclass(VisualSnoopRequestsAuth, requests.auth.AuthBase)
    for v in auth_vectors:
        i, e = v["inputs"], v["expected"]
        clock = functools.partial(epoch, i["date"])
        auth = VisualSnoopRequestsAuth(i["public_key"], i["secret_key"], clock=clock)
        prepared_request = auth(requests.Request(i["method"], i["url"]).prepare())
        assert prepared_request.url == e["prepared_url"], v["name"]
        for name in SIGNED_HEADERS:
            assert prepared_request.headers[name] == e["headers"][name], (v["name"], name)
        assert SECRET not in repr(auth)
    via_httpx_auth = VisualSnoopHmacAuth("pub", "secret", clock=lambda: epoch(PINNED)).for_requests()
    assert isinstance(via_httpx_auth, VisualSnoopRequestsAuth)


def test_requests_auth_without_requests_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    vsauth._requests_auth_class.cache_clear()
    monkeypatch.setitem(__import__("sys").modules, "requests.auth", None)  # import fails as if absent
    try:
        with pytest.raises(ConfigurationError, match=r"visualsearch_sdk\[requests\]"):
            VisualSnoopHmacAuth("pub", "secret").for_requests()
        with pytest.raises(ConfigurationError, match="requests"):
            _ = vsauth.VisualSnoopRequestsAuth
    finally:
        vsauth._requests_auth_class.cache_clear()
    with pytest.raises(AttributeError):
        _ = vsauth.NoSuchThing


# -- configuration ----------------------------------------------------------------------------------------


def build(url: str, environ: dict[str, str] | None = None, **kwargs: Any) -> VisualSnoopAdapter:
    return VisualSnoopAdapter.from_url(
        parse_provider_url(url),
        options=kwargs.pop("options", None),
        environ=environ or {},
        client_options=ClientOptions(allow_http=kwargs.pop("allow_http", False)),
    )


def test_registry_capabilities_and_retry_safety() -> None:
    assert get_adapter(Provider.VISUALSNOOP) is VisualSnoopAdapter
    caps = VisualSnoopAdapter.capabilities
    absent = {
        Capability.METADATA,
        Capability.FILTERS,
        Capability.SEARCH_BY_URL,
        Capability.SEARCH_BY_COLOR,
        Capability.SERVER_CROP,
        Capability.INDEX_FROM_URL,
        Capability.INDEX_UPDATE,
        Capability.COUNT,
        Capability.MIN_SCORE,
    }
    assert not caps & absent
    assert {Capability.UPSERT, Capability.REFUSE_EXISTING, Capability.GET, Capability.LIST} <= caps
    assert VisualSnoopAdapter.batch_size == VisualSnoopAdapter.delete_batch_size == 1
    # VENDORS §3.3: POST /image/{id} and PUT are retry-safe; POST /image (no id) has no client operation.
    assert {"index", "delete", "search", "get", "list"} <= VisualSnoopAdapter.idempotent


def test_the_historical_http_endpoint_needs_the_opt_in() -> None:
    with pytest.raises(ConfigurationError, match="allow_http") as info:
        build(f"visualsnoop://{PUBLIC}:{SECRET}@")
    assert "http://visualsnoop.com/api/v1" in str(info.value) and SECRET not in str(info.value)
    assert build(f"visualsnoop://{PUBLIC}:{SECRET}@", allow_http=True).base_url == httpx.URL(BASE)
    host = build(f"visualsnoop://{PUBLIC}:{SECRET}@visualsnoop.com/api/v1")
    assert host.base_url == httpx.URL("https://visualsnoop.com/api/v1/")
    assert build("visualsnoop://p:s@example.test:8443").base_url == httpx.URL(
        "https://example.test:8443/api/v1/"
    )
    local = build("visualsnoop://p:s@?base_url=http://127.0.0.1:9000/api/v1")
    assert local.base_url == httpx.URL("http://127.0.0.1:9000/api/v1/")
    with pytest.raises(ConfigurationError, match="plain http"):
        build("visualsnoop://p:s@?base_url=http://snoop.example.com/api/v1")


def test_credentials_from_url_env_and_options() -> None:
    env = {
        "VISUALSEARCH_VISUALSNOOP_PUBLIC_KEY": "env-pub",
        "VISUALSEARCH_VISUALSNOOP_SECRET_KEY": "env-secret",
        "VISUALSEARCH_VISUALSNOOP_BASE_URL": "https://env.example/api/v1",
    }
    a = build("visualsnoop://", env)
    assert (a.credentials.public_key, a.credentials.secret_key.get_secret_value()) == (
        "env-pub",
        "env-secret",
    )
    assert a.base_url == httpx.URL("https://env.example/api/v1/")
    b = build("visualsnoop://u%2Fpub:s%40cret@visualsnoop.com/api/v1", env)
    assert (b.credentials.public_key, b.credentials.secret_key.get_secret_value()) == ("u/pub", "s@cret")
    creds = VisualSnoopCredentials(public_key="opt", secret_key=SecretStr("opt-secret"))
    c = build(
        "visualsnoop://u:s@", env, options=VisualSnoopOptions(credentials=creds, base_url="https://o/x")
    )
    assert c.credentials.public_key == "opt" and c.base_url == httpx.URL("https://o/x/")
    with pytest.raises(ConfigurationError, match="VISUALSEARCH_VISUALSNOOP_SECRET_KEY"):
        build("visualsnoop://pub@visualsnoop.com")
    with pytest.raises(ConfigurationError, match="VisualSnoopOptions"):
        build("visualsnoop://p:s@visualsnoop.com", options={"base_url": "https://x"})


# -- parsing and errors -----------------------------------------------------------------------------------


def test_results_are_ordered_by_rank_and_sliced_on_the_client() -> None:
    adapter = make()
    body = {"results": [{"id": f"r{n}", "rank": n} for n in (3, 0, 2, 1, 4)], "status": 200}
    page = adapter.parse_search(answer(body), SearchQuery(mode="image", limit=2, offset=1))
    assert page.ids == ["r1", "r2"] and [h.vendor_score for h in page.hits] == [1.0, 2.0]
    assert [h.score for h in page.hits] == [0.5, pytest.approx(1 / 3)]
    assert page.total is None and page.raw == body
    for bad in (
        {"results": "x"},
        {"results": [{"id": 1, "rank": 0}]},
        {"results": [{"id": "a", "rank": True}]},
    ):
        with pytest.raises(APIResponseError):
            adapter.parse_search(answer(bad), SearchQuery(mode="image"))


def test_rank_to_score_is_monotonic_in_zero_one() -> None:
    scores = [rank_to_score(r) for r in (0, 1, 2, 10, 1000)]
    assert scores[0] == 1.0 and scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)
    assert rank_to_score(-3) == 1.0


def test_listing_cursor_is_next_image_id() -> None:
    adapter = make()
    body = {"images": [{"id": "b", "image_time": "t"}, {"id": "a", "image_time": "t"}], "next_image_id": "z"}
    assert adapter.parse_list(answer(body)) == ([StoredRecord(id="b"), StoredRecord(id="a")], "z")
    assert adapter.parse_list(answer({"images": [], "next_image_id": "z"})) == ([], None)
    with pytest.raises(APIResponseError):
        adapter.parse_list(answer({"images": [{"image_time": "t"}]}))
    assert str(adapter.build_list("b", 5).url) == BASE + "images?start=b&count=5"
    stuck = answer({"images": [{"id": "b"}], "next_image_id": "b"}, request=adapter.build_list("b", 5))
    with pytest.raises(APIResponseError, match="did not advance"):
        adapter.parse_list(stuck)


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (401, {"status": 401, "message": "Invalid signature"}, AuthenticationError),
        (403, {"status": 403, "message": "Forbidden"}, AuthenticationError),
        (404, {"status": 404, "message": "Not found"}, NotFoundError),
        (409, {"status": 409, "message": "exists"}, ConflictError),
        (400, {"status": 400, "message": "Invalid image"}, InvalidRequestError),
        (429, {"status": 429, "message": "slow down"}, RateLimitError),
        (503, {"status": 503, "message": "busy"}, ServerError),
        (200, {"status": 404, "message": "Not found"}, NotFoundError),  # an error inside a 2xx answer
        (200, {"status": 500, "message": "oops"}, ServerError),
    ],
)
def test_error_mapping(status: int, body: dict[str, Any], cls: type[Exception]) -> None:
    request = make().build_get("x")
    error = make().error_for(httpx.Response(status, json=body, headers={"retry-after": "2"}, request=request))
    assert type(error) is cls
    assert error is not None and error.message == body["message"] and error.status_code == body["status"]
    assert error.retry_after == 2.0 and json.loads(error.body) == body


def test_non_json_answers() -> None:
    adapter = make()
    request = adapter.build_get("x")
    html = "<html><body>502 Bad Gateway</body></html>"
    error = adapter.error_for(httpx.Response(502, text=html, request=request))
    assert isinstance(error, ServerError) and "502 Bad Gateway" in error.body
    ok_html = httpx.Response(200, text=html, request=request)
    assert adapter.error_for(ok_html) is None
    with pytest.raises(APIResponseError):
        adapter.parse_get(ok_html)


def test_a_missing_id_on_delete_is_a_result_not_an_error() -> None:
    adapter = make()
    request = adapter.build_delete(["gone"])
    for response in (
        httpx.Response(404, json={"status": 404, "message": "Not found"}, request=request),
        httpx.Response(200, json={"status": 404, "message": "Not found"}, request=request),
    ):
        assert adapter.error_for(response) is None
        assert adapter.parse_delete(response, ["gone"]).not_found == ("gone",)
    with pytest.raises(InvalidQueryError):
        adapter.build_delete(["a", "b"])


def test_builders_refuse_what_visualsnoop_cannot_do() -> None:
    adapter = make()
    with pytest.raises(UnsupportedCapabilityError) as info:
        adapter.build_search(SearchQuery(mode="url", url="https://x/a.jpg"), None)
    assert info.value.capability == Capability.SEARCH_BY_URL.value
    with pytest.raises(InvalidQueryError):
        adapter.build_index([PreparedRecord("a", None, "https://x/a.jpg")], upsert=False)
    two = [PreparedRecord(i, prepared(b"x"), None) for i in ("a", "b")]
    with pytest.raises(InvalidQueryError):
        adapter.build_index(two, upsert=False)


@pytest.fixture
def raw_client() -> Iterator[VisualSearch]:
    with VisualSearch(f"visualsnoop://{PUBLIC}:{SECRET}@?allow_http=true", environ={}) as client:
        yield client


def test_client_round_trip_over_respx(raw_client: VisualSearch) -> None:
    with respx.mock(base_url=BASE, assert_all_called=True) as mock:
        put = mock.put("image/a%20b").respond(
            200, json={"image_id": "a b", "message": "Updated", "status": 200}
        )
        search = mock.post("search").respond(json={"results": [{"id": "a b", "rank": 0}], "status": 200})
        report = raw_client.index([{"id": "a b", "image": jpeg()}], upsert=True)
        hits = raw_client.search(image=jpeg(), limit=1)
    assert report.succeeded == ("a b",) and hits.ids == ["a b"]
    sent = put.calls.last.request
    assert sent.headers["Authorization"].startswith(f"VSHMAC {PUBLIC}:") and "Date" in sent.headers
    assert "content-type" not in sent.headers
    assert Image.open(io.BytesIO(search.calls.last.request.content)).format == "JPEG"
