"""Alibaba adapter: every signature vector reproduced step by step, exact request shapes, payload parsing.

Each vector is rebuilt from its own inputs (keys, pinned timestamp and nonce, the captured request): the
payload hash, canonical request, string to sign and signature of ACS3; the string to sign and signature of
RPC V2 (both the Tea and the classic core variants); and, through our ``httpx.Auth`` classes, the same
``Authorization`` header or query ``Signature``. The ROA vectors (API 2019-03-25) are skipped: we do not
implement that API.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import respx
from PIL import Image
from pydantic import SecretStr

from visualsearch_sdk import (
    APIResponseError,
    AuthenticationError,
    ConfigurationError,
    F,
    InvalidQueryError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    ServerError,
    UnsupportedCapabilityError,
    VisualSearch,
)
from visualsearch_sdk._config import ClientOptions, parse_provider_url
from visualsearch_sdk._registry import get_adapter
from visualsearch_sdk._retry import RetryPolicy
from visualsearch_sdk.models import SearchQuery
from visualsearch_sdk.preprocess import PreparedImage
from visualsearch_sdk.providers._alibaba_auth import (
    AlibabaAcs3Auth,
    AlibabaCredentials,
    AlibabaRpcV2Auth,
    acs3_canonical_request,
    acs3_signature,
    acs3_string_to_sign,
    canonical_headers,
    canonical_query,
    hashed_payload,
    rpc_signature,
    rpc_string_to_sign,
)
from visualsearch_sdk.providers._alibaba_metadata import region_box, region_param
from visualsearch_sdk.providers._base import PreparedRecord
from visualsearch_sdk.providers.alibaba import QPS_HEADROOM, AlibabaAdapter, AlibabaOptions

Vectors = dict[str, dict[str, Any]]
ENDPOINT = "https://imagesearch.cn-shanghai.aliyuncs.com/"
PINNED = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
VECTOR_NONCE = "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"
VECTOR_CREDS = AlibabaCredentials(access_key_id="testid", access_key_secret=SecretStr("testsecret"))
ACS3_VECTORS = {
    "acs3_search_image_by_pic",
    "acs3_add_image_unicode_custom_content",
    "acs3_search_image_by_name",
    "acs3_delete_image",
    "acs3_delete_image_by_filter",
    "acs3_update_image_query_and_body",
    "acs3_check_image_exists",
    "acs3_detail_query_only",
    "acs3_search_image_by_filter",
}
TEA_V2_VECTORS = {
    "teav2_search_image_by_pic",
    "teav2_add_image_unicode_custom_content",
    "teav2_detail_query_only",
}
CORE_RPC_VECTORS = {"corerpc_search_image_by_pic", "corerpc_add_image_unicode_custom_content"}
ADVANCE_FLOW = {"acs3_search_image_by_pic_advance_flow"}  # hops 1 and 3 are ACS3-signed: reproduced
ROA_SKIPPED = {  # API 2019-03-25 (ROA signature): not implemented, so not reproduced
    "roa_2019_search_by_pic",
    "roa_2019_search_by_name",
    "roa_2019_add_image_unicode_custom_content",
    "roa_2019_delete_image",
}
# Our own requests differ from the official SDK's on purpose in two ways, both covered below:
# booleans are sent as "true"/"false" (the Tea SDK sends Python's "True"), and ACS3 signs only host,
# content-type and x-acs-* (the SDK also signs user-agent, so a proxy rewriting it breaks the signature).


@pytest.fixture(scope="module")
def vectors(reference_vectors: Callable[[str], list[dict[str, Any]]]) -> Vectors:
    return {v["name"]: v for v in reference_vectors("alibaba_signatures.json")}


def pinned_acs3(origin: str, *, extra: tuple[str, ...] = ("accept", "user-agent")) -> AlibabaAcs3Auth:
    """ACS3 with the vectors' clock and nonce, signing what the official SDK signs."""
    return AlibabaAcs3Auth(
        VECTOR_CREDS, origin=origin, clock=lambda: PINNED, nonce=lambda: VECTOR_NONCE, sign_headers=extra
    )


