"""Finding passages: dense (vectors), lexical (BM25 over analysed terms and over character 4-grams),
the multilingual channel (``rag.multilingual``), and their fusion.

In the fusion the lexical side has two BM25 channels, joined with equal weight, each scaled by its own
best score: stems (the lexical retriever: FTS5 over analysed terms, accents folded, Spanish/English
stemming) and character 4-grams of the words, which match the spelling variants, typos and derived
forms that stems miss ("Gengis Kan" / "Genghis Khan", "ciudadanía" / "ciudadano"). The 4-gram BM25
rescores only the passages the two retrievers propose (the stem list and the dense list), from the
passages' text and collection-wide 4-gram frequencies kept in the catalog: a full 4-gram index would
take the catalog from 205 to 671 MB and the query p95 from ~45 to 274 ms at 100k passages, for almost no
further gain (docs/decisions/storage.md). Reading those texts also gives each passage its best-sentence
coverage of the question (step 6 below).

How the hybrid fuses, and why. Equal-weight reciprocal-rank fusion throws away most of what BM25 finds
when the embedder does not read the corpus's language (all-MiniLM-L6-v2 on Spanish: 0.61 vs 0.97
answer-recall@4 on XQuAD-es), and the opposite happens on corpora where the words of a question are not
the words of its answer. So each question's weights come from the two result lists themselves, with
nothing fitted to an evaluation set:

1. Candidates: the top ``depth`` (50) passages of each retriever: dense, lexical, and the multilingual
   channel's own search over the whole collection (an exact scan of its stored vectors, kept in memory
   as int8). The multilingual list then ranks all of these by their cosine with the question. Its own
   proposals are what a Spanish question about an English document needs, where neither BM25 (no
   shared words) nor the English embedder proposes the passage (XQuAD, Spanish questions over the
   English paragraphs: fused recall@4 0.845 without them, 0.906 with them; docs/decisions/retrieval.md).
2. One scale: BM25 divided by the question's best BM25 (0 = no term matched); each cosine list mapped
   from [its 50th best, its best] to [0, 1]; a passage missing from a list scores 0 there.
3. Confidence of each list: how far its top stands out from the rest of its own top 10 - for dense the
   best cosine minus the mean of the top 10 (cosine units), for lexical the same gap as a share of the
   best BM25. A model that does not read the language gives flat similarities (a gap of 0.05-0.09 on
   Spanish against 0.24 on English for the bundled model) and is discounted; a question whose words are
   everywhere gives a flat BM25 list and the dense side takes over.
4. Fused score = a*dense + m*multilingual + (1-a-m)*lexical, each list's share its gap's share of the
   gaps (the multilingual gap in cosine units, as the dense one); then each passage
   gets a share of its document's evidence: 0.1 x the better of its two neighbours' fused scores (an
   answer often sits next to the sentence that names its subject) and 0.2 x its document's total as a
   share of the best document's (the title and headings themselves are in the lexical index).
5. The top passage of the list with the largest weight takes the first place: fusion reorders what
   follows it, so a question one retriever answers confidently is not made worse at rank 1 by the others.
6. The 20 best then gain 0.2 x their best-sentence coverage: the largest IDF-weighted share of the
   question (its stems and its 4-grams, averaged) that one sentence of the passage holds. A question is
   usually answered by one sentence that repeats most of it; BM25 over the whole passage cannot tell
   that sentence from the same words scattered over several. This third piece of evidence may move the
   passage placed first in step 5 (measured with `rag eval`: answer-recall@1 +1.1 points on SQuAD-es,
   +0.7 on XQuAD-es and on XQuAD-en, recall@4 and MRR@10 up or equal; docs/decisions/retrieval.md).
7. Where the collection has passages not in English, the multilingual channel's second encoder
   (multilingual-e5-small, ``rag.e5``) ranks the proposed passages that have its vector, and those
   passages are reordered among their places in the fused list by reciprocal-rank fusion of the two
   lists (k0 = 60, equal weights; ``with_e5``). That model alone finds the
   answer in the top 4 for 0.905 of SQuAD-es questions, nearly what the fusion above finds, and it misses
   other questions than it does: joined, SQuAD-es recall@4 0.918 -> 0.936 (docs/decisions/retrieval.md).

A per-collection weight estimated from pseudo-questions (sentences of the collection's own passages with
words cut out) was tried and dropped: such probes share their words with their passage, so every
collection looked lexical-friendly, English ones included (docs/decisions/retrieval.md).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from rag.analysis import analyze_query, query_grams, word_gram_counts, word_sentence_units
from rag.embedders import Embedder
from rag.multilingual import MultilingualEncoder, unpack_many
from rag.store.catalog import Catalog, bm25_idf
from rag.store.index import Index
from rag.types import Chunk, Hit, page_locator

log = logging.getLogger(__name__)

Method = Literal["hybrid", "dense", "lexical"]
Ranked = list[tuple[str, float]]  # (chunk id, score), best first

DEPTH = 50  # candidates taken from each retriever before fusion
NEIGHBOUR = 0.1  # share of the better neighbour's fused score a passage receives
DOCUMENT = 0.2  # share of its document's (normalised) evidence a passage receives
SENTENCE = 0.2  # weight of a passage's best-sentence coverage of the question (0..1)
SENTENCE_DEPTH = 20  # passages of the fusion whose sentences are read (deeper changed nothing measured)
COVERED = 0.5  # share of the question a lexical top must hold for its confidence to count in full
MERGE = 2  # consecutive passages of one document returned as one hit, at most this many
RRF_K = 60.0  # reciprocal-rank fusion's constant (Cormack et al. 2009): the naive baseline's and the e5 list's


def rrf(rankings: Sequence[Ranked], weights: Sequence[float], k0: float = RRF_K) -> Ranked:
    """Weighted reciprocal-rank fusion (the naive baseline; the hybrid uses ``fuse``).

    Example: rrf([[("a", .9), ("b", .8)], [("b", 3.1)]], [1, 1]) -> b first (in both lists), then a.
    """
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, (cid, _score) in enumerate(ranking, start=1):
            scores[cid] = scores.get(cid, 0.0) + weight / (k0 + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def join_lexical(words: Ranked, grams: Ranked) -> Ranked:
    """One lexical list from the stem and n-gram BM25 lists: each scaled by its best, then added.

    Example: join_lexical([("a", 8.0), ("b", 4.0)], [("b", 30.0), ("c", 15.0)]) -> b 1.5, a 1.0, c 0.5
    """
    scores: dict[str, float] = {}
    for ranked in (words, grams):
        top = ranked[0][1] if ranked else 0.0
        if top > 0:
            for cid, score in ranked:
                scores[cid] = scores.get(cid, 0.0) + score / top
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def gram_bm25(catalog: Catalog, question: str, passages: Mapping[str, tuple[str, str]], k1: float = 1.2,
              b: float = 0.75) -> tuple[Ranked, dict[str, float]]:
    """(BM25 of ``passages`` - (words, context) by id, as ``Catalog.words_and_mvecs`` gives them - over the
    question's character 4-grams, best first, 0s left out; the IDF of each of those 4-grams the
    collection holds)."""
    grams = query_grams(question)
    if not grams or not passages:
        return [], {}
    df, n, mean_length = catalog.gram_stats(grams)
    idf = {g: bm25_idf(n, f) for g, f in df.items() if f > 0}
    if not idf or mean_length <= 0:
        return [], idf
    wanted = list(idf)
    scores: dict[str, float] = {}
    for cid, (words, context) in passages.items():
        tf, length = word_gram_counts(words, context, wanted)
        norm = k1 * (1.0 - b + b * length / mean_length)
        score = sum(idf[g] * t * (k1 + 1.0) / (t + norm) for g, t in tf.items() if t)
        if score > 0:
            scores[cid] = score
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0])), idf


def gram_coverage(passage: tuple[str, str], gram_idf: Mapping[str, float]) -> float:
    """The IDF-weighted share of the question's 4-grams (``gram_idf``) that a passage - (words, context)
    as ``Catalog.words_and_mvecs`` gives it - holds (0..1)."""
    total = sum(gram_idf.values())
    if total <= 0:
        return 0.0
    counts, _ = word_gram_counts(*passage, list(gram_idf))
    return sum(w for g, w in gram_idf.items() if counts[g]) / total


def best_sentence(words: str, term_idf: Mapping[str, float], gram_idf: Mapping[str, float]) -> float:
    """The largest share of the question one sentence of a passage holds (0..1): the IDF-weighted share
    of its stems and of its 4-grams, averaged (a channel missing from the question counts as 0).
    ``words``: the passage's ``passage_words``.

    Example: for "¿Cuándo se fundó la universidad?" a passage whose one sentence reads "La universidad
    se fundó en 1831." scores 1.0; a passage with "universidad" in one sentence and "fundó" in another
    scores less, whatever its BM25.
    """
    total_t = sum(term_idf.values())
    total_g = sum(gram_idf.values())
    best = 0.0
    for stems, marked in word_sentence_units(words):
        share_t = sum(w for t, w in term_idf.items() if t in stems) / total_t if total_t else 0.0
        share_g = sum(w for g, w in gram_idf.items() if g in marked) / total_g if total_g else 0.0
        best = max(best, (share_t + share_g) / 2)
    return best


@dataclass(frozen=True)
class Candidates:
    """Both retrievers' lists for one question."""

    dense: Ranked  # (chunk id, cosine), best first: the dense retriever's own list
    lexical: Ranked  # (chunk id, BM25), best first: the lexical retriever's own list
    terms: tuple[str, ...] = ()  # the question's analysed terms
    grams: Ranked = field(default_factory=list)  # 4-gram BM25 of the passages both lists propose
    sentences: Mapping[str, float] = field(default_factory=dict)  # best-sentence coverage (0..1) of the
    # fusion's SENTENCE_DEPTH best (see ``gather``)
    multi: Ranked = field(default_factory=list)  # (chunk id, multilingual cosine) of the proposed
    # passages, best first, at most DEPTH; empty when the channel is off or a proposed passage lacks one
    coverage: float = 1.0  # the IDF-weighted share of the question's terms (its 4-grams where the stem
    # list is empty) the lexical list's best passage holds (1.0: not measured, as in a constructed case)
    e5: Ranked = field(default_factory=list)  # the proposed passages that have an e5 vector (rag.e5) by
    # their cosine with the question, best first; empty when it is off or none has one
    e5_covered: frozenset[str] = frozenset()  # the proposed passages that have an e5 vector: the ones
    # the e5 list can judge

    @property
    def lexical_side(self) -> Ranked:
        """What the fusion weighs as lexical evidence: the stem list joined with the 4-gram list."""
        return join_lexical(self.lexical, self.grams) if self.grams else self.lexical


