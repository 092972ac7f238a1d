"""The data directory's access database (``access.sqlite3``): grants, the audit trail, users' conversations.

One SQLite file in WAL mode beside the collections, so one back-up of the data directory keeps it. Every
write is one short ``BEGIN IMMEDIATE`` transaction: SQLite serialises the writers of all processes itself,
and none of them waits behind the data directory's write lock, which an ingest holds for minutes (a grant,
an audit line or a saved answer must not). Audit lines of writes to a collection are written while that
lock is held, right after the write they record.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.errors import IndexError_

ACCESS_FILE = "access.sqlite3"
SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS grants (
    collection TEXT NOT NULL,
    principal TEXT NOT NULL,
    right TEXT NOT NULL CHECK (right IN ('read', 'write', 'admin')),
    granted_by TEXT NOT NULL,
    granted_at TEXT NOT NULL,
    PRIMARY KEY (collection, principal)
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    user TEXT NOT NULL,
    action TEXT NOT NULL,
    collection TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    title TEXT NOT NULL,
    collection TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_owner ON conversations(owner, updated_at);
CREATE TABLE IF NOT EXISTS turns (
    conversation TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    collection TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (conversation, position)
);
"""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class AccessDB:
    """The connection to ``access.sqlite3``, shared by the threads of one process (one statement at a time)."""

    def __init__(self, conn: sqlite3.Connection, file: Path) -> None:
        self._conn = conn
        self.file = file
        self._lock = threading.RLock()

    @classmethod
    def open(cls, data_dir: Path, timeout: float = 30.0) -> AccessDB:
        """Open (creating) the data directory's access database; ``timeout``: seconds a writer waits."""
        file = data_dir / ACCESS_FILE
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(file, timeout=timeout, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
        except (OSError, sqlite3.Error) as exc:
            raise IndexError_(f"cannot open {file}: {exc}; set RAG_DATA_DIR to a writable directory") from exc
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        db = cls(conn, file)
        if db.one("SELECT name FROM sqlite_master WHERE name = 'meta'") is None or db.one(
                "SELECT value FROM meta WHERE key = 'schema'") != (SCHEMA_VERSION,):
            with db.write() as cur:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        cur.execute(statement)
                cur.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,))
        return db

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT; rolled back on any error)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return [tuple(r) for r in self._conn.execute(sql, params).fetchall()]

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        with self._lock:
            row = self._conn.execute(sql, params).fetchone()
        return tuple(row) if row is not None else None
