"""Every script in ``examples/`` runs as a user would run it (``python examples/NAME.py ...``), offline.

Each runs in a child interpreter with the 24 demo images written to ``tmp_path`` and no ``VISUALSEARCH_*``
variable but those a test sets; the assertions read what it prints (or, for the WSGI server, what it
answers over loopback HTTP). Vendors are the fakes served by ``visualsearch serve --face NAME``. The
``examples/testing`` suite runs in ``tests/unit/test_pytest_plugin_example.py``.
"""

from __future__ import annotations

import functools
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.serving import clean_env, first_line, serve_face, stop
from visualsearch_sdk._samples import Sample

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(script: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python examples/SCRIPT ARGS`` in the test's working directory (``tmp_path``); must exit 0."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        env={**clean_env(), **(env or {})},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def sections(output: str) -> dict[str, list[str]]:
    """``title: `` lines and the hit ids listed under each (``  1. ID  score=...``)."""
    found: dict[str, list[str]] = {}
    for line in output.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            title = line[:-1]
            found[title] = []
        elif line.startswith("  ") and ". " in line and found:
            found[title].append(line.split(". ", 1)[1].split("  ")[0])
    return found


@pytest.fixture
def photos(tmp_path: Path, samples: tuple[Sample, ...]) -> Path:
    """``photos/<category>/<id>.jpg``: the demo images in one folder per category."""
    for sample in samples:
        path = tmp_path / "photos" / str(sample.metadata["category"]) / f"{sample.id}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(sample.jpeg)
    return tmp_path / "photos"


@pytest.fixture
def face() -> Iterator[Callable[[str], str]]:
    """``face(name)`` serves a fake vendor on loopback and returns its provider URL; stopped afterwards."""
    started: list[subprocess.Popen[str]] = []

    def start(name: str) -> str:
        started.append(serve_face(name))
        url = first_line(started[-1])
        assert url, stop(started[-1])
        return url

    yield start
    for process in started:
        stop(process)


def test_index_folder_finds_the_query_image_first(photos: Path, tmp_path: Path) -> None:
    (tmp_path / "meta.csv").write_text(
        "id,brand,price\ndress/dress-red.jpg,Aurora,19.5\nmug/mug-red.jpg,,nan\n"
    )
    out = run("index_folder.py", "photos", "photos/dress/dress-red.jpg", "--metadata", "meta.csv").stdout

    assert out.splitlines()[0] == "indexed 24 images (local), 0 failed"  # no --url: from_env, memory://
    found = sections(out)
    assert found["by image dress-red.jpg"][0] == "dress/dress-red.jpg"
    assert (
        "  1. dress/dress-red.jpg  score=1.000  {'brand': 'Aurora', 'category': 'dress', 'price': 19.5}"
        in out
    )
    assert "dress/dress-red.jpg" not in found["by id dress/dress-red.jpg"]  # more like it, not itself
    assert len(found["by id dress/dress-red.jpg"]) == 5
    assert found["by colour #c8282d"][0].endswith("-red.jpg")
    assert "{'category': 'mug', 'price': 'nan'}" in out  # an empty cell is left out, 'nan' stays text


def test_index_folder_into_a_persistent_index_twice(photos: Path, tmp_path: Path) -> None:
    reshot = Image.open(photos / "shoe" / "shoe-navy.jpg").crop((20, 30, 380, 370)).resize((240, 227))
    reshot.save(tmp_path / "query.jpg", quality=80)
    url = f"local://{(tmp_path / 'index').as_posix()}"
    for _ in range(2):  # the second run replaces every record (upsert) instead of failing
        out = run("index_folder.py", "photos", "query.jpg", "--url", url, "--limit", "3").stdout
        assert out.splitlines()[0] == "indexed 24 images (local), 0 failed"
        assert sections(out)["by image query.jpg"][0] == "shoe/shoe-navy.jpg"


@pytest.fixture
def image_host(photos: Path) -> Iterator[str]:
    """``photos`` served over HTTP on 127.0.0.1, for a vendor that downloads images (ViSearch)."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(photos)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(5)


# provider -> (filter line, colour line): what each one's capabilities make the app print
SWITCH = {
    "memory": ("by id, category == 'shoe': shoe/", "by colour #c8282d: "),
    "ximilar": ("by id, category == 'shoe': shoe/", "by colour: not supported by ximilar (search_by_color)"),
    "visearch": ("by id, category == 'shoe': shoe/", "by colour #c8282d: "),
    "visualsnoop": ("filters: not supported", "by colour: not supported by visualsnoop (search_by_color)"),
    "alibaba": (
        "filter refused: alibaba can filter only declared attribute slots",
        "by colour: not supported by alibaba",
    ),
    # the same fake, with `category` mapped to an attribute slot in the URL: now it filters
    "alibaba&attributes=category:StrAttr": (
        "by id, category == 'shoe': shoe/",
        "by colour: not supported by alibaba",
    ),
}


@pytest.mark.parametrize("provider", list(SWITCH))
def test_switch_vendor_runs_the_same_code_everywhere(
    provider: str, photos: Path, face: Callable[[str], str], request: pytest.FixtureRequest
) -> None:
    name, _, parameter = provider.partition("&")
    url = "memory://" if name == "memory" else face(name) + (f"&{parameter}" if parameter else "")
    extra = ["--image-base-url", request.getfixturevalue("image_host")] if name == "visearch" else []
    lines = run("switch_vendor.py", "photos", *extra, env={"VISUALSEARCH_URL": url}).stdout.splitlines()

    provider_name = "local" if name == "memory" else name
    assert lines[0].startswith(f"provider: {provider_name}; can: ")
    assert lines[1] == "indexed 24, failed 0"
    found = dict(line.split(": ", 1) for line in lines[2:])
    assert found["by image bag/bag-black.jpg"].split(", ")[0] == "bag/bag-black.jpg"  # finds itself first
    assert len(found["by id bag/bag-black.jpg"].split(", ")) == 3
    assert "bag/bag-black.jpg" not in found["by id bag/bag-black.jpg"]  # more like it, not itself
    filter_line, colour_line = SWITCH[provider]
    assert lines[4].startswith(filter_line)
    if filter_line.endswith("shoe/"):
        assert all(hit.startswith("shoe/") for hit in lines[4].split(": ")[1].split(", "))
    if name == "visearch":  # the only one here that can search by URL (and is given image URLs)
        assert found["by URL"].split(", ")[0] == "bag/bag-black.jpg"
    else:
        assert "by URL" not in found
    assert lines[-1].startswith(colour_line)
    if colour_line.endswith(": "):
        assert lines[-1].split(": ")[1].split(", ")[0].endswith("-red.jpg")


def test_switch_vendor_asks_for_image_urls_where_the_vendor_downloads(photos: Path) -> None:
    env = {**clean_env(), "VISUALSEARCH_URL": "visearch://key:secret@visearch.visenze.com"}  # nothing is sent
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "switch_vendor.py"), "photos"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "indexes images from URLs only: pass --image-base-url" in result.stderr


def test_async_bulk_reports_the_corrupt_image_and_indexes_the_rest() -> None:
    result = run("async_bulk.py", "--count", "120", "--concurrency", "4")
    lines = result.stdout.splitlines()
    assert lines[0] == "succeeded: 120, failed: 1"
    assert lines[1].startswith("  generated/corrupt.jpg: ImageError (truncated): ")
    assert "121/?" in result.stderr and "1 failed" in result.stderr  # the progress bar, on stderr


def test_async_bulk_over_a_folder(photos: Path, tmp_path: Path) -> None:
    (photos / "empty.jpg").write_bytes(b"")
    url = f"local://{(tmp_path / 'index').as_posix()}"
    lines = run("async_bulk.py", "photos", "--url", url).stdout.splitlines()
    assert lines[0] == "succeeded: 24, failed: 1"
    assert lines[1] == "  empty.jpg: ImageError (unreadable): image file 'photos/empty.jpg' is empty"


@pytest.fixture
def wsgi() -> Iterator[Callable[..., str]]:
    """``wsgi(*args, env=...)`` starts ``examples/wsgi_search.py --port 0 ARGS``; returns its /search URL."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str, env: dict[str, str] | None = None) -> str:
        command = [sys.executable, str(EXAMPLES / "wsgi_search.py"), "--port", "0", *args]
        env = {**clean_env(), **(env or {})}
        started.append(
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        )
        url = first_line(started[-1])
        assert url.endswith("/search"), stop(started[-1])
        return url

    yield start
    for process in started:
        assert stop(process)[0] == 0  # SIGTERM stops it as Ctrl-C does: a clean exit


def post(url: str, **kwargs: Any) -> httpx.Response:
    with httpx.Client(trust_env=False, timeout=30) as client:  # loopback only: no proxy from the environment
        return client.post(url, **kwargs)


def test_wsgi_search_answers_uploads(wsgi: Callable[..., str], samples: tuple[Sample, ...]) -> None:
    url = wsgi("--url", "memory://", "--seed")
    red = next(s for s in samples if s.id == "dress-red")

    multipart = post(url, files={"image": ("q.jpg", red.jpeg, "image/jpeg")}, params={"limit": 3})
    assert multipart.status_code == 200, multipart.text
    hits = multipart.json()["hits"]
    assert [hits[0]["id"], hits[0]["score"], len(hits)] == ["dress-red", 1.0, 3]
    assert hits[0]["metadata"] == {"category": "dress", "colour": "red", "brand": "Aurora", "price": 19.0}

    params = {"box": "0,0,400,300", "limit": "2", "filter": '{"colour": "red", "price": {"$lte": 100}}'}
    raw = post(url, content=red.jpeg, headers={"content-type": "image/jpeg"}, params=params)
    assert raw.status_code == 200, raw.text
    assert raw.json()["query_box"] == [0, 0, 400, 300]
    assert [hit["id"] for hit in raw.json()["hits"]] == ["dress-red", "shirt-red"]

    corrupt = post(url, files={"image": ("q.jpg", red.jpeg[:300], "image/jpeg")})
    assert corrupt.status_code == 400
    assert corrupt.json()["error"] == "ImageError" and corrupt.json()["reason"] == "truncated"
    bad_filter = post(url, content=red.jpeg, params={"filter": '{"$price": 1}'})
    assert (bad_filter.status_code, bad_filter.json()["error"]) == (400, "InvalidFilterError")
    assert post(url, files={"photo": ("q.jpg", red.jpeg)}).status_code == 400  # no 'image' part
    assert post(url.replace("/search", "/other"), content=red.jpeg).status_code == 404
    with httpx.Client(trust_env=False) as client:
        assert client.get(url).status_code == 405


def test_wsgi_search_maps_provider_limits_and_failures(
    wsgi: Callable[..., str], face: Callable[[str], str], samples: tuple[Sample, ...]
) -> None:
    snoop = wsgi("--url", face("visualsnoop"))  # VisualSnoop has no filters: refused before any request
    refused = post(snoop, content=samples[0].jpeg, params={"filter": '{"colour": "red"}'})
    assert refused.status_code == 501
    assert refused.json()["error"] == "UnsupportedCapabilityError"

    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"VISUALSEARCH_URL": f"local://127.0.0.1:{port}", "VISUALSEARCH_MAX_RETRIES": "0"}
    down = post(wsgi(env=env), content=samples[0].jpeg)  # no --url: the client comes from the environment
    assert down.status_code == 502
    assert down.json()["error"] == "APIConnectionError"