def captured(request: dict[str, Any]) -> httpx.Request:
    """The vector's request as we would hand it to the signer: its headers without the signing ones."""
    volatile = {
        "authorization",
        "content-length",
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-content-sha256",
    }
    headers = {k: v for k, v in request["headers"].items() if k.lower() not in volatile}
    body = request["body"]["text"].encode() if request.get("body") else b""
    return httpx.Request(request["method"], request["url"], headers=headers, content=body)


def make(**kwargs: Any) -> AlibabaAdapter:
    defaults: dict[str, Any] = {"region": "cn-shanghai", "instance": "demoinstance1"}
    return AlibabaAdapter(VECTOR_CREDS, **{**defaults, **kwargs})


def form(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode(), keep_blank_values=True))


def prepared(size: tuple[int, int] = (200, 100), **geometry: Any) -> PreparedImage:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(buffer, "JPEG")
    return PreparedImage(data=buffer.getvalue(), format="JPEG", size=size, original_size=size, **geometry)


# -- golden vectors ---------------------------------------------------------------------------------------


def test_every_vector_is_accounted_for(vectors: Vectors) -> None:
    sets = (ACS3_VECTORS, TEA_V2_VECTORS, CORE_RPC_VECTORS, ADVANCE_FLOW, ROA_SKIPPED)
    assert set(vectors) == set().union(*sets)
    assert sum(map(len, sets)) == len(vectors) == 19


@pytest.mark.parametrize("name", sorted(ACS3_VECTORS))
def test_acs3_vector_step_by_step(vectors: Vectors, name: str) -> None:
    """Payload hash, canonical request, string to sign and signature, each from the vector's own request."""
    expected = vectors[name]["expected"]
    request = expected["request"]
    body = request["body"]["text"].encode() if request["body"] else b""
    assert hashed_payload(body) == expected["hashed_payload"]
    names = expected["signed_headers"].split(";")
    text, signed = canonical_headers(request["headers"], names)
    assert signed == expected["signed_headers"]
    url = httpx.URL(request["url"])
    canonical = acs3_canonical_request(
        "POST", url.path, canonical_query(url.params.multi_items()), text, signed, hashed_payload(body)
    )
    assert canonical == expected["canonical_request"]
    assert acs3_string_to_sign(canonical) == expected["string_to_sign"]
    assert acs3_signature("testsecret", expected["string_to_sign"]) == expected["signature"]


@pytest.mark.parametrize("name", sorted(ACS3_VECTORS))
def test_acs3_vector_through_the_auth_class(vectors: Vectors, name: str) -> None:
    request = vectors[name]["expected"]["request"]
    signed = next(pinned_acs3(ENDPOINT).sync_auth_flow(captured(request)))
    assert signed.headers["authorization"] == vectors[name]["expected"]["authorization"]
    for header in ("x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"):
        assert signed.headers[header] == request["headers"][header]


@pytest.mark.parametrize("name", sorted(TEA_V2_VECTORS))
def test_tea_rpc_v2_vector(vectors: Vectors, name: str) -> None:
    expected = vectors[name]["expected"]
    to_sign = rpc_string_to_sign("POST", expected["signed_params"].items())
    assert to_sign == expected["string_to_sign"]
    assert expected["hmac_key"] == "testsecret&"
    assert rpc_signature("testsecret", to_sign) == expected["signature"]
    # Through the Auth class: strip the common parameters from the vector's URL and sign again.
    request = captured(expected["request"])
    url = httpx.URL(expected["request"]["url"])
    api = [(k, v) for k, v in url.params.multi_items() if k == "ScoreThreshold" or k == "InstanceName"]
    request.url = url.copy_with(params=api)
    auth = AlibabaRpcV2Auth(
        VECTOR_CREDS, origin=ENDPOINT, clock=lambda: PINNED, nonce=lambda: VECTOR_NONCE, format="json"
    )
    signed = next(auth.sync_auth_flow(request))
    assert sorted(signed.url.params.multi_items()) == sorted(url.params.multi_items())
    assert signed.url.params["Signature"] == expected["signature"]


