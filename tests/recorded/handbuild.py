"""Build the cassettes whose answers are vendors' documented examples: ``python -m tests.recorded.handbuild``.

Each answer below is transcribed from the vendor's documentation (the source is named beside it); the requests
are what the SDK sends for the calls of the setup's scenario (``_scenarios.py``), captured through the same
scrubbing as any recording. Nothing is sent anywhere: an ``httpx.MockTransport`` hands out the documented
answers in order. ``cassettes/ximilar/documented.yaml`` is written fully by hand instead (with a comment per
interaction); this script leaves it alone.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import httpx

from tests.recorded._harness import write_expected
from tests.recorded._scenarios import SCENARIOS
from tests.recorded._setups import ALL_SECRETS, SETUPS, Images
from visualsearch_sdk import VisualSearch
from visualsearch_sdk.testing import cassette, find_leaks

Answer = tuple[int, dict[str, Any]]

HEADER = (
    "Hand-built from the documented examples of {vendor}.\n"
    "Source: {source}.\n"
    "Every response is the documentation's example, transcribed in tests/recorded/handbuild.py\n"
    "({notes}).\n"
    "Every request is what the SDK sends for the calls of scenario `{scenario}`\n"
    "(tests/recorded/_scenarios.py), captured without any server and scrubbed like a recording.\n"
    "Not recorded from a live service.\n"
    "Rebuild: python -m tests.recorded.handbuild"
)

_SNOOP_ID = "c14d4bae93a95c159360e29de998181b"
_SNOOP = {"collection_id": "6b7c9142"}

DOCUMENTED: dict[str, tuple[str, str, str, list[Answer]]] = {
    "visualsnoop-documented": (
        "VisualSnoop",
        "shared/reference/docs/003, the client's walkthrough, sections 2.2 to 2.5",
        "the get answer's image_id 'myidl2' is the doc's own typo for 'myid12', kept verbatim",
        [
            # 2.2 add_image(image_id='myid12')
            (
                201,
                {
                    **_SNOOP,
                    "image_time": "2015-01-25T20:47:10.021689+00:00",
                    "image_id": "myid12",
                    "message": "Added",
                    "status": 201,
                },
            ),
            # 2.2 add_image(..., update_existing=True)
            (
                200,
                {
                    **_SNOOP,
                    "image_time": "2015-01-25T20:50:36.384015+00:00",
                    "image_id": _SNOOP_ID,
                    "message": "Updated",
                    "status": 200,
                },
            ),
            # 2.3 search_images_by_id
            (
                200,
                {
                    "message": "OK",
                    "status": 200,
                    "image_time": "2015-01-25T20:50:36.384015+00:00",
                    **_SNOOP,
                    "results": [],
                    "image_id": _SNOOP_ID,
                },
            ),
            # 2.3 search_images(image=...)
            (200, {**_SNOOP, "results": [{"id": _SNOOP_ID, "rank": 0}], "message": "OK", "status": 200}),
            # 2.4 get_image(image_id='myid12')
            (
                200,
                {
                    "image_time": "2015-01-25T20:47:10.021689+00:00",
                    **_SNOOP,
                    "image_id": "myidl2",
                    "message": "OK",
                    "status": 200,
                },
            ),
            # 2.4 get_images()
            (
                200,
                {
                    **_SNOOP,
                    "status": 200,
                    "message": "OK",
                    "images": [
                        {"image_time": "2015-01-25T20:50:36.384015+00:00", "id": _SNOOP_ID},
                        {"image_time": "2015-01-25T20:47:10.021689+00:00", "id": "myidl2"},
                    ],
                    "next_image_id": None,
                },
            ),
            # 2.5 delete_image(image_id='myidl2')
            (
                200,
                {
                    "image_time": "2015-01-25T20:47:10.021689+00:00",
                    **_SNOOP,
                    "image_id": "myidl2",
                    "message": "Deleted",
                    "status": 200,
                },
            ),
        ],
    ),
    "alibaba-documented": (
        "Alibaba Cloud Image Search",
        "shared/reference/docs/004, SearchImageByPic: the sample success response and the error code table",
        "the error's body has the shape of VENDORS.md section 4.6, with InvalidInstance's code and message "
        "from the table",
        [
            (
                200,
                {
                    "Auctions": [
                        {
                            "CategoryId": 0,
                            "PicName": "demo",
                            "SortExprValues": "7.33136443711219e+24;0",
                            "Score": 1.0,
                            "ProductId": "demo",
                        }
                    ],
                    "Head": {"DocsReturn": 1, "DocsFound": 1, "SearchTime": 155},
                    "PicInfo": {
                        "CategoryId": 0,
                        "Region": "111,697,113,774",
                        "AllCategories": [
                            {"Name": "Tops", "Id": 0},
                            {"Name": "Dress", "Id": 1},
                            {"Name": "Other", "Id": 88888888},
                        ],
                        "MultiRegion": [{"Region": "604,1814,451,1358"}, {"Region": "843,1615,687,1138"}],
                    },
                    "RequestId": "D61D869E-E92A-447F-AD67-9234F999E516",
                    "Msg": "success",
                    "Success": True,
                    "Code": 0,
                },
            ),
            (
                400,
                {
                    "RequestId": "B3137727-7D6E-488C-BA21-0E034C38A879",
                    "HostId": "imagesearch.cn-shanghai.aliyuncs.com",
                    "Code": "InvalidInstance",
                    "Message": "The specified instance name is invalid.",
                },
            ),
        ],
    ),
    "visearch-documented": (
        "ViSenze ViSearch v1",
        "shared/reference/VENDORS.md section 1.6, the response shapes quoted from the official SDKs",
        "the search answer and the insert, remove and failure answers, verbatim",
        [
            (
                200,
                {
                    "status": "OK",
                    "method": "search",
                    "error": [],
                    "page": 1,
                    "limit": 10,
                    "total": 20,
                    "result": [
                        {"im_name": "x", "score": 0.437, "value_map": {"price": "67.500000", "title": "t"}}
                    ],
                },
            ),
            (
                200,
                {
                    "status": "OK",
                    "method": "insert",
                    "total": 2,
                    "trans_id": 352649805417295872,
                    "error": [
                        {"index": 0, "im_name": "x", "error_code": 107, "error_message": "Invalid im_name."}
                    ],
                },
            ),
            (
                200,
                {
                    "status": "warning",
                    "method": "remove",
                    "total": 2,
                    "error": [
                        {"im_name": "z", "error_code": 102, "error_message": "Image not found with im_name."}
                    ],
                },
            ),
            (200, {"status": "fail", "method": "search", "error": ["Invalid access key or secret key."]}),
        ],
    ),
}


def _answers(answers: list[Answer]) -> Iterator[httpx.Response]:
    for status, body in answers:
        yield httpx.Response(status, json=body)


def build(name: str) -> dict[str, Any]:
    """Write ``cassettes/<provider>/documented.yaml`` (and its expected results) for one setup."""
    setup = SETUPS[name]
    vendor, source, notes, answers = DOCUMENTED[name]
    pending = _answers(answers)
    header = HEADER.format(vendor=vendor, source=source, notes=notes, scenario=setup.scenario)
    placeholders = {
        "VISUALSEARCH_VISEARCH_ACCESS_KEY": "doc-access-key",
        "VISUALSEARCH_VISEARCH_SECRET_KEY": "doc-secret-key",
        "VISUALSEARCH_VISUALSNOOP_PUBLIC_KEY": "24d337fe0ed9427cb512",  # doc 003's example key pair
        "VISUALSEARCH_VISUALSNOOP_SECRET_KEY": "sUGSL96ZvNxqHixSPUopX5L1M",
        "VISUALSEARCH_ALIBABA_ACCESS_KEY_ID": "LTAIdocExampleKey01",
        "VISUALSEARCH_ALIBABA_ACCESS_KEY_SECRET": "doc-access-key-secret",
    }
    setup.path.unlink(missing_ok=True)
    transport = httpx.MockTransport(lambda request: next(pending))
    with (
        cassette(setup.path, provider=setup.provider, record_mode="once", header=header, environ={}),
        VisualSearch(
            setup.replay_url,
            environ=placeholders,
            transport=transport,
            max_retries=0,
            **setup.client_kwargs(),
        ) as vs,
    ):
        result = SCENARIOS[setup.scenario](vs, Images())
    if next(pending, None) is not None:
        raise RuntimeError(f"{name}: the scenario made fewer calls than there are documented answers")
    write_expected(name, result)
    return result


def main(argv: list[str]) -> int:
    status = 0
    for name in argv or list(DOCUMENTED):
        result = build(name)
        leaks = find_leaks(SETUPS[name].path, secrets=[*ALL_SECRETS, "doc-secret-key", "doc-access-key"])
        for leak in leaks:
            print(f"LEAK {leak}", file=sys.stderr)
        status = status or (1 if leaks else 0)
        print(f"{name}: {SETUPS[name].path} ({json.dumps(sorted(result))})")
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