def test_every_example_is_listed_and_tested() -> None:
    scripts = sorted(path.name for path in EXAMPLES.glob("*.py"))
    assert scripts == ["async_bulk.py", "index_folder.py", "switch_vendor.py", "wsgi_search.py"]
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    for name in [*scripts, "testing/"]:
        assert f"examples/{name}" in readme, name
    assert (EXAMPLES / "testing" / "test_shop.py").is_file()


def test_the_docs_page_quotes_the_examples_verbatim() -> None:
    """Every ``python`` block of ``docs/examples.md`` is a contiguous run of lines of one tested example."""
    page = (EXAMPLES.parent / "docs" / "examples.md").read_text(encoding="utf-8")
    blocks = [block.split("```", 1)[0] for block in page.split("```python\n")[1:]]
    sources = [path.read_text(encoding="utf-8").splitlines() for path in EXAMPLES.glob("*.py")]
    assert len(blocks) >= 6

    def quoted(block: list[str], source: list[str]) -> bool:
        for start in range(len(source) - len(block) + 1):
            indent = len(source[start]) - len(source[start].lstrip())
            if all(
                source[start + k] == " " * indent + line if line else not source[start + k].strip()
                for k, line in enumerate(block)
            ):
                return True
        return False

    for block in blocks:
        lines = block.rstrip("\n").splitlines()
        assert any(quoted(lines, source) for source in sources), block