@pytest.mark.parametrize("name", sorted(CORE_RPC_VECTORS))
def test_classic_core_rpc_vector(vectors: Vectors, name: str) -> None:
    """The classic core adds RegionId and an empty SignatureType and sends Format=JSON: same recipe."""
    expected = vectors[name]["expected"]
    assert expected["signed_params"]["SignatureType"] == ""
    to_sign = rpc_string_to_sign("POST", expected["signed_params"].items())
    assert to_sign == expected["string_to_sign"]
    assert rpc_signature("testsecret", to_sign) == expected["signature"]
    assert httpx.URL(expected["request"]["url"]).params["Signature"] == expected["signature"]


def test_advance_flow_signed_hops(vectors: Vectors) -> None:
    """Hops 1 (AuthorizeFileUpload, a GET) and 3 (the search) are ACS3: reproduced. Hop 2 is an unsigned
    OSS form upload, which we never make (we always send base64 PicContent)."""
    hops = vectors["acs3_search_image_by_pic_advance_flow"]["expected"]["requests"]
    for hop in (hops[0], hops[2]):
        signed = next(pinned_acs3(hop["url"]).sync_auth_flow(captured(hop)))
        assert signed.headers["authorization"] == hop["headers"]["Authorization"]
    assert "Authorization" not in hops[1]["headers"]


@pytest.mark.parametrize(
    ("name", "build"),
    [
        ("acs3_delete_image", lambda a: a.build_delete(["2092061_1"])),
        ("acs3_check_image_exists", lambda a: a.build_get("2092061_1")),
        ("acs3_detail_query_only", lambda a: a.build_count()),
    ],
)
def test_our_requests_reproduce_the_vector_byte_for_byte(
    vectors: Vectors, name: str, build: Callable[[AlibabaAdapter], httpx.Request]
) -> None:
    """Built by the adapter, signed with the vector's pins (and its extra signed headers): identical."""
    request = build(make(pic_name="{id}.jpg"))
    expected = vectors[name]["expected"]["request"]
    assert str(request.url) == expected["url"]
    assert request.content == (expected["body"]["text"].encode() if expected["body"] else b"")
    request.headers["user-agent"] = expected["headers"]["user-agent"]
    request.headers["x-acs-credentials-provider"] = "static_ak"
    signed = next(pinned_acs3(ENDPOINT).sync_auth_flow(request))
    assert signed.headers["authorization"] == vectors[name]["expected"]["authorization"]


def test_filter_and_region_strings_match_the_vectors(vectors: Vectors) -> None:
    by_pic = form(captured(vectors["acs3_search_image_by_pic"]["expected"]["request"]))
    by_name = form(captured(vectors["acs3_search_image_by_name"]["expected"]["request"]))
    adapter = make(attributes={"price": "IntAttr", "n": "IntAttr2", "brand": "StrAttr"})
    image = prepared((600, 400), box=(280, 232, 486, 351))
    pic = form(
        adapter.build_search(
            SearchQuery(mode="image", filter=(F("price") >= 100) & (F("brand") != "value 1")), image
        )
    )
    assert (pic["Filter"], pic["Region"]) == (by_pic["Filter"], by_pic["Region"])
    name = form(
        adapter.build_search(
            SearchQuery(mode="id", id="x", filter=(F("brand") == "red dress") | (F("n") < 5)), None
        )
    )
    assert name["Filter"] == by_name["Filter"]
    assert by_pic["Crop"] == "True"  # the Tea SDK's Python str(); we send lowercase (VENDORS §4.3)
    crop = form(make(crop=True).build_search(SearchQuery(mode="image"), image))
    assert crop["Crop"] == "true" and crop["DistinctProductId"] == "true"


def test_acs3_signs_only_the_protocol_headers_by_default() -> None:
    """Unlike the SDK, a proxy rewriting User-Agent cannot break our signature (VENDORS §5)."""
    request = make().build_count()
    request.headers["user-agent"] = "anything/1.0"
    signed = next(make().auth().sync_auth_flow(request))
    signed_headers = signed.headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert "user-agent" not in signed_headers and "accept" not in signed_headers
    assert {"host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce"} <= set(
        signed_headers
    )


