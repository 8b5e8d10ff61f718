"""Several processes share one local index: each sees the others' committed writes without reopening."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.e2e._helpers import child_script, image, index_url, run_child
from visualsearch_sdk import ImageRecord, VisualSearch

WRITER = """
from visualsearch_sdk import ImageRecord, VisualSearch

url, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with VisualSearch.from_url(url) as vs:
    report = vs.index(
        ImageRecord(id=f"b-{n}", image=image(n), metadata={"n": n, "writer": "B"}) for n in range(first, last)
    )
    assert report.ok, report
"""

DELETER = """
from visualsearch_sdk import VisualSearch

with VisualSearch.from_url(sys.argv[1]) as vs:
    assert vs.delete(sys.argv[2:]).not_found == ()
"""

UPDATER = """
from visualsearch_sdk import VisualSearch

with VisualSearch.from_url(sys.argv[1]) as vs:
    vs.update(sys.argv[2], {"writer": "B-again"})
"""


def _ok(child: subprocess.CompletedProcess[str]) -> None:
    assert child.returncode == 0, child.stderr


def test_open_client_sees_another_process_writes_without_reopening(tmp_path: Path) -> None:
    url = index_url(tmp_path / "idx")
    with VisualSearch.from_url(url) as a:
        # A has opened the engine and built its matrix before B writes anything.
        a.index([ImageRecord(id="a-0", image=image(0), metadata={"writer": "A"})])
        assert a.count() == 1

        _ok(run_child(WRITER, url, "1", "6"))
        assert a.count() == 6
        top = a.search(image=image(3), limit=1).hits[0]
        assert (top.id, top.metadata, top.score > 0.99) == ("b-3", {"n": 3, "writer": "B"}, True)
        assert {h.id for h in a.search(id="a-0", limit=10).hits} == {f"b-{n}" for n in range(1, 6)}
        assert {h.id for h in a.search(image=image(0), filter={"writer": "B"}, limit=10).hits} == {
            f"b-{n}" for n in range(1, 6)
        }

        _ok(run_child(UPDATER, url, "b-2"))
        assert [h.id for h in a.search(image=image(0), filter={"writer": "B-again"}, limit=10).hits] == [
            "b-2"
        ]

        _ok(run_child(DELETER, url, "b-3"))
        assert a.count() == 5
        assert "b-3" not in {h.id for h in a.search(image=image(3), limit=10).hits}
        assert "b-3" not in {h.id for h in a.search(color="#000000", limit=10).hits}
        assert "b-3" not in {r.id for r in a.iter_records()}

        # A's own writes still work after the matrix was patched from the change log.
        a.index([ImageRecord(id="b-3", image=image(30), metadata={"writer": "A"})])
        assert a.search(image=image(30), limit=1).hits[0].id == "b-3"
        assert a.count() == 6


CONCURRENT_WRITER = """
import time
from pathlib import Path
from visualsearch_sdk import ImageRecord, VisualSearch

url, name, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
records = [ImageRecord(id=f"{name}-{n}", image=image(n), metadata={"writer": name}) for n in range(20)]
print("ready", flush=True)
deadline = time.monotonic() + 30
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.005)
with VisualSearch.from_url(url) as vs:
    for record in records:  # one transaction per record, so the two writers interleave
        report = vs.index([record])
        assert report.ok, report
print("done", flush=True)
"""


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    url = index_url(tmp_path / "idx")
    go = tmp_path / "go"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", child_script(CONCURRENT_WRITER), url, name, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("p", "q")
    ]
    try:
        for writer in writers:  # both have imported everything and made their images
            assert writer.stdout is not None
            assert writer.stdout.readline().strip() == "ready"
        go.touch()  # both start opening the (not yet created) index at the same moment
        results = [writer.communicate(timeout=60) for writer in writers]
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
                writer.communicate()
    for writer, (stdout, stderr) in zip(writers, results):
        assert writer.returncode == 0, stderr
        assert stdout.strip().endswith("done")
    with VisualSearch.from_url(url) as vs:
        assert vs.count() == 40
        ids = {r.id for r in vs.iter_records()}
        assert ids == {f"{name}-{n}" for name in ("p", "q") for n in range(20)}
        assert len(vs.search(image=image(7), filter={"writer": "q"}, limit=40).hits) == 20


def test_reader_keeps_up_while_another_process_writes(tmp_path: Path) -> None:
    """Counts read during a concurrent write never go down and end at the full total."""
    url = index_url(tmp_path / "idx")
    with VisualSearch.from_url(url) as a:
        assert a.count() == 0
        writer = subprocess.Popen(
            [sys.executable, "-c", child_script(WRITER), url, "0", "40"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        seen: list[int] = []
        try:
            while writer.poll() is None:
                seen.append(a.count())
                time.sleep(0.01)
            _, stderr = writer.communicate(timeout=60)
        finally:
            if writer.poll() is None:
                writer.kill()
                writer.communicate()
        assert writer.returncode == 0, stderr
        assert seen == sorted(seen)
        assert a.count() == 40
        assert len(a.search(image=image(5), limit=100).hits) == 40
