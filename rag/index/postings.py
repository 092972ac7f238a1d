"""The lexical index's postings held in memory: FTS5's own BM25 (k1 = 1.2, b = 0.75, the same order of
floating-point operations, so the same scores) over numpy arrays, because FTS5 visits every row holding any
query term and a common term makes that the slowest step of a question (docs/decisions/storage.md).

It is a cache: FTS5 stays the index that is written, in the same transaction as everything else, and is
read whenever this copy is not known to be current (``rag.index.catalog``) or cannot answer a query exactly
(a term FTS5 reads as a phrase, such as "1.830,5": ``search`` returns None).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

K1 = 1.2  # FTS5's bm25() constants
B = 0.75
_TOKEN = re.compile(r"[^\W_]+")  # what unicode61 keeps: letters and digits


def fts_tokens(text: str) -> list[str]:
    """The tokens FTS5's unicode61 tokenizer makes of stored terms: '1.830,5 anos' -> ['1', '830', '5', 'anos']."""
    out: list[str] = []
    for piece in text.split():
        if piece.isalnum():
            out.append(piece)
        else:
            out.extend(_TOKEN.findall(piece))
    return out


@dataclass(frozen=True)
class Postings:
    """Every row of the lexical index as arrays (rows in rowid order)."""

    ids: list[str | None]  # the passage id of each row (None: no passage row, never returned)
    norms: np.ndarray  # float64: k1 * (1 - b + b * length / mean length), per row
    vocab: dict[str, int]  # term -> its number
    starts: np.ndarray  # int64: term t's postings are rows[starts[t]:starts[t + 1]]
    rows: np.ndarray  # int32: row numbers, ascending within a term
    freqs: np.ndarray  # float32 or float64: the term's weighted count in that row

    @classmethod
    def build(cls, rows: Iterable[tuple[str | None, str, str]], weights: tuple[float, float]) -> Postings:
        """From (passage id, body terms, context terms) of every row in rowid order; ``weights`` as
        bm25()'s."""
        vocab: dict[str, int] = {}
        ids: list[str | None] = []
        lengths: list[int] = []
        keys: list[np.ndarray] = []
        counts: list[np.ndarray] = []
        term_ids: list[int] = []
        row_numbers: list[int] = []
        column_weights: list[float] = []

        def flush() -> None:
            if term_ids:
                keys.append((np.asarray(term_ids, dtype=np.int64) << 32) | np.asarray(row_numbers, dtype=np.int64))
                counts.append(np.asarray(column_weights, dtype=np.float64))
                term_ids.clear()
                row_numbers.clear()
                column_weights.clear()

        for cid, body, context in rows:
            number = len(ids)
            ids.append(cid)
            length = 0
            for text, weight in ((body, weights[0]), (context, weights[1])):
                tokens = fts_tokens(text)
                length += len(tokens)
                term_ids.extend(vocab.setdefault(t, len(vocab)) for t in tokens)
                row_numbers.extend([number] * len(tokens))
                column_weights.extend([weight] * len(tokens))
            lengths.append(length)
            if len(term_ids) > 1 << 20:
                flush()
        flush()
        n = len(ids)
        unique: np.ndarray = np.zeros(0, dtype=np.int64)
        summed: np.ndarray = np.zeros(0)
        if keys:
            unique, inverse = np.unique(np.concatenate(keys), return_inverse=True)
            summed = np.bincount(inverse, weights=np.concatenate(counts))  # instance order, as bm25()
        narrow = summed.astype(np.float32)
        freqs = narrow if np.array_equal(narrow.astype(np.float64), summed) else summed
        terms = unique >> 32
        length_arr = np.asarray(lengths, dtype=np.float64)
        total = int(length_arr.sum())
        avgdl = float(total) / float(n) if n else 1.0
        return cls(
            ids=ids,
            norms=K1 * ((1 - B) + (B * length_arr) / avgdl),
            vocab=vocab,
            starts=np.searchsorted(terms, np.arange(len(vocab) + 1)).astype(np.int64),
            rows=(unique & 0xFFFFFFFF).astype(np.int32),
            freqs=freqs,
        )

    @property
    def size(self) -> int:
        return len(self.ids)

    def search(self, terms: Sequence[str], k: int) -> list[tuple[str, float]] | None:
        """(passage id, BM25), best first, at most ``k``: what ``Catalog.lexical`` gets from FTS5 for
        the same terms (ties in rowid order); None when a term is not one token (FTS5 must answer)."""
        tokens: list[str] = []
        for term in dict.fromkeys(terms):  # as the FTS5 query is made (catalog._match)
            term = term.replace('"', "")
            if not term:
                continue
            parts = fts_tokens(term)
            if len(parts) != 1 or parts[0] != term or term != term.lower():
                return None  # a phrase, or a token FTS5 would fold: not this copy's to answer
            tokens.append(term)
        n = self.size
        if not tokens or k <= 0 or n == 0:
            return []
        scores = np.zeros(n)
        matched = np.zeros(n, dtype=bool)
        for token in tokens:  # phrase order: the sums are bm25()'s, operation for operation
            t = self.vocab.get(token)
            if t is None:
                continue  # no row holds it: it adds 0.0 everywhere
            rows = self.rows[self.starts[t] : self.starts[t + 1]]
            if len(rows) == 0:
                continue
            hits = len(rows)
            idf = math.log((n - hits + 0.5) / (hits + 0.5))
            if idf <= 0.0:
                idf = 1e-6
            freqs = self.freqs[self.starts[t] : self.starts[t + 1]].astype(np.float64)
            scores[rows] += idf * ((freqs * (K1 + 1.0)) / (freqs + self.norms[rows]))
            matched[rows] = True
        found = np.flatnonzero(matched)
        if len(found) > k:
            # the k best, and every row tied with the k-th (they are ordered by rowid below)
            kth = -np.partition(-scores[found], k - 1)[k - 1]
            found = found[scores[found] >= kth]
        order = found[np.lexsort((found, -scores[found]))][:k]
        out = []
        for row in order:
            cid = self.ids[row]
            if cid is not None:
                out.append((cid, float(scores[row])))
        return out
