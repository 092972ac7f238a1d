"""``rag eval``: how often the retrievers put a gold answer in the top passages of a SQuAD-format set.

The set becomes a small corpus that goes through the normal ingestion path (``rag.index.writer.Indexer``):
each article is one document, titled with the article's title and named after it (``Super_Bowl_50.txt``),
whose "pages" are its paragraphs. Pages are physical pages for a PDF; for SQuAD a paragraph is the natural
unit, and a paragraph per page lets the chunker end passages at paragraph breaks as it does at page breaks.

answer-recall@k: a question counts as found when any of its gold answer strings occurs in the text of one
of the top k hits, compared after NFKC, case folding and whitespace collapsing; accents are kept
(the answers are spans of the same text, so folding them would only add false matches). A hit is what
``Retriever.retrieve`` returns: a passage, or two passages of one page joined
(``--no-merge`` scores single passages); the report gives the mean characters of the top 4 hits so
that figures over different passage lengths can be compared. MRR@10 is the mean
of 1/rank of the first passage holding an answer (0 beyond 10). Questions without an answer (SQuAD v2's
``is_impossible``) are left out of both and reported as abstention figures instead (see ``Abstention``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag.encoders.embedders import Embedder
from rag.errors import SettingsError
from rag.index.store import Index
from rag.index.writer import Indexer, Pending, Progress
from rag.retrieve import Ranked, Retriever, hit_groups, join_chunks
from rag.text import collapse, normalize_page
from rag.types import Chunk, ParsedDocument

log = logging.getLogger(__name__)

KS = (1, 4, 10)
RETRIEVERS = ("dense", "lexical", "fused")


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    answers: tuple[str, ...]  # empty for an unanswerable question
    document: int  # index into EvalSet.documents
    plausible: tuple[str, ...] = ()  # SQuAD v2: what an unanswerable question seems to ask for


@dataclass
class EvalSet:
    """A SQuAD-format file as documents and questions."""

    name: str
    documents: list[ParsedDocument]
    questions: list[Question]

    @property
    def answerable(self) -> list[Question]:
        return [q for q in self.questions if q.answers]

    @property
    def unanswerable(self) -> list[Question]:
        return [q for q in self.questions if not q.answers]

    def fingerprint(self) -> str:
        """Names a collection after the content, so a reused data directory never mixes two sets."""
        digest = hashlib.sha256()
        for doc in self.documents:
            digest.update(doc.sha256.encode())
        return digest.hexdigest()[:10]


def answer_key(text: str) -> str:
    """How answers and passages are compared: 'Año  2026\\u00a0' -> 'año 2026'."""
    text = unicodedata.normalize("NFKC", text).replace("\ufeff", "").replace("\u200b", "")
    return collapse(text.casefold())


def article_document(title: str, paragraphs: Sequence[str]) -> ParsedDocument:
    """One article as one document: its paragraphs are its pages, normalised as a loader would."""
    pages = [normalize_page(p) for p in paragraphs]
    body = "\n\n".join(pages)
    name = "_".join(title.replace(" _ ", "_").split()) or "article"
    return ParsedDocument(
        name=f"{name}.txt",
        sha256=hashlib.sha256(body.encode()).hexdigest(),
        pages=pages,
        title=collapse(title.replace("_", " ")),
        size=len(body.encode()),
    )


def load_squad(path: Path) -> EvalSet:
    """Read a SQuAD v1.1/v2.0 JSON file."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        articles = raw["data"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SettingsError(f"{path} is not a SQuAD-format JSON file ({exc})") from exc
    documents: list[ParsedDocument] = []
    questions: list[Question] = []
    for article in articles:
        paragraphs = article.get("paragraphs") or []
        if not paragraphs:
            continue
        doc_no = len(documents)
        documents.append(article_document(str(article.get("title", "")), [p["context"] for p in paragraphs]))
        for paragraph in paragraphs:
            for qa in paragraph.get("qas", []):
                answers = () if qa.get("is_impossible") else _texts(qa.get("answers"))
                questions.append(Question(
                    id=str(qa["id"]), text=str(qa["question"]), answers=answers, document=doc_no,
                    plausible=_texts(qa.get("plausible_answers")),
                ))
    if not questions:
        raise SettingsError(f"{path} holds no questions")
    return EvalSet(name=Path(path).name, documents=documents, questions=questions)