def cosine_gap(ranked: Ranked) -> float:
    """How far a cosine list's best stands out from its top 10 (cosine units; 0 for an empty list)."""
    top = [s for _, s in ranked[:10]]
    return max(top[0] - float(np.mean(top)), 0.0) if top else 0.0


def confidence_gaps(cands: Candidates) -> tuple[float, float]:
    """(dense gap in cosine units, lexical gap as a share of the top BM25) over each list's top 10, the
    lexical gap discounted when that list's best passage holds less than half of the question.

    Fewer than 10 lexical matches count the missing ones as 0: a term found in one passage only is a
    confident answer, not an empty list - unless that term is all the passage has of the question. A
    question asked in another language than its documents matches them on a name or a number only, and
    that one rare word makes its BM25 list look sure of itself, though its best passage holds a fifth of
    the question's IDF weight (XQuAD, Spanish questions over the English paragraphs: 0.20 on average,
    against 0.73 for Spanish over Spanish). A top holding at least half (``COVERED``) is taken at its
    word; below that the gap shrinks in proportion (docs/decisions/retrieval.md, "The design before
    issue 16", 7: recall@4 there 0.906 -> 0.944, and the same-language sets unchanged). Where no stem of
    the question is in the collection, the 4-gram list stands alone and ``coverage`` is its best
    passage's share of the question's 4-grams (``gram_coverage``, set by ``gather``).
    """
    top_l = [s for _, s in (cands.lexical or cands.grams)[:10]]
    gl = (top_l[0] - sum(top_l) / 10) / top_l[0] if top_l and top_l[0] > 0 else 0.0
    return cosine_gap(cands.dense), max(gl, 0.0) * min(1.0, cands.coverage / COVERED)


