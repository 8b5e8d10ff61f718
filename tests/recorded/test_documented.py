"""What the SDK makes of the vendors' documented answers (the hand-built cassettes), checked fact by fact.

``test_replay.py`` compares these replays with their ``.expected.json``; this file says, independently of
that file, what the documented examples must come out as, so a wrong expectation cannot slip in.
"""

from __future__ import annotations

import pytest

from tests.recorded._harness import replay
from tests.recorded._setups import SETUPS
from visualsearch_sdk.providers.ximilar import distance_to_score


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_ximilar_documented_examples(flavour: str, no_network: list[object]) -> None:
    result, tape = replay(SETUPS["ximilar-documented"].path, "ximilar-documented", flavour)
    assert tape.all_played

    # doc 001, visualKNN: the query record (distance 0.0) is left out; lower distance = higher score.
    hits = result["search_id"]["hits"]
    assert [h["id"] for h in hits] == ["5950", "28043"]
    assert [h["vendor_score"] for h in hits] == [45.725513, 47.01006]
    assert [h["score"] for h in hits] == [round(distance_to_score(d), 9) for d in (45.725513, 47.01006)]
    assert hits[0]["score"] > hits[1]["score"]

    # /v2/insert answered 211 with record 3 skipped as a duplicate: 1 and 2 in, 3 a conflict.
    assert result["insert"]["succeeded"] == ["1", "2"]
    (failure,) = result["insert"]["failed"]
    assert failure["id"] == "3"
    assert failure["error"]["error"] == "ConflictError"
    assert failure["error"]["code"] == "211"

    # /v2/delete answered 213 with record 3 not found.
    assert result["delete"] == {"deleted": ["1", "2"], "not_found": ["3"], "failed": []}
    # /v2/getRecordCount
    assert result["count"] == 5
    # a get answered {"code": 404, "text": "records not found"}
    assert result["get_missing"] == {"error": "NotFoundError", "status": 404, "code": "404"}


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_visualsnoop_documented_walkthrough(flavour: str, no_network: list[object]) -> None:
    result, tape = replay(SETUPS["visualsnoop-documented"].path, "visualsnoop-documented", flavour)
    assert tape.all_played
    assert result["add"]["succeeded"] == ["myid12"]  # 201 "Added"
    assert result["replace"]["succeeded"] == ["c14d4bae93a95c159360e29de998181b"]  # PUT, 200 "Updated"
    assert result["search_id"]["hits"] == []  # the doc's by-id search finds nothing else
    (hit,) = result["search_image"]["hits"]
    assert (hit["id"], hit["vendor_score"], hit["score"]) == ("c14d4bae93a95c159360e29de998181b", 0, 1.0)
    assert result["get"]["id"] == "myidl2"  # the id the server answers (the doc's own typo) is what we keep
    assert result["list"] == ["c14d4bae93a95c159360e29de998181b", "myidl2"]
    assert result["delete"]["deleted"] == ["myidl2"]


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_alibaba_documented_search_and_error(flavour: str, no_network: list[object]) -> None:
    result, tape = replay(SETUPS["alibaba-documented"].path, "alibaba-documented", flavour)
    assert tape.all_played
    search = result["search_image"]
    (hit,) = search["hits"]
    assert (hit["id"], hit["score"]) == ("demo", 1.0)
    assert search["request_id"] == "D61D869E-E92A-447F-AD67-9234F999E516"
    assert search["query_box"][:2] == [111, 113]  # Region "111,697,113,774" is x1,x2,y1,y2 (VENDORS §4.3)
    assert result["invalid_instance"] == {
        "error": "InvalidRequestError",
        "status": 400,
        "code": "InvalidInstance",
    }


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_visearch_documented_answers(flavour: str, no_network: list[object]) -> None:
    result, tape = replay(SETUPS["visearch-documented"].path, "visearch-documented", flavour)
    assert tape.all_played
    (hit,) = result["search_id"]["hits"]
    assert (hit["id"], hit["score"], hit["metadata"]) == ("x", 0.437, {"price": 67.5, "title": "t"})
    assert result["search_id"]["total"] == 20
    insert = result["insert"]
    assert insert["transaction_ids"] == ["352649805417295872"]  # 64-bit: kept exact, never a float
    assert insert["succeeded"] == ["y"]
    assert [(f["id"], f["error"]["code"]) for f in insert["failed"]] == [("x", "107")]
    assert (result["remove"]["deleted"], result["remove"]["not_found"]) == (["y"], ["z"])  # 102 warning
    assert result["refused"] == {"error": "AuthenticationError", "status": 401, "code": "11"}
