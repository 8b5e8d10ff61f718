"""FakeViSearch speaks ViSearch v1 (VENDORS §1) over the local engine, and injects faults.

The fake is driven here with raw HTTP requests (no adapter), so its wire shapes are checked on their own.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from PIL import Image, ImageDraw

from tests.serving import first_line, serve_face, stop
from visualsearch_sdk import AuthenticationError, ImageRecord, VisualSearch
from visualsearch_sdk._serve import LoopbackServer
from visualsearch_sdk.testing.fakes import DroppedConnection, FakeViSearch, SimulatedTimeout
from visualsearch_sdk.testing.fakes._visearch_wire import FieldType
from visualsearch_sdk.testing.fakes.visearch import FIRST_TRANS_ID, fetch_loopback

BASE = "https://visearch.visenze.com/"
AUTH = {"Authorization": "Basic " + base64.b64encode(b"fake-access-key:fake-secret-key").decode()}
SCHEMA: dict[str, FieldType] = {"colour": "string", "price": "float", "stock": "int", "blurb": "text"}


def picture(colour: tuple[int, int, int], shape: str = "box", size: tuple[int, int] = (160, 120)) -> bytes:
    image = Image.new("RGB", size, (240, 240, 235))
    draw = ImageDraw.Draw(image)
    w, h = size
    if shape == "box":
        draw.rectangle((w // 6, h // 6, w * 5 // 6, h * 5 // 6), fill=colour)
    elif shape == "disc":
        draw.ellipse((w // 5, h // 10, w * 4 // 5, h * 9 // 10), fill=colour)
    else:
        for x in range(0, w, 16):
            draw.rectangle((x, 0, x + 7, h), fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


IMAGES = {
    "https://img.test/red-box.png": picture((220, 30, 30), "box"),
    "https://img.test/blue-disc.png": picture((30, 40, 210), "disc"),
    "https://img.test/green-stripes.png": picture((20, 170, 60), "stripes"),
    "https://img.test/red-disc.png": picture((210, 40, 30), "disc"),
}
META: dict[str, dict[str, str]] = {
    "red-box": {"colour": "red", "price": "10", "stock": "3", "blurb": "a bright red box"},
    "blue-disc": {"colour": "Women's blue", "price": "25.5", "stock": "0", "blurb": "round and blue"},
    "green-stripes": {"colour": "green", "price": "40", "stock": "7", "blurb": "stripes"},
    "red-disc": {"colour": "red", "price": "55.25", "stock": "1", "blurb": "round red disc"},
}


@pytest.fixture
def fake() -> Iterator[FakeViSearch]:
    server = FakeViSearch(schema=SCHEMA, url_resolver=IMAGES.__getitem__, settle_after_polls=2)
    yield server
    server.close()


def call(fake: FakeViSearch, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    headers = {**AUTH, **kwargs.pop("headers", {})}
    request = httpx.Request(method, BASE + path, headers=headers, **kwargs)
    response = fake(request)
    assert response.status_code == 200, response.text
    assert response.headers["x-log-id"]
    body: dict[str, Any] = json.loads(response.content)
    return body


def form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "content": urlencode(pairs).encode(),
        "headers": {"content-type": "application/x-www-form-urlencoded"},
    }


def insert_all(fake: FakeViSearch, names: list[str] | None = None) -> int:
    pairs: list[tuple[str, str]] = []
    for i, name in enumerate(names or list(META)):
        pairs += [(f"im_name[{i}]", name), (f"im_url[{i}]", f"https://img.test/{name}.png")]
        pairs += [(f"{k}[{i}]", v) for k, v in META[name].items()]
    body = call(fake, "POST", "insert", **form(pairs))
    assert body["status"] == "OK"
    return int(body["trans_id"])


def settle(fake: FakeViSearch, trans_id: int) -> dict[str, Any]:
    while True:
        status = call(fake, "GET", f"insert/status/{trans_id}")["result"][0]
        if status["processed_percent"] == 100:
            return status


# -- auth and routing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [None, "Basic " + base64.b64encode(b"fake-access-key:wrong").decode(), "Bearer x", "Basic !!!"],
)
def test_bad_credentials_fail_inside_http_200(fake: FakeViSearch, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = fake(httpx.Request("GET", BASE + "search?im_name=x", headers=headers))
    assert response.status_code == 200  # VENDORS §1.6: most errors are HTTP 200 status:fail
    body = json.loads(response.content)
    assert body["status"] == "fail" and body["error"] == ["Invalid access key or secret key."]


def test_unknown_routes_and_methods(fake: FakeViSearch) -> None:
    assert fake(httpx.Request("GET", BASE + "nope", headers=AUTH)).status_code == 404
    assert fake(httpx.Request("GET", BASE + "insert", headers=AUTH)).status_code == 405


# -- the data API -----------------------------------------------------------------------------------------


def test_insert_is_asynchronous_and_status_pages(fake: FakeViSearch) -> None:
    trans_id = insert_all(fake)
    assert trans_id == FIRST_TRANS_ID > 2**53
    assert call(fake, "GET", "search", params={"im_name": "red-box"})["status"] == "fail"  # not indexed yet
    first = call(fake, "GET", f"insert/status/{trans_id}")["result"][0]
    assert (first["processed_percent"], first["success_count"]) == (50, 2)  # half, after one poll of two
    status = settle(fake, trans_id)
    assert (status["total"], status["success_count"], status["fail_count"]) == (4, 4, 0)
    assert status["start_time"].endswith("+0000") and len(status["start_time"]) == 28
    raw = fake(httpx.Request("GET", f"{BASE}insert/status/{trans_id}", headers=AUTH)).content
    assert str(trans_id).encode() in raw  # the 64-bit id written as an integer, exactly
    unknown = call(fake, "GET", "insert/status/12")
    assert unknown["status"] == "fail" and unknown["error"][0]["error_code"] == 101


def test_insert_per_record_errors_and_status_error_pages(fake: FakeViSearch) -> None:
    pairs = [("im_name[0]", "x" * 129), ("im_url[0]", "https://img.test/red-box.png")]
    pairs += [("im_name[1]", "new-without-url"), ("price[1]", "1")]
    pairs += [("im_name[2]", "bad-type"), ("im_url[2]", "https://img.test/red-box.png"), ("stock[2]", "many")]
    pairs += [(f"im_name[{i}]", f"gone-{i}") for i in range(3, 28)]
    pairs += [(f"im_url[{i}]", f"https://img.test/gone-{i}.png") for i in range(3, 28)]
    pairs += [("im_name[28]", "ok"), ("im_url[28]", "https://img.test/blue-disc.png"), ("unknown[28]", "x")]
    pairs += [("custom_param", "ignored")]  # extra top-level keys are not images
    body = call(fake, "POST", "insert", **form(pairs))
    assert body["status"] == "warning" and body["total"] == 26
    assert [(e["index"], e["error_code"]) for e in body["error"]] == [(0, 107), (1, 108), (2, 109)]
    trans_id = body["trans_id"]
    settle(fake, trans_id)
    page = call(fake, "GET", f"insert/status/{trans_id}", params={"error_page": "3", "error_limit": "10"})
    status = page["result"][0]
    assert (status["fail_count"], status["error_page"], status["error_limit"]) == (25, 3, 10)
    assert [e["im_name"] for e in status["error_list"]] == [f"gone-{i}" for i in range(23, 28)]
    assert {e["error_code"] for e in status["error_list"]} == {201}
    found = call(fake, "GET", "search", params={"im_name": "ok", "get_all_fl": "true"})
    assert found["status"] == "OK"
    too_many = [(f"im_name[{i}]", f"n{i}") for i in range(101)]
    refused = call(fake, "POST", "insert", **form(too_many))
    assert refused["status"] == "fail" and refused["error"][0]["error_code"] == 103


def test_insert_without_url_merges_fields_and_remove_warns(fake: FakeViSearch) -> None:
    settle(fake, insert_all(fake))
    merged = call(fake, "POST", "insert", **form([("im_name[0]", "red-box"), ("price[0]", "12.5")]))
    assert merged["status"] == "OK"
    hit = call(fake, "GET", "search", params={"im_name": "red-disc", "fl": ["price"], "limit": "10"})
    prices = {r["im_name"]: r["value_map"]["price"] for r in hit["result"]}
    assert prices["red-box"] == "12.500000"  # VENDORS §1.6: value_map strings, floats with 6 decimals
    removed = call(fake, "POST", "remove", **form([("im_name[0]", "red-box"), ("im_name[1]", "nope")]))
    assert (removed["status"], removed["total"]) == ("warning", 1)
    assert removed["error"] == [
        {"im_name": "nope", "error_code": 102, "error_message": "Image not found with im_name."}
    ]


# -- searches ---------------------------------------------------------------------------------------------


def test_search_parameters(fake: FakeViSearch) -> None:
    settle(fake, insert_all(fake))
    base = {"im_name": "red-box", "score": "true", "get_all_fl": "True"}
    everything = call(fake, "GET", "search", params=base)
    assert "red-box" not in [r["im_name"] for r in everything["result"]]  # [?] the query image is left out
    assert everything["total"] == 3 and everything["page"] == 1 and everything["limit"] == 10
    first = everything["result"][0]
    assert 0 <= first["score"] <= 1 and set(first["value_map"]) == {"colour", "price", "stock"}  # no text
    assert isinstance(first["value_map"]["stock"], str)
    plain = call(fake, "GET", "search", params={"im_name": "red-box"})
    assert set(plain["result"][0]) == {"im_name"}  # no score unless score=true, no value_map unless asked
    quoted = call(fake, "GET", "search", params={**base, "fq": 'colour:green OR "Women\'s blue"'})
    assert sorted(r["im_name"] for r in quoted["result"]) == ["blue-disc", "green-stripes"]
    ranged = call(fake, "GET", "search", params={**base, "fq": ["price:20,45", "stock:0,5"]})
    assert [r["im_name"] for r in ranged["result"]] == ["blue-disc"]
    text = call(fake, "GET", "search", params={**base, "fq": "blurb:round"})
    assert sorted(r["im_name"] for r in text["result"]) == ["blue-disc", "red-disc"]
    paged = call(fake, "GET", "search", params={**base, "page": "2", "limit": "2"})
    assert [r["im_name"] for r in paged["result"]] == [r["im_name"] for r in everything["result"]][2:4]
    floor = call(fake, "GET", "search", params={**base, "score_min": "0.99"})
    assert floor["result"] == [] and floor["total"] == 0
    for bad in ({"fq": "nosuchfield:x"}, {"limit": "0"}, {"page": "x"}):
        assert call(fake, "GET", "search", params={**base, **bad})["status"] == "fail"
    missing = call(fake, "GET", "search", params={"im_name": "nope"})
    assert missing["error"] == ["Image not found with im_name."]


def test_an_empty_application_answers_1107(fake: FakeViSearch) -> None:
    body = call(fake, "GET", "colorsearch", params={"color": "ff0000"})
    assert body["status"] == "fail" and body["error"] == ["The app has no images."]


def test_colorsearch(fake: FakeViSearch) -> None:
    settle(fake, insert_all(fake))
    reds = call(fake, "GET", "colorsearch", params={"color": "dc1e1e", "limit": "2"})
    assert sorted(r["im_name"] for r in reds["result"]) == ["red-box", "red-disc"]
    assert call(fake, "GET", "colorsearch", params={"color": "zz0000"})["status"] == "fail"


def test_uploadsearch_multipart_box_and_im_id(fake: FakeViSearch) -> None:
    settle(fake, insert_all(fake))
    canvas = Image.new("RGB", (320, 120), (255, 255, 255))
    canvas.paste(Image.open(io.BytesIO(IMAGES["https://img.test/blue-disc.png"])), (0, 0))
    canvas.paste(Image.open(io.BytesIO(IMAGES["https://img.test/green-stripes.png"])), (160, 0))
    buffer = io.BytesIO()
    canvas.save(buffer, "PNG")
    files = {"image": ("q.png", buffer.getvalue(), "image/png")}
    right = call(fake, "POST", "uploadsearch", params={"box": "160,0,320,120", "limit": "1"}, files=files)
    assert [r["im_name"] for r in right["result"]] == ["green-stripes"]
    left = call(fake, "POST", "uploadsearch", params={"box": "0,0,160,120", "limit": "1"}, files=files)
    assert [r["im_name"] for r in left["result"]] == ["blue-disc"]
    assert right["im_id"] == left["im_id"]  # the same upload, searched twice
    again = call(
        fake,
        "POST",
        "uploadsearch",
        **form([("im_id", right["im_id"]), ("box", "160,0,320,120"), ("limit", "1")]),
    )
    assert [r["im_name"] for r in again["result"]] == ["green-stripes"]
    by_url = call(
        fake,
        "GET",
        "uploadsearch",
        params={"im_url": "https://img.test/red-disc.png", "limit": "1", "detection": "all"},
    )
    assert by_url["result"][0]["im_name"] == "red-disc" and by_url["product_types"][0]["box"] == [
        0,
        0,
        160,
        120,
    ]
    bad = call(fake, "POST", "uploadsearch", files={"image": ("q.png", b"not an image", "image/png")})
    assert bad["error"] == ["Invalid image file format."]
    unknown = call(fake, "POST", "uploadsearch", **form([("im_url", "https://img.test/unknown.png")]))
    assert unknown["error"] == ["Invalid image or im_url."]


def test_discoversearch_finds_the_whole_image_or_the_box(fake: FakeViSearch) -> None:
    settle(fake, insert_all(fake))
    body = call(
        fake,
        "POST",
        "discoversearch",
        **form([("im_url", "https://img.test/blue-disc.png"), ("result_limit", "2")]),
    )
    (obj,) = body["objects"]
    assert (obj["type"], obj["box"], obj["result"][0]["im_name"], len(obj["result"])) == (
        "whole_image",
        [0, 0, 160, 120],
        "blue-disc",
        2,
    )
    assert body["object_types_list"] == [{"type": "whole_image"}] and body["im_id"]
    boxed = call(
        fake,
        "POST",
        "discoversearch",
        **form([("im_id", body["im_id"]), ("box", "10,10,90,100"), ("detection", "bag")]),
    )
    assert (boxed["objects"][0]["type"], boxed["objects"][0]["box"]) == ("bag", [10, 10, 90, 100])
    assert (
        call(fake, "POST", "discoversearch", **form([("im_id", "x"), ("result_limit", "101")]))["status"]
        == "fail"
    )


# -- faults, serving --------------------------------------------------------------------------------------


def test_faults_use_the_vendor_shape(fake: FakeViSearch) -> None:
    fake.fail_next(503)
    response = fake(httpx.Request("GET", BASE + "search?im_name=x", headers=AUTH))
    assert response.status_code == 503 and json.loads(response.content)["status"] == "fail"
    fake.fail_next(200, body=fake.fail_body(31))
    busy = fake(httpx.Request("GET", BASE + "search?im_name=x", headers=AUTH))
    assert json.loads(busy.content)["error"] == ["System busy, please retry later."]
    fake.drop_next()
    with pytest.raises(DroppedConnection):
        fake(httpx.Request("GET", BASE + "search", headers=AUTH))
    fake.timeout_next()
    with pytest.raises(SimulatedTimeout):
        fake(httpx.Request("GET", BASE + "search", headers=AUTH))
    assert len(fake.requests) == 4


def test_fetch_loopback_only_reaches_loopback_hosts() -> None:
    image = picture((1, 2, 3))
    with LoopbackServer(lambda request: httpx.Response(200, content=image)) as server:
        assert fetch_loopback(f"{server.url}/a.png") == image
    for url in ("https://example.com/a.png", "http://10.0.0.1/a.png", "file:///etc/passwd"):
        with pytest.raises(ValueError, match="loopback"):
            fetch_loopback(url)


def test_served_on_a_socket_for_a_client(fake: FakeViSearch) -> None:
    with LoopbackServer(fake) as server, VisualSearch(fake.client_url(base_url=server.url)) as vs:
        report = vs.index(
            [ImageRecord(id=n, url=f"https://img.test/{n}.png", metadata=m) for n, m in META.items()],
            wait=True,
        )
        assert report.ok
        assert vs.search(url="https://img.test/red-box.png", limit=1).ids == ["red-box"]


def test_serve_face_visearch_prints_a_usable_url() -> None:
    """``visualsearch serve --face visearch``: images by URL from a loopback host, keys from --token."""
    images = {f"/{n}.png": IMAGES[f"https://img.test/{n}.png"] for n in META}
    with LoopbackServer(lambda r: httpx.Response(200, content=images[r.url.path])) as files:
        process = serve_face("visearch", "--token", "KEY:s3cret")
        try:
            line = first_line(process)
            assert line.startswith("visearch://KEY:s3cret@visearch.visenze.com?base_url=http"), line
            with VisualSearch.from_url(line) as vs:
                vs.verify()
                records = [ImageRecord(id=n, url=f"{files.url}/{n}.png", metadata=m) for n, m in META.items()]
                records.append(ImageRecord(id="elsewhere", url="https://example.com/x.png"))  # never fetched
                report = vs.index(records, wait=True)
                assert report.succeeded == tuple(META) and report.failed[0].id == "elsewhere"
                assert vs.search(color="#1e28d2", limit=1).ids == ["blue-disc"]
            with (
                VisualSearch.from_url(line.replace("s3cret", "wrong")) as vs,
                pytest.raises(AuthenticationError),
            ):
                vs.search(color="#1e28d2")
        finally:
            code, stderr = stop(process)
    assert code == 0, stderr
    assert "serving a fake of ViSenze's ViSearch" in stderr