def weights(cands: Candidates) -> tuple[float, float, float]:
    """The shares (dense, multilingual, lexical) of this question's fused score, summing to 1: each
    present list's share is its confidence gap's share of theirs (equal shares when all are flat)."""
    gd, gl = confidence_gaps(cands)  # each 0 for an absent list
    gaps = [gd, cosine_gap(cands.multi), gl]
    present = [bool(cands.dense), bool(cands.multi), bool(cands.lexical or cands.grams)]
    total = sum(gaps)
    if total <= 0:
        n = sum(present)
        return (0.0, 0.0, 0.0) if n == 0 else tuple(1.0 / n if p else 0.0 for p in present)  # type: ignore[return-value]
    return gaps[0] / total, gaps[1] / total, gaps[2] / total


def dense_weight(cands: Candidates) -> float:
    """The share ``a`` of the dense side in this question's fused score."""
    return weights(cands)[0]


def _scaled(ranked: Ranked) -> dict[str, float]:
    """A cosine list mapped from [its last, its best] to [0, 1] (all 1 when they are alike)."""
    if not ranked:
        return {}
    top, floor = ranked[0][1], ranked[-1][1]
    return {cid: (s - floor) / (top - floor) if top > floor else 1.0 for cid, s in ranked}


def fuse(cands: Candidates, k: int, *, context: bool = True) -> Ranked:
    """The hybrid ranking (see the module docstring), best first.

    Example: a confident lexical list and a flat dense list give nearly the lexical order; a flat
    lexical list (every passage matches the same common words) gives way to a dense list with a clear
    winner.
    """
    side = cands.lexical_side
    ids = list(dict.fromkeys([cid for cid, _ in cands.dense] + [cid for cid, _ in side]
                             + [cid for cid, _ in cands.multi]))
    if not ids:
        return []
    a, m, la = weights(cands)
    dense, multi = _scaled(cands.dense), _scaled(cands.multi)
    lexical = dict(side)
    top_l = side[0][1] if side else 0.0
    fused: dict[str, float] = {}
    for cid in ids:
        ln = lexical.get(cid, 0.0) / top_l if top_l > 0 else 0.0
        fused[cid] = a * dense.get(cid, 0.0) + m * multi.get(cid, 0.0) + la * ln
    if context:
        fused = _with_context(fused)
    ranked = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
    # the lead: the list with the largest share (the lexical one on a tie, as with two lists)
    lead_list = max([(la, side), (a, cands.dense), (m, cands.multi)], key=lambda wl: wl[0])[1]
    if lead_list and ranked[0][0] != lead_list[0][0]:
        lead = lead_list[0][0]
        ranked = [(lead, ranked[0][1])] + [(cid, score) for cid, score in ranked if cid != lead]
    if cands.sentences:
        ranked = [(cid, score + SENTENCE * cands.sentences.get(cid, 0.0)) for cid, score in ranked]
        ranked.sort(key=lambda kv: (-kv[1], kv[0]))
    if cands.e5:
        ranked = with_e5(ranked[:DEPTH], cands.e5, cands.e5_covered)
    return ranked[:k]