def test_each_signing_gets_a_fresh_nonce_and_date() -> None:
    ticks = iter([PINNED, PINNED + dt.timedelta(seconds=1)])
    nonces = iter(["n-1", "n-2"])
    adapter = make(clock=lambda: next(ticks), nonce=lambda: next(nonces))
    auth = adapter.auth()
    first = next(auth.sync_auth_flow(make().build_count()))
    second = next(auth.sync_auth_flow(make().build_count()))
    assert (first.headers["x-acs-signature-nonce"], second.headers["x-acs-signature-nonce"]) == ("n-1", "n-2")
    assert first.headers["x-acs-date"] != second.headers["x-acs-date"]
    assert first.headers["authorization"] != second.headers["authorization"]


def test_sts_token_is_sent_and_signed() -> None:
    creds = AlibabaCredentials(
        access_key_id="id", access_key_secret=SecretStr("s"), security_token=SecretStr("tok")
    )
    acs3 = next(AlibabaAcs3Auth(creds, origin=ENDPOINT).sync_auth_flow(make().build_count()))
    assert acs3.headers["x-acs-security-token"] == "tok"
    assert "x-acs-security-token" in acs3.headers["authorization"]
    rpc = next(AlibabaRpcV2Auth(creds, origin=ENDPOINT).sync_auth_flow(make().build_count()))
    assert rpc.url.params["SecurityToken"] == "tok"


def test_signer_refuses_another_origin_and_a_caller_authorization() -> None:
    auth = make().auth()
    with pytest.raises(ConfigurationError, match="refusing to sign"):
        next(auth.sync_auth_flow(httpx.Request("POST", "https://evil.example.com/")))
    request = make().build_count()
    request.headers["Authorization"] = "Bearer mine"
    with pytest.raises(ConfigurationError, match="Authorization"):
        next(auth.sync_auth_flow(request))


def test_rpc_v2_resigning_replaces_stale_common_parameters() -> None:
    nonces = iter(["a", "b"])
    adapter = make(signature="HMAC-SHA1", nonce=lambda: next(nonces))
    once = next(adapter.auth().sync_auth_flow(adapter.build_count()))
    first = once.url.params["Signature"]
    twice = next(adapter.auth().sync_auth_flow(once))  # the same request, signed again in place
    assert twice.url.params.get_list("SignatureNonce") == ["b"]
    assert twice.url.params.get_list("Signature") != [first]
    assert twice.url.params["InstanceName"] == "demoinstance1"


# -- request shapes ---------------------------------------------------------------------------------------


def test_search_by_image_request() -> None:
    adapter = make(attributes={"price": "IntAttr"}, int_scales={"price": 100}, category_id=0)
    image = prepared((400, 300), box=(10, 20, 110, 220))
    query = SearchQuery(mode="image", limit=7, offset=14, filter=F("price") < 9.99, min_score=0.8)
    request = adapter.build_search(query, image)
    assert request.headers["x-acs-action"] == "SearchImageByPic"
    assert request.url.params["ScoreThreshold"] == "0.8"  # the SDK puts it in the query (VENDORS §4.3)
    body = form(request)
    assert base64.b64decode(body.pop("PicContent")) == image.data
    assert body == {
        "CategoryId": "0",
        "DistinctProductId": "true",
        "Filter": "IntAttr<999",
        "InstanceName": "demoinstance1",
        "Num": "7",
        "Region": "10,110,20,220",
        "Start": "14",
    }
    assert request.content.decode().split("&")[0].startswith("CategoryId=")  # keys sorted, as the SDK


@pytest.mark.parametrize(
    ("offset", "limit", "start", "num"),
    [
        (0, 5, "0", "6"),
        (10, 20, "0", "31"),
        (0, 100, "0", "100"),
        (200, 50, "200", "51"),
        (450, 50, "450", "50"),
    ],
)
def test_search_by_id_asks_one_more(offset: int, limit: int, start: str, num: str) -> None:
    request = make().build_search(SearchQuery(mode="id", id="p1", offset=offset, limit=limit), None)
    body = form(request)
    assert request.headers["x-acs-action"] == "SearchImageByName"
    assert (body["Start"], body["Num"], body["ProductId"], body["PicName"]) == (start, num, "p1", "p1")


