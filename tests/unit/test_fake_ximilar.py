"""FakeXimilar speaks Ximilar's similarity API v2 (VENDORS §2) over the local engine, and injects faults."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw

from visualsearch_sdk._serve import LoopbackServer
from visualsearch_sdk.local.app import LocalTransport
from visualsearch_sdk.testing.fakes import DroppedConnection, FakeXimilar, SimulatedTimeout

TOKEN = "t0ken-for-the-fake"
COLLECTION = "coll-1"
PREFIX = "https://api.ximilar.com/similarity/products/v2/"
HEADERS = {"Authorization": f"Token {TOKEN}", "collection-id": COLLECTION}


def png(colour: tuple[int, int, int], shape: str = "box", size: tuple[int, int] = (96, 72)) -> bytes:
    image = Image.new("RGB", size, (240, 240, 235))
    draw = ImageDraw.Draw(image)
    if shape == "box":
        draw.rectangle((16, 12, 80, 60), fill=colour)
    elif shape == "disc":
        draw.ellipse((20, 8, 76, 64), fill=colour)
    else:
        for x in range(0, size[0], 12):
            draw.rectangle((x, 0, x + 5, size[1]), fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


IMAGES = {
    "red-box": png((220, 30, 30), "box"),
    "blue-disc": png((30, 40, 210), "disc"),
    "green-stripes": png((20, 170, 60), "stripes"),
    "red-disc": png((210, 40, 30), "disc"),
}
META: dict[str, dict[str, Any]] = {
    "red-box": {"colour": "red", "price": 10, "brand": "acme"},
    "blue-disc": {"colour": "blue", "price": 25, "brand": "acme"},
    "green-stripes": {"colour": "green", "price": 40, "brand": "zeta"},
    "red-disc": {"colour": "red", "price": 55, "brand": "zeta"},
}


@pytest.fixture
def fake() -> Iterator[FakeXimilar]:
    fake = FakeXimilar(token=TOKEN, collection_id=COLLECTION)
    yield fake
    fake.close()


@pytest.fixture
def client(fake: FakeXimilar) -> Iterator[httpx.Client]:
    with httpx.Client(
        transport=LocalTransport(fake, close_handler=False), base_url=PREFIX, headers=HEADERS
    ) as c:
        yield c


@pytest.fixture
def loaded(client: httpx.Client) -> httpx.Client:
    records = [{"_id": key, "_base64": b64(data), **META[key]} for key, data in IMAGES.items()]
    response = client.post("insert", json={"records": records})
    assert response.status_code == 210, response.text
    return client


# -- auth and routing -------------------------------------------------------------------------------------


def test_auth_rejections_use_the_drf_detail_shape(fake: FakeXimilar) -> None:
    with httpx.Client(transport=fake.mount(), base_url=PREFIX) as raw:
        missing = raw.get("getRecordCount", headers={"collection-id": COLLECTION})
        wrong = raw.get(
            "getRecordCount", headers={"Authorization": "Token nope", "collection-id": COLLECTION}
        )
        scheme = raw.get(
            "getRecordCount", headers={"Authorization": f"Bearer {TOKEN}", "collection-id": COLLECTION}
        )
        no_collection = raw.get("getRecordCount", headers={"Authorization": f"Token {TOKEN}"})
        jwt = raw.get(
            "getRecordCount", headers={"Authorization": f"JWT {TOKEN}", "collection-id": COLLECTION}
        )
        ping = raw.get("ping")  # doc 001 pings without credentials
    assert missing.status_code == 401
    assert missing.json() == {"detail": "Authentication credentials were not provided."}
    assert missing.headers["www-authenticate"] == "Token"
    assert (wrong.status_code, wrong.json()) == (401, {"detail": "Invalid token."})
    assert scheme.status_code == 401
    assert no_collection.status_code == 403
    assert "detail" in no_collection.json()
    assert jwt.status_code == 200
    assert jwt.json()["answer_count"] == 0
    assert ping.status_code == 200
    assert ping.json()["status"] == {"code": 200, "text": "OK"}
    assert "info" in ping.json()


def test_authorize_call_of_the_official_client(fake: FakeXimilar) -> None:
    body = {"service": "product-similarity", "call_type": "authenticate"}
    with httpx.Client(transport=fake.mount(), base_url="https://api.ximilar.com") as raw:
        ok = raw.post("/authorization/v2/authorize", json=body, headers={"Authorization": f"Token {TOKEN}"})
        bad = raw.post("/authorization/v2/authorize", json=body, headers={"Authorization": "Token x"})
    assert ok.status_code == 200
    assert ok.json()["user_id"]
    assert bad.status_code == 401
    assert "detail" in bad.json()


@pytest.mark.parametrize("prefix", ["similarity/products/v2", "similarity/products-new/v2"])
def test_documented_and_new_prefixes_are_served(fake: FakeXimilar, prefix: str) -> None:
    with httpx.Client(transport=fake.mount(), headers=HEADERS) as raw:
        response = raw.get(f"https://any.host/{prefix}/getRecordCount")
    assert response.status_code == 200


def test_unknown_and_absent_endpoints_answer_404_and_wrong_methods_405(client: httpx.Client) -> None:
    assert client.post("visualTagsKNN", json={"query_record": {"_id": "x"}}).status_code == 404
    assert client.post("visualTagsKNNMulti", json={"query_records": [{"_id": "x"}]}).status_code == 404
    assert client.post("visualRankRecords", json={"query_record": {"_id": "x"}}).status_code == 404
    assert client.post("https://api.ximilar.com/similarity/fashion/v2/visualKNN", json={}).status_code == 404
    assert client.get("insert").status_code == 405


def test_client_url_and_mount() -> None:
    fake = FakeXimilar(token="a/b", collection_id="c d", service="photos")
    assert fake.client_url() == "ximilar://a%2Fb@api.ximilar.com/c%20d?service=photos"
    assert isinstance(fake.mount(), LocalTransport)
    assert FakeXimilar(service="products-new").client_url().endswith("?service=products-new")
    with pytest.raises(ValueError, match="unknown Ximilar service"):
        FakeXimilar(service="shoes")  # type: ignore[arg-type]


# -- insert ---------------------------------------------------------------------------------------------


def test_insert_refuses_more_than_ten_records(client: httpx.Client) -> None:
    records = [{"_id": str(i), "_base64": b64(IMAGES["red-box"])} for i in range(11)]
    response = client.post("insert", json={"records": records})
    assert response.status_code == 400
    assert response.json()["status"]["code"] == 400
    assert "10" in response.json()["status"]["error_description"]
    assert client.get("getRecordCount").json()["answer_count"] == 0


def test_duplicates_are_skipped_with_211_then_411(loaded: httpx.Client) -> None:
    some = loaded.post(
        "insert",
        json={
            "records": [
                {"_id": "red-box", "_base64": b64(IMAGES["red-box"])},
                {"_id": "new", "_base64": b64(IMAGES["red-disc"])},
            ]
        },
    )
    assert some.status_code == 211
    body = some.json()
    assert body["status"] == {"code": 211, "text": "some records inserted"}
    assert body["answer_records"] == [{"_id": "new"}]
    assert body["skipped_records"] == [
        {"_id": "red-box", "_reason": {"status": {"code": 211, "text": "record(s) duplicate"}}}
    ]
    again = loaded.post("insert", json={"records": [{"_id": "new", "_base64": b64(IMAGES["red-disc"])}]})
    assert again.status_code == 411
    assert again.json()["status"]["code"] == 411
    assert again.json()["answer_count"] == 0


def test_insert_data_uri_and_fields_to_return(client: httpx.Client) -> None:
    record = {"_id": "d", "_base64": "data:image/png;base64," + b64(IMAGES["blue-disc"]), "noresize": True}
    response = client.post("insert", json={"records": [record], "fields_to_return": ["_id", "noresize"]})
    assert response.json()["answer_records"] == [
        {"_id": "d", "noresize": True}
    ]  # VENDORS §5: sent as a field


def test_url_records_need_a_resolver() -> None:
    seen: list[str] = []

    def resolve(url: str) -> bytes:
        seen.append(url)
        return IMAGES["green-stripes"]

    with_resolver, without = FakeXimilar(url_resolver=resolve), FakeXimilar()
    headers = {"Authorization": "Token fake-ximilar-token", "collection-id": "fake-collection"}
    record = {"_id": "u", "_url": "https://img.example/u.png"}
    with httpx.Client(transport=with_resolver.mount(), base_url=PREFIX, headers=headers) as c:
        assert c.post("insert", json={"records": [record]}).status_code == 210
        got = c.post("get", json={"records": [{"_id": "u"}]}).json()
        assert got["answer_records"] == [{"_id": "u", "_url": "https://img.example/u.png"}]
        hit = c.post("visualKNN", json={"query_record": {"_url": "https://img.example/q.png"}, "k": 1}).json()
        assert hit["answer_records"] == [{"_id": "u"}]
        assert hit["answer_distances"] == [0.0]
    assert seen == ["https://img.example/u.png", "https://img.example/q.png"]
    with httpx.Client(transport=without.mount(), base_url=PREFIX, headers=headers) as c:
        refused = c.post("insert", json={"records": [record]})
        assert refused.json()["skipped_records"][0]["_reason"]["status"]["code"] == 402
        query = c.post("visualKNN", json={"query_record": {"_url": "https://img.example/q.png"}})
        assert query.status_code == 403
        assert query.json()["status"] == {
            "code": 403,
            "text": "wrong query record",
            "error_description": query.json()["status"]["error_description"],
        }


# -- search ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", list(IMAGES))
def test_search_by_id_and_by_base64_find_the_image_first_at_distance_zero(
    loaded: httpx.Client, key: str
) -> None:
    for query in ({"_id": key}, {"_base64": b64(IMAGES[key])}):
        body = loaded.post("visualKNN", json={"query_record": query, "k": 4}).json()
        assert body["status"] == {"code": 200, "text": "OK"}
        assert body["answer_records"][0] == {"_id": key}
        assert body["answer_distances"][0] == 0.0
        assert body["answer_distances"] == sorted(body["answer_distances"])
        assert all(0.0 <= d <= 100.0 for d in body["answer_distances"])
        assert body["answer_count"] == 4
        assert body["query_records"] == [query]


def test_unknown_query_id_is_a_wrong_query_record(loaded: httpx.Client) -> None:
    response = loaded.post("visualKNN", json={"query_record": {"_id": "missing"}})
    assert response.status_code == 403
    assert response.json()["status"]["code"] == 403


def test_search_filters(loaded: httpx.Client) -> None:
    def ids(flt: dict[str, Any], query: dict[str, Any] | None = None) -> set[str]:
        body = {"query_record": query or {"_id": "red-box"}, "k": 10, "filter": flt}
        response = loaded.post("visualKNN", json=body)
        assert response.status_code == 200, response.text
        return {r["_id"] for r in response.json()["answer_records"]}

    assert ids({"colour": "red"}) == {"red-box", "red-disc"}
    assert ids({"colour": {"$ne": "red"}}) == {"blue-disc", "green-stripes"}
    assert ids({"price": {"$gte": 25, "$lt": 55}}) == {"blue-disc", "green-stripes"}
    assert ids({"$gte": {"price": 40}}) == {"green-stripes", "red-disc"}  # doc 001's operator-first form
    assert ids({"$or": [{"brand": "zeta"}, {"price": 10}]}) == {"red-box", "green-stripes", "red-disc"}
    assert ids({"colour": {"$in": ["blue", "green"]}}) == {"blue-disc", "green-stripes"}
    assert ids({"colour": {"$not": {"$eq": "red"}}}) == {"blue-disc", "green-stripes"}
    assert ids({"brand": "{TAKE_FROM_QUERY}"}, {"_id": "green-stripes"}) == {"green-stripes", "red-disc"}
    assert ids({"brand": "{TAKE_FROM_QUERY}"}, {"_base64": b64(IMAGES["red-box"])}) == set(IMAGES)  # ignored
    bad = loaded.post(
        "visualKNN", json={"query_record": {"_id": "red-box"}, "filter": {"a": {"$regex": "x"}}}
    )
    assert bad.status_code == 400
    assert bad.json()["status"]["code"] == 400


def test_fields_to_return(loaded: httpx.Client) -> None:
    query = {"query_record": {"_id": "blue-disc"}, "k": 1}
    assert loaded.post("visualKNN", json=query).json()["answer_records"] == [{"_id": "blue-disc"}]
    some = loaded.post("visualKNN", json={**query, "fields_to_return": ["_id", "price"]}).json()
    assert some["answer_records"] == [{"_id": "blue-disc", "price": 25}]
    every = loaded.post("visualKNN", json={**query, "fields_to_return": ["*"]}).json()
    assert every["answer_records"] == [{"_id": "blue-disc", **META["blue-disc"]}]


def test_knn_paging_with_from(loaded: httpx.Client) -> None:
    full = loaded.post("visualKNN", json={"query_record": {"_id": "red-box"}, "k": 4}).json()
    pages = [
        loaded.post("visualKNN", json={"query_record": {"_id": "red-box"}, "k": 2, "from": start}).json()
        for start in (0, 2, 4)
    ]
    assert [r for p in pages for r in p["answer_records"]] == full["answer_records"]
    assert [d for p in pages for d in p["answer_distances"]] == full["answer_distances"]
    assert pages[2]["answer_count"] == 0


def test_near_duplicates_and_range(loaded: httpx.Client) -> None:
    dup = loaded.post("nearDuplicates", json={"query_record": {"_base64": b64(IMAGES["blue-disc"])}}).json()
    assert [r["_id"] for r in dup["answer_records"]] == ["blue-disc"]
    assert dup["answer_records"][0]["colour"] == "blue"  # fields default to ["*"]
    wide = loaded.post("range", json={"query_record": {"_id": "red-box"}, "radius": 100}).json()
    assert {r["_id"] for r in wide["answer_records"]} == set(IMAGES)
    assert loaded.post("range", json={"query_record": {"_id": "red-box"}}).status_code == 400


# -- records --------------------------------------------------------------------------------------------


def test_get_update_delete_and_count(loaded: httpx.Client) -> None:
    got = loaded.post(
        "get", json={"records": [{"_id": "red-box"}, {"_id": "nope"}], "fields_to_return": ["*"]}
    )
    assert got.status_code == 206
    assert got.json()["answer_records"] == [{"_id": "red-box", **META["red-box"]}]
    assert got.json()["skipped_records"] == [
        {"_id": "nope", "_reason": {"status": {"code": 404, "text": "records not found"}}}
    ]
    assert loaded.post("get", json={"records": [{"_id": "red-box"}]}).status_code == 205
    assert loaded.post("get", json={"records": [{"_id": "nope"}]}).status_code == 404

    updated = loaded.post("update", json={"records": [{"_id": "red-box", "day": "monday", "price": None}]})
    assert updated.status_code == 205
    assert updated.json()["answer_records"] == [
        {"_id": "red-box", "colour": "red", "brand": "acme", "day": "monday"}
    ]
    assert loaded.post("update", json={"records": [{"_id": "nope", "a": 1}]}).status_code == 404
    hit = loaded.post(
        "visualKNN", json={"query_record": {"_id": "red-box"}, "k": 1, "filter": {"day": "monday"}}
    )
    assert hit.json()["answer_records"] == [{"_id": "red-box"}]

    deleted = loaded.post("delete", json={"records": [{"_id": "red-box"}, {"_id": "blue-disc"}]})
    assert deleted.status_code == 220
    assert deleted.json()["status"] == {"code": 220, "text": "records deleted"}
    assert deleted.json()["answer_records"] == [{"_id": "red-box"}, {"_id": "blue-disc"}]
    partial = loaded.post("delete", json={"records": [{"_id": "red-box"}, {"_id": "red-disc"}]})
    assert partial.status_code == 206
    assert [s["_id"] for s in partial.json()["skipped_records"]] == ["red-box"]
    assert loaded.post("delete", json={"records": [{"_id": "red-box"}]}).status_code == 404
    assert loaded.get("getRecordCount").json()["answer_count"] == 1


def test_all_records_pages_with_next(loaded: httpx.Client) -> None:
    seen: list[str] = []
    page, nexts = 1, []
    while True:
        body = loaded.post(
            f"allRecords?size=3&page={page}", json={"fields_to_return": ["_id", "price"]}
        ).json()
        assert body["answer_count"] == 4  # the whole collection
        seen += [r["_id"] for r in body["answer_records"]]
        assert all(set(r) == {"_id", "price"} for r in body["answer_records"])
        if "next" not in body:
            assert body["previous"] == "https://api.ximilar.com/v2/allRecords?page=1&size=3"
            break
        nexts.append(body["next"])
        page += 1
    assert nexts == ["https://api.ximilar.com/v2/allRecords?page=2&size=3"]
    assert sorted(seen) == sorted(IMAGES)
    everything = loaded.post("allRecords", json={"filter": {"brand": "zeta"}}).json()
    assert [r["_id"] for r in everything["answer_records"]] == ["green-stripes", "red-disc"]
    assert "next" not in everything


def test_random_and_find(loaded: httpx.Client) -> None:
    picked = loaded.post(
        "random", json={"count": 2, "fields_to_return": ["_id"], "filter": {"price": {"$gte": 25}}}
    )
    ids = [r["_id"] for r in picked.json()["answer_records"]]
    assert len(ids) == 2
    assert set(ids) <= {"blue-disc", "green-stripes", "red-disc"}
    found = loaded.post("find", json={"filter": {"colour": "red"}, "limit": 1}).json()
    assert found["answer_records"] == [{"_id": "red-box", **META["red-box"]}]


def test_mirror_status_off_answers_200_for_success_codes() -> None:
    fake = FakeXimilar(mirror_status=False)
    headers = {"Authorization": "Token fake-ximilar-token", "collection-id": "fake-collection"}
    with httpx.Client(transport=fake.mount(), base_url=PREFIX, headers=headers) as c:
        response = c.post("insert", json={"records": [{"_id": "a", "_base64": b64(IMAGES["red-box"])}]})
        assert (response.status_code, response.json()["status"]["code"]) == (200, 210)
        assert c.post("visualKNN", json={"query_record": {"_id": "zz"}}).status_code == 403


def test_persistent_path(tmp_path: Path) -> None:
    headers = {"Authorization": "Token fake-ximilar-token", "collection-id": "fake-collection"}
    first = FakeXimilar(path=tmp_path / "idx")
    with httpx.Client(transport=first.mount(), base_url=PREFIX, headers=headers) as c:
        c.post("insert", json={"records": [{"_id": "a", "_base64": b64(IMAGES["red-box"])}]})
    first.close()
    second = FakeXimilar(path=tmp_path / "idx")
    with httpx.Client(transport=second.mount(), base_url=PREFIX, headers=headers) as c:
        assert c.get("getRecordCount").json()["answer_count"] == 1
    second.close()


@pytest.mark.anyio
async def test_async_client(fake: FakeXimilar) -> None:
    async with httpx.AsyncClient(transport=fake.mount(), base_url=PREFIX, headers=HEADERS) as c:
        response = await c.post("insert", json={"records": [{"_id": "a", "_base64": b64(IMAGES["red-box"])}]})
        assert response.status_code == 210
        hit = await c.post("visualKNN", json={"query_record": {"_id": "a"}})
        assert hit.json()["answer_distances"] == [0.0]


# -- faults ---------------------------------------------------------------------------------------------


def test_fail_next_in_the_vendor_shape_then_recovers(fake: FakeXimilar, client: httpx.Client) -> None:
    fake.fail_next(429, retry_after=2)
    fake.fail_next(503, times=2)
    limited = client.get("getRecordCount")
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "2"
    assert limited.json()["status"]["code"] == 429
    assert [client.get("getRecordCount").status_code for _ in range(3)] == [503, 503, 200]
    fake.fail_next(401)
    assert client.get("getRecordCount").json() == {"detail": "Invalid token."}
    fake.fail_next(500, body={"custom": True})
    assert client.get("getRecordCount").json() == {"custom": True}
    assert len(fake.requests) == 6
    assert all(r.url.path.endswith("/getRecordCount") for r in fake.requests)


def test_fail_next_html(fake: FakeXimilar, client: httpx.Client) -> None:
    fake.fail_next(502, html=True)
    response = client.post("visualKNN", json={"query_record": {"_id": "a"}})
    assert response.status_code == 502
    assert response.headers["content-type"] == "text/html"
    assert "502 Bad Gateway" in response.text


def test_drop_and_timeout(fake: FakeXimilar, client: httpx.Client) -> None:
    fake.drop_next()
    fake.timeout_next()
    with pytest.raises(httpx.RemoteProtocolError) as dropped:
        client.post("insert", json={"records": [{"_id": "a", "_base64": b64(IMAGES["red-box"])}]})
    assert isinstance(dropped.value, DroppedConnection)
    with pytest.raises(httpx.ReadTimeout) as timed_out:
        client.get("getRecordCount")
    assert isinstance(timed_out.value, SimulatedTimeout)
    assert client.get("getRecordCount").json()["answer_count"] == 0  # the dropped insert was never handled
    assert len(fake.requests) == 3


def test_delay(fake: FakeXimilar, client: httpx.Client) -> None:
    fake.delay(0.05)
    started = time.perf_counter()
    client.get("getRecordCount")
    client.get("getRecordCount")
    assert time.perf_counter() - started >= 0.1
    fake.delay(0)
    with pytest.raises(ValueError, match=">= 0"):
        fake.delay(-1)


# -- a real socket ----------------------------------------------------------------------------------------


def test_served_on_a_loopback_socket(fake: FakeXimilar) -> None:
    with LoopbackServer(fake) as server, httpx.Client(base_url=server.url, headers=HEADERS) as c:
        base = "/similarity/products-new/v2/"
        inserted = c.post(
            base + "insert", json={"records": [{"_id": "a", "_base64": b64(IMAGES["blue-disc"])}]}
        )
        assert inserted.status_code == 210
        hit = c.post(base + "visualKNN", json={"query_record": {"_base64": b64(IMAGES["blue-disc"])}, "k": 1})
        assert hit.json()["answer_records"] == [{"_id": "a"}]
        assert hit.json()["answer_distances"] == [0.0]
        page = c.post(base + "allRecords?size=1&page=1", json={}).json()
        assert page["answer_count"] == 1
        assert "next" not in page
        fake.fail_next(503, retry_after=1)
        failed = c.get(base + "getRecordCount")
        assert (failed.status_code, failed.headers["retry-after"]) == (503, "1")


def test_dropped_connection_on_a_loopback_socket(fake: FakeXimilar) -> None:
    # Without the _serve.py support for DroppedConnection the server also closes the socket, after logging
    # the exception; with it, it closes quietly. Either way the client sees a disconnect.
    with LoopbackServer(fake) as server, httpx.Client(base_url=server.url, headers=HEADERS) as c:
        fake.drop_next()
        with pytest.raises(httpx.RemoteProtocolError):
            c.get("/similarity/products/v2/getRecordCount")
        assert c.get("/similarity/products/v2/getRecordCount").status_code == 200


def test_a_simulated_timeout_on_a_socket_is_a_real_read_timeout() -> None:
    fake = FakeXimilar(token=TOKEN, collection_id=COLLECTION)
    with LoopbackServer(fake) as server, httpx.Client(base_url=server.url, headers=HEADERS, timeout=0.5) as c:
        fake.timeout_next()
        with pytest.raises(httpx.ReadTimeout):
            c.get("/similarity/products/v2/getRecordCount")
        assert c.get("/similarity/products/v2/getRecordCount").status_code == 200
