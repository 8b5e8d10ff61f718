"""FakeVisualSnoop speaks VisualSnoop's API v1 (VENDORS §3) over the local engine, signed, with faults.

Driven here with a plain ``httpx.Client`` and the standalone ``VisualSnoopHmacAuth`` (as any user of a raw
httpx client would), so the wire format is checked without the SDK's adapter.
"""

from __future__ import annotations

import io
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from PIL import Image, ImageDraw

from tests.serving import first_line, serve_face, stop
from visualsearch_sdk import AuthenticationError, ImageRecord, VisualSearch
from visualsearch_sdk._serve import LoopbackServer
from visualsearch_sdk.providers.visualsnoop import VisualSnoopHmacAuth
from visualsearch_sdk.testing.fakes import FakeVisualSnoop

PUBLIC, SECRET = "unit-public", "unit-secret"
BASE = "http://visualsnoop.com/api/v1/"
NOW = 1_422_266_400.0  # Mon, 26 Jan 2015 10:00:00 GMT


def png(colour: tuple[int, int, int], shape: str = "box") -> bytes:
    image = Image.new("RGB", (96, 72), (240, 240, 235))
    draw = ImageDraw.Draw(image)
    if shape == "box":
        draw.rectangle((16, 12, 80, 60), fill=colour)
    else:
        draw.ellipse((20, 8, 76, 64), fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


RED, BLUE, GREEN = png((220, 30, 30)), png((30, 40, 210), "disc"), png((20, 170, 60))


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> Iterator[FakeVisualSnoop]:
    fake = FakeVisualSnoop(public_key=PUBLIC, secret_key=SECRET, clock=clock)
    yield fake
    fake.close()


@pytest.fixture
def client(fake: FakeVisualSnoop, clock: Clock) -> Iterator[httpx.Client]:
    auth = VisualSnoopHmacAuth(PUBLIC, SECRET, clock=clock)
    with httpx.Client(transport=fake.mount(), base_url=BASE, auth=auth) as c:
        yield c


def add(client: httpx.Client, image_id: str, data: bytes, method: str = "POST") -> httpx.Response:
    return client.request(method, f"image/{image_id}", content=data)


# -- authentication ---------------------------------------------------------------------------------------


def test_every_request_must_be_signed(fake: FakeVisualSnoop, clock: Clock) -> None:
    with httpx.Client(transport=fake.mount(), base_url=BASE) as raw:
        unsigned = raw.get("collection")
        bearer = raw.get("collection", headers={"Authorization": "Bearer x", "Date": "Mon, 26 Jan 2015"})
    assert unsigned.status_code == 401
    assert unsigned.json() == {"message": "Missing or malformed VSHMAC authorization", "status": 401}
    assert bearer.status_code == 401
    signer = VisualSnoopHmacAuth(PUBLIC, SECRET, clock=clock)
    with httpx.Client(transport=fake.mount(), base_url=BASE) as raw:
        request = signer.sign(raw.build_request("GET", "collection"))
        request.headers["Date"] = "not a date"
        assert raw.send(request).json()["message"] == "Invalid Date header"


def at(moment: float) -> Callable[[], float]:
    return lambda: moment


def test_skew_window_is_inclusive_of_fifteen_minutes(client: httpx.Client, clock: Clock) -> None:
    for offset, status in ((-900, 200), (900, 200), (-901, 401), (901, 401)):
        signer = VisualSnoopHmacAuth(PUBLIC, SECRET, clock=at(clock.now + offset))
        assert client.get("collection", auth=signer).status_code == status, offset


def test_the_query_string_is_not_signed_but_the_path_is(fake: FakeVisualSnoop, clock: Clock) -> None:
    signed = VisualSnoopHmacAuth(PUBLIC, SECRET, clock=clock).sign(
        httpx.Request("GET", BASE + "images?count=1")
    )
    with httpx.Client(transport=fake.mount()) as raw:
        other_query = raw.send(httpx.Request("GET", BASE + "images?count=2", headers=signed.headers))
        other_path = raw.send(httpx.Request("GET", BASE + "images/x?count=1", headers=signed.headers))
    assert other_query.status_code == 200
    assert (other_path.status_code, other_path.json()["message"]) == (401, "Invalid signature")


# -- images -----------------------------------------------------------------------------------------------


def test_collection_handshake(client: httpx.Client) -> None:
    response = client.get("collection", params={"session": "init"})
    assert response.status_code == 200
    assert response.json() == {
        "collection_id": "6b7c9142",
        "collection_name": "Fake collection",
        "user": "fake@example.com",
        "message": "OK",
        "status": 200,
    }


def test_add_refuses_an_existing_id_and_put_replaces(client: httpx.Client) -> None:
    added = add(client, "myid12", RED)
    assert added.status_code == 201
    body = added.json()
    assert (body["image_id"], body["message"], body["status"], body["collection_id"]) == (
        "myid12",
        "Added",
        201,
        "6b7c9142",
    )
    assert body["image_time"] == "2015-01-26T10:00:00.000000+00:00"
    again = add(client, "myid12", BLUE)
    assert (again.status_code, again.json()["status"]) == (409, 409)
    replaced = add(client, "myid12", BLUE, "PUT")
    assert (replaced.status_code, replaced.json()["message"]) == (200, "Updated")
    created = add(client, "fresh", GREEN, "PUT")
    assert (created.status_code, created.json()["message"]) == (201, "Added")
    top = client.post("search", content=BLUE).json()["results"][0]
    assert top == {"id": "myid12", "rank": 0}  # the replaced image is searched, not the first one


def test_server_assigned_ids(client: httpx.Client) -> None:
    first, second = (client.post("image", content=RED).json()["image_id"] for _ in range(2))
    assert first != second and len(first) == 32 and int(first, 16) >= 0  # POST /image is not idempotent


def test_get_delete_and_errors(client: httpx.Client) -> None:
    assert add(client, "a%20b%2Fc", RED).json()["image_id"] == "a b/c"
    assert client.get("image/a%20b%2Fc").json()["image_id"] == "a b/c"
    assert client.get("image/a%20b/c").status_code == 404  # an unencoded '/' is another route
    assert client.get("image/nope").json() == {"message": "Not found", "status": 404}
    deleted = client.delete("image/a%20b%2Fc")
    assert (deleted.status_code, deleted.json()["message"]) == (200, "Deleted")
    assert client.delete("image/a%20b%2Fc").status_code == 404
    assert client.get("image/" + "x" * 101).status_code == 400
    assert client.post("image/empty", content=b"").status_code == 400
    assert client.post("image/junk", content=b"not an image").json()["status"] == 400
    assert client.patch("image/x").status_code == 405
    assert client.get("nothing/here").status_code == 404
    assert client.get("image/%FF").status_code == 400  # not UTF-8


def test_listing_is_newest_first_with_an_id_cursor(client: httpx.Client, clock: Clock) -> None:
    for n, (name, data) in enumerate((("one", RED), ("two", BLUE), ("three", GREEN))):
        clock.now = NOW + n
        add(client, name, data)
    everything = client.get("images").json()
    assert [i["id"] for i in everything["images"]] == ["three", "two", "one"]
    assert everything["next_image_id"] is None
    page = client.get("images", params={"count": 2}).json()
    assert [i["id"] for i in page["images"]] == ["three", "two"] and page["next_image_id"] == "one"
    rest = client.get("images", params={"start": "one", "count": 2}).json()
    assert [i["id"] for i in rest["images"]] == ["one"] and rest["next_image_id"] is None
    assert client.get("images", params={"start": "gone"}).status_code == 404
    assert client.get("images", params={"count": "0"}).status_code == 400
    same_instant = [add(client, f"tie{n}", RED).json()["image_time"] for n in range(2)]
    assert same_instant[0] < same_instant[1]  # strictly increasing, so the order is total


def test_search_by_upload_and_by_id(client: httpx.Client) -> None:
    for name, data in (("red", RED), ("blue", BLUE), ("green", GREEN)):
        add(client, name, data)
    upload = client.post("search", content=RED).json()
    assert [r["rank"] for r in upload["results"]] == [0, 1, 2]
    assert upload["results"][0]["id"] == "red" and upload["status"] == 200
    by_id = client.get("search/red").json()
    assert [r["id"] for r in by_id["results"]] != [] and "red" not in [r["id"] for r in by_id["results"]]
    assert by_id["image_id"] == "red" and by_id["image_time"]
    assert client.get("search/missing").status_code == 404


def test_match_threshold_keeps_close_matches_only(clock: Clock) -> None:
    fake = FakeVisualSnoop(public_key=PUBLIC, secret_key=SECRET, clock=clock, match_threshold=0.99)
    auth = VisualSnoopHmacAuth(PUBLIC, SECRET, clock=clock)
    with httpx.Client(transport=fake.mount(), base_url=BASE, auth=auth) as client:
        add(client, "red", RED)
        add(client, "blue", BLUE)
        assert client.post("search", content=RED).json()["results"] == [{"id": "red", "rank": 0}]
        assert client.get("search/red").json()["results"] == []  # as doc 003's example answers
    fake.close()


def test_faults_use_the_vendor_error_shape(fake: FakeVisualSnoop, client: httpx.Client) -> None:
    fake.fail_next(503)
    response = client.get("collection")
    assert (response.status_code, response.json()) == (503, {"status": 503, "message": "Service Unavailable"})
    assert client.get("collection").status_code == 200
    assert len(fake.requests) == 2


def test_encoded_ids_survive_a_real_socket(fake: FakeVisualSnoop, clock: Clock) -> None:
    auth = VisualSnoopHmacAuth(PUBLIC, SECRET, clock=clock)
    with LoopbackServer(fake) as server, httpx.Client(base_url=server.url + "/api/v1/", auth=auth) as c:
        assert add(c, "caf%C3%A9%3F%23%2F", RED).status_code == 201
        assert c.get("image/caf%C3%A9%3F%23%2F").json()["image_id"] == "café?#/"
    assert fake.requests[0].url.raw_path == b"/api/v1/image/caf%C3%A9%3F%23%2F"


def test_for_serving_and_client_url() -> None:
    default = FakeVisualSnoop.for_serving(path=None, token=None)
    assert default.client_url() == (
        "visualsnoop://fake-visualsnoop-public:fake-visualsnoop-secret@visualsnoop.com/api/v1"
    )
    pair = FakeVisualSnoop.for_serving(path=None, token="pub:se:cr@t")
    assert (pair.public_key, pair.secret_key) == ("pub", "se:cr@t")
    assert pair.client_url(base_url="http://127.0.0.1:8080/") == (
        "visualsnoop://pub:se%3Acr%40t@visualsnoop.com/api/v1?base_url=http://127.0.0.1:8080/api/v1"
    )
    assert FakeVisualSnoop.for_serving(path=None, token="only-secret").secret_key == "only-secret"
    with pytest.raises(ValueError, match="secret"):
        FakeVisualSnoop(secret_key="  ")


# -- visualsearch serve --face visualsnoop ---------------------------------------------------------------


def _serve(*extra: str) -> subprocess.Popen[str]:
    return serve_face("visualsnoop", *extra)


def test_serve_face_prints_a_ready_to_use_url(tmp_path: Path) -> None:
    process = _serve("--token", "cli-public:cli-secret", "--path", str(tmp_path / "idx"))
    try:
        line = first_line(process)
        parts = urlsplit(line)
        assert (parts.scheme, parts.username, parts.password) == ("visualsnoop", "cli-public", "cli-secret")
        base = urlsplit(parse_qs(parts.query)["base_url"][0])
        assert (base.scheme, base.hostname, base.path) == ("http", "127.0.0.1", "/api/v1")
        with VisualSearch.from_url(line) as vs:  # plain http to loopback needs no opt-in
            vs.verify()
            records: list[Any] = [ImageRecord(id=f"r/{n}", image=data) for n, data in enumerate((RED, BLUE))]
            assert vs.index(records).ok
            assert vs.search(image=BLUE, limit=1).ids == ["r/1"]
            assert vs.get("r/0").id == "r/0"
        with (
            VisualSearch.from_url(line.replace("cli-secret", "wrong")) as vs,
            pytest.raises(AuthenticationError),
        ):
            vs.verify()
    finally:
        code, stderr = stop(process)
    assert code == 0, stderr
    assert "serving a fake of VisualSnoop" in stderr