def _auction(pid: str, score: float, content: str = "") -> dict[str, Any]:
    return {
        "ProductId": pid,
        "PicName": pid,
        "CategoryId": 88888888,
        "Score": score,
        "CustomContent": content,
    }


def answer(request: httpx.Request, body: Any, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, request=request, headers=headers)


def test_parse_search_by_id_drops_the_query_and_slices() -> None:
    adapter = make()
    query = SearchQuery(mode="id", id="q", offset=2, limit=2)
    request = adapter.build_search(query, None)
    auctions = [_auction("q", 1.0)] + [_auction(f"p{i}", 0.9 - i / 10) for i in range(5)]
    result = adapter.parse_search(
        answer(request, {"Msg": "success", "Auctions": auctions, "RequestId": "R"}), query
    )
    assert result.ids == ["p2", "p3"]
    assert result.request_id == "R" and result.total is None


def test_parse_search_metadata_scores_and_regions() -> None:
    adapter = make(attributes={"price": "IntAttr", "brand": "StrAttr"}, int_scales={"price": 100})
    image = prepared((200, 100), scale=(0.5, 0.5), box=(5, 10, 50, 60))
    image = PreparedImage(image.data, "JPEG", (200, 100), (400, 200), (5, 10, 50, 60), (0.5, 0.5))
    query = SearchQuery(mode="image", fields=("price",), min_score=0.5)
    request = adapter.build_search(query, image)
    items = [
        _auction("a", 0.97, json.dumps({"price": 12.5, "brand": "Z"})),
        {**_auction("b", 0.6, "legacy k1:v1"), "IntAttr": 1999, "StrAttr": "Y"},
        _auction("c", 0.4),  # under min_score: dropped even if the server kept it
    ]
    body = {
        "Msg": "success",
        "Auctions": items,
        "PicInfo": {
            "Region": "5,50,10,60",
            "MultiRegion": [{"Region": "5,50,10,60"}, {"Region": "100,200,0,100"}],
        },
    }
    result = adapter.parse_search(answer(request, body), query)
    assert [(h.id, h.score, h.metadata) for h in result.hits] == [
        ("a", 0.97, {"price": 12.5}),
        ("b", 0.6, {"price": 19.99}),
    ]
    assert result.query_box == (10, 20, 100, 120)  # x1,x2,y1,y2 in uploaded px -> x1,y1,x2,y2 original
    assert result.regions == ((10, 20, 100, 120), (200, 0, 400, 200))


def test_region_strings_round_trip() -> None:
    box = (12, 34, 560, 780)
    assert region_param(box) == "12,560,34,780"
    assert region_box(region_param(box)) == box
    with pytest.raises(ValueError, match="x1,x2,y1,y2"):
        region_box("1,2,3")


def test_parse_search_without_score_is_a_shape_error() -> None:
    adapter = make()
    query = SearchQuery(mode="image")
    request = adapter.build_search(query, prepared())
    with pytest.raises(APIResponseError, match="Score"):
        adapter.parse_search(
            answer(request, {"Auctions": [{"ProductId": "a", "SortExprValues": "1;0"}]}), query
        )


def test_add_image_request_and_per_record_metadata_errors() -> None:
    adapter = make(attributes={"price": "IntAttr", "brand": "StrAttr", "sale": "IntAttr2"})
    image = prepared()
    record = PreparedRecord("r1", image, None, {"price": 19, "brand": "Été", "sale": True, "note": "x"})
    body = form(adapter.build_index([record], upsert=False))
    assert body["IntAttr"] == "19" and body["StrAttr"] == "Été" and body["IntAttr2"] == "1"
    assert json.loads(body["CustomContent"]) == {"price": 19, "brand": "Été", "sale": True, "note": "x"}
    assert (body["ProductId"], body["PicName"]) == ("r1", "r1")
    for bad, why in (
        ({"price": 19.5}, "integers"),
        ({"brand": 3}, "strings"),
        ({"price": 2**40}, "32-bit"),
        ({"big": "x" * 5000}, "4096"),
    ):
        with pytest.raises(InvalidQueryError, match=why) as info:
            adapter.build_index([PreparedRecord("r2", image, None, bad)], upsert=False)
        assert "'r2'" in str(info.value)
    strict = make(attributes={"price": "IntAttr"}, custom_content=False)
    with pytest.raises(InvalidQueryError, match="fits no declared slot"):
        strict.build_index([PreparedRecord("r3", image, None, {"colour": "red"})], upsert=False)
    assert "CustomContent" not in form(
        strict.build_index([PreparedRecord("r4", image, None, {"price": 1})], upsert=False)
    )


