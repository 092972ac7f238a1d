"""The catalog of one collection, in one SQLite file: documents, their file paths, page texts, passages
and the lexical index over them (``rag.index.lexical``; tables in ``rag.index.schema``).

Everything a reader trusts is written in one SQLite transaction, so the lexical index can never be out
of step with the catalog, and a document's rows are visible to readers only once its state is 'ready'.
A catalog records the fingerprint of the text analysis its terms were made with (``meta.analysis``);
opened by code whose analysis differs, it re-derives every passage's terms from the stored texts.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.index.lexical import LexicalIndex, reanalyze
from rag.index.postings import Postings
from rag.index.schema import SCHEMA_VERSION, meta, txn, upgrade
from rag.locators import sheet_name
from rag.text import analysis_fingerprint
from rag.types import DEFAULT_PAGE_INFO, Chunk, DocumentInfo, PageInfo


@dataclass(frozen=True)
class PathRecord:
    path: str
    name: str
    sha: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class NewDocument:
    """Everything the catalog stores for one document, written in one step."""

    sha: str
    name: str
    title: str
    pages: Sequence[str]
    chunks: Sequence[Chunk]
    terms: Sequence[tuple[str, str]]  # (body terms, context terms) per chunk, space-joined
    size: int
    path: PathRecord | None
    page_info: Sequence[PageInfo] = ()  # aligned with ``pages``; () = physical pages, no OCR


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Catalog(LexicalIndex):
    """One collection's SQLite catalog: documents, paths, pages and passages (the lexical index: ``LexicalIndex``)."""

    def __init__(self, conn: sqlite3.Connection, file: Path) -> None:
        self._conn = conn
        self.file = file
        self._count: tuple[tuple[int, int, int], int] | None = None  # (version, passages)
        self._vocab = False
        self._writes = 0  # this connection's write transactions (data_version does not count them)
        self._postings: tuple[tuple[int, int, int], Postings] | None = None  # (version, lexical postings)
        self._postings_lock = threading.Lock()
        self._postings_building = False
        self._lexical_queries = 0  # BM25 queries asked of this catalog (the first never starts a copy)

    @classmethod
    def open(cls, path: Path) -> Catalog:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL is durable across process crashes
        if meta(conn, "schema") == SCHEMA_VERSION and meta(conn, "analysis") == analysis_fingerprint():
            return cls(conn, path)  # an existing catalog: readers never take the write lock here
        # a first open after an upgrade may re-derive every passage's terms (~30 s at 100k passages):
        # another process opening meanwhile waits for it rather than failing after the usual 30 s
        conn.execute("PRAGMA busy_timeout = 600000")
        with txn(conn):
            upgrade(conn)
            if meta(conn, "analysis") != analysis_fingerprint():
                reanalyze(conn)  # made by another version of the analysis (or before it was recorded)
            conn.executemany(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                [("schema", SCHEMA_VERSION), ("analysis", analysis_fingerprint())],
            )
        conn.execute("PRAGMA busy_timeout = 30000")
        return cls(conn, path)

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _write(self) -> Iterator[None]:
        """A write transaction of this connection, counted so that caches see it (``_version``)."""
        try:
            with txn(self._conn):
                yield
        finally:
            self._writes += 1

    def _version(self) -> tuple[int, int, int]:
        """Changes whenever the catalog may have: another connection committed, or this one wrote
        (through ``_write``, or any statement that changed a row: SQLite's count of them)."""
        return (int(self._conn.execute("PRAGMA data_version").fetchone()[0]), self._writes,
                self._conn.total_changes)

    # -- metadata -------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def delete_meta(self, key: str) -> None:
        self._conn.execute("DELETE FROM meta WHERE key = ?", (key,))

    # -- the write protocol ---------------------------------------------------------------------
    def begin(self, docs: Iterable[tuple[str, str, int]]) -> None:
        """Step 1: announce (sha, name, size) as 'pending' before any vector is written."""
        now = _now()
        with self._write():
            self._conn.executemany(
                "INSERT OR IGNORE INTO documents(sha, name, bytes, ingested_at, state) "
                "VALUES (?, ?, ?, ?, 'pending')",
                [(sha, name, size, now) for sha, name, size in docs],
            )

    def finish(self, docs: Sequence[NewDocument]) -> list[str]:
        """Step 3: passages, pages, lexical terms and paths, and 'ready', in one transaction.

        A document whose last path now points at new content is hidden in the same transaction
        (state 'deleting'), so readers see the new version replace the old at one instant; its shas
        are returned for the caller to purge from the vectors.
        """
        now = _now()
        replaced: set[str] = set()
        with self._write():
            for doc in docs:
                if self.has(doc.sha):  # already complete (written twice): only the path is news
                    replaced.update(self._repoint(doc.path))
                    continue
                infos = [*doc.page_info, *[DEFAULT_PAGE_INFO] * len(doc.pages)][: len(doc.pages)]
                self._conn.executemany(
                    "INSERT OR REPLACE INTO pages(sha, page, text, label, kind, ocr, ocr_confidence) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(doc.sha, i, text, info.label, info.kind, int(info.ocr), info.ocr_confidence)
                     for i, (text, info) in enumerate(zip(doc.pages, infos, strict=True), start=1)],
                )
                for chunk, (body, context) in zip(doc.chunks, doc.terms, strict=True):
                    cur = self._conn.execute(
                        "INSERT INTO chunks(id, sha, position, page, page_end, text, context, "
                        "locator, ocr, ocr_confidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (chunk.id, doc.sha, chunk.position, chunk.page, chunk.page_end, chunk.text,
                         chunk.context, chunk.locator, int(chunk.ocr), chunk.ocr_confidence),
                    )
                    self._conn.execute(
                        "INSERT INTO lex(rowid, body, context) VALUES (?, ?, ?)",
                        (cur.lastrowid, body, context),
                    )
                self._conn.execute(
                    "UPDATE documents SET name = ?, title = ?, pages = ?, chunks = ?, bytes = ?, "
                    "ingested_at = ?, state = 'ready' WHERE sha = ?",
                    (doc.name, doc.title, len(doc.pages), len(doc.chunks), doc.size, now, doc.sha),
                )
                replaced.update(self._repoint(doc.path))
            return self._hide_orphans(replaced)

    def _repoint(self, rec: PathRecord | None) -> list[str]:
        """Record a path; return the sha it pointed at before, if that was other content."""
        if rec is None:
            return []
        old = self.path(rec.path)
        self._put_path(rec)
        return [old.sha] if old is not None and old.sha != rec.sha else []

    def _hide_orphans(self, shas: Iterable[str]) -> list[str]:
        """Hide documents left with no path; return their shas (inside a transaction)."""
        hidden = []
        for sha in shas:
            if self.path_count(sha) == 0:
                self._drop_rows(sha)
                self._conn.execute("UPDATE documents SET state = 'deleting' WHERE sha = ?", (sha,))
                hidden.append(sha)
        return hidden

    def drop_paths(self, paths: Sequence[str]) -> list[str]:
        """Forget file paths; documents left with none are hidden and returned for purging."""
        with self._write():
            shas = set()
            for path in paths:
                rec = self.path(path)
                if rec is not None:
                    shas.add(rec.sha)
                    self._conn.execute("DELETE FROM paths WHERE path = ?", (path,))
            return self._hide_orphans(shas)

    def unfinished(self) -> list[tuple[str, str]]:
        """(sha, state) of documents a crash left half-written or half-deleted."""
        rows = self._conn.execute("SELECT sha, state FROM documents WHERE state != 'ready'")
        return [(str(sha), str(state)) for sha, state in rows]

    def start_removal(self, shas: Sequence[str]) -> None:
        """Removal step 1: hide the documents from readers and drop their passages and terms."""
        with self._write():
            for sha in shas:
                self._drop_rows(sha)
                self._conn.execute("UPDATE documents SET state = 'deleting' WHERE sha = ?", (sha,))

    def forget(self, shas: Sequence[str]) -> None:
        """Last step of removal or of crash recovery, once the vectors are gone."""
        with self._write():
            for sha in shas:
                self._drop_rows(sha)
                self._conn.execute("DELETE FROM paths WHERE sha = ?", (sha,))
                self._conn.execute("DELETE FROM documents WHERE sha = ?", (sha,))

    def _drop_rows(self, sha: str) -> None:
        self._conn.execute(
            "DELETE FROM lex WHERE rowid IN (SELECT rowid FROM chunks WHERE sha = ?)", (sha,)
        )
        self._conn.execute("DELETE FROM chunks WHERE sha = ?", (sha,))
        self._conn.execute("DELETE FROM pages WHERE sha = ?", (sha,))

    # -- paths ----------------------------------------------------------------------------------
    def _put_path(self, rec: PathRecord) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO paths(path, name, sha, size, mtime_ns) VALUES (?, ?, ?, ?, ?)",
            (rec.path, rec.name, rec.sha, rec.size, rec.mtime_ns),
        )

    def put_path(self, rec: PathRecord) -> list[str]:
        """Point a path at (already indexed) content; a document left with no path is hidden."""
        with self._write():
            return self._hide_orphans(self._repoint(rec))

    def path(self, path: str) -> PathRecord | None:
        row = self._conn.execute(
            "SELECT path, name, sha, size, mtime_ns FROM paths WHERE path = ?", (path,)
        ).fetchone()
        return None if row is None else PathRecord(*row)

    def paths(self) -> list[PathRecord]:
        return [PathRecord(*r) for r in self._conn.execute("SELECT path, name, sha, size, mtime_ns FROM paths")]

    def path_count(self, sha: str) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM paths WHERE sha = ?", (sha,)).fetchone()[0])

    # -- reading --------------------------------------------------------------------------------
    def has(self, sha: str) -> bool:
        row = self._conn.execute("SELECT 1 FROM documents WHERE sha = ? AND state = 'ready'", (sha,))
        return row.fetchone() is not None

    def documents(self) -> list[DocumentInfo]:
        names: dict[str, list[str]] = {}
        for sha, name in self._conn.execute("SELECT sha, name FROM paths ORDER BY path"):
            names.setdefault(sha, [])
            if name not in names[sha]:
                names[sha].append(name)
        rows = self._conn.execute(
            "SELECT sha, name, title, pages, chunks, bytes, ingested_at, "
            "(SELECT kind FROM pages WHERE pages.sha = documents.sha ORDER BY page LIMIT 1) FROM documents "
            "WHERE state = 'ready' ORDER BY name, sha"
        ).fetchall()
        return [
            DocumentInfo(
                name=name, sha256=sha, pages=pages, chunks=chunks, ingested_at=at,
                names=tuple(names.get(sha) or [name]), title=title, size=size,
                unit=kind if kind in ("slide", "sheet", "section") else "page",
                sheets=self._sheets(sha) if kind == "sheet" else 0,
            )
            for sha, name, title, pages, chunks, size, at, kind in rows
        ]

    def _sheets(self, sha: str) -> int:
        """How many sheets a spreadsheet's row blocks come from (their labels name them)."""
        labels = self._conn.execute("SELECT label FROM pages WHERE sha = ? AND kind = 'sheet'", (sha,))
        return len({name for (label,) in labels if (name := sheet_name(label)) is not None})

    def chunk_count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def chunk_ids(self) -> list[str]:
        return [str(r[0]) for r in self._conn.execute("SELECT id FROM chunks")]

    def _by_ids(self, query: str, ids: Sequence[str]) -> Iterator[Any]:
        """The rows of ``query`` (whose "{marks}" becomes the placeholders) for ``ids``, 500 at a time."""
        for start in range(0, len(ids), 500):
            part = list(ids[start : start + 500])
            yield from self._conn.execute(query.format(marks=",".join("?" * len(part))), part)

    def chunks(self, ids: Sequence[str]) -> dict[str, Chunk]:
        """Passages by id, only of ready documents (a half-written one is invisible)."""
        rows = self._by_ids(
            f"SELECT {_CHUNK_COLUMNS} "
            "FROM chunks c JOIN documents d ON d.sha = c.sha AND d.state = 'ready' WHERE c.id IN ({marks})",
            ids)
        return {row[0]: _chunk(row) for row in rows}

    def document_chunks(self, sha: str) -> list[Chunk]:
        rows = self._conn.execute(
            f"SELECT {_CHUNK_COLUMNS} "
            "FROM chunks c JOIN documents d ON d.sha = c.sha WHERE c.sha = ? ORDER BY c.position",
            (sha,),
        )
        return [_chunk(row) for row in rows]

    def page_text(self, sha: str, page: int) -> str | None:
        row = self._conn.execute("SELECT text FROM pages WHERE sha = ? AND page = ?", (sha, page))
        found = row.fetchone()
        return None if found is None else str(found[0])

    def page_info(self, sha: str, page: int) -> PageInfo | None:
        """The stored PageInfo of one unit (None when the page is not stored)."""
        found = self._conn.execute(
            "SELECT label, kind, ocr, ocr_confidence FROM pages WHERE sha = ? AND page = ?", (sha, page)
        ).fetchone()
        if found is None:
            return None
        label, kind, ocr, confidence = found
        return PageInfo(label=str(label), ocr=bool(ocr),
                        ocr_confidence=None if confidence is None else float(confidence),
                        kind=kind if kind in ("page", "slide", "sheet", "section") else "page")


_CHUNK_COLUMNS = ("c.id, c.sha, d.name, c.page, c.page_end, c.position, c.text, c.context, c.locator, c.ocr, "
                  "c.ocr_confidence")
def _chunk(row: Sequence[Any]) -> Chunk:
    """A Chunk from a row of ``_CHUNK_COLUMNS``."""
    cid, sha, name, page, page_end, position, text, context, locator, ocr, confidence = row
    return Chunk(cid, sha, name, page, page_end, position, text, context, locator=str(locator or ""),
                 ocr=bool(ocr), ocr_confidence=None if confidence is None else float(confidence))
