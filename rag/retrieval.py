"""Finding passages: dense (vectors), lexical (BM25 over analysed terms), and their fusion."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

from rag.analysis import analyze_query
from rag.embedders import Embedder
from rag.store.index import Index
from rag.types import Chunk, Hit

log = logging.getLogger(__name__)

Method = Literal["hybrid", "dense", "lexical"]
Ranked = list[tuple[str, float]]  # (chunk id, score), best first


def rrf(rankings: Sequence[Ranked], weights: Sequence[float], k0: float = 60.0) -> Ranked:
    """Weighted reciprocal-rank fusion.

    Example: rrf([[("a", .9), ("b", .8)], [("b", 3.1)]], [1, 1]) -> b first (in both lists), then a.
    """
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, (cid, _score) in enumerate(ranking, start=1):
            scores[cid] = scores.get(cid, 0.0) + weight / (k0 + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


class Retriever:
    """Retrieves passages of one collection."""

    def __init__(self, index: Index, embedder: Embedder, collection: str, method: Method = "hybrid",
                 depth: int = 50) -> None:
        self.index = index
        self.embedder = embedder
        self.collection = collection
        self.method = method
        self.depth = depth  # candidates taken from each side before fusion

    def dense(self, question: str, n: int) -> Ranked:
        if not self.index.exists(self.collection):
            return []
        self.index.check_embedder(self.collection, self.embedder.name)
        vector = self.embedder.embed([question], query=True)[0]
        # a few extra: hits of a document being written (not yet 'ready') are dropped when joined
        return self.index.vectors.query(self.collection, vector, n + 8)

    def lexical(self, question: str, n: int) -> Ranked:
        if not self.index.exists(self.collection):
            return []
        return self.index.catalog(self.collection).lexical(analyze_query(question), n)

    def ranked(self, question: str, k: int, method: Method | None = None) -> Ranked:
        method = method or self.method
        if method == "dense":
            return self.dense(question, k)
        if method == "lexical":
            return self.lexical(question, k)
        n = max(self.depth, k)
        return rrf([self.dense(question, n), self.lexical(question, n)], [1.0, 1.0])

    def retrieve(self, question: str, k: int, method: Method | None = None) -> list[Hit]:
        """The ``k`` best passages for ``question``."""
        question = question.strip()
        if not question:
            return []
        ranked = self.ranked(question, k, method)
        chunks = self.index.catalog(self.collection).chunks([cid for cid, _ in ranked[: k + 8]])
        hits: list[Hit] = []
        for cid, score in ranked:
            chunk: Chunk | None = chunks.get(cid)
            if chunk is None:
                continue  # written by an ingest still in progress, or just removed
            hits.append(Hit(rank=len(hits) + 1, source=chunk.source, page=chunk.page,
                            page_end=chunk.page_end, text=chunk.text, score=score, chunk_id=cid,
                            doc_sha=chunk.doc_sha, context=chunk.context))
            if len(hits) == k:
                break
        return hits
