"""The catalog's SQLite schema, and the upgrade of a catalog an older version made (columns added, never
dropped, so an older catalog opens as it is)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

SCHEMA_VERSION = "7"  # 6: locators and OCR flags of pages and passages; 7: no side-channel vectors, n-gram
# statistics or stored words (issue 16: older catalogs keep those columns, unused, and open as they are)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    sha TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    pages INTEGER NOT NULL DEFAULT 0,
    chunks INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    ingested_at TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'ready', 'deleting'))
);
CREATE TABLE IF NOT EXISTS paths (
    path TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    sha TEXT NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    mtime_ns INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS paths_sha ON paths(sha);
CREATE TABLE IF NOT EXISTS pages (
    sha TEXT NOT NULL,
    page INTEGER NOT NULL,
    text TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT 'page',
    ocr INTEGER NOT NULL DEFAULT 0,
    ocr_confidence REAL,
    PRIMARY KEY (sha, page)
);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    sha TEXT NOT NULL,
    position INTEGER NOT NULL,
    page INTEGER NOT NULL,
    page_end INTEGER NOT NULL,
    text TEXT NOT NULL,
    context TEXT NOT NULL DEFAULT '',
    locator TEXT NOT NULL DEFAULT '',
    ocr INTEGER NOT NULL DEFAULT 0,
    ocr_confidence REAL
);
CREATE INDEX IF NOT EXISTS chunks_sha ON chunks(sha);
CREATE VIRTUAL TABLE IF NOT EXISTS lex USING fts5(body, context, tokenize = 'unicode61 remove_diacritics 0');
"""

_CHUNK_LOCATION = {"locator": "TEXT NOT NULL DEFAULT ''", "ocr": "INTEGER NOT NULL DEFAULT 0",
                   "ocr_confidence": "REAL"}
_PAGE_INFO = {"label": "TEXT NOT NULL DEFAULT ''", "kind": "TEXT NOT NULL DEFAULT 'page'",
              "ocr": "INTEGER NOT NULL DEFAULT 0", "ocr_confidence": "REAL"}


def upgrade(conn: sqlite3.Connection) -> None:
    """Create what is missing, inside the caller's transaction: tables, and the columns older catalogs lack."""
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    columns = {str(row[1]) for row in conn.execute("PRAGMA table_info(chunks)")}
    _add_columns(conn, "chunks", columns, _CHUNK_LOCATION)  # before 6: passages of physical pages
    _add_columns(conn, "pages", {str(row[1]) for row in conn.execute("PRAGMA table_info(pages)")}, _PAGE_INFO)


def _add_columns(conn: sqlite3.Connection, table: str, present: set[str], columns: Mapping[str, str]) -> None:
    """Add the ``columns`` (name: declaration) an older ``table`` lacks; their defaults fill old rows."""
    assert table in {"chunks", "pages"}
    for name, declaration in columns.items():
        if name not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")


def meta(conn: sqlite3.Connection, key: str) -> str | None:
    """A meta value, read before the tables are known to exist (None: not recorded, or no catalog yet)."""
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    except sqlite3.OperationalError:
        return None
    return None if row is None else str(row[0])


@contextmanager
def txn(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (autocommit connection)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
