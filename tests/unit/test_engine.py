"""The engine on its own: flip-aware ranking, growth, deletion, filters, the change log."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from visualsearch_sdk.filters import F
from visualsearch_sdk.local import engine as engine_mod
from visualsearch_sdk.local import features
from visualsearch_sdk.local.engine import Engine, NewRecord


def _unit_rows(n: int, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, features.DIM)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _records(rows: np.ndarray, prefix: str = "r") -> list[NewRecord]:
    return [
        NewRecord(f"{prefix}{i:05d}", row[None, :], {"i": i, "even": i % 2 == 0})
        for i, row in enumerate(rows)
    ]


def test_flip_aware_score_is_the_max_over_the_query_and_its_mirror() -> None:
    rows = _unit_rows(300)
    query = _unit_rows(1, seed=7)[0]
    perm, sign = features.mirror_map()
    mirrored = sign * query[perm]
    expected = np.clip(np.maximum(rows @ query, rows @ mirrored), 0, 1)
    engine = Engine()
    engine.add(_records(rows))
    hits, total = engine.search(query, limit=300)
    assert total == 300
    got = {h.id: h.score for h in hits}
    for i, score in enumerate(expected):
        assert got[f"r{i:05d}"] == pytest.approx(float(score), abs=1e-5)
    engine.close()


def test_a_float64_query_gives_the_float32_result() -> None:
    rows = _unit_rows(50)
    engine = Engine()
    engine.add(_records(rows))
    q = rows[3].astype(np.float64)
    a, _ = engine.search(q, limit=5)
    b, _ = engine.search(q.astype(np.float32), limit=5)
    assert [h.id for h in a] == [h.id for h in b] and a[0].id == "r00003"
    engine.close()


def test_growth_past_a_chunk_and_swap_deletion_keep_rows_right(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_mod, "_CHUNK", 16)
    rows = _unit_rows(70)
    engine = Engine()
    engine.add(_records(rows))
    deleted, missing = engine.delete(["r00000", "r00033", "nope"])
    assert deleted == ["r00000", "r00033"] and missing == ["nope"]
    assert engine.count() == 68
    for i in (1, 34, 69):  # including the rows moved into the holes
        hits, _ = engine.search(rows[i], limit=1)
        assert hits[0].id == f"r{i:05d}" and hits[0].score == pytest.approx(1.0, abs=1e-5)
    engine.close()


def test_filters_mask_before_top_k_and_total_counts_matches() -> None:
    rows = _unit_rows(100)
    engine = Engine()
    engine.add(_records(rows))
    hits, total = engine.search(rows[0], limit=5, filter=(F("even") == True) & (F("i") >= 50))  # noqa: E712
    assert total == 25
    assert all(h.metadata["even"] and h.metadata["i"] >= 50 for h in hits)
    assert len(hits) == 5
    engine.close()


def test_search_by_stored_id_excludes_itself() -> None:
    rows = _unit_rows(20)
    engine = Engine()
    engine.add(_records(rows))
    hits, total = engine.search("r00004", limit=20)
    assert "r00004" not in [h.id for h in hits] and total == 19
    with pytest.raises(KeyError):
        engine.search("missing", limit=1)
    engine.close()


def test_a_second_engine_follows_changes_and_reloads_after_compaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_mod, "_CHANGELOG_KEEP", 5)
    rows = _unit_rows(40)
    writer, reader = Engine(tmp_path), Engine(tmp_path)
    writer.add(_records(rows[:10]))
    assert reader.count() == 10
    for start in range(10, 40, 3):  # many small writes: the log is compacted past the reader
        writer.add(_records(rows[start : start + 3], prefix=f"b{start}-"))
    writer.delete(["r00001"])
    assert reader.count() == writer.count() == 39
    hits, _ = reader.search(rows[5], limit=1)
    assert hits[0].id == "r00005"
    writer.close()
    reader.close()


def test_searching_an_empty_index_finds_nothing() -> None:
    engine = Engine()
    assert engine.search(_unit_rows(1)[0], limit=5) == ([], 0)
    assert engine.search_color((200, 30, 30), limit=5) == ([], 0)
    engine.close()


def test_an_unusable_index_path_is_a_configuration_error(tmp_path: Path) -> None:
    from visualsearch_sdk import ConfigurationError, VisualSearch

    (tmp_path / "a-file").write_text("x")
    (tmp_path / "not-a-db").mkdir()
    (tmp_path / "not-a-db" / "index.sqlite3").write_bytes(b"this is not a database" * 100)
    for name, says in (("a-file", "as a local index folder"), ("not-a-db", "cannot be used")):
        with VisualSearch(f"local://{tmp_path / name}") as vs, pytest.raises(ConfigurationError, match=says):
            vs.count()
    assert (tmp_path / "not-a-db" / "index.sqlite3").read_bytes().startswith(b"this is not")  # left as it was