def test_update_image_request_places_slots_as_the_sdk() -> None:
    adapter = make(attributes={"a": "IntAttr", "b": "IntAttr3", "c": "StrAttr2", "d": "StrAttr4"})
    request = adapter.build_update("p", {"a": 7, "b": 3, "d": "q v"})
    assert dict(request.url.params) == {"IntAttr3": "3", "StrAttr4": "q v"}
    body = form(request)
    assert body["IntAttr"] == "7" and body["StrAttr2"] == ""  # c is absent: its slot is emptied
    assert json.loads(body["CustomContent"]) == {"a": 7, "b": 3, "d": "q v"}
    record = adapter.parse_update(answer(request, {"Message": "success", "Code": 0, "Success": True}), "p")
    assert record.metadata == {"a": 7, "b": 3, "d": "q v"}


def test_get_delete_count_parsing() -> None:
    adapter = make(pic_name="{id}.jpg")
    get = adapter.build_get("p")
    auction = {**_auction("p", 0.0, '{"k": 1}')}
    assert adapter.parse_get(
        answer(get, {"Exists": True, "Auctions": auction, "Msg": "success"})
    ).metadata == {"k": 1}
    assert adapter.parse_get(answer(get, {"Exists": True, "Auctions": [auction]})).metadata == {"k": 1}
    with pytest.raises(NotFoundError) as info:
        adapter.parse_get(answer(get, {"Exists": False, "Msg": "success"}))
    assert info.value.status_code == 404
    delete = adapter.build_delete(["p"])
    assert adapter.parse_delete(answer(delete, {"Data": {"PicNames": ["p.jpg"]}}), ["p"]).deleted == ("p",)
    assert adapter.parse_delete(answer(delete, {"Data": {"PicNames": []}}), ["p"]).not_found == ("p",)
    assert adapter.parse_delete(answer(delete, {"Message": "success"}), ["p"]).deleted == ("p",)
    count = adapter.build_count()
    assert count.content == b"" and dict(count.url.params) == {"InstanceName": "demoinstance1"}
    assert adapter.parse_count(answer(count, {"Instance": {"TotalCount": 42}})) == 42
    with pytest.raises(APIResponseError):
        adapter.parse_count(answer(count, {"Instance": {}}))


def test_absent_capabilities_are_refused_before_any_io() -> None:
    def no_network(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request may be sent")

    with VisualSearch(
        "alibaba://id:secret@cn-shanghai/inst", transport=httpx.MockTransport(no_network)
    ) as vs:
        for call in (
            lambda: vs.search(url="https://example.com/a.jpg"),
            lambda: vs.search(color="#ff0000"),
            lambda: list(vs.iter_records()),
            lambda: vs.search(image=prepared().data, filter=F("undeclared") == 1),
        ):
            with pytest.raises(UnsupportedCapabilityError):
                call()
        report = vs.index([{"id": "x", "url": "https://example.com/a.jpg"}])
        assert isinstance(report.failed[0].error, UnsupportedCapabilityError)


# -- errors -----------------------------------------------------------------------------------------------


def _error_response(status: int, code: str, **headers: str) -> httpx.Response:
    request = make().build_count()
    body = {
        "RequestId": "RID-1",
        "HostId": "h",
        "Code": code,
        "Message": f"{code} happened",
        "Recommend": "u",
    }
    return answer(request, body, status, **headers)


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (403, "DeniedRequest", RateLimitError),
        (400, "Throttling.User", RateLimitError),
        (503, "Throttling", RateLimitError),
        (400, "SignatureDoesNotMatch", AuthenticationError),
        (404, "InvalidAccessKeyId.NotFound", AuthenticationError),
        (400, "InvalidTimeStamp.Expired", AuthenticationError),
        (400, "SignatureNonceUsed", AuthenticationError),
        (403, "NoPermission", AuthenticationError),
        (400, "InvalidFilterClause", InvalidRequestError),
        (400, "IncorrectOrientation", InvalidRequestError),
        (400, "OverflowMaxResultNum", InvalidRequestError),
        (404, "ImageNotExist", NotFoundError),
        (500, "UnsupportedOperationType", InvalidRequestError),
        (500, "AccessEngineFailed", ServerError),
        (500, "UnknownException", ServerError),
    ],
)
def test_error_codes_map_onto_the_tree(status: int, code: str, cls: type[Exception]) -> None:
    error = make().error_for(_error_response(status, code))
    assert type(error) is cls
    assert error is not None and error.provider_code == code and error.request_id == "RID-1"
    assert error.status_code == status and code in error.message


