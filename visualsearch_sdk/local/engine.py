"""The local reference engine: records and metadata in SQLite (WAL), vectors in a float32 numpy matrix.

SQLite is the source of truth; the matrix is derived from it, rebuilt on open and kept current by reading a
change log, so several processes can share one index and a crash mid-write leaves it consistent (a write is
one transaction; the matrix changes only after the commit). Ranking is exact cosine top-k with
``argpartition``; filters are evaluated as a boolean mask before the top-k.

Search is flip-aware (a record scores the better of the query and its mirror) at the cost of one pass over
the matrix: a horizontal mirror acts on feature vectors as a signed permutation ``P`` with ``P = P^-1``
(``features.mirror_map``), so the matrix is kept in an orthonormal basis of ``P``'s eigenvectors, split into
a mirror-symmetric block ``S`` and an antisymmetric block ``A``. Then ``q.x = qs.xs + qa.xa`` and
``(Pq).x = qs.xs - qa.xa``, and the flip-aware score ``max(q.x, (Pq).x)`` is ``qs.xs + |qa.xa|``: two
matrix-vector products that together read the matrix once. Cosines are unchanged by the rotation.

The engine knows nothing of HTTP or images: ``local/app.py`` decodes requests and computes features, the
engine stores and ranks vectors.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from visualsearch_sdk._exceptions import ConfigurationError
from visualsearch_sdk.filters import MISSING, Column, Filter, evaluate_mask
from visualsearch_sdk.local import features

__all__ = ["Engine", "Hit", "LazyEngine", "NewRecord", "WriteOutcome"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY,
    metadata TEXT NOT NULL,
    url TEXT,
    vectors BLOB NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL);
"""
_CHUNK = 4096  # matrix capacity grows by this many records at a time
_CHANGELOG_KEEP = 50_000  # change-log rows kept; a process further behind reloads in full

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True)
class NewRecord:
    """A record ready to store: its id, (views, DIM) feature rows, metadata and optional source URL."""

    id: str
    views: Vector
    metadata: Mapping[str, Any]
    url: str | None = None


@dataclass(frozen=True)
class WriteOutcome:
    """What happened to one record of a write: ``error`` is None on success, else a short code."""

    id: str
    error: str | None = None
    message: str = ""


@dataclass(frozen=True)
class Hit:
    """One ranked record."""

    id: str
    score: float
    metadata: Mapping[str, Any] = field(default_factory=dict)


