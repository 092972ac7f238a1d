"""Checks of the index's invariants, shared by the index, ingest and server tests."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def assert_consistent(index: Any, collection: str) -> None:
    """Every vector has a ready passage and every passage a vector; lexical rows match; pages exist."""
    cat = index.catalog(collection)
    vec_ids = index.vectors.ids(collection)
    assert len(vec_ids) == len(set(vec_ids)), "duplicate vectors"
    chunk_ids = set(cat.chunk_ids())
    assert set(vec_ids) == chunk_ids, "vectors and passages out of step"
    assert cat.unfinished() == [], "half-written documents left"
    lex_rows = cat._conn.execute("SELECT COUNT(*) FROM lex").fetchone()[0]
    assert lex_rows == len(chunk_ids), "lexical index out of step"
    assert_lexical_terms(cat)
    for doc in cat.documents():
        chunks = cat.document_chunks(doc.sha256)
        assert len(chunks) == doc.chunks
        assert [c.position for c in chunks] == list(range(len(chunks)))
        assert all(1 <= c.page <= c.page_end <= doc.pages for c in chunks)


def assert_lexical_terms(cat: Any) -> None:
    """Every passage's row in the lexical index holds the terms this analysis makes of its text."""
    from rag.analysis import passage_terms

    rows = cat._conn.execute("SELECT c.text, c.context, l.body, l.context FROM chunks c JOIN lex l ON l.rowid = c.rowid")
    for text, context, body, terms in rows:
        assert (body, terms) == passage_terms(text, context), "lexical terms of another analysis"



def snapshot(index: Any, collection: str) -> tuple[set[str], set[str]]:
    """(document shas, chunk ids): equal for two indexes built from the same files."""
    cat = index.catalog(collection)
    return {d.sha256 for d in cat.documents()}, set(cat.chunk_ids())


def ready_documents(data_dir: Path, collection: str = "default") -> int:
    """Documents a reader would see, read straight from the catalog file (another process writes it)."""
    db = data_dir / "collections" / collection / "catalog.sqlite3"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM documents WHERE state = 'ready'").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def holds_write_lock(data_dir: Path, pid: int) -> bool:
    """True once process ``pid`` has taken the data directory's write lock (the lock file names its holder)."""
    try:
        return (data_dir / "write.lock").read_text().strip() == str(pid)
    except FileNotFoundError:
        return False


def ingest_until_ready(folder: Path, env: dict[str, str], cwd: Path, data_dir: Path, documents: int
                       ) -> subprocess.Popen[str]:
    """Start `rag ingest folder --json` and return once ``documents`` are ready, the ingest still running."""
    proc = subprocess.Popen([sys.executable, "-m", "rag", "ingest", str(folder), "--json"], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while ready_documents(data_dir) < documents:
        assert proc.poll() is None and time.monotonic() < deadline, "the ingest ended or stalled too early"
        time.sleep(0.05)
    return proc


def assert_whole_documents_only(service: Any) -> None:
    """Every document a reader sees has all of its passages."""
    cat = service.index.catalog("default")
    for doc in cat.documents():
        assert len(cat.document_chunks(doc.sha256)) == doc.chunks


def kill_then_rerun(moments: tuple[int, ...], folder: Path, env: dict[str, str], cwd: Path, data_dir: Path,
                    open_service: Callable[[], Any], expected: tuple[set[str], set[str]]) -> None:
    """Start `rag ingest folder` and kill -9 it once per moment: after that many documents are ready
    (0: once it holds the write lock, before its first document); after each kill a reader sees whole
    documents only. Then a re-run must finish and leave an index equal to ``expected`` (the ``snapshot``
    of a clean one)."""
    for wait_for_docs in moments:
        proc = subprocess.Popen([sys.executable, "-m", "rag", "ingest", str(folder)], env=env, cwd=cwd,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while proc.poll() is None and (ready_documents(data_dir) < wait_for_docs
                                       or wait_for_docs == 0 and not holds_write_lock(data_dir, proc.pid)):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.kill()
        proc.wait()
        if (data_dir / "collections" / "default").exists():
            assert_whole_documents_only(open_service())
    done = subprocess.run([sys.executable, "-m", "rag", "ingest", str(folder), "--json"], capture_output=True,
                          text=True, env=env, timeout=300, cwd=cwd)
    assert done.returncode == 0, done.stderr
    service = open_service()
    assert_consistent(service.index, "default")
    assert snapshot(service.index, "default") == expected