def with_e5(fused: Ranked, e5: Ranked, covered: frozenset[str] | set[str], k0: float = RRF_K) -> Ranked:
    """The fused list with the passages the e5 encoder can judge (``covered``: those with an e5 vector)
    reordered among themselves by reciprocal-rank fusion of their fused order and the e5 list (equal
    weights, the usual k0 = 60); the other passages keep their places, and passages only the e5 list
    proposes come after the fused list's last when there are fewer places than passages to fill.

    Why by rank: the e5 model's cosines crowd into a narrow band (0.75-0.90 for most passages), so the
    confidence gap that weighs the other lists rates it low whatever its order is worth, and as a fourth
    list of the score fusion it added 0.2 points of SQuAD-es recall@4; joined by rank, 1.8
    (docs/decisions/retrieval.md). k0 is the constant of the method's paper, not fitted.
    Why only among what it covers: the e5 list ranks only the passages not in English; joined with the
    whole fused list, a stray passage of an English collection taken for another language (a list of
    names and numbers) was first of the e5 list for every question and rose to the top (XQuAD-en
    recall@1 0.96 -> 0.41). Where every passage has an e5 vector (a Spanish collection) this is plain
    reciprocal-rank fusion. A passage keeps the fused score of the place it takes, so scores still fall
    with rank.

    Example: with_e5([("a", 1.2), ("en", 1.1), ("b", 1.0)], [("b", 1.0), ("c", 0.5)], {"a", "b", "c"})
    -> b, en, a, c (scores 1.2, 1.1, 1.0, 1.0).
    """
    order = [cid for cid, _ in rrf([[item for item in fused if item[0] in covered], e5], [1.0, 1.0], k0)]
    places = [i for i, (cid, _) in enumerate(fused) if cid in covered]
    out = list(fused)
    floor = fused[-1][1] if fused else 0.0
    for n, cid in enumerate(order):
        if n < len(places):
            out[places[n]] = (cid, fused[places[n]][1])
        else:
            out.append((cid, floor))
    return out


