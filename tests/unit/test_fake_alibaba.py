"""The fake Alibaba server: its gateway (signatures, timestamps, nonces, STS), image limits, result window,
filter grammar, flow control, actions and answer shapes; served on a socket and by ``visualsearch serve``."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from PIL import Image, ImageDraw
from pydantic import SecretStr

from tests.serving import first_line, serve_face, stop
from visualsearch_sdk import F, ImageRecord, VisualSearch
from visualsearch_sdk._serve import LoopbackServer
from visualsearch_sdk.preprocess import prepare_image
from visualsearch_sdk.providers._alibaba_auth import (
    AlibabaCredentials,
    format_timestamp,
    rpc_signature,
    rpc_string_to_sign,
)
from visualsearch_sdk.providers.alibaba import AlibabaAdapter
from visualsearch_sdk.testing.fakes import FakeAlibaba

KEY, SECRET = "unit-ak", "unit-secret"


class Clock:
    """A settable monotonic clock for the fake's flow control."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> Iterator[FakeAlibaba]:
    server = FakeAlibaba(access_key_id=KEY, access_key_secret=SECRET, instance="unit")
    yield server
    server.close()


def adapter(secret: str = SECRET, **kwargs: Any) -> AlibabaAdapter:
    creds = AlibabaCredentials(
        access_key_id=kwargs.pop("key", KEY),
        access_key_secret=SecretStr(secret),
        security_token=kwargs.pop("token", None),
    )
    return AlibabaAdapter(creds, region="cn-shanghai", instance=kwargs.pop("instance", "unit"), **kwargs)


