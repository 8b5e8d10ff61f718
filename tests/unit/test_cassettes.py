"""The cassette scrubber: every credential of every provider out, image bytes to their SHA-256, loopback
origins rewritten; on requests and on responses that echo them (VENDORS §1.2, §2.2, §3.2, §4.2)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from vcr.request import Request  # type: ignore[import-untyped]

from tests.conftest import jpeg, solid
from visualsearch_sdk.testing import PROVIDER_RULES
from visualsearch_sdk.testing._scrub import PLACEHOLDER, Scrubber

IMAGE = jpeg(solid((200, 30, 40)))
DIGEST = "sha256:" + hashlib.sha256(IMAGE).hexdigest()
B64 = base64.b64encode(IMAGE).decode()
HEX_SIG = "9f" * 32


def scrub(
    method: str = "POST",
    uri: str = "https://api.example.test/x",
    body: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    **options: Any,
) -> tuple[Request, Scrubber]:
    scrubber = Scrubber(**options)
    request = scrubber.before_record_request(Request(method, uri, body, dict(headers or {})))
    return request, scrubber


def text(request: Request) -> str:
    body = request.body or b""
    return f"{request.uri}\n{dict(request.headers)}\n{body.decode() if isinstance(body, bytes) else body}"


def test_the_table_covers_every_vendor_and_the_local_engine() -> None:
    assert {"local", "ximilar", "visearch", "visualsnoop", "alibaba"} <= set(PROVIDER_RULES)


AUTHORIZATIONS = {
    "visearch basic": ("Basic " + base64.b64encode(b"ak-visearch-1:sk-visearch-2").decode(), "Basic"),
    "ximilar token": ("Token xim-token-0123456789", "Token"),
    "ximilar jwt": ("JWT " + "j" * 80, "JWT"),
    "local bearer": ("Bearer local-bearer-token", "Bearer"),
    "visualsnoop vshmac": ("VSHMAC pub-key-77:c2lnbmF0dXJlLW9mLWEtdmVyeS1sb25n", "VSHMAC"),
    "alibaba acs3": (
        f"ACS3-HMAC-SHA256 Credential=LTAI5tAbCdEfGh1234,SignedHeaders=host;x-acs-action,Signature={HEX_SIG}",
        "ACS3-HMAC-SHA256",
    ),
    "alibaba roa": ("acs LTAI5tAbCdEfGh1234:c2lnbmF0dXJlLW9mLWEtdmVyeQ==", "acs"),
}


@pytest.mark.parametrize("name", list(AUTHORIZATIONS))
@pytest.mark.parametrize("header", ["Authorization", "authorization", "AUTHORIZATION"])
def test_authorization_keeps_only_its_scheme(name: str, header: str) -> None:
    value, scheme = AUTHORIZATIONS[name]
    request, _ = scrub(headers={header: value})
    assert request.headers[header] == f"{scheme} {PLACEHOLDER}"
    secret = value.split(" ", 1)[1]
    assert secret not in text(request)


def test_basic_credentials_are_learned_and_swept_from_the_response() -> None:
    value = "Basic " + base64.b64encode(b"ak-visearch-1:sk-visearch-2").decode()
    _, scrubber = scrub(headers={"Authorization": value})
    body = json.dumps({"echo": "ak-visearch-1", "again": "sk-visearch-2"}).encode()
    response = scrubber.before_record_response(
        {"status": {"code": 200}, "headers": {"content-type": ["application/json"]}, "body": {"string": body}}
    )
    assert b"ak-visearch-1" not in response["body"]["string"]
    assert b"sk-visearch-2" not in response["body"]["string"]


@pytest.mark.parametrize(
    "header",
    ["x-acs-security-token", "X-Acs-Accesskey-Id", "x-oss-security-token", "Cookie", "x-api-key"],
)
def test_credential_headers_are_redacted(header: str) -> None:
    request, _ = scrub(headers={header: "STS.secret-value-123456"})
    assert request.headers[header] == PLACEHOLDER


def test_signing_leftovers_that_are_not_secrets_stay() -> None:
    headers = {
        "x-acs-action": "AddImage",
        "x-acs-signature-nonce": "n-1",
        "x-acs-date": "2024-01-01T00:00:00Z",
    }
    request, _ = scrub(headers=headers)
    assert dict(request.headers) == headers


def test_rpc_v2_query_credentials_are_redacted_and_the_rest_kept_byte_for_byte() -> None:
    query = (
        "Action=AddImage&Timestamp=2024-01-01T00%3A00%3A00Z&SignatureNonce=abc&SignatureMethod=HMAC-SHA1"
        "&AccessKeyId=LTAI5tAbCdEfGh1234&SecurityToken=STS.tok-123456&Signature=Zm9vYmFy%2BYmF6%3D"
    )
    request, _ = scrub(uri=f"https://imagesearch.cn-shanghai.aliyuncs.com/?{query}")
    assert "AccessKeyId=REDACTED" in request.uri
    assert "SecurityToken=REDACTED" in request.uri
    assert "Signature=REDACTED" in request.uri
    assert "Timestamp=2024-01-01T00%3A00%3A00Z&SignatureNonce=abc&SignatureMethod=HMAC-SHA1" in request.uri
    assert "LTAI5t" not in request.uri


@pytest.mark.parametrize("name", ["access_key", "ACCESS_KEY", "app_key", "accesskeyid", "token"])
def test_query_credential_names_are_case_insensitive(name: str) -> None:
    request, _ = scrub(method="GET", uri=f"https://visearch.visenze.com/search?im_name=a&{name}=k-123456789")
    assert f"{name}=REDACTED" in request.uri
    assert "k-123456789" not in request.uri


@pytest.mark.parametrize("name", ["page_token", "nextToken", "cursor_token"])
def test_a_paging_cursor_named_like_a_token_is_kept(name: str) -> None:
    request, _ = scrub(method="GET", uri=f"https://h.test/list?{name}=c-0001")
    assert request.uri.endswith(f"{name}=c-0001")


def test_userinfo_is_stripped_from_the_url() -> None:
    request, _ = scrub(uri="https://user-1:pass-123456@api.example.test/x")
    assert "pass-123456" not in request.uri
    assert "user-1" not in request.uri


def test_form_body_credentials_and_picture_content() -> None:
    body = f"AccessKeyId=LTAI5tAbCdEfGh1234&InstanceName=shop&PicContent={quote(B64, safe='')}&Num=5"
    request, _ = scrub(body=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert request.body == f"AccessKeyId=REDACTED&InstanceName=shop&PicContent={DIGEST}&Num=5".encode()


def test_form_image_field_is_hashed_even_when_not_a_known_image_format() -> None:
    data = b"\x00\x01not-a-known-format" * 4
    body = f"PicContent={quote_plus(base64.b64encode(data).decode())}"
    request, _ = scrub(body=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert request.body == f"PicContent=sha256:{hashlib.sha256(data).hexdigest()}".encode()


def test_json_credentials_and_images_with_a_charset() -> None:
    body = json.dumps(
        {
            "token": "tok-0123456789",
            "records": [
                {"_id": "1", "_base64": B64},
                {"_id": "2", "_base64": f"data:image/jpeg;base64,{B64}"},
            ],
            "image": B64,
            "AccessKeyId": "LTAI5tAbCdEfGh1234",
        }
    )
    request, _ = scrub(body=body, headers={"Content-Type": "application/json;charset=UTF-8"})
    parsed = json.loads(request.body)
    assert parsed["token"] == PLACEHOLDER
    assert parsed["AccessKeyId"] == PLACEHOLDER
    assert [r["_base64"] for r in parsed["records"]] == [DIGEST, DIGEST]
    assert parsed["image"] == DIGEST


def test_content_length_follows_the_scrubbed_body() -> None:
    body = json.dumps({"image": B64}).encode()
    request, _ = scrub(
        body=body, headers={"content-type": "application/json", "content-length": str(len(body))}
    )
    assert request.headers["content-length"] == str(len(request.body))


def test_multipart_image_parts_are_hashed_and_the_boundary_fixed() -> None:
    built = httpx.Request(
        "POST", "https://visearch.visenze.com/uploadsearch", files={"image": ("q.jpg", IMAGE, "image/jpeg")},
        data={"access_key": "app-key-123456", "limit": "5"},
    )  # fmt: skip
    body = built.read()
    request, _ = scrub(body=body, headers=dict(built.headers))
    content_type = request.headers["content-type"]
    assert content_type == "multipart/form-data; boundary=visualsearch-sdk-cassette-boundary"
    assert DIGEST.encode() in request.body
    assert IMAGE not in request.body
    assert b"app-key-123456" not in request.body
    assert b'name="limit"\r\n\r\n5\r\n' in request.body
    assert request.headers["content-length"] == str(len(request.body))


def test_a_raw_image_body_is_hashed() -> None:
    request, _ = scrub(body=IMAGE)  # VisualSnoop: raw bytes, no Content-Type
    assert request.body == DIGEST.encode()


def test_scrubbing_twice_changes_nothing() -> None:
    built = httpx.Request("POST", "https://h.test/u", files={"image": ("q.jpg", IMAGE, "image/jpeg")})
    once, scrubber = scrub(
        uri="http://127.0.0.1:5555/u?access_key=k-123456789",
        body=built.read(),
        headers={**built.headers, "Authorization": "Basic YWs6c2s="},
        provider="visearch",
    )
    again = scrubber.before_record_request(Request(once.method, once.uri, once.body, dict(once.headers)))
    assert (again.uri, again.body, dict(again.headers)) == (once.uri, once.body, dict(once.headers))


def test_scrub_false_keeps_credentials_but_still_hashes_images() -> None:
    request, _ = scrub(
        body=json.dumps({"_base64": B64}),
        headers={"Authorization": "Token keep-me-123456", "Content-Type": "application/json"},
        scrub=False,
    )
    assert request.headers["Authorization"] == "Token keep-me-123456"
    assert json.loads(request.body) == {"_base64": DIGEST}


# -- origins -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "origin"),
    [
        ("ximilar", "https://api.ximilar.com"),
        ("visearch", "https://visearch.visenze.com"),
        ("alibaba", "https://imagesearch.cn-shanghai.aliyuncs.com"),
        ("local", "http://127.0.0.1:8765"),
        (None, "http://127.0.0.1"),
    ],
)
def test_a_loopback_origin_becomes_the_vendors(provider: str | None, origin: str) -> None:
    request, _ = scrub(
        uri="http://127.0.0.1:49152/a/b?c=d", headers={"host": "127.0.0.1:49152"}, provider=provider
    )
    assert request.uri == f"{origin}/a/b?c=d"
    assert request.headers["host"] == origin.split("://", 1)[1]


def test_a_real_host_is_left_alone_and_origin_can_be_given() -> None:
    request, _ = scrub(uri="https://api.ximilar.com/x", provider="ximilar")
    assert request.uri == "https://api.ximilar.com/x"
    request, _ = scrub(uri="http://[::1]:4000/", origin="https://imagesearch.ap-southeast-1.aliyuncs.com")
    assert request.uri == "https://imagesearch.ap-southeast-1.aliyuncs.com/"


# -- responses ---------------------------------------------------------------------------------------------


def test_responses_lose_echoed_credentials_cookies_and_loopback_urls() -> None:
    _, scrubber = scrub(
        uri="http://127.0.0.1:40000/v2/allRecords",
        headers={"Authorization": "Token echo-token-123456"},
        provider="ximilar",
    )
    body = json.dumps(
        {
            "next": "http://127.0.0.1:40000/v2/allRecords?page=2",
            "debug": "token was echo-token-123456",
            "AccessKeyId": "LTAI5tAbCdEfGh1234",
            "Signature": "c2lnbmF0dXJl",
            "EncodedPolicy": "eyJleHBpcmF0aW9uIjoi",
        }
    ).encode()
    response = scrubber.before_record_response(
        {
            "status": {"code": 200, "message": "OK"},
            "headers": {
                "content-type": ["application/json"],
                "content-length": [str(len(body))],
                "set-cookie": ["session=abc123456; Path=/"],
                "x-echo": ["echo-token-123456"],
            },
            "body": {"string": body},
        }
    )
    new = response["body"]["string"]
    parsed = json.loads(new)
    assert parsed["next"] == "https://api.ximilar.com/v2/allRecords?page=2"
    assert "echo-token-123456" not in new.decode()
    assert parsed["AccessKeyId"] == parsed["Signature"] == parsed["EncodedPolicy"] == PLACEHOLDER
    assert response["headers"]["set-cookie"] == [PLACEHOLDER]
    assert response["headers"]["x-echo"] == [PLACEHOLDER]
    assert response["headers"]["content-length"] == [str(len(new))]


def test_an_unchanged_response_body_keeps_its_bytes() -> None:
    body = b'{"a":  1, "b": [1,2]}'
    response = Scrubber().before_record_response(
        {"status": {"code": 200}, "headers": {"content-type": ["application/json"]}, "body": {"string": body}}
    )
    assert response["body"]["string"] is body


def test_secrets_given_and_short_values() -> None:
    request, _ = scrub(
        body="user said hunter2-secret-value and ok", headers={"content-type": "text/plain"},
        secrets=["hunter2-secret-value", "ok"],
    )  # fmt: skip
    assert request.body == b"user said REDACTED and ok"  # values under 6 characters are not swept