class Engine:
    """A persistent (``path``) or in-memory (``path=None``) vector index with metadata.

    Opening an engine does I/O (SQLite), so clients create it lazily on the first request.
    """

    def __init__(self, path: str | Path | None = None, *, multi_view: bool = False) -> None:
        self.path = None if path is None else Path(path)
        self._lock = threading.RLock()
        if self.path is not None:
            self.path.mkdir(parents=True, exist_ok=True)
            target = str(self.path / "index.sqlite3")
        else:
            target = ":memory:"
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL" if self.path is not None else "PRAGMA journal_mode=MEMORY")
        self._db.execute("PRAGMA synchronous=NORMAL")
        try:
            self._db.executescript(_SCHEMA)
            self.multi_view = self._check_meta(multi_view)
        except BaseException:
            self._db.close()
            raise
        self.views = _view_count(self.multi_view)
        self._dim = features.DIM
        self._basis = _MirrorBasis.get()
        self._sym: Vector = np.zeros((0, self.views, self._basis.ds), dtype=np.float32)
        self._anti: Vector = np.zeros((0, self.views, self._basis.da), dtype=np.float32)
        self._ids: list[str] = []
        self._row: dict[str, int] = {}
        self._meta: list[dict[str, Any]] = []
        self._columns: dict[str, Column] = {}
        self._seq = 0
        self._reload()

    # -- lifecycle ------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the SQLite connection."""
        with self._lock:
            self._db.close()

    def _check_meta(self, multi_view: bool) -> bool:
        rows = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        if not rows:
            with self._tx():
                self._db.executemany(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                    [
                        ("feature_version", features.FEATURE_VERSION),
                        ("dim", str(features.DIM)),
                        ("multi_view", "1" if multi_view else "0"),
                        ("created", str(time.time())),
                    ],
                )
            rows = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        if rows.get("feature_version") != features.FEATURE_VERSION or rows.get("dim") != str(features.DIM):
            raise ConfigurationError(
                f"the index at {self.path} was built with image features {rows.get('feature_version')!r} "
                f"(dim {rows.get('dim')}), but this version of visualsearch_sdk computes "
                f"{features.FEATURE_VERSION!r} (dim {features.DIM}); its vectors cannot be compared. "
                "Index the images again into a new path (or an SDK version matching the index)."
            )
        return rows.get("multi_view") == "1"

    def _tx(self) -> _Transaction:
        return _Transaction(self._db)

    # -- keeping the matrix in step with SQLite ---------------------------------------------------------

    def _reload(self) -> None:
        with self._lock:
            self._seq = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0]
            rows = self._db.execute("SELECT id, metadata, vectors FROM records ORDER BY rowid").fetchall()
            cap = max(_CHUNK, -(-len(rows) // _CHUNK) * _CHUNK)
            self._sym = np.zeros((cap, self.views, self._basis.ds), dtype=np.float32)
            self._anti = np.zeros((cap, self.views, self._basis.da), dtype=np.float32)
            self._ids, self._row, self._meta = [], {}, []
            for record_id, meta, blob in rows:
                self._put(record_id, json.loads(meta), blob)
            self._columns = {}

    def refresh(self) -> None:
        """Apply every change committed since the last look (by any process) to the in-memory matrix."""
        with self._lock:
            low = self._db.execute("SELECT MIN(seq) FROM changes").fetchone()[0]
            if low is not None and low > self._seq + 1:
                self._reload()  # the change log was compacted past us: start over
                return
            changed = self._db.execute(
                "SELECT seq, id FROM changes WHERE seq > ? ORDER BY seq", (self._seq,)
            ).fetchall()
            if not changed:
                return
            ids = list(dict.fromkeys(record_id for _, record_id in changed))
            found: dict[str, tuple[str, bytes]] = {}
            for start in range(0, len(ids), 500):
                part = ids[start : start + 500]
                marks = ",".join("?" * len(part))
                for record_id, meta, blob in self._db.execute(
                    f"SELECT id, metadata, vectors FROM records WHERE id IN ({marks})", part
                ):
                    found[record_id] = (meta, blob)
            for record_id in ids:
                if record_id in found:
                    meta, blob = found[record_id]
                    self._put(record_id, json.loads(meta), blob)
                else:
                    self._drop(record_id)
            self._seq = changed[-1][0]
            self._columns = {}

    def _put(self, record_id: str, meta: dict[str, Any], blob: bytes) -> None:
        vectors = np.frombuffer(blob, dtype=np.float32).reshape(self.views, self._dim)
        row = self._row.get(record_id)
        if row is None:
            row = len(self._ids)
            if row == self._sym.shape[0]:
                self._sym = _grown(self._sym, row + _CHUNK)
                self._anti = _grown(self._anti, row + _CHUNK)
            self._ids.append(record_id)
            self._meta.append(meta)
            self._row[record_id] = row
        else:
            self._meta[row] = meta
        self._sym[row], self._anti[row] = self._basis.split(vectors)

    def _drop(self, record_id: str) -> None:
        row = self._row.pop(record_id, None)
        if row is None:
            return
        last = len(self._ids) - 1
        if row != last:  # move the last record into the hole so rows stay dense
            moved = self._ids[last]
            self._sym[row] = self._sym[last]
            self._anti[row] = self._anti[last]
            self._ids[row] = moved
            self._meta[row] = self._meta[last]
            self._row[moved] = row
        self._sym[last] = 0.0
        self._anti[last] = 0.0
        self._ids.pop()
        self._meta.pop()

    def _log(self, ids: Iterable[str]) -> None:
        self._db.executemany("INSERT INTO changes (id) VALUES (?)", [(i,) for i in ids])

    def _compact(self) -> None:
        top = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0]
        if top > _CHANGELOG_KEEP * 2:
            self._db.execute("DELETE FROM changes WHERE seq <= ?", (top - _CHANGELOG_KEEP,))

    # -- writes ---------------------------------------------------------------------------------------

    def add(self, records: Sequence[NewRecord], *, upsert: bool = False) -> list[WriteOutcome]:
        """Store records in one transaction. An existing id is a ``conflict`` unless ``upsert``."""
        now = time.time()
        outcomes: list[WriteOutcome] = []
        with self._lock:
            self.refresh()
            with self._tx():
                written: list[str] = []
                for record in records:
                    views = np.ascontiguousarray(record.views, dtype=np.float32)
                    if views.shape != (self.views, self._dim):
                        outcomes.append(
                            WriteOutcome(record.id, "invalid", f"expected {self.views} feature rows")
                        )
                        continue
                    exists = self._db.execute("SELECT 1 FROM records WHERE id = ?", (record.id,)).fetchone()
                    if exists and not upsert:
                        outcomes.append(
                            WriteOutcome(record.id, "conflict", f"record {record.id!r} exists already")
                        )
                        continue
                    self._db.execute(
                        "INSERT INTO records (id, metadata, url, vectors, created, updated) "
                        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET metadata=excluded.metadata, "
                        "url=excluded.url, vectors=excluded.vectors, updated=excluded.updated",
                        (record.id, _dumps(record.metadata), record.url, views.tobytes(), now, now),
                    )
                    written.append(record.id)
                    outcomes.append(WriteOutcome(record.id))
                self._log(written)
                self._compact()
            self.refresh()
        return outcomes

    def update(self, record_id: str, patch: Mapping[str, Any]) -> dict[str, Any] | None:
        """Merge ``patch`` into a record's metadata (a ``None`` value removes the field); None if absent."""
        with self._lock, self._tx():
            row = self._db.execute("SELECT metadata FROM records WHERE id = ?", (record_id,)).fetchone()
            if row is None:
                return None
            meta: dict[str, Any] = json.loads(row[0])
            for key, value in patch.items():
                if value is None:
                    meta.pop(key, None)
                else:
                    meta[key] = value
            self._db.execute(
                "UPDATE records SET metadata = ?, updated = ? WHERE id = ?",
                (_dumps(meta), time.time(), record_id),
            )
            self._log([record_id])
        self.refresh()
        return meta

    def delete(self, ids: Sequence[str]) -> tuple[list[str], list[str]]:
        """Delete records; returns (deleted, not_found)."""
        deleted: list[str] = []
        missing: list[str] = []
        with self._lock:
            with self._tx():
                for record_id in dict.fromkeys(ids):
                    cur = self._db.execute("DELETE FROM records WHERE id = ?", (record_id,))
                    (deleted if cur.rowcount else missing).append(record_id)
                self._log(deleted)
                self._compact()
            self.refresh()
        return deleted, missing

    # -- reads ----------------------------------------------------------------------------------------

    def get(self, record_id: str) -> dict[str, Any] | None:
        """The stored record (id, metadata, url) or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, metadata, url FROM records WHERE id = ?", (record_id,)
            ).fetchone()
        return None if row is None else {"id": row[0], "metadata": json.loads(row[1]), "url": row[2]}

    def count(self) -> int:
        """How many records the index holds."""
        with self._lock:
            self.refresh()
            return len(self._ids)

    def page(self, after: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        """Records in id order after ``after``; returns the page and the cursor of the next one (or None)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, metadata, url FROM records WHERE id > ? ORDER BY id LIMIT ?",
                (after or "", limit + 1),
            ).fetchall()
        records = [{"id": r[0], "metadata": json.loads(r[1]), "url": r[2]} for r in rows[:limit]]
        return records, (records[-1]["id"] if len(rows) > limit else None)

    def has(self, record_id: str) -> bool:
        """Whether the index holds a record."""
        with self._lock:
            self.refresh()
            return record_id in self._row

    def info(self) -> dict[str, Any]:
        """Engine facts for ``verify()`` and ``visualsearch info``."""
        return {
            "feature_version": features.FEATURE_VERSION,
            "dim": self._dim,
            "multi_view": self.multi_view,
            "count": self.count(),
            "path": None if self.path is None else str(self.path),
        }

    # -- ranking --------------------------------------------------------------------------------------

    def search(
        self,
        query: Vector | str,
        *,
        limit: int,
        offset: int = 0,
        filter: Filter | None = None,
        min_score: float | None = None,
    ) -> tuple[list[Hit], int]:
        """Rank by flip-aware exact cosine to a feature vector ``(DIM,)`` or to a stored record (by id).

        A stored record used as the query is left out of its own results. Raises ``KeyError`` for an
        unknown id.
        """
        with self._lock:
            self.refresh()
            exclude = None
            if isinstance(query, str):
                row = self._row[query]
                qs, qa, exclude = self._sym[row, 0], self._anti[row, 0], query
            else:
                q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, self._dim)  # float32: no upcast
                split = self._basis.split(q)
                qs, qa = split[0][0], split[1][0]
            n = len(self._ids)
            scores = self._sym[:n].reshape(n * self.views, self._basis.ds) @ qs
            scores += np.abs(self._anti[:n].reshape(n * self.views, self._basis.da) @ qa)
            if self.views > 1:
                scores = scores.reshape(n, self.views).max(axis=1)
            return self._top(scores, limit, offset, filter, min_score, exclude)

    def search_color(
        self,
        rgb: tuple[int, int, int],
        *,
        limit: int,
        offset: int = 0,
        filter: Filter | None = None,
        min_score: float | None = None,
    ) -> tuple[list[Hit], int]:
        """Rank by colour-histogram similarity to one colour; records without any of it are left out."""
        with self._lock:
            self.refresh()
            n = len(self._ids)
            scores = features.color_scores(self._sym[:n, 0, self._basis.color], rgb)
            # A record with none of the colour scores 0: it is no match at all, so it is not returned.
            floor = max(min_score or 0.0, 1e-6)
            return self._top(np.asarray(scores, dtype=np.float32), limit, offset, filter, floor, None)

    def _top(
        self,
        scores: npt.NDArray[np.float32],
        limit: int,
        offset: int,
        filter: Filter | None,
        min_score: float | None,
        exclude: str | None,
    ) -> tuple[list[Hit], int]:
        scores = np.clip(scores, 0.0, 1.0)
        keep = np.ones(scores.shape[0], dtype=bool)
        if filter is not None:
            keep &= evaluate_mask(filter, self._column, scores.shape[0])
        if exclude is not None and exclude in self._row:
            keep[self._row[exclude]] = False
        if min_score is not None:
            keep &= scores >= np.float32(min_score)
        total = int(keep.sum())
        want = min(offset + limit, total)
        if want <= 0:
            return [], total
        ranked = np.where(keep, scores, -np.inf)
        top = (
            np.argpartition(-ranked, want - 1)[:want]
            if want < ranked.shape[0]
            else np.arange(ranked.shape[0])
        )
        order = sorted((int(i) for i in top if keep[i]), key=lambda i: (-float(ranked[i]), self._ids[i]))
        return [
            Hit(self._ids[i], float(ranked[i]), self._meta[i]) for i in order[offset : offset + limit]
        ], total

    def _column(self, name: str) -> Column:
        column = self._columns.get(name)
        if column is None:
            column = Column.build([meta.get(name, MISSING) for meta in self._meta])
            self._columns[name] = column
        return column


