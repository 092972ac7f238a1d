"""The lexical index of a catalog: BM25 over the passages' analysed terms, from an in-memory copy of the
postings when it is current (``rag.index.postings``), else from SQLite's FTS5, and the IDF statistics."""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from rag.index.postings import Postings
from rag.text import passage_terms

log = logging.getLogger(__name__)

LEX_WEIGHTS = (1.0, 1.0)  # BM25 weights of the passage text and of its context line (title, heading)


class LexicalIndex:
    """The lexical side of ``Catalog`` (the ``lex`` FTS5 table and its in-memory copy)."""

    _conn: sqlite3.Connection
    file: Path
    _count: tuple[tuple[int, int, int], int] | None
    _vocab: bool
    _postings: tuple[tuple[int, int, int], Postings] | None
    _postings_lock: threading.Lock
    _postings_building: bool
    _lexical_queries: int

    def _version(self) -> tuple[int, int, int]:
        raise NotImplementedError

    def chunk_count(self) -> int:
        raise NotImplementedError

    def lexical(self, terms: Sequence[str], k: int, weights: tuple[float, float] = LEX_WEIGHTS
                ) -> list[tuple[str, float]]:
        """(chunk id, BM25 score), best first; terms are already analysed.

        Answered from the in-memory copy of the postings (``rag.index.postings``: the same scores, 10-30x
        faster at 100k passages) when it is current; otherwise by FTS5, while a copy is made in the
        background. In FTS5, BM25 is computed once per matching row and only the top ``k`` rows are
        joined to their passages (2-3x faster at 100k passages than joining every match).
        """
        query = _match(terms)
        if not query or k <= 0:
            return []
        if weights == LEX_WEIGHTS:
            self._lexical_queries += 1
            postings = self.postings(start=self._lexical_queries > 1)
            found = postings.search(terms, k) if postings is not None else None
            if found is not None:
                return found
        rows = self._conn.execute(
            "SELECT c.id, -m.score FROM (SELECT rowid, bm25(lex, ?, ?) AS score FROM lex WHERE lex MATCH ? "
            "ORDER BY score LIMIT ?) AS m JOIN chunks c ON c.rowid = m.rowid ORDER BY m.score",
            (weights[0], weights[1], query, k),
        )
        return [(str(i), float(s)) for i, s in rows]

    def postings(self, wait: bool = False, start: bool = True) -> Postings | None:
        """The in-memory copy of the lexical postings if it is current, else None - and a new copy is
        started in a background thread (or, with ``wait``, made now and returned; with ``start`` false,
        not started: a one-question process such as ``rag search`` would only pay for a copy it never
        uses, in CPU taken from its own question).

        The copy is read through a connection of its own, in one read transaction, after noting this
        catalog's version; it is kept only if the version has not moved meanwhile (any commit, by this
        process or another, moves it), so a copy is never used for data other than what it was read
        from. Making one takes ~4.5 s at 100k passages, so a question never waits for it.
        """
        version = self._version()
        with self._postings_lock:
            if self._postings is not None and self._postings[0] == version:
                return self._postings[1]
            if (self._postings_building or not start) and not wait:
                return None
            self._postings_building = True
        if not wait:
            threading.Thread(target=self._build_postings, args=(version,), name="rag-postings",
                             daemon=True).start()
            return None
        return self._build_postings(version)

    def _build_postings(self, version: tuple[int, int, int]) -> Postings | None:
        try:
            conn = sqlite3.connect(self.file, timeout=30.0, isolation_level=None)
            try:
                conn.execute("BEGIN")
                postings = Postings.build(conn.execute(
                    "SELECT c.id, l.body, l.context FROM lex l LEFT JOIN chunks c ON c.rowid = l.rowid "
                    "ORDER BY l.rowid"), LEX_WEIGHTS)
                conn.execute("COMMIT")
            finally:
                conn.close()
        except sqlite3.Error:
            log.warning("could not read the lexical index into memory: FTS5 answers", exc_info=True)
            with self._postings_lock:
                self._postings_building = False
            return None
        with self._postings_lock:
            kept = self._version() == version
            if kept:
                self._postings = (version, postings)
            self._postings_building = False
        return postings if kept else None

    def passage_count(self) -> int:
        """Passages in the collection (cached until this connection or another one writes)."""
        version = self._version()
        if self._count is None or self._count[0] != version:
            self._count = (version, self.chunk_count())
        return self._count[1]

    def document_frequencies(self, terms: Sequence[str]) -> dict[str, int]:
        """Passages containing each term (body or context)."""
        if not terms:
            return {}
        if not self._vocab:  # a temporary view of the FTS5 index: nothing is written to the file
            self._conn.execute(
                "CREATE VIRTUAL TABLE IF NOT EXISTS temp.lex_vocab USING fts5vocab(main, lex, 'row')")
            self._vocab = True
        marks = ",".join("?" * len(terms))
        rows = self._conn.execute(
            f"SELECT term, doc FROM temp.lex_vocab WHERE term IN ({marks})", list(terms))
        found = {str(t): int(n) for t, n in rows}
        return {t: found.get(t, 0) for t in terms}

    def term_idf(self, terms: Sequence[str]) -> dict[str, float]:
        """The BM25 IDF of each distinct term over the collection's passages."""
        n = max(self.passage_count(), 1)
        return {t: bm25_idf(n, df) for t, df in self.document_frequencies(list(dict.fromkeys(terms))).items()}

    def coverage(self, terms: Sequence[str], ids: Sequence[str], idf: Mapping[str, float] | None = None
                 ) -> float:
        """The largest IDF-weighted share of ``terms`` that one of the passages ``ids`` contains
        (``idf``: ``term_idf(terms)``, when already known).

        Example: terms ["nota", "minim", "aprobacion"] against a passage with "nota" and "minim" only
        -> about 0.6 when "aprobacion" is the rarest of the three.
        """
        if not terms or not ids:
            return 0.0
        weight = dict(idf) if idf is not None else self.term_idf(terms)
        total = sum(weight.values()) or 1.0
        marks = ",".join("?" * len(ids))
        rows = self._conn.execute(
            f"SELECT l.body, l.context FROM lex l JOIN chunks c ON c.rowid = l.rowid WHERE c.id IN ({marks})",
            list(ids),
        )
        best = 0.0
        for body, context in rows:
            present = set(f"{body} {context}".split())
            best = max(best, sum(w for t, w in weight.items() if t in present) / total)
        return best


def bm25_idf(n: int, df: int) -> float:
    """BM25's IDF of a term held by ``df`` of ``n`` passages (never negative)."""
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def reanalyze(conn: sqlite3.Connection) -> None:
    """Re-derive every passage's index terms from the stored texts, inside
    the caller's transaction: what a catalog made with another analysis needs (no vector changes)."""
    conn.execute("DELETE FROM lex")
    conn.executemany(
        "INSERT INTO lex(rowid, body, context) VALUES (?, ?, ?)",
        ((rowid, *passage_terms(text, context))
         for rowid, text, context in conn.execute("SELECT rowid, text, context FROM chunks")),
    )


def _match(terms: Sequence[str]) -> str:
    """An FTS5 query matching any of the terms: '"nota" OR "minim"'."""
    return " OR ".join('"' + t.replace('"', "") + '"' for t in dict.fromkeys(terms) if t.replace('"', ""))