def call(
    fake: FakeAlibaba,
    action: str,
    body: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """Build, sign (ACS3 unless ``signature=``) and hand one request to the fake."""
    a = adapter(**kwargs)
    body = {"InstanceName": a.instance, **(body or {})} if action != "Detail" else body
    query = query if action != "Detail" else {"InstanceName": a.instance, **(query or {})}
    request = next(a.auth().sync_auth_flow(a._rpc(action, body, query)))
    return fake(request)


def code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, str(response.json().get("Code"))


def picture(size: tuple[int, int] = (320, 240), seed: int = 1, fmt: str = "JPEG", **save: Any) -> bytes:
    image = Image.new("RGB", size, (40 * seed % 256, 90, 200 - 20 * seed % 200))
    ImageDraw.Draw(image).rectangle(
        [size[0] // 5, size[1] // 4, size[0] // 2, size[1] // 2], fill=(250, 250, 0)
    )
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def oriented(orientation: int = 6) -> bytes:
    """A JPEG stored 400x200 with an EXIF orientation tag (6: shown rotated, 200x400 upright)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return picture((400, 200), exif=exif.tobytes())


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# -- gateway ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("signature", ["ACS3-HMAC-SHA256", "HMAC-SHA1"])
def test_both_signature_schemes_are_accepted(fake: FakeAlibaba, signature: str) -> None:
    response = call(fake, "Detail", signature=signature)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["Instance"]["TotalCount"] == 0 and body["Msg"] == "success" and body["Success"] is True
    assert body["RequestId"] == response.headers["x-acs-request-id"]


def test_the_classic_core_rpc_variant_verifies(fake: FakeAlibaba) -> None:
    now = format_timestamp(dt.datetime.now(dt.timezone.utc))
    common = {
        "Version": "2020-12-14", "Action": "Detail", "Format": "JSON", "RegionId": "cn-shanghai",
        "Timestamp": now, "SignatureMethod": "HMAC-SHA1", "SignatureType": "", "SignatureVersion": "1.0",
        "SignatureNonce": "core-nonce-1", "AccessKeyId": KEY, "InstanceName": "unit",
    }  # fmt: skip
    signature = rpc_signature(SECRET, rpc_string_to_sign("POST", common.items()))
    url = "https://imagesearch.cn-shanghai.aliyuncs.com/?" + urlencode({**common, "Signature": signature})
    assert fake(httpx.Request("POST", url)).status_code == 200


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"secret": "wrong"}, (400, "SignatureDoesNotMatch")),
        ({"key": "nobody"}, (404, "InvalidAccessKeyId.NotFound")),
        ({"secret": "wrong", "signature": "HMAC-SHA1"}, (400, "SignatureDoesNotMatch")),
    ],
)
def test_bad_credentials_are_refused(
    fake: FakeAlibaba, kwargs: dict[str, Any], expected: tuple[int, str]
) -> None:
    response = call(fake, "Detail", **kwargs)
    assert code(response) == expected
    assert SECRET not in response.text and "wrong" not in response.text


def test_tampering_and_unsigned_headers_are_refused(fake: FakeAlibaba) -> None:
    a = adapter()
    request = next(
        a.auth().sync_auth_flow(
            a._rpc("CheckImageExists", {"InstanceName": "unit", "ProductId": "p", "PicName": "p"})
        )
    )
    tampered = httpx.Request(
        "POST", request.url, headers=request.headers, content=request.content.replace(b"p", b"q")
    )
    assert code(fake(tampered)) == (400, "SignatureDoesNotMatch")
    request = next(a.auth().sync_auth_flow(a.build_count()))
    request.headers["x-acs-extra"] = "added after signing"
    assert code(fake(request)) == (400, "IncompleteSignature")
    assert code(fake(httpx.Request("POST", "https://imagesearch.cn-shanghai.aliyuncs.com/"))) == (
        400,
        "MissingParameter",
    )
    mismatch = call(fake, "Detail")
    assert mismatch.status_code == 200


@pytest.mark.parametrize("signature", ["ACS3-HMAC-SHA256", "HMAC-SHA1"])
def test_timestamps_must_be_within_15_minutes(fake: FakeAlibaba, signature: str) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    late = call(fake, "Detail", signature=signature, clock=lambda: now - dt.timedelta(minutes=16))
    assert code(late) == (400, "InvalidTimeStamp.Expired")
    assert (
        call(fake, "Detail", signature=signature, clock=lambda: now - dt.timedelta(minutes=14)).status_code
        == 200
    )
    assert code(call(fake, "Detail", signature=signature, clock=lambda: now + dt.timedelta(minutes=16)))[
        1
    ] == ("InvalidTimeStamp.Expired")


@pytest.mark.parametrize("signature", ["ACS3-HMAC-SHA256", "HMAC-SHA1"])
def test_a_replayed_nonce_is_refused(fake: FakeAlibaba, signature: str) -> None:
    a = adapter(signature=signature)
    request = next(a.auth().sync_auth_flow(a.build_count()))
    assert fake(request).status_code == 200
    assert code(fake(request)) == (400, "SignatureNonceUsed")
    assert call(fake, "Detail", signature=signature, nonce=lambda: "fresh-one").status_code == 200
    assert code(call(fake, "Detail", signature=signature, nonce=lambda: "fresh-one")) == (
        400,
        "SignatureNonceUsed",
    )


def test_sts_token_is_required_when_the_key_has_one() -> None:
    fake = FakeAlibaba(
        access_key_id=KEY, access_key_secret=SECRET, security_token="sts-token", instance="unit"
    )
    assert code(call(fake, "Detail"))[1] == "InvalidSecurityToken.Mismatch"
    assert call(fake, "Detail", token=SecretStr("sts-token")).status_code == 200
    assert call(fake, "Detail", token=SecretStr("sts-token"), signature="HMAC-SHA1").status_code == 200
    assert code(call(fake, "Detail", token=SecretStr("other")))[1] == "InvalidSecurityToken.Mismatch"


def test_routing_version_and_instance(fake: FakeAlibaba) -> None:
    assert code(call(fake, "DumpMeta")) == (404, "InvalidAction.NotFound")
    assert code(call(fake, "Detail", instance="other")) == (400, "InvalidInstance")
    a = adapter()
    request = a._rpc("Detail", query={"InstanceName": "unit"})
    request.headers["x-acs-version"] = "2019-03-25"
    assert code(fake(next(a.auth().sync_auth_flow(request)))) == (400, "InvalidVersion")
    error = fake(httpx.Request("GET", "https://imagesearch.cn-shanghai.aliyuncs.com/v2/image/search")).json()
    assert set(error) == {"RequestId", "HostId", "Code", "Message", "Recommend"}


# -- images -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b64(picture((90, 300))), "UnsupportedPicPixels"),
        (b64(picture((4100, 120))), "UnsupportedPicPixels"),
        (b64(b"%PDF-1.7 not an image"), "UnsupportedPicFormat"),
        ("***not base64***", "UnsupportedPicFormat"),
        (b64(picture((200, 200), fmt="ICO")), "UnsupportedPicFormat"),
        (b64(oriented(6)), "IncorrectOrientation"),
        (b64(b"\xff" * 20_001), "BadRequest"),  # over the limit, patched down from 4 MiB to keep it fast
    ],
)
def test_image_limits(
    fake: FakeAlibaba, content: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("visualsearch_sdk.testing.fakes.alibaba.MAX_PIC_BYTES", 20_000)
    response = call(fake, "AddImage", {"ProductId": "p", "PicName": "p", "PicContent": content})
    assert code(response) == (400, expected)
    assert fake.engine.count() == 0


def test_an_exif_rotated_image_is_accepted_only_after_preprocessing(fake: FakeAlibaba) -> None:
    raw = oriented(6)
    assert code(call(fake, "AddImage", {"ProductId": "rot", "PicName": "rot", "PicContent": b64(raw)})) == (
        400,
        "IncorrectOrientation",
    )
    ready = prepare_image(raw, limits=AlibabaAdapter.limits, preset=None)
    upright = Image.open(io.BytesIO(ready.data))
    assert upright.size == (200, 400) and upright.getexif().get(0x0112, 1) == 1
    with VisualSearch(fake.client_url(), transport=fake.mount()) as vs:
        report = vs.index([ImageRecord(id="rot", image=raw, metadata={"k": 1})])
        assert report.ok, report.failed
        top = vs.search(image=raw, limit=1).hits[0]
        assert (top.id, top.metadata) == ("rot", {"k": 1}) and top.score > 0.99
    stored = [r for r in fake.requests if r.headers.get("x-acs-action") == "AddImage"][-1]
    sent = base64.b64decode(dict(parse_qs(stored.content.decode()))["PicContent"][0])
    assert Image.open(io.BytesIO(sent)).getexif().get(0x0112, 1) == 1


# -- actions ----------------------------------------------------------------------------------------------


def add(fake: FakeAlibaba, pid: str, pic: str | None = None, seed: int = 1, **fields: str) -> httpx.Response:
    body = {"ProductId": pid, "PicName": pic or pid, "PicContent": b64(picture(seed=seed)), **fields}
    return call(fake, "AddImage", body)


def test_write_answers_use_message_and_reads_use_msg(fake: FakeAlibaba) -> None:
    written = add(fake, "p1", IntAttr="5", StrAttr="red", CustomContent='{"a":1}').json()
    assert written["Message"] == "success" and "Msg" not in written and written["Code"] == 0
    assert written["PicInfo"]["Region"] == "0,320,0,240" and written["PicInfo"]["CategoryId"] == 88888888
    found = call(fake, "CheckImageExists", {"ProductId": "p1", "PicName": "p1"}).json()
    assert found["Msg"] == "success" and found["Exists"] is True
    assert isinstance(found["Auctions"], dict)  # an object, as the public CheckImageExists page shows
    assert found["Auctions"]["IntAttr"] == 5 and found["Auctions"]["StrAttr"] == "red"
    assert found["Auctions"]["IntAttr4"] == 0 and found["Auctions"]["StrAttr4"] == ""  # unset slots [?]
    assert call(fake, "CheckImageExists", {"ProductId": "p1", "PicName": "nope"}).json()["Exists"] is False
    searched = call(fake, "SearchImageByName", {"ProductId": "p1", "PicName": "p1"}).json()
    assert searched["Msg"] == "success" and searched["Auctions"][0]["ProductId"] == "p1"
    assert searched["Auctions"][0]["Score"] == 1.0 and searched["Auctions"][0]["SortExprValues"] == "1.0;0"
    assert set(searched["Head"]) == {"DocsFound", "DocsReturn", "SearchTime"}


def test_add_replaces_the_pair_and_delete_modes(fake: FakeAlibaba) -> None:
    add(fake, "p1", "a.jpg", IntAttr="1")
    add(fake, "p1", "a.jpg", IntAttr="2")
    add(fake, "p1", "b.jpg", seed=2)
    add(fake, "p2", seed=3, IntAttr="7")
    assert fake.engine.count() == 3
    gone = call(fake, "DeleteImage", {"ProductId": "nobody"}).json()
    assert gone["Success"] is True and gone["Data"]["PicNames"] == []  # success even when nothing matched
    by_filter = call(fake, "DeleteImage", {"IsDeleteByFilter": "true", "Filter": "IntAttr=7"}).json()
    assert by_filter["Data"]["PicNames"] == ["p2"]
    by_product = call(fake, "DeleteImage", {"ProductId": "p1"}).json()
    assert sorted(by_product["Data"]["PicNames"]) == ["a.jpg", "b.jpg"] and fake.engine.count() == 0


def test_update_image_changes_only_what_it_is_given() -> None:
    fake = FakeAlibaba(access_key_id=KEY, access_key_secret=SECRET, instance="unit")
    add(fake, "p", IntAttr="1", StrAttr="x", CustomContent="c")
    ok = call(fake, "UpdateImage", {"ProductId": "p", "PicName": "p", "StrAttr": "y"}, {"IntAttr3": "9"})
    assert ok.json()["Message"] == "success"
    item = call(fake, "CheckImageExists", {"ProductId": "p", "PicName": "p"}).json()["Auctions"]
    assert (item["IntAttr"], item["StrAttr"], item["IntAttr3"], item["CustomContent"]) == (1, "y", 9, "c")
    assert code(call(fake, "UpdateImage", {"ProductId": "q", "PicName": "q"})) == (404, "ImageNotExist")
    assert code(call(fake, "UpdateImage", {"ProductId": "p", "PicName": "p", "IntAttr": "x"})) == (
        400,
        "InvalidIntAttr",
    )
    without = FakeAlibaba(access_key_id=KEY, access_key_secret=SECRET, instance="unit", update_image=False)
    assert code(call(without, "UpdateImage", {"ProductId": "p", "PicName": "p"})) == (
        500,
        "UnsupportedOperationType",
    )


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"Num": "101"}, "OverflowMaxReturnNum"),
        ({"Start": "450", "Num": "51"}, "OverflowMaxResultNum"),
        ({"Start": "500", "Num": "1"}, "OverflowMaxResultNum"),
        ({"Num": "0"}, "InvalidNumParameter"),
        ({"Num": "ten"}, "InvalidNumParameter"),
        ({"Filter": 'StrAttr>"a"'}, "InvalidFilterClause"),
        ({"Filter": "Price>1"}, "InvalidFilterClause"),
        ({"Filter": "IntAttr>1 AND " * 30 + "IntAttr>1"}, "InvalidFilterClause"),
    ],
)
def test_result_window_and_filter_grammar(fake: FakeAlibaba, params: dict[str, str], expected: str) -> None:
    add(fake, "p")
    response = call(fake, "SearchImageByName", {"ProductId": "p", "PicName": "p", **params})
    assert code(response) == (400, expected)


def test_search_window_threshold_distinct_and_filters(fake: FakeAlibaba) -> None:
    for i in range(6):
        add(fake, f"p{i}", seed=i, IntAttr=str(i), StrAttr="even" if i % 2 == 0 else "odd")
    add(fake, "p0", "second.jpg", seed=0, IntAttr="0", StrAttr="even")
    body = {"PicContent": b64(picture(seed=0)), "Num": "100"}
    everything = call(fake, "SearchImageByPic", body).json()["Auctions"]
    assert len(everything) == 7 and everything[0]["Score"] == 1.0
    distinct = call(fake, "SearchImageByPic", {**body, "DistinctProductId": "true"}).json()["Auctions"]
    assert [a["ProductId"] for a in distinct].count("p0") == 1 and len(distinct) == 6
    page = call(fake, "SearchImageByPic", {**body, "Start": "2", "Num": "2"}).json()["Auctions"]
    assert [a["ProductId"] for a in page] == [a["ProductId"] for a in everything[2:4]]
    near = call(fake, "SearchImageByPic", body, {"ScoreThreshold": "0.999"}).json()["Auctions"]
    assert {a["ProductId"] for a in near} == {"p0"}
    grouped = call(
        fake, "SearchImageByPic", {**body, "Filter": '(IntAttr>=3 OR IntAttr<1) AND StrAttr="odd"'}
    )
    assert sorted(a["ProductId"] for a in grouped.json()["Auctions"]) == ["p3", "p5"]
    flat = FakeAlibaba(access_key_id=KEY, access_key_secret=SECRET, instance="unit", filter_parentheses=False)
    refused = call(flat, "SearchImageByPic", {**body, "Filter": "(IntAttr>=3)"})
    assert code(refused) == (400, "InvalidFilterClause")
    listed = call(fake, "SearchImageByFilter", {"Filter": 'StrAttr="odd"', "Num": "2"}).json()["Auctions"]
    assert len(listed) == 2 and "Score" not in listed[0]


def test_region_crops_the_query_and_is_echoed(fake: FakeAlibaba) -> None:
    add(fake, "left", seed=1)
    add(fake, "right", seed=5)
    canvas = Image.new("RGB", (640, 240))
    canvas.paste(Image.open(io.BytesIO(picture(seed=1))), (0, 0))
    canvas.paste(Image.open(io.BytesIO(picture(seed=5))), (320, 0))
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=95)
    for region, expected in (("0,320,0,240", "left"), ("320,640,0,240", "right")):
        answer = call(
            fake, "SearchImageByPic", {"PicContent": b64(buffer.getvalue()), "Region": region}
        ).json()
        assert answer["Auctions"][0]["ProductId"] == expected
        assert answer["PicInfo"]["Region"] == region
    outside = call(fake, "SearchImageByPic", {"PicContent": b64(buffer.getvalue()), "Region": "0,700,0,10"})
    assert code(outside) == (400, "BadRequest")


def test_flow_control_denies_beyond_the_purchased_qps() -> None:
    clock = Clock()
    fake = FakeAlibaba(access_key_id=KEY, access_key_secret=SECRET, instance="unit", qps=2, monotonic=clock)
    assert "qps=2" in fake.client_url()
    statuses = [
        call(fake, "CheckImageExists", {"ProductId": "p", "PicName": "p"}).status_code for _ in range(3)
    ]
    assert statuses == [200, 200, 403]
    denied = call(fake, "SearchImageByName", {"ProductId": "p", "PicName": "p"})
    assert code(denied) == (403, "DeniedRequest")
    assert denied.headers["x-acs-retry-after"] == "500"  # milliseconds until a token
    assert call(fake, "Detail").status_code == 200  # not a search: not limited here
    clock.now += 0.5
    assert call(fake, "CheckImageExists", {"ProductId": "p", "PicName": "p"}).status_code == 200


def test_injected_faults_use_the_alibaba_error_shape(fake: FakeAlibaba) -> None:
    fake.fail_next(403)
    fake.fail_next(503, retry_after=2)
    first, second = call(fake, "Detail"), call(fake, "Detail")
    assert code(first) == (403, "DeniedRequest")
    assert code(second) == (503, "ServiceUnavailable") and second.headers["retry-after"] == "2"
    assert set(first.json()) == {"RequestId", "HostId", "Code", "Message", "Recommend"}


# -- serving ----------------------------------------------------------------------------------------------


def test_served_on_a_loopback_socket_with_both_schemes(fake: FakeAlibaba) -> None:
    with LoopbackServer(fake) as server:
        for scheme in ("acs3", "v2"):
            with VisualSearch(f"{fake.client_url(base_url=server.url)}&signature={scheme}") as vs:
                vs.verify()
                report = vs.index(
                    [ImageRecord(id=f"s-{scheme}", image=picture(seed=3), metadata={"k": scheme})]
                )
                assert report.ok, report.failed
                assert vs.get(f"s-{scheme}").metadata == {"k": scheme}
        assert fake.engine.count() == 2


def test_for_serving_token_forms() -> None:
    pair = FakeAlibaba.for_serving(path=None, token="ID:S:ECRET")
    assert (pair.access_key_id, pair.access_key_secret) == ("ID", "S:ECRET")
    only = FakeAlibaba.for_serving(path=None, token="justsecret")
    assert (only.access_key_id, only.access_key_secret) == ("fake-ak-id", "justsecret")
    assert (
        "fake-ak-id:fake-ak-secret@cn-shanghai/fakeinstance"
        in FakeAlibaba.for_serving(path=None, token=None).client_url()
    )


def test_serve_face_alibaba_prints_a_usable_url() -> None:
    process = serve_face("alibaba")
    try:
        line = first_line(process)
        parts = urlsplit(line)
        assert (parts.scheme, parts.hostname, parts.path) == ("alibaba", "cn-shanghai", "/fakeinstance"), line
        base = urlsplit(parse_qs(parts.query)["base_url"][0])
        assert (base.scheme, base.hostname) == ("http", "127.0.0.1")
        with VisualSearch.from_url(line) as vs:
            vs.verify()
            assert vs.index(
                [ImageRecord(id=f"r{n}", image=picture(seed=n), metadata={"n": n}) for n in range(3)]
            ).ok
            assert vs.count() == 3
            assert vs.search(image=picture(seed=2), limit=1).hits[0].id == "r2"
            assert vs.get("r1").metadata == {"n": 1}
    finally:
        code, stderr = stop(process)
    assert code == 0, stderr
    assert "Alibaba" in stderr


def test_answers_are_json_objects(fake: FakeAlibaba) -> None:
    response = call(fake, "Detail")
    assert response.headers["content-type"].startswith("application/json")
    assert isinstance(json.loads(response.content), dict)


def test_region_order_round_trips_through_the_fake(fake: FakeAlibaba) -> None:
    """A box (x1, y1, x2, y2) in original pixels goes out as Region x1,x2,y1,y2 in uploaded pixels, and the
    PicInfo regions that come back are our boxes in original pixels again."""
    canvas = Image.new("RGB", (1000, 500), (250, 250, 250))
    ImageDraw.Draw(canvas).rectangle([100, 50, 700, 450], fill=(200, 30, 30))
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=90)
    box = (100, 50, 700, 450)
    with VisualSearch(fake.client_url(), transport=fake.mount()) as vs:
        boxed = vs.search(image=buffer.getvalue(), box=box, limit=1)
        whole = vs.search(image=buffer.getvalue(), limit=1)
    searches = [r for r in fake.requests if r.headers.get("x-acs-action") == "SearchImageByPic"]
    region = parse_qs(searches[0].content.decode())["Region"][0]
    assert [int(v) for v in region.split(",")] == [51, 358, 26, 230]  # 1000x500 -> 512x256: x1,x2,y1,y2
    assert "Region" not in parse_qs(searches[1].content.decode())
    for got in (boxed.query_box, boxed.regions[0]):
        assert got is not None and all(abs(a - b) <= 2 for a, b in zip(got, box))
    assert whole.query_box == (0, 0, 1000, 500) and whole.regions == ((0, 0, 1000, 500),)


def test_alibaba_only_operations_through_send(fake: FakeAlibaba) -> None:
    url = f"{fake.client_url()}?attributes=n:IntAttr,kind:StrAttr"
    with VisualSearch(url, transport=fake.mount()) as vs:
        records = [
            ImageRecord(id=f"r{n}", image=picture(seed=n), metadata={"n": n, "kind": "k"}) for n in range(4)
        ]
        assert vs.index(records).ok
        a = vs.adapter
        assert isinstance(a, AlibabaAdapter)
        found = a.parse_records(vs.send(a.build_search_by_filter(F("n") >= 2, limit=10), idempotent=True))
        assert sorted((r.id, r.metadata["n"]) for r in found) == [("r2", 2), ("r3", 3)]
        gone = a.parse_answer(vs.send(a.build_delete_by_filter(F("n") < 1), idempotent=True))
        assert gone["Data"]["PicNames"] == ["r0"]
        detail = a.parse_answer(
            vs.send(a.build_action("Detail", query={"InstanceName": "unit"}), idempotent=True)
        )
        assert detail["Instance"]["TotalCount"] == 3
