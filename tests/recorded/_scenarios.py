"""The code a cassette is recorded with and replayed through: the same calls, sync or async.

A scenario takes a client (a ``VisualSearch``, or an ``AsyncVisualSearch`` behind
``tests.conftest.AsyncDriver``, so it is written once) and the test images, makes its calls, and returns their
results normalised: plain JSON values without the vendor's ``raw`` payloads, errors as their class, status and
vendor code. Recording and replaying must give identical normalised results.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from tests.recorded._setups import Images
from visualsearch_sdk import F
from visualsearch_sdk._exceptions import APIStatusError, VisualSearchError
from visualsearch_sdk.capabilities import Capability


def normalise(value: Any) -> Any:
    """Models, tuples, errors and floats as plain, comparable JSON values (``raw`` payloads left out)."""
    if isinstance(value, BaseException):
        out: dict[str, Any] = {"error": type(value).__name__}
        if isinstance(value, APIStatusError):
            out.update(status=value.status_code, code=value.provider_code)
        return out
    if isinstance(value, BaseModel):
        return {k: normalise(getattr(value, k)) for k in type(value).model_fields if k != "raw"}
    if isinstance(value, dict):
        return {str(k): normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalise(v) for v in value]
    if isinstance(value, float):
        return round(value, 9)
    return value


def _normalised(out: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = normalise(out)
    return result


def _attempt(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except VisualSearchError as exc:
        return exc


def flow(vs: Any, images: Images) -> dict[str, Any]:
    """Index, search every way the provider can, read, update, list, delete: what it declares, no more."""
    caps = vs.capabilities
    meta = Capability.METADATA in caps
    records = []
    for image in images.items:
        record: dict[str, Any] = {"id": image.id}
        if Capability.INDEX_FROM_BYTES in caps:
            record["image"] = image.data
        else:  # e.g. ViSearch downloads its images
            record["url"] = images.url_for(image.id)
        if meta:
            record["metadata"] = image.metadata
        records.append(record)
    out: dict[str, Any] = {"index": vs.index(records, wait=Capability.INDEX_ASYNC in caps)}
    query = images.items[0].data
    if Capability.SEARCH_BY_IMAGE in caps:
        out["search_image"] = vs.search(image=query, limit=3)
        if Capability.SERVER_CROP in caps:  # the box travels as a parameter; the bytes stay as they are
            out["search_box"] = vs.search(image=query, box=(20, 30, 200, 210), limit=2)
        if Capability.FILTERS in caps and meta:
            out["search_filter"] = vs.search(image=query, limit=3, filter=F("category") == "dress")
    if Capability.SEARCH_BY_ID in caps:
        out["search_id"] = vs.search(id=images.items[1].id, limit=2)
    if Capability.GET in caps:
        out["get"] = vs.get(images.items[2].id)
        out["get_missing"] = _attempt(lambda: vs.get("no-such-record"))
    if Capability.INDEX_UPDATE in caps and meta:
        out["update"] = vs.update(images.items[2].id, {"brand": "Zephyr"})
    if Capability.COUNT in caps:
        out["count"] = vs.count()
    if Capability.LIST in caps:
        out["list"] = sorted(record.id for record in vs.iter_records(page_size=2))
    if Capability.INDEX_DELETE in caps:
        out["delete"] = vs.delete([images.items[3].id, "no-such-record"])
        if Capability.COUNT in caps:
            out["count_after_delete"] = vs.count()
    return _normalised(out)


def ximilar_documented(vs: Any, images: Images) -> dict[str, Any]:
    """The calls whose requests are doc 001's examples (``cassettes/ximilar/documented.yaml``)."""
    out: dict[str, Any] = {}
    out["search_id"] = vs.search(id="11959", limit=2, fields=[], filter=F("artist") != "david_27")
    out["insert"] = vs.index(
        [
            {"id": "1", "url": "http://mydomain.com/img.png"},
            {"id": "2", "image": images.items[0].data},
            {
                "id": "3",
                "url": "http://mydomain.com/another_image.jpg",
                "metadata": {"any_field": "for filtering", "price": 300},
            },
        ]
    )
    out["delete"] = vs.delete(["1", "2", "3"])
    out["count"] = vs.count()
    out["get_missing"] = _attempt(lambda: vs.get("404"))
    return _normalised(out)


def visualsnoop_documented(vs: Any, images: Images) -> dict[str, Any]:
    """The calls of doc 003's walkthrough (``cassettes/visualsnoop/documented.yaml``)."""
    replaced = "c14d4bae93a95c159360e29de998181b"
    out: dict[str, Any] = {
        "add": vs.index([{"id": "myid12", "image": images.items[0].data}]),
        "replace": vs.index([{"id": replaced, "image": images.items[1].data}], upsert=True),
        "search_id": vs.search(id=replaced),
        "search_image": vs.search(image=images.items[1].data, limit=5),
        "get": vs.get("myid12"),
        "list": [record.id for record in vs.iter_records(page_size=10)],
        "delete": vs.delete(["myidl2"]),
    }
    return _normalised(out)


def alibaba_documented(vs: Any, images: Images) -> dict[str, Any]:
    """doc 004's SearchImageByPic sample, then an error of its table (``cassettes/alibaba/documented``)."""
    out: dict[str, Any] = {"search_image": vs.search(image=images.items[0].data, limit=1)}
    out["invalid_instance"] = _attempt(lambda: vs.search(id="demo", limit=1))
    return _normalised(out)


def visearch_documented(vs: Any, images: Images) -> dict[str, Any]:
    """The answers VENDORS.md §1.6 quotes (``cassettes/visearch/documented.yaml``)."""
    out: dict[str, Any] = {
        "search_id": vs.search(id="red_dress", limit=10),
        "insert": vs.index(
            [{"id": "x", "url": images.url_for("x")}, {"id": "y", "url": images.url_for("y")}]
        ),
        "remove": vs.delete(["y", "z"]),
        "refused": _attempt(lambda: vs.search(id="blue_dress", limit=10)),
    }
    return _normalised(out)


SCENARIOS: dict[str, Callable[[Any, Images], dict[str, Any]]] = {
    "flow": flow,
    "ximilar_documented": ximilar_documented,
    "visualsnoop_documented": visualsnoop_documented,
    "alibaba_documented": alibaba_documented,
    "visearch_documented": visearch_documented,
}