def test_retry_after_headers() -> None:
    error = make().error_for(_error_response(403, "DeniedRequest", **{"x-acs-retry-after": "1500"}))
    assert error is not None and error.retry_after == 1.5  # milliseconds
    error = make().error_for(_error_response(429, "Throttling", **{"retry-after": "2"}))
    assert error is not None and error.retry_after == 2.0


def test_errors_inside_2xx_and_non_json_bodies() -> None:
    request = make().build_count()
    inside = make().error_for(answer(request, {"Success": False, "Code": "InvalidIntAttr", "Message": "bad"}))
    assert isinstance(inside, InvalidRequestError) and inside.provider_code == "InvalidIntAttr"
    assert make().error_for(answer(request, {"Success": True, "Code": 0, "Msg": "success"})) is None
    html = httpx.Response(502, text="<html>bad gateway</html>", request=request)
    assert isinstance(make().error_for(html), ServerError)
    ok_html = httpx.Response(200, text="<html>portal</html>", request=request)
    assert make().error_for(ok_html) is None
    with pytest.raises(APIResponseError):
        make().parse_count(ok_html)


# -- configuration ----------------------------------------------------------------------------------------


def build(url: str, environ: dict[str, str] | None = None, **kwargs: Any) -> AlibabaAdapter:
    adapter = get_adapter("alibaba").from_url(
        parse_provider_url(url),
        options=kwargs.pop("options", None),
        environ=environ or {},
        client_options=ClientOptions(**kwargs),
    )
    assert isinstance(adapter, AlibabaAdapter)
    return adapter


