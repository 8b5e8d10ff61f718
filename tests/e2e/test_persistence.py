"""A persistent local index survives closing, reopening and crashing processes (real SQLite, real files)."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageEnhance

from tests.e2e._helpers import image, index_url, run_child
from visualsearch_sdk import (
    ConfigurationError,
    ImageRecord,
    NotFoundError,
    VisualSearch,
    VisualSearchError,
)
from visualsearch_sdk._samples import Sample
from visualsearch_sdk.local import features


def _records(samples: tuple[Sample, ...]) -> list[ImageRecord]:
    return [ImageRecord(id=s.id, image=s.jpeg, metadata=s.metadata) for s in samples]


def _reshot(sample: Sample) -> Image.Image:
    image = Image.open(io.BytesIO(sample.jpeg)).convert("RGB")
    return ImageEnhance.Brightness(image.crop((25, 20, 380, 385)).resize((230, 240))).enhance(0.85)


def _snapshot(vs: VisualSearch, samples: tuple[Sample, ...]) -> dict[str, Any]:
    """Everything a reader can observe: count, records, and the ranked (id, score) of four searches."""

    def ranked(**query: Any) -> list[tuple[str, float]]:
        return [(hit.id, hit.score) for hit in vs.search(limit=24, **query).hits]

    return {
        "count": vs.count(),
        "records": [(r.id, r.metadata) for r in vs.iter_records(page_size=7)],
        "get": vs.get(samples[5].id).model_dump(),
        "image": ranked(image=_reshot(samples[9])),
        "id": ranked(id=samples[2].id),
        "color": ranked(color="#1e2d6e"),
        "filtered": ranked(image=samples[4].jpeg, filter={"brand": "Aurora", "price": {"$lte": 150}}),
    }


@pytest.fixture
def index_path(tmp_path: Path) -> Path:
    return tmp_path / "idx"


def _meta(path: Path) -> dict[str, str]:
    db = sqlite3.connect(path / "index.sqlite3")
    try:
        return dict(db.execute("SELECT key, value FROM meta").fetchall())
    finally:
        db.close()


def test_reopened_index_returns_identical_results(index_path: Path, samples: tuple[Sample, ...]) -> None:
    with VisualSearch.from_url(index_url(index_path)) as vs:
        assert vs.index(_records(samples)).ok
        before = _snapshot(vs, samples)
    assert before["count"] == len(samples)
    assert before["image"][0][0] == samples[9].id
    with VisualSearch.from_url(index_url(index_path)) as reopened:
        after = _snapshot(reopened, samples)
    assert after == before


def test_update_and_delete_persist_across_reopen(index_path: Path, samples: tuple[Sample, ...]) -> None:
    with VisualSearch.from_url(index_url(index_path)) as vs:
        vs.index(_records(samples[:6]))
        vs.update(samples[0].id, {"price": 1.5, "brand": None, "sale": True})
        assert vs.delete([samples[1].id, "never-there"]).deleted == (samples[1].id,)
        vs.index([ImageRecord(id=samples[2].id, image=samples[20].jpeg, metadata={"v": 2})], upsert=True)
    with VisualSearch.from_url(index_url(index_path)) as vs:
        assert vs.count() == 5
        assert vs.get(samples[0].id).metadata == {
            **{k: v for k, v in samples[0].metadata.items() if k != "brand"},
            "price": 1.5,
            "sale": True,
        }
        with pytest.raises(NotFoundError):
            vs.get(samples[1].id)
        assert samples[1].id not in {hit.id for hit in vs.search(image=samples[1].jpeg, limit=10).hits}
        # The upserted record carries its new image and metadata.
        top = vs.search(image=samples[20].jpeg, limit=1).hits[0]
        assert (top.id, top.metadata) == (samples[2].id, {"v": 2})
        assert top.score > 0.99


def test_multi_view_is_fixed_at_creation(index_path: Path, samples: tuple[Sample, ...]) -> None:
    with VisualSearch.from_url(index_url(index_path) + "?multi_view=true") as vs:
        vs.index(_records(samples[:4]))
    assert _meta(index_path)["multi_view"] == "1"
    # Reopened without the flag, the index keeps storing (and ranking) several views per record.
    with VisualSearch.from_url(index_url(index_path)) as vs:
        assert vs.index(_records(samples[4:8])).ok
        assert vs.count() == 8
        hits = vs.search(image=samples[6].jpeg, limit=1).hits
        assert hits[0].id == samples[6].id
    assert _meta(index_path)["multi_view"] == "1"
    db = sqlite3.connect(index_path / "index.sqlite3")
    try:
        sizes = {len(blob) for (blob,) in db.execute("SELECT vectors FROM records")}
    finally:
        db.close()
    assert len(sizes) == 1 and sizes.pop() > features.DIM * 4  # every record has more than one view


def test_single_view_index_stays_single_view_when_reopened_with_the_flag(
    index_path: Path, samples: tuple[Sample, ...]
) -> None:
    with VisualSearch.from_url(index_url(index_path)) as vs:
        vs.index(_records(samples[:2]))
    with VisualSearch.from_url(index_url(index_path) + "?multi_view=true") as vs:
        assert vs.index(_records(samples[2:4])).ok
        assert vs.count() == 4
    assert _meta(index_path)["multi_view"] == "0"


def _set_feature_version(path: Path, value: str) -> None:
    db = sqlite3.connect(path / "index.sqlite3")
    try:
        with db:
            db.execute("UPDATE meta SET value = ? WHERE key = 'feature_version'", (value,))
    finally:
        db.close()


def test_index_from_other_feature_version_is_refused_with_a_reindex_hint(
    index_path: Path, samples: tuple[Sample, ...]
) -> None:
    with VisualSearch.from_url(index_url(index_path)) as vs:
        vs.index(_records(samples[:3]))
    _set_feature_version(index_path, "vsf-0-old")
    with VisualSearch.from_url(index_url(index_path)) as vs, pytest.raises(VisualSearchError) as info:
        vs.count()
    message = str(info.value)
    assert "vsf-0-old" in message and features.FEATURE_VERSION in message
    assert "index the images again" in message.lower()
    # The refusal changes nothing: restoring the version makes the index usable again.
    _set_feature_version(index_path, features.FEATURE_VERSION)
    with VisualSearch.from_url(index_url(index_path)) as vs:
        assert vs.count() == 3


def test_index_from_other_feature_version_raises_configuration_error(
    index_path: Path, samples: tuple[Sample, ...]
) -> None:
    with VisualSearch.from_url(index_url(index_path)) as vs:
        vs.index(_records(samples[:1]))
    _set_feature_version(index_path, "vsf-0-old")
    with VisualSearch.from_url(index_url(index_path)) as vs, pytest.raises(ConfigurationError):
        vs.count()


# -- crashes ------------------------------------------------------------------------------------------

INTERRUPTED_WRITE = """
import numpy as np
from visualsearch_sdk.local import features
from visualsearch_sdk.local.engine import Engine

