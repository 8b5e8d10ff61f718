"""The ``visualsearch`` command, run in-process with typer's CliRunner against real local indexes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from tests.conftest import jpeg, solid
from visualsearch_sdk._samples import Sample
from visualsearch_sdk.cli import _typed, app


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def run_json(*args: str) -> Any:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"local://{(tmp_path / 'idx').as_posix()}"


@pytest.fixture
def photos(tmp_path: Path, samples: tuple[Sample, ...]) -> Path:
    """A folder of 5 good images (one in a subfolder), a corrupt one, an empty one and a non-image file."""
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for sample in samples[:4]:
        (folder / f"{sample.id}.jpg").write_bytes(sample.jpeg)
    (folder / "sub" / f"{samples[4].id}.JPG").write_bytes(samples[4].jpeg)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg" * 20)
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image, and not picked up")
    return folder


@pytest.fixture
def loaded(url: str, tmp_path: Path, samples: tuple[Sample, ...]) -> str:
    """``url`` holding the 24 samples, indexed from a CSV with metadata."""
    folder = tmp_path / "catalogue"
    folder.mkdir()
    lines = ["id,image,category,colour,brand,price"]
    for s in samples:
        (folder / f"{s.id}.jpg").write_bytes(s.jpeg)
        m = s.metadata
        lines.append(f"{s.id},{s.id}.jpg,{m['category']},{m['colour']},{m['brand']},{m['price']}")
    (folder / "catalogue.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run("index", str(folder / "catalogue.csv"), "--url", url)
    assert result.exit_code == 0, result.output
    return url


# -- demo ---------------------------------------------------------------------------------------------


def test_demo_prints_four_searches_with_the_reshot_sample_first(samples: tuple[Sample, ...]) -> None:
    result = run("demo")
    assert result.exit_code == 0, result.output
    assert "Indexed 24 sample images" in result.stdout
    for title in (
        "1. search by image",
        "2. search by id",
        "3. search by colour",
        "4. by image of 'bag-green'",
    ):
        assert title in result.stdout
    # Search 1 queries a re-shot of samples[7]: its table's first row names that sample.
    table_1 = result.stdout.split("1. search by image", 1)[1].split("2. search by id", 1)[0]
    first_row = next(line for line in table_1.splitlines() if line.strip("│ ").startswith("1 "))
    assert samples[7].id in first_row


def test_demo_json(samples: tuple[Sample, ...]) -> None:
    body = run_json("demo")
    assert body["indexed"] == 24
    assert len(body["searches"]) == 4
    by_image, by_id, by_colour, filtered = body["searches"]
    assert by_image["hits"][0]["id"] == samples[7].id
    assert "dress-red" not in {hit["id"] for hit in by_id["hits"]}
    assert by_colour["hits"][0]["metadata"]["colour"] == "red"
    assert filtered["hits"], filtered
    for hit in filtered["hits"]:
        assert hit["metadata"]["brand"] == "Aurora" and hit["metadata"]["price"] <= 150
    assert all(search["provider"] == "local" for search in body["searches"])


# -- index --------------------------------------------------------------------------------------------


def test_index_folder_reports_failures_then_rerun_skips_what_is_indexed(
    photos: Path, url: str, tmp_path: Path
) -> None:
    result = run("index", str(photos), "--url", url)
    assert result.exit_code == 0, result.output
    assert "indexed 5, skipped 0 (already indexed), failed 2 -> visualsearch-failures.jsonl" in result.stdout
    lines = (tmp_path / "visualsearch-failures.jsonl").read_text(encoding="utf-8").splitlines()
    failures = sorted((json.loads(line) for line in lines), key=lambda f: f["id"])
    assert [(f["id"], f["error"]) for f in failures] == [
        ("broken.jpg", "ImageError"),
        ("empty.png", "ImageError"),
    ]
    assert failures[0]["reason"] in {"unreadable", "truncated"}  # a JPEG header, then garbage
    assert failures[1]["reason"] == "unreadable"
    assert "empty" in failures[1]["message"]
    assert run_json("count", "--url", url) == {"count": 5}
    assert run_json("get", "sub/shoe-navy.JPG", "--url", url)["id"] == "sub/shoe-navy.JPG"

    again = run_json("index", str(photos), "--url", url, "--report", str(tmp_path / "second.jsonl"))
    assert again["succeeded"] == 0 and again["skipped"] == 5
    assert sorted(f["id"] for f in again["failed"]) == ["broken.jpg", "empty.png"]
    assert len((tmp_path / "second.jsonl").read_text(encoding="utf-8").splitlines()) == 2
    assert run_json("count", "--url", url) == {"count": 5}


def test_index_upsert_replaces_instead_of_skipping(photos: Path, url: str) -> None:
    run_json("index", str(photos), "--url", url)
    again = run_json("index", str(photos), "--url", url, "--upsert")
    assert (again["succeeded"], again["skipped"], len(again["failed"])) == (5, 0, 2)


def test_index_csv_with_typed_metadata(tmp_path: Path, url: str, samples: tuple[Sample, ...]) -> None:
    folder = tmp_path / "shop"
    (folder / "img").mkdir(parents=True)
    for s in samples[:3]:
        (folder / "img" / f"{s.id}.jpg").write_bytes(s.jpeg)
    # An Excel-style export: byte-order mark, CRLF line ends, quoted cells, an empty cell.
    (folder / "products.csv").write_text(
        "id,image,brand,price,sku,note\r\n"
        f'p1,img/{samples[0].id}.jpg,A,19.5,007,"hello, world"\r\n'
        f"p2,img/{samples[1].id}.jpg,B,120,1_000,\r\n"
        f"p3,img/{samples[2].id}.jpg,Infinity,-3,42,NaN\r\n",
        encoding="utf-8-sig",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # Image paths are relative to the CSV, not to the working directory.
    result = CliRunner().invoke(app, ["index", str(folder / "products.csv"), "--url", url, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"succeeded": 3, "skipped": 0, "failed": [], "stopped_early": None}

    p1 = run_json("get", "p1", "--url", url)
    assert p1["metadata"] == {"brand": "A", "price": 19.5, "sku": "007", "note": "hello, world"}
    p2 = run_json("get", "p2", "--url", url)["metadata"]
    assert p2 == {"brand": "B", "price": 120, "sku": "1_000"}
    assert isinstance(p2["price"], int)
    p3 = run_json("get", "p3", "--url", url)["metadata"]
    assert p3 == {"brand": "Infinity", "price": -3, "sku": 42, "note": "NaN"}
    # Numbers compare as numbers in filters.
    body = run_json("search", "--color", "#808080", "--filter", '{"price": {"$gt": 100}}', "--url", url)
    assert [hit["id"] for hit in body["hits"]] == ["p2"]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("12", 12),
        ("-4", -4),
        ("0", 0),
        ("19.5", 19.5),
        ("-0.25", -0.25),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("2.5E-2", 0.025),
        ("007", "007"),
        ("1_000", "1_000"),
        (" 12", " 12"),
        ("nan", "nan"),
        ("NaN", "NaN"),
        ("inf", "inf"),
        ("-Infinity", "-Infinity"),
        ("1e999", "1e999"),
        ("١٢", "١٢"),
        ("12abc", "12abc"),
        ("", ""),
    ],
)
def test_csv_cells_become_numbers_only_when_plainly_numeric(cell: str, expected: object) -> None:
    value = _typed(cell)
    assert value == expected and type(value) is type(expected)


def test_index_a_single_image_file(tmp_path: Path, url: str, samples: tuple[Sample, ...]) -> None:
    path = tmp_path / "one.jpg"
    path.write_bytes(samples[0].jpeg)
    assert run_json("index", str(path), "--url", url)["succeeded"] == 1
    body = run_json("search", "--image", str(path), "--url", url, "--limit", "1")
    assert body["hits"][0]["id"] == "one.jpg"


def test_index_csv_problems_are_usage_errors(tmp_path: Path, url: str) -> None:
    no_id = tmp_path / "no-id.csv"
    no_id.write_text("name,image\nx,a.jpg\n", encoding="utf-8")
    result = run("index", str(no_id), "--url", url)
    assert result.exit_code == 2
    assert "needs an 'id' column" in result.stderr

    binary = tmp_path / "data.bin"
    binary.write_bytes(b"\xff\xfe\x00\x81 binary" * 10)
    result = run("index", str(binary), "--url", url)
    assert result.exit_code == 2
    assert "not a UTF-8 CSV" in result.stderr

    result = run("index", str(tmp_path / "missing-folder"), "--url", url)
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_index_csv_rows_fail_one_by_one(tmp_path: Path, url: str) -> None:
    (tmp_path / "red.jpg").write_bytes(jpeg(solid((200, 30, 30))))
    csv_path = tmp_path / "rows.csv"
    csv_path.write_text("id,image\n,red.jpg\nok,red.jpg\ngone,missing.jpg\n", encoding="utf-8")
    report = run_json("index", str(csv_path), "--url", url)
    assert report["succeeded"] == 1
    assert sorted(f["error"] for f in report["failed"]) == ["ImageError", "InvalidQueryError"]
    assert "missing" in next(f["message"] for f in report["failed"] if f["id"] == "gone")


# -- search, get, delete, count, info -----------------------------------------------------------------


def test_search_by_image_json(loaded: str, tmp_path: Path, samples: tuple[Sample, ...]) -> None:
    query = tmp_path / "query.jpg"
    query.write_bytes(samples[11].jpeg)
    body = run_json("search", "--image", str(query), "--limit", "3", "--url", loaded)
    assert body["provider"] == "local" and body["total"] == 24
    assert [hit["id"] for hit in body["hits"]][:1] == [samples[11].id]
    assert len(body["hits"]) == 3
    assert body["hits"][0]["score"] > 0.99
    assert body["hits"][0]["metadata"]["price"] == samples[11].metadata["price"]


def test_search_by_image_with_box_fields_and_min_score(
    loaded: str, tmp_path: Path, samples: tuple[Sample, ...]
) -> None:
    query = tmp_path / "query.jpg"
    query.write_bytes(samples[3].jpeg)
    body = run_json(
        "search", "--image", str(query), "--box", "0,0,400,400", "--fields", "brand", "--min-score", "0.99",
        "--url", loaded,
    )  # fmt: skip
    assert [hit["id"] for hit in body["hits"]] == [samples[3].id]
    assert body["hits"][0]["metadata"] == {"brand": samples[3].metadata["brand"]}


def test_search_by_id_and_colour_and_filter(loaded: str, samples: tuple[Sample, ...]) -> None:
    by_id = run_json("search", "--id", "dress-red", "--url", loaded)
    assert "dress-red" not in {hit["id"] for hit in by_id["hits"]}
    assert len(by_id["hits"]) == 10

    by_colour = run_json("search", "--color", "#c8282d", "--limit", "4", "--url", loaded)
    assert by_colour["hits"][0]["metadata"]["colour"] == "red"

    filtered = run_json("search", "--id", "dress-red", "--filter", '{"brand":"Aurora"}', "--url", loaded)
    expected = {s.id for s in samples if s.metadata["brand"] == "Aurora" and s.id != "dress-red"}
    assert {hit["id"] for hit in filtered["hits"]} == expected
    assert filtered["total"] == len(expected)

    page = run_json("search", "--id", "dress-red", "--offset", "20", "--url", loaded)
    assert len(page["hits"]) == 3  # 23 others, from the 21st on


def test_search_prints_a_table(loaded: str) -> None:
    result = run("search", "--color", "#c8282d", "--limit", "2", "--url", loaded)
    assert result.exit_code == 0, result.output
    assert "2 of 4 results (local)" in result.stdout  # the four red samples: the others have none of it
    assert "score" in result.stdout


def test_get_delete_count(loaded: str, samples: tuple[Sample, ...]) -> None:
    target = samples[0]
    result = run("get", target.id, "--url", loaded)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(target.id)
    record = run_json("get", target.id, "--url", loaded)
    assert record["id"] == target.id and record["metadata"] == target.metadata

    assert run_json("delete", target.id, "nope", "--url", loaded) == {
        "deleted": [target.id],
        "not_found": ["nope"],
        "failed": [],
    }
    result = run("delete", samples[1].id, "--url", loaded)
    assert result.exit_code == 0, result.output
    assert "deleted 1, not found 0, failed 0" in result.stdout

    assert run_json("count", "--url", loaded) == {"count": 22}
    result = run("count", "--url", loaded)
    assert result.stdout.strip() == "22"
    assert run("get", target.id, "--url", loaded).exit_code == 2


def test_info_lists_capabilities_without_touching_the_index(tmp_path: Path) -> None:
    url = f"local://{(tmp_path / 'never-created').as_posix()}"
    body = run_json("info", "--url", url)
    assert body["provider"] == "local"
    assert "never-created" in body["where"]
    assert {"search_by_image", "search_by_id", "search_by_color", "filters", "count", "list"} <= set(
        body["capabilities"]
    )
    assert not (tmp_path / "never-created").exists()
    result = run("info", "--url", url)
    assert result.exit_code == 0
    assert "capabilities:" in result.stdout


# -- errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "--color", "nothex"], "InvalidQueryError"),
        (["search", "--id", "x", "--filter", '{"price": {"$regex": "x"}}'], "InvalidFilterError"),
        (["search", "--id", "no-such-id"], "NotFoundError"),
        (["search", "--id", "dress-red", "--color", "#ffffff"], "InvalidQueryError"),
        (["search"], "InvalidQueryError"),
        (["search", "--image", "no-such-file.jpg"], "ImageError"),
        (["get", "missing-id"], "NotFoundError"),
    ],
)
def test_bad_input_exits_2_with_an_error_line(loaded: str, args: list[str], message: str) -> None:
    result = run(*args, "--url", loaded)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"error: {message}: "), result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "--id", "x", "--filter", "{not json"], "--filter must be JSON"),
        (["search", "--id", "x", "--box", "1,2,three,4"], "--box is x1,y1,x2,y2"),
        (["index", "nowhere"], "does not exist"),
    ],
)
def test_malformed_options_are_usage_errors(url: str, args: list[str], message: str) -> None:
    result = run(*args, "--url", url)
    assert result.exit_code == 2
    assert message in result.stderr


def test_bad_url_is_an_error_line(tmp_path: Path) -> None:
    result = run("count", "--url", "nosuchprovider://x")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ConfigurationError: ")


# -- where the index is -------------------------------------------------------------------------------


def test_default_index_is_in_the_working_directory(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Path.cwd() == tmp_path
    result = run("index", str(photos))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "visualsearch-index" / "index.sqlite3").is_file()
    assert run_json("count") == {"count": 5}
    assert "visualsearch-index" in run_json("info")["where"]
    # VISUALSEARCH_URL wins over the default.
    monkeypatch.setenv("VISUALSEARCH_URL", "memory://")
    assert run_json("count") == {"count": 0}


def test_module_runs_as_a_script(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "visualsearch_sdk.cli", "count", "--json", "--url", f"local://{tmp_path}/x"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"count": 0}


# -- output is text, never rich markup ----------------------------------------------------------------


def test_error_messages_are_printed_verbatim(loaded: str) -> None:
    # The provider prefix "[local]" and a field name that looks like a closing tag both survive.
    result = run("search", "--id", "x", "--filter", '{"[/x]": {"$regex": 1}}', "--url", loaded)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: InvalidFilterError: ")
    assert "[/x]" in result.stderr
    result = run("get", "missing-id", "--url", loaded)
    assert result.stderr.startswith("error: NotFoundError: [local] no record 'missing-id'")


def test_ids_and_metadata_with_brackets_are_printed_verbatim(tmp_path: Path, url: str) -> None:
    (tmp_path / "red.jpg").write_bytes(jpeg(solid((200, 30, 30))))
    csv_path = tmp_path / "odd.csv"
    csv_path.write_text('id,image,tag\n[/b]odd,red.jpg,"[bold]x[/bold] [/]"\n', encoding="utf-8")
    assert run_json("index", str(csv_path), "--url", url)["succeeded"] == 1
    result = run("get", "[/b]odd", "--url", url)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("[/b]odd ")
    assert "[bold]x[/bold] [/]" in result.stdout
    result = run("search", "--color", "#c81e1e", "--url", url)
    assert result.exit_code == 0, result.output
    assert "[/b]odd" in result.stdout and "[bold]x[/bold]" in result.stdout


def test_search_on_a_provider_that_does_not_count_prints_no_total(samples: tuple[Sample, ...]) -> None:
    from visualsearch_sdk import ImageRecord, VisualSearch
    from visualsearch_sdk._serve import LoopbackServer
    from visualsearch_sdk.testing.fakes import FakeXimilar

    fake = FakeXimilar()
    with LoopbackServer(fake) as server:
        url = fake.client_url(base_url=server.url)
        with VisualSearch(url) as vs:
            assert vs.index([ImageRecord(id=s.id, image=s.jpeg) for s in samples[:5]]).ok
            assert vs.search(id=samples[0].id, limit=3).total is None  # Ximilar does not count
        result = run("search", "--id", samples[0].id, "--limit", "3", "--url", url)
    fake.close()
    assert result.exit_code == 0, result.output
    assert "3 results (ximilar)" in result.stdout and "None" not in result.stdout


def test_demo_saves_the_samples_as_files_and_a_csv_that_index_reads(tmp_path: Path, url: str) -> None:
    folder = tmp_path / "photos"
    saved = run("demo", "--save-images", str(folder))
    assert saved.exit_code == 0, saved.output
    assert len(list(folder.glob("*.jpg"))) == 24 and "visualsearch index" in saved.stdout
    indexed = run_json("index", str(folder / "products.csv"), "--url", url, "--json")
    assert indexed["succeeded"] == 24 and indexed["failed"] == []
    hits = run_json(
        "search", "--image", str(folder / "dress-red.jpg"), "--url", url, "--json", "--limit", "1"
    )
    assert hits["hits"][0]["id"] == "dress-red" and hits["hits"][0]["metadata"]["brand"] == "Aurora"