def multilingual_list(catalog: Catalog, ids: Sequence[str], query: np.ndarray | None,
                      depth: int = DEPTH, blobs: Mapping[str, bytes] | None = None) -> Ranked:
    """The multilingual channel's list: the proposed passages by their cosine with the question, best
    first, the ``depth`` best; empty when there is no question vector or a passage has no vector (the
    channel is then left out rather than scoring those passages 0). ``blobs``: their packed vectors,
    when already read."""
    if query is None or not ids:
        return []
    if blobs is None:
        blobs = catalog.mvecs(ids)
    if any(cid not in blobs for cid in ids):
        return []
    return cosine_ranking(ids, query, blobs, depth)


def cosine_ranking(ids: Sequence[str], query: np.ndarray, blobs: Mapping[str, bytes], depth: int) -> Ranked:
    """``ids`` by the cosine of their packed vector in ``blobs`` with the unit vector ``query``, best
    first (ties in the given order), the ``depth`` best."""
    scores = unpack_many([blobs[cid] for cid in ids]) @ query
    order = np.argsort(-scores, kind="stable")[:depth]
    return [(ids[i], float(scores[i])) for i in order]


def gather(catalog: Catalog, question: str, terms: Sequence[str], dense: Ranked, words: Ranked, *,
           context: bool = True, multi_query: np.ndarray | None = None,
           multi_nearest: Sequence[str] = (),
           e5_query: np.ndarray | Future[np.ndarray | None] | None = None) -> Candidates:
    """The lists with what the proposed passages add, each passage read once: the multilingual
    channel's cosines (USE's, and e5's for the passages that have its vector) and the 4-gram BM25 of
    every proposed passage (the stem and dense lists' and the multilingual search's ``multi_nearest``),
    then the best-sentence coverage of the ``SENTENCE_DEPTH`` best of the fusion without it (reading
    sentences is the costly part; lower ones cannot reach the top hits). ``e5_query`` may be the future
    of the question's e5 vector: it is awaited only for the e5 list, last, so that the encoder (the
    slowest of the question's three) runs while the rest of this is computed."""
    proposed = list(dict.fromkeys([cid for cid, _ in words] + [cid for cid, _ in dense] + list(multi_nearest)))
    passages, blobs, e5_blobs = catalog.words_and_mvecs(proposed)  # only of ready documents
    grams, gram_idf = gram_bm25(catalog, question, passages)
    multi = multilingual_list(catalog, [cid for cid in proposed if cid in passages], multi_query,
                              blobs=blobs)
    term_idf = catalog.term_idf(terms)
    if words:
        coverage = catalog.coverage(terms, [words[0][0]], term_idf)
    elif grams:  # no stem of the question is in the collection: its 4-grams are all the lexical side has
        coverage = gram_coverage(passages[grams[0][0]], gram_idf)
    else:
        coverage = 0.0
    cands = Candidates(dense, words, tuple(terms), grams, multi=multi, coverage=coverage)
    if not passages:
        return cands
    top = [cid for cid, _ in fuse(cands, SENTENCE_DEPTH, context=context) if cid in passages]
    sentences = {cid: best_sentence(passages[cid][0], term_idf, gram_idf) for cid in top}
    if isinstance(e5_query, Future):
        e5_query = e5_query.result()
    e5, covered = e5_list([cid for cid in proposed if cid in e5_blobs], e5_query, e5_blobs)
    return replace(cands, sentences=sentences, e5=e5, e5_covered=covered)


