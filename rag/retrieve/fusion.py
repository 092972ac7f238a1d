"""The hybrid ranking: the dense and lexical lists, each standardised (z-scores over its own candidates),
averaged, then each passage given a share of its neighbours' and its document's evidence. Every constant
is in ``Fusion``; why each part stays, and what was tried and dropped, is in docs/decisions/retrieval.md
(measured on regulations_es first, the Wikipedia sets as regression checks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.retrieve.hits import Ranked
from rag.types import ChunkId


@dataclass(frozen=True)
class Fusion:
    """The fusion's constants, each with where its value comes from."""

    depth: int = 50  # candidates taken from each list (the z-scores are over these)
    dense_share: float = 0.5  # equal shares: 0.4 and 0.6 moved regulations_es by a question either way
    neighbour: float = 0.1  # share of the better neighbour's score a passage gains: an answer often sits
    # next to the sentence that names its subject
    document: float = 0.2  # share of its document's evidence (as a share of the best document's); with
    # the neighbour share, regulations_es page-hit@1 0.544 -> 0.574 (docs/decisions/retrieval.md)
    merge: int = 2  # passages of one page returned as one hit, at most (3 measured alike on page-hit@5)


FUSION = Fusion()


def standardized(ranked: Ranked) -> dict[str, float]:
    """A list's scores as z-scores over the list (all 0 when they are alike): cosines and BM25 scores
    then share one scale, whatever the model's cosine band or the question's length."""
    if not ranked:
        return {}
    scores = np.array([s for _, s in ranked], dtype=np.float64)
    spread = float(scores.std())
    mean = float(scores.mean())
    return {cid: (s - mean) / spread if spread > 0 else 0.0 for cid, s in ranked}


def fuse(dense: Ranked, lexical: Ranked, k: int, fusion: Fusion = FUSION) -> Ranked:
    """The hybrid ranking of the two lists, the ``k`` best; a passage missing from a list takes that
    list's lowest score. Example: a passage first in both lists comes first."""
    d, lx = standardized(dense), standardized(lexical)
    floor_d, floor_l = min(d.values(), default=0.0), min(lx.values(), default=0.0)
    share = fusion.dense_share
    scores = {cid: share * d.get(cid, floor_d) + (1 - share) * lx.get(cid, floor_l)
              for cid in dict.fromkeys([*d, *lx])}
    if not scores:
        return []
    low = min(scores.values())
    return with_context({cid: s - low + 1e-6 for cid, s in scores.items()}, fusion)[:k]


def with_context(scores: dict[str, float], fusion: Fusion = FUSION) -> Ranked:
    """Each passage (scores > 0, scaled by the best) gains ``neighbour`` x its better neighbour's score
    and ``document`` x its document's total as a share of the best document's; best first."""
    top = max(scores.values(), default=0.0) or 1.0
    scaled = {cid: s / top for cid, s in scores.items()}
    ids = {cid: ChunkId.parse(cid) for cid in scaled}
    documents: dict[str, float] = {}
    for cid, score in scaled.items():
        documents[ids[cid].doc] = documents.get(ids[cid].doc, 0.0) + score
    best_doc = max(documents.values(), default=0.0) or 1.0
    out = {}
    for cid, score in scaled.items():
        this = ids[cid]
        neighbour = max(scaled.get(str(ChunkId(this.doc, this.position - 1)), 0.0),
                        scaled.get(str(ChunkId(this.doc, this.position + 1)), 0.0))
        out[cid] = score + fusion.neighbour * neighbour + fusion.document * documents[this.doc] / best_doc
    return sorted(out.items(), key=lambda kv: (-kv[1], kv[0]))


def rrf(rankings: Sequence[Ranked], weights: Sequence[float] | None = None, k0: float = 60.0) -> Ranked:
    """Reciprocal-rank fusion (Cormack et al. 2009, k0 = 60): sum of w / (k0 + rank) over the lists, best
    first; the naive baseline the benchmarks compare with (regulations_es: it lost 4-5 questions at
    page-hit@5 to the fusion above)."""
    weights = weights if weights is not None else [1.0] * len(rankings)
    scores: dict[str, float] = {}
    for ranked, weight in zip(rankings, weights, strict=True):
        for rank, (cid, _) in enumerate(ranked, start=1):
            scores[cid] = scores.get(cid, 0.0) + weight / (k0 + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