def first_articles(evalset: EvalSet, n: int) -> EvalSet:
    """The set cut to its first ``n`` articles and their questions."""
    questions = [q for q in evalset.questions if q.document < n]
    return EvalSet(name=f"{evalset.name}[:{n}]", documents=evalset.documents[:n], questions=questions)


def _texts(answers: Any) -> tuple[str, ...]:
    found = (answer_key(str(a["text"])) for a in answers or [] if str(a.get("text", "")).strip())
    return tuple(dict.fromkeys(found))


def ingest(index: Index, embedder: Embedder, collection: str, documents: Iterable[ParsedDocument],
           indexer: Indexer | None = None,
           on_progress: Callable[[Progress], None] | None = None) -> int:
    """Index the documents not there yet (content hash), through the normal path; return passages added."""
    todo = list(documents)
    if index.exists(collection):
        catalog = index.catalog(collection)
        todo = [d for d in todo if not catalog.has(d.sha256)]
    if not todo:
        return 0
    indexer = indexer or Indexer(index, embedder, collection)
    return indexer.add((Pending(d, None) for d in todo), on_progress=on_progress).chunks


# -- scoring ---------------------------------------------------------------------------------------
@dataclass
class Scores:
    """answer-recall@k and MRR@10 of one retriever."""

    found_at: list[int | None] = field(default_factory=list)  # rank of the first answer passage, per question
    chars: list[int] = field(default_factory=list)  # characters in the top 4 hits, per question

    def add(self, rank: int | None) -> None:
        self.found_at.append(rank)

    def recall(self, k: int) -> float:
        n = len(self.found_at)
        return sum(1 for r in self.found_at if r is not None and r <= k) / n if n else 0.0

    def mrr(self, k: int = 10) -> float:
        n = len(self.found_at)
        return sum(1.0 / r for r in self.found_at if r is not None and r <= k) / n if n else 0.0

    def to_json(self) -> dict[str, float]:
        out = {f"recall@{k}": round(self.recall(k), 4) for k in KS}
        out["mrr@10"] = round(self.mrr(10), 4)
        return out

    def mean_chars(self) -> float:
        return float(np.mean(self.chars)) if self.chars else 0.0


@dataclass
class Abstention:
    """Can the retriever's confidence tell a question the documents answer from one they do not?

    For SQuAD v2 sets: ``auroc`` is the chance that an answerable question gets a higher confidence
    than an unanswerable one (0.5: no better than a coin); at the threshold that keeps 95% of the
    answerable questions, ``abstain_rate`` is the share of unanswerable ones that would be declined.
    SQuAD v2's unanswerable questions are written against the very paragraph that almost answers them,
    so a retriever alone is expected to do little here: the figures are a floor for the answer step.
    """

    answerable: list[float] = field(default_factory=list)
    unanswerable: list[float] = field(default_factory=list)
    plausible_found: int = 0  # unanswerable questions whose 'plausible answer' is in the top 4

    def to_json(self) -> dict[str, float | int]:
        pos = np.asarray(self.answerable, dtype=float)
        neg = np.asarray(self.unanswerable, dtype=float)
        if not len(pos) or not len(neg):
            return {"unanswerable": len(neg)}
        order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
        ranks = np.empty(len(order))
        ranks[order] = np.arange(1, len(order) + 1)
        auroc = (ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))
        threshold = float(np.quantile(pos, 0.05))
        return {
            "unanswerable": len(neg),
            "auroc": round(float(auroc), 4),
            "threshold": round(threshold, 4),
            "abstain_rate": round(float((neg < threshold).mean()), 4),
            "false_abstain_rate": round(float((pos < threshold).mean()), 4),
            "plausible_in_top4": round(self.plausible_found / len(neg), 4),
        }


@dataclass
class Report:
    dataset: str
    questions: int
    by_retriever: dict[str, Scores]
    passages: int
    mean_passage_tokens: float
    fusion: dict[str, Any]
    abstention: Abstention | None = None
    seconds: float = 0.0
    merged: bool = True

    def to_json(self) -> dict[str, Any]:
        fused = self.by_retriever["fused"].to_json()
        out: dict[str, Any] = {"dataset": self.dataset, "questions": self.questions, **fused}
        out["by_retriever"] = {name: s.to_json() for name, s in self.by_retriever.items()}
        out["passages"] = self.passages
        out["mean_passage_tokens"] = round(self.mean_passage_tokens, 1)
        out["mean_top4_chars"] = {name: round(s.mean_chars()) for name, s in self.by_retriever.items()}
        out["merged_neighbours"] = self.merged
        out["fusion"] = self.fusion
        if self.abstention is not None:
            out["abstention"] = self.abstention.to_json()
        out["seconds"] = round(self.seconds, 1)
        return out


