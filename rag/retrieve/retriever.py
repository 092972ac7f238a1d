"""Finding passages of one collection: dense (the embedder's vectors in Chroma), lexical (BM25 over
analysed terms) and their fusion (``rag.retrieve.fusion``)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from rag.encoders.embedders import Embedder
from rag.index.catalog import Catalog
from rag.index.store import Index
from rag.retrieve.fusion import FUSION, Fusion, fuse
from rag.retrieve.hits import Ranked, hit_groups, merged_hit, with_similarity
from rag.settings import BUNDLED_EMBEDDER
from rag.text import analyze_query
from rag.types import Hit

Method = Literal["hybrid", "dense", "lexical"]


@dataclass(frozen=True)
class Candidates:
    """Both retrievers' lists for one question."""

    dense: Ranked  # (chunk id, cosine), best first
    lexical: Ranked  # (chunk id, BM25), best first
    terms: tuple[str, ...] = ()  # the question's analysed terms
    vector: np.ndarray | None = None  # the question's vector


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """Threads for the lexical side, which runs while the question is embedded (both release the GIL)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="rag-lexical")
        return _POOL


class Retriever:
    """Retrieves passages of one collection."""

    def __init__(self, index: Index, embedder: Embedder, collection: str, method: Method = "hybrid",
                 fusion: Fusion = FUSION) -> None:
        self.index = index
        self.embedder = embedder
        self.collection = collection
        self.method = method
        self.fusion = fusion

    @property
    def encoder(self) -> Embedder:
        """The embedder, which the extractive answer also uses to compare units across languages."""
        return self.embedder

    def embed_queries(self, questions: Sequence[str]) -> np.ndarray:
        return self.embedder.embed(list(questions), query=True)

    def _catalog(self) -> Catalog | None:
        return self.index.catalog(self.collection) if self.index.exists(self.collection) else None

    def dense(self, question: str, n: int, vector: np.ndarray | None = None) -> Ranked:
        if not self.index.exists(self.collection):
            return []
        self.index.check_embedder(self.collection, self.embedder.name)
        if vector is None:
            vector = self.embedder.embed([question], query=True)[0]
        # a few extra: hits of a document being written (not yet 'ready') are dropped when joined
        return self.index.vectors.query(self.collection, vector, n + 8)

    def lexical(self, question: str, n: int) -> Ranked:
        catalog = self._catalog()
        return catalog.lexical(analyze_query(question), n) if catalog is not None else []

    def candidates(self, question: str, n: int, vector: np.ndarray | None = None) -> Candidates:
        """Both retrievers' lists, ``max(depth, n)`` passages each."""
        catalog = self._catalog()
        if catalog is None:
            return Candidates([], [])
        depth = max(self.fusion.depth, n)
        terms = analyze_query(question)
        words = _pool().submit(catalog.lexical, terms, depth)
        if vector is None:
            vector = self.embedder.embed([question], query=True)[0]
        dense = self.dense(question, depth, vector)[:depth]
        return Candidates(dense, words.result(), tuple(terms), vector)

    def fuse(self, cands: Candidates, k: int) -> Ranked:
        return fuse(cands.dense, cands.lexical, k, self.fusion)

    def page_text(self, doc_sha: str, page: int) -> str | None:
        """A page of a document of this collection, as stored (the extractive answer reads its lines)."""
        catalog = self._catalog()
        return catalog.page_text(doc_sha, page) if catalog is not None else None

    def fusion_info(self) -> dict[str, Any]:
        f = self.fusion
        return {"method": "standardised score fusion with document context", "embedder": self.embedder.name,
                "depth": f.depth, "dense_share": f.dense_share, "neighbour": f.neighbour, "document": f.document}

    def confidence(self, cands: Candidates) -> float:
        """How sure retrieval is that the collection holds the answer: the largest IDF-weighted share of
        the question's terms that one of the top 4 fused passages contains (0..1)."""
        catalog = self._catalog()
        if catalog is None or not cands.terms:
            return 0.0
        return catalog.coverage(cands.terms, [cid for cid, _ in self.fuse(cands, 4)])

    def ranked(self, question: str, k: int, method: Method | None = None) -> Ranked:
        method = method or self.method
        if method == "dense":
            return self.dense(question, k)
        if method == "lexical":
            return self.lexical(question, k)
        return self.fuse(self.candidates(question, k), k + 8)

    def retrieve(self, question: str, k: int, method: Method | None = None) -> list[Hit]:
        """The ``k`` best passages for ``question``; passages of one page come as one."""
        question = question.strip()
        if not question:
            return []
        n = self.fusion.merge * k + 8
        method = method or self.method
        vector: np.ndarray | None = None
        if method == "hybrid":
            cands = self.candidates(question, n)
            ranked, vector = self.fuse(cands, n + 8), cands.vector
        elif method == "dense":
            vector = self.embedder.embed([question], query=True)[0]
            ranked = self.dense(question, n, vector)
        else:
            ranked = self.lexical(question, n)
        chunks = self.index.catalog(self.collection).chunks([cid for cid, _ in ranked])
        groups = hit_groups(ranked, chunks, limit=self.fusion.merge)[:k]
        hits = [merged_hit(rank, [chunks[cid] for cid, _ in group], group[0][1])
                for rank, group in enumerate(groups, start=1)]
        if vector is None or not hits or self.embedder.name != BUNDLED_EMBEDDER:
            return hits  # the extractive answer's thresholds are the bundled model's cosines
        ids = [cid for group in groups for cid, _ in group]
        stored = self.index.vectors.vectors(self.collection, ids)
        similarity = {cid: float(v @ vector) for cid, v in stored.items()}
        return with_similarity(hits, {g[0][0]: [cid for cid, _ in g] for g in groups}, similarity)
