"""Cassette matchers: blind to host, signatures, nonces, timestamps and credentials; bodies by meaning;
multipart part by part. Each case is checked after scrubbing both sides, as vcrpy does."""

from __future__ import annotations

import json

import httpx
import pytest
from vcr.request import Request  # type: ignore[import-untyped]

from tests.conftest import jpeg, solid
from visualsearch_sdk.testing._matchers import MATCH_ON, MATCHERS
from visualsearch_sdk.testing._scrub import Scrubber


def req(uri: str, body: bytes | str | None = None, method: str = "POST", **headers: str) -> Request:
    return Request(method, uri, body, {k.replace("_", "-"): v for k, v in headers.items()})


def failures(r1: Request, r2: Request, images: str = "exact") -> list[str]:
    """The names (and messages) of the matchers that fail, with both sides scrubbed first."""
    scrubber = Scrubber(provider="alibaba")
    s1 = scrubber.before_record_request(r1)
    s2 = scrubber.before_record_request(r2)
    out = []
    for name in MATCH_ON[images]:  # type: ignore[index]
        try:
            MATCHERS[name](s1, s2)
        except AssertionError as exc:
            out.append(f"{name}: {exc}")
    return out


def test_scheme_host_and_port_are_never_compared() -> None:
    assert failures(req("http://127.0.0.1:50123/v2/insert"), req("https://api.ximilar.com/v2/insert")) == []


def test_paths_and_methods_are() -> None:
    assert failures(req("https://h/v2/insert"), req("https://h/v2/delete"))[0].startswith("vs_path")
    assert failures(req("https://h/x", method="GET"), req("https://h/x"))[0].startswith("vs_method")


def test_percent_encoding_of_the_path_does_not_matter() -> None:
    assert failures(req("https://h/image/caf%C3%A9"), req("https://h/image/café")) == []


def test_rpc_v2_volatile_and_credential_parameters_are_ignored() -> None:
    one = (
        "Action=AddImage&Timestamp=2024-01-01T00%3A00%3A00Z&SignatureNonce=a"
        "&AccessKeyId=LTAIaaaaaaaaaaaa&Signature=x%3D"
    )
    two = "Signature=y%3D&SignatureNonce=b&Action=AddImage&Timestamp=2025-06-01T10%3A00%3A00Z&SecurityToken=S"
    assert failures(req(f"https://h/?{one}"), req(f"http://127.0.0.1:1/?{two}")) == []


def test_other_query_differences_are_named() -> None:
    (failure,) = failures(req("https://h/search?limit=3&page=1"), req("https://h/search?limit=5&page=1"))
    assert failure.startswith("vs_query") and "limit" in failure


def test_the_operation_header_is_compared() -> None:
    one = req("https://h/", "a=1", x_acs_action="AddImage", content_type="application/x-www-form-urlencoded")
    two = req(
        "https://h/", "a=1", x_acs_action="DeleteImage", content_type="application/x-www-form-urlencoded"
    )
    (failure,) = failures(one, two)
    assert failure.startswith("vs_action")


def test_acs3_signing_headers_are_not_compared() -> None:
    common = {"x_acs_action": "SearchImageByPic", "content_type": "application/x-www-form-urlencoded"}
    one = req("https://h/", "Num=3", x_acs_date="2024-01-01T00:00:00Z", x_acs_signature_nonce="n1", **common)
    two = req("https://h/", "Num=3", x_acs_date="2026-01-01T00:00:00Z", x_acs_signature_nonce="n2", **common)
    assert failures(one, two) == []


def test_json_bodies_compare_by_meaning() -> None:
    one = req("https://h/", '{"k": 3, "query_record": {"_id": "1"}}', content_type="application/json")
    two = req(
        "https://h/", '{"query_record":{"_id":"1"},"k":3}', content_type="application/json;charset=UTF-8"
    )
    assert failures(one, two) == []
    three = req("https://h/", '{"query_record": {"_id": "2"}, "k": 3}', content_type="application/json")
    (failure,) = failures(one, three)
    assert failure.startswith("vs_body")


def test_form_bodies_compare_as_sorted_pairs_without_nonces() -> None:
    kind = {"content_type": "application/x-www-form-urlencoded"}
    one = req("https://h/", "b=2&a=1&SignatureNonce=x&AccessKeyId=LTAIaaaaaaaaaaaa", **kind)
    two = req("https://h/", "a=1&b=2&SignatureNonce=y", **kind)
    assert failures(one, two) == []
    assert failures(one, req("https://h/", "a=1&b=3", **kind))[0].startswith("vs_body")


def _multipart(image: bytes, limit: str = "5") -> Request:
    built = httpx.Request(
        "POST",
        "https://h/uploadsearch",
        files={"image": ("q.jpg", image, "image/jpeg")},
        data={"limit": limit},
    )
    return Request("POST", str(built.url), built.read(), dict(built.headers))


def test_multipart_bodies_compare_part_by_part_whatever_the_boundary() -> None:
    image = jpeg(solid((10, 200, 30)))
    one, two = _multipart(image), _multipart(image)
    assert one.headers["content-type"] != two.headers["content-type"]  # httpx picks a random boundary
    assert failures(one, two) == []


def test_a_different_image_part_is_named() -> None:
    (failure,) = failures(_multipart(jpeg(solid((10, 200, 30)))), _multipart(jpeg(solid((200, 10, 30)))))
    assert failure.startswith("vs_body") and "part 1 ('image')" in failure  # httpx puts fields first
    (failure,) = failures(_multipart(jpeg(solid((1, 2, 3)))), _multipart(jpeg(solid((1, 2, 3))), limit="9"))
    assert "part 0 ('limit')" in failure


def test_any_image_matches_any_image_when_asked() -> None:
    one = json.dumps({"query_record": {"_base64": _b64(jpeg(solid((1, 2, 3))))}})
    two = json.dumps({"query_record": {"_base64": _b64(jpeg(solid((250, 2, 3))))}})
    r1, r2 = (
        req("https://h/", one, content_type="application/json"),
        req("https://h/", two, content_type="application/json"),
    )
    assert failures(r1, r2, images="exact")
    assert failures(r1, r2, images="any") == []


def test_raw_bodies_compare_by_digest() -> None:
    same = jpeg(solid((5, 5, 5)))
    assert failures(req("https://h/search", same), req("https://h/search", same)) == []
    assert failures(req("https://h/search", same), req("https://h/search", jpeg(solid((9, 9, 9)))))


@pytest.mark.parametrize("empty", [None, b"", ""])
def test_no_body_equals_an_empty_body(empty: bytes | str | None) -> None:
    assert (
        failures(req("https://h/count", None, method="GET"), req("https://h/count", empty, method="GET"))
        == []
    )


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()