class _Passages:
    """The texts of hits as the product returns them, read from the catalog once each."""

    def __init__(self, index: Index, collection: str) -> None:
        self._catalog = index.catalog(collection)
        self._chunks: dict[str, Chunk] = {}
        self._keys: dict[tuple[str, ...], str] = {}

    def hits(self, ranked: Ranked, depth: int, merge: bool) -> list[str]:
        """Answer keys of the top ``depth`` hits (passages of one page joined when ``merge``)."""
        missing = [cid for cid, _ in ranked if cid not in self._chunks]
        if missing:
            self._chunks.update(self._catalog.chunks(missing))
        out = []
        for group in hit_groups(ranked, self._chunks, merge)[:depth]:
            ids = tuple(cid for cid, _ in group)
            if ids not in self._keys:
                chunks = sorted((self._chunks[cid] for cid in ids), key=lambda c: c.position)
                self._keys[ids] = answer_key(join_chunks(chunks))
            out.append(self._keys[ids])
        return out


def first_hit(keys: Sequence[str], answers: Sequence[str]) -> int | None:
    """1-based rank of the first hit holding any of the answers, else None."""
    for rank, key in enumerate(keys, start=1):
        if any(a in key for a in answers):
            return rank
    return None


def evaluate(retriever: Retriever, evalset: EvalSet, *, batch: int = 64, merge: bool = True,
             on_progress: Callable[[int], None] | None = None) -> Report:
    """Score dense, lexical and fused retrieval over every question of ``evalset``.

    With ``merge`` (what ``Retriever.retrieve`` returns) a hit is a passage or two of one page
    joined; without, every passage is a hit of its own, as in a bare chunk retriever.
    """
    began = time.perf_counter()
    index, collection = retriever.index, retriever.collection
    passages = _Passages(index, collection)
    scores = {name: Scores() for name in RETRIEVERS}
    abstention = Abstention() if evalset.unanswerable else None
    questions = evalset.questions
    for start in range(0, len(questions), batch):
        part = questions[start : start + batch]
        vectors = retriever.embed_queries([q.text for q in part])
        for question, vector in zip(part, vectors, strict=True):
            cands = retriever.candidates(question.text, max(KS), vector=vector)
            fused = retriever.fuse(cands, retriever.fusion.merge * max(KS) + 8)
            if question.answers:
                for name, ranked in (("dense", cands.dense), ("lexical", cands.lexical), ("fused", fused)):
                    keys = passages.hits(ranked, max(KS), merge)
                    scores[name].add(first_hit(keys, question.answers))
                    scores[name].chars.append(sum(len(key) for key in keys[:4]))
            if abstention is not None:
                confidence = retriever.confidence(cands)
                if question.answers:
                    abstention.answerable.append(confidence)
                else:
                    abstention.unanswerable.append(confidence)
                    if question.plausible and first_hit(
                            passages.hits(fused, 4, merge), question.plausible) is not None:
                        abstention.plausible_found += 1
        if on_progress is not None:
            on_progress(len(part))
    catalog = index.catalog(collection)
    stats = passage_stats(catalog.chunks(catalog.chunk_ids()).values(), retriever.embedder)
    return Report(
        dataset=evalset.name,
        questions=len(evalset.answerable),
        by_retriever=scores,
        passages=stats[0],
        mean_passage_tokens=stats[1],
        fusion=retriever.fusion_info(),
        abstention=abstention,
        seconds=time.perf_counter() - began,
        merged=merge,
    )


def passage_stats(chunks: Iterable[Chunk], embedder: Embedder) -> tuple[int, float]:
    """(passages, mean length of their text in the embedder's tokens)."""
    texts = [c.text for c in chunks]
    if not texts:
        return 0, 0.0
    return len(texts), float(np.mean(embedder.count_tokens(texts)))