engine = Engine(sys.argv[1])
vectors = np.zeros((engine.views, features.DIM), dtype=np.float32).tobytes()
db = engine._db
db.execute("BEGIN IMMEDIATE")
db.execute(
    "INSERT INTO records (id, metadata, url, vectors, created, updated) VALUES (?, '{}', NULL, ?, 0, 0)",
    ("ghost", vectors),
)
db.execute("DELETE FROM records WHERE id = ?", (sys.argv[2],))
db.execute("INSERT INTO changes (id) VALUES ('ghost')")
db.execute("INSERT INTO changes (id) VALUES (?)", (sys.argv[2],))
print("in transaction", flush=True)
os._exit(1)  # dies mid-transaction: no COMMIT, no ROLLBACK, no close
"""


def test_write_interrupted_by_a_crash_leaves_the_index_unchanged(
    index_path: Path, samples: tuple[Sample, ...]
) -> None:
    with VisualSearch.from_url(index_url(index_path)) as vs:
        vs.index(_records(samples[:5]))
        before = [(h.id, h.score) for h in vs.search(image=samples[3].jpeg, limit=5).hits]
    child = run_child(INTERRUPTED_WRITE, str(index_path), samples[0].id)
    assert child.returncode == 1, child.stderr
    assert child.stdout.strip() == "in transaction"
    with VisualSearch.from_url(index_url(index_path)) as vs:
        assert vs.count() == 5
        assert vs.get(samples[0].id).id == samples[0].id
        with pytest.raises(NotFoundError):
            vs.get("ghost")
        assert [(h.id, h.score) for h in vs.search(image=samples[3].jpeg, limit=5).hits] == before
        # Usable: the crashed writer left no lock behind.
        assert vs.index(_records(samples[5:6])).ok
        assert vs.count() == 6


COMMITTED_THEN_KILLED = """
import signal
from visualsearch_sdk import ImageRecord, VisualSearch

vs = VisualSearch.from_url(sys.argv[1])
report = vs.index([ImageRecord(id="survivor", image=image(3), metadata={"n": 3})])
assert report.ok, report
print("indexed", flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # no close(), no atexit, no checkpoint
"""


def test_process_killed_after_a_committed_index_keeps_the_record(index_path: Path) -> None:
    child = run_child(COMMITTED_THEN_KILLED, index_url(index_path))
    assert child.stdout.strip() == "indexed", child.stderr
    assert child.returncode != 0
    with VisualSearch.from_url(index_url(index_path)) as vs:
        assert vs.count() == 1
        assert vs.get("survivor").metadata == {"n": 3}
        assert vs.search(image=image(3), limit=5).ids == ["survivor"]