def e5_list(ids: Sequence[str], query: np.ndarray | None, blobs: Mapping[str, bytes],
            depth: int = DEPTH) -> tuple[Ranked, frozenset[str]]:
    """(the proposed passages that have an e5 vector by their cosine with the question, best first, the
    ``depth`` best; those passages): ([], {}) without a question vector or any such passage.

    Only the passages the other retrievers propose are ranked, as for the USE list: a search of its own
    over the whole collection found the same (SQuAD-es recall@4 0.937 either way, XQuAD-es 0.992 /
    0.993, scratch harness) for ~11 ms more a question at 100k passages."""
    if query is None or not ids:
        return [], frozenset()
    return cosine_ranking(ids, query, blobs, depth), frozenset(ids)


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """Workers for the lexical side and the multilingual encoder of every retriever in the process,
    started on first use."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=3, thread_name_prefix="rag-lexical")
        return _POOL


def _with_context(scores: dict[str, float]) -> dict[str, float]:
    """Add a share of each passage's neighbours' and document's evidence (ids are '<sha>:<position>')."""
    documents: dict[str, float] = {}
    parsed: dict[str, tuple[str, int]] = {}
    for cid, score in scores.items():
        sha, _, position = cid.rpartition(":")
        parsed[cid] = (sha, int(position) if position.isdigit() else -10)
        documents[sha] = documents.get(sha, 0.0) + score
    best_doc = max(documents.values()) or 1.0
    out = {}
    for cid, score in scores.items():
        sha, pos = parsed[cid]
        neighbour = max(scores.get(f"{sha}:{pos - 1}", 0.0), scores.get(f"{sha}:{pos + 1}", 0.0))
        out[cid] = score + NEIGHBOUR * neighbour + DOCUMENT * documents[sha] / best_doc
    return out


