"""``visualsearch serve --face ximilar``: a real process serving the fake Ximilar, used via its first line."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image

from tests.serving import clean_env, first_line, serve_command, serve_face, stop
from visualsearch_sdk import AuthenticationError, ImageRecord, VisualSearch


def _jpeg(n: int) -> bytes:
    img = Image.new("RGB", (64, 64), (40 * n % 256, 255 - 30 * n % 256, 90))
    for x in range(64):
        img.putpixel((x, (7 * n + x) % 64), (255, 255, 255))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def test_ximilar_face_prints_a_usable_provider_url() -> None:
    process = serve_face("ximilar")
    try:
        line = first_line(process)
        parts = urlsplit(line)
        assert parts.scheme == "ximilar", line
        params = parse_qs(parts.query)
        assert params["service"] == ["products"]
        base = urlsplit(params["base_url"][0])
        assert (base.scheme, base.hostname) == ("http", "127.0.0.1")
        assert base.port is not None and base.port > 0

        with VisualSearch.from_url(line) as vs:
            vs.verify()
            records = [ImageRecord(id=f"r{n}", image=_jpeg(n), metadata={"n": n}) for n in range(12)]
            report = vs.index_many(records, concurrency=2)
            assert report.ok and len(report.succeeded) == 12
            assert vs.count() == 12
            top = vs.search(image=_jpeg(5), limit=3).hits[0]
            assert (top.id, top.metadata, top.vendor_score, top.score) == ("r5", {"n": 5}, 0.0, 1.0)
            by_id = vs.search(id="r3", limit=2, filter={"n": {"$lt": 100}})
            assert "r3" not in by_id.ids and len(by_id.hits) == 2
            assert vs.get("r7").metadata == {"n": 7}
    finally:
        code, stderr = stop(process)
    assert code == 0, stderr
    assert "serving a fake of Ximilar" in stderr


def test_ximilar_face_keeps_its_index_at_path(tmp_path: Path) -> None:
    path = str(tmp_path / "idx")
    for round_ in range(2):
        process = serve_face("ximilar", "--path", path)
        try:
            with VisualSearch.from_url(first_line(process)) as vs:
                if round_ == 0:
                    assert vs.index([ImageRecord(id="kept", image=_jpeg(1))]).ok
                assert vs.count() == 1
        finally:
            code, stderr = stop(process)
        assert code == 0, stderr


def test_ximilar_face_refuses_a_wrong_token() -> None:
    process = serve_face("ximilar", "--token", "s3cret")
    try:
        line = first_line(process)
        assert line.startswith("ximilar://s3cret@api.ximilar.com/") and "base_url=http://127.0.0.1:" in line
        with VisualSearch.from_url(line.replace("s3cret", "wrong")) as vs, pytest.raises(AuthenticationError):
            vs.count()
        with VisualSearch.from_url(line) as vs:
            assert vs.count() == 0
    finally:
        stop(process)


def test_unknown_face_is_refused() -> None:
    done = subprocess.run(
        serve_command("nope"),
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_env(),
        check=False,
    )
    assert done.returncode != 0 and done.stdout == ""
    assert "ximilar" in done.stderr
