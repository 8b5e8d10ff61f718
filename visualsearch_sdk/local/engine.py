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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from visualsearch_sdk._exceptions import ConfigurationError
from visualsearch_sdk.filters import Column
from visualsearch_sdk.local import features
from visualsearch_sdk.local._mirror import Vector, _MirrorBasis
from visualsearch_sdk.local._ranking import Hit, _Ranking
from visualsearch_sdk.local._sqlite import _SCHEMA, _dumps, _Transaction

__all__ = ["Engine", "Hit", "LazyEngine", "NewRecord", "WriteOutcome"]

_CHUNK = 4096  # matrix capacity grows by this many records at a time
_CHANGELOG_KEEP = 50_000  # change-log rows kept; a process further behind reloads in full


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


class Engine(_Ranking):
    """A persistent (``path``) or in-memory (``path=None``) vector index with metadata.

    Opening an engine does I/O (SQLite), so clients create it lazily on the first request.
    """

    def __init__(self, path: str | Path | None = None, *, multi_view: bool = False) -> None:
        self.path = None if path is None else Path(path)
        self._lock = threading.RLock()
        if self.path is not None:
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # a file in the way, no permission, a read-only disk
                raise ConfigurationError(
                    f"cannot use {str(self.path)!r} as a local index folder: {exc}"
                ) from exc
            target = str(self.path / "index.sqlite3")
        else:
            target = ":memory:"
        try:
            self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None, timeout=30.0)
        except sqlite3.Error as exc:
            raise ConfigurationError(f"cannot open the local index {target!r}: {exc}") from exc
        try:
            self._db.execute(
                "PRAGMA journal_mode=WAL" if self.path is not None else "PRAGMA journal_mode=MEMORY"
            )
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self.multi_view = self._check_meta(multi_view)
        except sqlite3.DatabaseError as exc:  # not a database, corrupt, or locked for longer than the timeout
            self._db.close()
            raise ConfigurationError(f"the local index {target!r} cannot be used: {exc}") from exc
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


def _grown(block: Vector, rows: int) -> Vector:
    grown = np.zeros((rows, *block.shape[1:]), dtype=np.float32)
    grown[: block.shape[0]] = block
    return grown


@functools.cache
def _view_count(multi_view: bool) -> int:
    """How many feature rows ``features.index_views`` stores per record."""
    return int(features.index_views(Image.new("RGB", (32, 32)), multi_view=multi_view).shape[0])