class Retriever:
    """Retrieves passages of one collection."""

    def __init__(self, index: Index, embedder: Embedder, collection: str, method: Method = "hybrid",
                 depth: int = DEPTH, *, context: bool = True,
                 multilingual: MultilingualEncoder | None = None) -> None:
        self.index = index
        self.embedder = embedder
        self.collection = collection
        self.method = method
        self.depth = depth  # candidates taken from each side before fusion
        self.context = context  # add neighbour and document evidence in the fusion
        self.multilingual = multilingual  # rescore the proposed passages with it too (None: don't)

    # -- the two retrievers ---------------------------------------------------------------------
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
        return self.index.vectors.query(self.collection, vector, n + 8)[: n + 8]

    def lexical(self, question: str, n: int) -> Ranked:
        catalog = self._catalog()
        if catalog is None:
            return []
        return catalog.lexical(analyze_query(question), n)

    # -- fusion ---------------------------------------------------------------------------------
    def candidates(self, question: str, n: int, vector: np.ndarray | None = None) -> Candidates:
        """Both retrievers' lists, ``max(depth, n)`` passages each."""
        catalog = self._catalog()
        if catalog is None:
            return Candidates([], [])
        depth = max(self.depth, n)
        terms = analyze_query(question)
        e5_query: np.ndarray | Future[np.ndarray | None] | None
        if vector is not None:
            dense = self.dense(question, depth, vector)[:depth]
            words = catalog.lexical(terms, depth)
            multi_query, nearest = self._multilingual(catalog, question, depth)
            e5_query = self._e5_query(catalog, question)
        else:
            # BM25, the multilingual searches and the e5 encoder run while the question is embedded
            # (SQLite, numpy and torch release the GIL); e5 is awaited last, in ``gather``
            e5_query = _pool().submit(self._e5_query, catalog, question)
            future = _pool().submit(catalog.lexical, terms, depth)
            multi = _pool().submit(self._multilingual, catalog, question, depth)
            dense = self.dense(question, depth)[:depth]
            words = future.result()
            multi_query, nearest = multi.result()
        return gather(catalog, question, terms, dense, words, context=self.context, multi_query=multi_query,
                      multi_nearest=nearest, e5_query=e5_query)

    def _e5_query(self, catalog: Catalog, question: str) -> np.ndarray | None:
        """The question's e5 vector; None with that encoder off or where no passage has its vector (an
        English collection: the question is then not encoded)."""
        e5 = self.multilingual.e5 if self.multilingual is not None else None
        if e5 is None or not catalog.has_evecs():
            return None
        vector: np.ndarray = e5.embed([question], query=True)[0]
        return vector

    def _multilingual(self, catalog: Catalog, question: str, n: int) -> tuple[np.ndarray | None, list[str]]:
        """(the question's multilingual vector, the ``n`` passages nearest it over the whole collection);
        (None, []) with the channel off."""
        if self.multilingual is None:
            return None, []
        vector = self.multilingual.embed([question], query=True)[0]
        return vector, catalog.nearest_mvecs(vector, n)

    def fuse(self, cands: Candidates, k: int) -> Ranked:
        return fuse(cands, k, context=self.context)

    def page_text(self, doc_sha: str, page: int) -> str | None:
        """A page of a document of this collection, as stored (the extractive answer reads its lines)."""
        catalog = self._catalog()
        return catalog.page_text(doc_sha, page) if catalog is not None else None

    def fusion_info(self) -> dict[str, Any]:
        return {"method": "confidence-weighted score fusion with document context", "depth": self.depth,
                "context": self.context,
                "multilingual": self.multilingual.name if self.multilingual is not None else None,
                "e5": (self.multilingual.e5.name if self.multilingual is not None
                       and self.multilingual.e5 is not None else None)}

    def confidence(self, cands: Candidates) -> float:
        """How sure retrieval is that the collection holds the answer: the largest IDF-weighted share
        of the question's terms that one of the top 4 fused passages contains (0..1)."""
        catalog = self._catalog()
        if catalog is None or not cands.terms:
            return 0.0
        ranked = self.fuse(cands, 4)
        return catalog.coverage(cands.terms, [cid for cid, _ in ranked])

    def ranked(self, question: str, k: int, method: Method | None = None) -> Ranked:
        method = method or self.method
        if method == "dense":
            return self.dense(question, k)
        if method == "lexical":
            return self.lexical(question, k)
        return self.fuse(self.candidates(question, k), k + 8)

    def retrieve(self, question: str, k: int, method: Method | None = None) -> list[Hit]:
        """The ``k`` best passages for ``question``; neighbouring passages of one document come as one."""
        question = question.strip()
        if not question:
            return []
        n = MERGE * k + 8
        cands = self.candidates(question, n) if (method or self.method) == "hybrid" else None
        ranked = self.fuse(cands, n + 8) if cands is not None else self.ranked(question, n, method)
        chunks = self.index.catalog(self.collection).chunks([cid for cid, _ in ranked])
        hits = [merged_hit(rank, [chunks[cid] for cid, _ in group], group[0][1])
                for rank, group in enumerate(hit_groups(ranked, chunks)[:k], start=1)]
        return with_signals(hits, ranked, chunks, cands) if cands is not None else hits


