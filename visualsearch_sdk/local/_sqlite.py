"""SQLite plumbing of the local engine: the schema, one-writer transactions and the metadata encoding."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

__all__: list[str] = []

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


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (one writer at a time across processes)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _dumps(value: Mapping[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
