"""Checks of the index's invariants, shared by the index, ingest and server tests."""

from __future__ import annotations

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
    for doc in cat.documents():
        chunks = cat.document_chunks(doc.sha256)
        assert len(chunks) == doc.chunks
        assert [c.position for c in chunks] == list(range(len(chunks)))
        assert all(1 <= c.page <= c.page_end <= doc.pages for c in chunks)


def snapshot(index: Any, collection: str) -> tuple[set[str], set[str]]:
    """(document shas, chunk ids): equal for two indexes built from the same files."""
    cat = index.catalog(collection)
    return {d.sha256 for d in cat.documents()}, set(cat.chunk_ids())