def test_url_form_and_options() -> None:
    adapter = build(
        "alibaba://AKID:S%2Fecret@cn-hangzhou/shop1?qps=5&signature=v2&attributes=price:IntAttr,b:StrAttr&int_scales=price:100&pic_name={id}.jpg&category_id=0"
    )
    assert str(adapter.base_url) == "https://imagesearch.cn-hangzhou.aliyuncs.com/"
    assert adapter.credentials.access_key_secret.get_secret_value() == "S/ecret"
    assert (adapter.instance, adapter.qps, adapter.signature) == ("shop1", 5.0, "HMAC-SHA1")
    assert adapter.default_max_qps == pytest.approx(5.0 * QPS_HEADROOM)
    assert adapter.attributes == {"price": "IntAttr", "b": "StrAttr"} and adapter.int_scales == {"price": 100}
    assert adapter.pic_name("p") == "p.jpg" and adapter.category_id == 0
    assert isinstance(adapter.auth(), AlibabaRpcV2Auth)
    env = {
        "VISUALSEARCH_ALIBABA_ACCESS_KEY_ID": "E",
        "VISUALSEARCH_ALIBABA_ACCESS_KEY_SECRET": "ES",
        "VISUALSEARCH_ALIBABA_REGION": "ap-southeast-1",
        "VISUALSEARCH_ALIBABA_INSTANCE": "envinst",
        "VISUALSEARCH_ALIBABA_QPS": "10",
    }
    from_env = build("alibaba://", env)
    assert (
        from_env.credentials.access_key_id,
        from_env.region,
        from_env.instance,
        from_env.qps,
    ) == ("E", "ap-southeast-1", "envinst", 10.0)
    assert isinstance(from_env.auth(), AlibabaAcs3Auth)
    opts = AlibabaOptions(qps=1, attributes={"x": "StrAttr4"}, custom_content=False, filter_parentheses=False)
    given = build("alibaba://a:b@cn-beijing/i", options=opts)
    assert (given.qps, given.attributes, given.custom_content, given.filter_parentheses) == (
        1,
        {"x": "StrAttr4"},
        False,
        False,
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("alibaba://cn-shanghai/inst", "AccessKey"),
        ("alibaba://a:b@cn-shanghai/", "instance"),
        ("alibaba://a:b@cn-shanghai/this-name-is-far-too-long", "20 characters"),
        ("alibaba://a:b@Not_A_Region/inst", "region"),
        ("alibaba://a:b@cn-shanghai/inst?base_url=http://example.com", "plain http"),
        ("alibaba://a:b@cn-shanghai/inst?attributes=price:Nope", "FIELD:SLOT"),
        ("alibaba://a:b@cn-shanghai/inst?attributes=a:IntAttr,b:IntAttr", "both map"),
        ("alibaba://a:b@cn-shanghai/inst?qps=0", "positive"),
        ("alibaba://a:b@cn-shanghai/inst?signature=md5", "signature"),
    ],
)
def test_configuration_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        build(url)
    with pytest.raises(ConfigurationError, match="positive"):
        build("alibaba://a:b@cn-shanghai/inst", {"VISUALSEARCH_ALIBABA_QPS": "-1"})


def test_loopback_base_url_and_client_pace() -> None:
    adapter = build("alibaba://a:b@cn-shanghai/inst?base_url=http://127.0.0.1:9")
    assert str(adapter.base_url) == "http://127.0.0.1:9"
    with VisualSearch("alibaba://a:b@cn-shanghai/inst?qps=5") as vs:  # the purchased QPS, with headroom
        assert vs._bucket is not None and vs._bucket.rate == pytest.approx(4.5)
    with VisualSearch("alibaba://a:b@cn-shanghai/inst?qps=5", max_qps=50) as vs:
        assert vs._bucket is not None and vs._bucket.rate == 50.0
    with VisualSearch("alibaba://a:b@cn-shanghai/inst") as vs:
        assert vs._bucket is None


def test_secrets_stay_out_of_reprs_and_errors() -> None:
    with VisualSearch("alibaba://AKID:TOPSECRET@cn-shanghai/inst") as vs:
        adapter = vs.adapter
        assert isinstance(adapter, AlibabaAdapter)
        assert (
            "TOPSECRET"
            not in repr(vs) + repr(adapter.credentials) + repr(adapter.auth()) + adapter.describe()
        )
    request = make(signature="HMAC-SHA1").build_count()
    signed = next(make(signature="HMAC-SHA1").auth().sync_auth_flow(request))
    error = make().error_for(
        httpx.Response(400, json={"Code": "SignatureDoesNotMatch", "Message": "m"}, request=signed)
    )
    assert error is not None and "Signature=" not in str(error) and "testid" not in str(error)


def test_full_client_over_respx() -> None:
    base = "https://imagesearch.cn-shanghai.aliyuncs.com"
    with respx.mock(base_url=base, assert_all_called=True) as mock:
        route = mock.post("/").mock(
            side_effect=[
                httpx.Response(503, json={"Code": "ServiceUnavailable", "Message": "busy", "RequestId": "1"}),
                httpx.Response(
                    200,
                    json={
                        "RequestId": "2",
                        "Success": True,
                        "Code": 0,
                        "Msg": "success",
                        "Instance": {"TotalCount": 3},
                    },
                ),
            ]
        )
        retry = RetryPolicy(max_retries=2, initial_backoff=0, max_backoff=0)
        with VisualSearch("alibaba://id:secret@cn-shanghai/inst", retry=retry) as vs:
            assert vs.count() == 3
        nonces = [c.request.headers["x-acs-signature-nonce"] for c in route.calls]
        assert len(nonces) == 2 and len(set(nonces)) == 2