class LazyEngine:
    """An engine opened on first use, and closable: what a face (our wire API or a vendor fake) holds.

    Constructors never do I/O, so a face keeps one of these instead of an open engine.
    """

    def __init__(
        self, path: str | Path | None = None, *, multi_view: bool = False, engine: Engine | None = None
    ):
        self._path, self._multi_view, self._engine = path, multi_view, engine
        self._lock = threading.Lock()

    def get(self) -> Engine:
        """The engine, opened on first use."""
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = Engine(self._path, multi_view=self._multi_view)
        return self._engine

    def close(self) -> None:
        """Close the engine if it was opened (an in-memory one is then gone; the next use starts afresh)."""
        with self._lock:
            if self._engine is not None:
                self._engine.close()
                self._engine = None


class _MirrorBasis:
    """The orthonormal basis of the mirror's eigenvectors (see the module docstring)."""

    _instance: _MirrorBasis | None = None

    def __init__(self) -> None:
        perm, sign = features.mirror_map()
        dim = features.DIM
        sym: list[npt.NDArray[np.float32]] = []
        anti: list[npt.NDArray[np.float32]] = []
        half = np.float32(np.sqrt(0.5))
        for i in range(dim):
            j, s = int(perm[i]), float(sign[i])
            unit = np.zeros(dim, dtype=np.float32)
            if j == i:
                unit[i] = 1.0
                (sym if s > 0 else anti).append(unit)
            elif j > i:
                other = unit.copy()
                unit[i], unit[j] = half, half * s
                other[i], other[j] = half, -half * s
                sym.append(unit)
                anti.append(other)
        self.to_sym = np.stack(sym).T.copy()  # (DIM, ds)
        self.to_anti = np.stack(anti).T.copy()  # (DIM, da)
        self.ds, self.da = self.to_sym.shape[1], self.to_anti.shape[1]
        # The colour part is mirror-invariant and kept in order at the start of the symmetric block.
        colour = features.COLOR_SLICE
        if not np.array_equal(self.to_sym[colour, : colour.stop], np.eye(colour.stop, dtype=np.float32)):
            raise AssertionError("the colour part must map to the leading symmetric coordinates")
        self.color = slice(0, colour.stop)

    @classmethod
    def get(cls) -> _MirrorBasis:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def split(self, vectors: Vector) -> tuple[Vector, Vector]:
        """Rows ``(k, DIM)`` -> their symmetric ``(k, ds)`` and antisymmetric ``(k, da)`` coordinates."""
        return vectors @ self.to_sym, vectors @ self.to_anti


def _grown(block: Vector, rows: int) -> Vector:
    grown = np.zeros((rows, *block.shape[1:]), dtype=np.float32)
    grown[: block.shape[0]] = block
    return grown


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (one writer at a time across processes)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")


@functools.cache
def _view_count(multi_view: bool) -> int:
    """How many feature rows ``features.index_views`` stores per record."""
    return int(features.index_views(Image.new("RGB", (32, 32)), multi_view=multi_view).shape[0])


def _dumps(value: Mapping[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