def with_signals(hits: Sequence[Hit], ranked: Ranked, chunks: Mapping[str, Chunk],
                 cands: Candidates) -> list[Hit]:
    """``hits`` with what the fusion measured of each, for the extractive answer to weigh: the e5
    cosine of the question with the passage and its best-sentence coverage (the best of a merged
    hit's passages; None where it was not measured)."""
    e5 = dict(cands.e5)
    members: dict[str, list[str]] = {}
    for group in hit_groups(ranked, chunks):
        members[group[0][0]] = [cid for cid, _ in group]
    out = []
    for hit in hits:
        ids = members.get(hit.chunk_id, [hit.chunk_id])
        sims = [e5[cid] for cid in ids if cid in e5]
        covs = [cands.sentences[cid] for cid in ids if cid in cands.sentences]
        out.append(replace(hit, similarity=max(sims) if sims else None, coverage=max(covs) if covs else None))
    return out


def hit_groups(ranked: Ranked, chunks: Mapping[str, Chunk], merge: bool = True) -> list[Ranked]:
    """``ranked`` as hits: the passages ``chunks`` holds (one of a document being written, not 'ready',
    or just removed is not there: skipped), neighbours of one page grouped when ``merge``."""
    ranked = [(cid, score) for cid, score in ranked if cid in chunks]
    if not merge:
        return [[item] for item in ranked]
    return group_adjacent(ranked, {cid: (chunks[cid].page, chunks[cid].page_end) for cid, _ in ranked})


def group_adjacent(ranked: Ranked, pages: Mapping[str, tuple[int, int]] | None = None,
                   limit: int = MERGE) -> list[Ranked]:
    """Ranked passages in groups: a passage next to one already taken (same document, position +-1,
    and, when ``pages`` gives each id's (page, page_end), the same single page) joins that one's
    group, up to ``limit`` passages, instead of taking a rank of its own.

    Example: [d:4, e:0, d:5, d:3] -> [[d:4, d:5], [e:0], [d:3]]  (ids are '<sha>:<position>').
    Passages overlap by a sentence or two, so two neighbours in the top k would show the reader the
    same text twice in two places; as one hit they read as the continuous text they are, and a hit
    still cites one page.
    """
    groups: list[tuple[str, set[int], Ranked]] = []
    for cid, score in ranked:
        sha, _, position = cid.rpartition(":")
        pos = int(position) if position.isdigit() else -10
        for doc, positions, members in groups:
            if pages is not None and not _one_page(pages, [cid, members[0][0]]):
                continue
            if doc == sha and len(members) < limit and (pos - 1 in positions or pos + 1 in positions):
                positions.add(pos)
                members.append((cid, score))
                break
        else:
            groups.append((sha, {pos}, [(cid, score)]))
    return [members for _, _, members in groups]


def _one_page(pages: Mapping[str, tuple[int, int]], ids: Sequence[str]) -> bool:
    spans = [pages.get(cid, (0, -1)) for cid in ids]
    return len({p for span in spans for p in span}) == 1


def merged_hit(rank: int, chunks: Sequence[Chunk], score: float) -> Hit:
    """One hit from one passage, or from neighbouring passages of one document (read in order)."""
    best = chunks[0]
    ordered = sorted(chunks, key=lambda c: c.position)
    page, page_end = min(c.page for c in chunks), max(c.page_end for c in chunks)
    confidences = [c.ocr_confidence for c in chunks if c.ocr_confidence is not None]
    # neighbours are merged only on one page, so the first one's locator says where the text starts
    return Hit(rank=rank, source=best.source, page=page, page_end=page_end,
               text=join_passages([c.text for c in ordered]), score=score, chunk_id=best.id,
               doc_sha=best.doc_sha, context=ordered[0].context,
               locator=ordered[0].locator or page_locator(page, page_end), ocr=any(c.ocr for c in chunks),
               ocr_confidence=min(confidences) if confidences else None)


def join_passages(texts: Sequence[str]) -> str:
    """Consecutive passages as one text, the sentences they share written once.

    Example: join_passages(["A b. C d.", "C d. E f."]) -> "A b. C d. E f."
    """
    out = texts[0] if texts else ""
    for text in texts[1:]:
        cut = 0
        for i in range(max(0, len(out) - len(text)), len(out)):  # the longest tail of out opening text
            if (i == 0 or out[i - 1] == " ") and text.startswith(out[i:]):
                cut = len(out) - i
                break
        out = f"{out} {text[cut:].lstrip()}".strip() if cut < len(text) else out
    return out
