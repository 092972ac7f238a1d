"""Answer without a model: the retrieved sentences that best cover the question, each cited.

Scoring is language-agnostic: accent folding, a light suffix-stripping stemmer for Spanish and English,
and an IDF-weighted share of the question's terms that a sentence contains (0..1). The same score is the
relevance on which to abstain, so a benchmark can call ``best_sentences`` and ``relevance`` directly.
Example: "¿Cuál es la nota mínima de aprobación?" matches "La nota mínima para aprobar es 5." with score 1.0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.analysis import ENGLISH_STOP, SPANISH_STOP
from rag.language import Language, detect_language
from rag.prompts import NOT_FOUND
from rag.text import collapse, fold
from rag.types import Answer, Citation, Hit

DEFAULT_MIN_RELEVANCE = 0.5  # a starting point; the abstention benchmark is meant to tune it
_STEM_CHARS = 5  # after suffix stripping, prefixes this long conflate most inflections
_MAX_SENTENCE_CHARS = 400

# The lexical index's stop words in both languages (one list, in rag.analysis), and a few question words
# that carry no content in an answer sentence.
_STOP = SPANISH_STOP | ENGLISH_STOP | frozenset(fold(w) for w in "debo hace puedo unas us without".split())
# Longest first; Spanish and English inflections and derivations, written folded (no accents).
_SUFFIX_WORDS = (
        "aciones acion iciones icion amientos amiento imientos imiento mente idades idad ables able ibles "
        "ible istas ista ados adas idos idas ado ada ido ida ando iendo ar er ir os as es a o e "
        "ations ation ings ing edly ed ly ness ments ment ies s"
)
_SUFFIXES = sorted(_SUFFIX_WORDS.split(), key=len, reverse=True)
_WORD = re.compile(r"[^\W_]+")
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")


@dataclass(frozen=True)
class ScoredSentence:
    """A sentence of one hit, with the hit's citation number (1-based position in the hit list)."""

    text: str
    n: int
    hit: Hit
    score: float  # IDF-weighted share of the question's terms present, 0..1
    position: int = 0  # order of the sentence within its hit


def stem(word: str) -> str:
    """Light stemmer for both languages: 'aprobación', 'aprobar', 'aprobado' -> 'aprob'."""
    word = fold(word)
    if word.isdigit():
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith("ss"):  # "pass", "class" are not plurals
                break
            word = word[: -len(suffix)]
            break
    return word[:_STEM_CHARS]


def terms(text: str) -> set[str]:
    """Content terms of ``text``: folded, stop words dropped, stemmed."""
    return {stem(w) for w in _WORD.findall(text) if fold(w) not in _STOP and (len(w) > 1 or w.isdigit())}


def split_sentences(text: str) -> list[str]:
    """Sentences of a passage, long ones clipped; fragments (under 15 characters or 4 words, such as
    the heading "Reclamo de notas.") dropped, since they read as non-answers on their own."""
    out = []
    for part in _SENTENCE_END.split(text):
        sentence = collapse(part)
        if len(sentence) < 15 or len(sentence.split()) < 4:
            continue
        if len(sentence) > _MAX_SENTENCE_CHARS:
            sentence = sentence[:_MAX_SENTENCE_CHARS].rsplit(" ", 1)[0] + " …"
        out.append(sentence)
    return out


def score_sentences(question: str, hits: Sequence[Hit]) -> list[ScoredSentence]:
    """Every distinct sentence of ``hits`` with its score, best first (earlier hits win ties)."""
    wanted = terms(question)
    candidates: list[tuple[str, int, Hit, set[str], int]] = []
    seen: set[str] = set()
    for n, hit in enumerate(hits, start=1):
        for position, sentence in enumerate(split_sentences(hit.text)):
            key = fold(sentence)
            if key in seen:  # overlapping chunks repeat sentences
                continue
            seen.add(key)
            candidates.append((sentence, n, hit, terms(sentence), position))
    if not wanted or not candidates:
        return [ScoredSentence(s, n, h, 0.0, p) for s, n, h, _, p in candidates]
    total = len(candidates)
    # A question term found in few sentences is more telling; one found nowhere still counts in the
    # denominator, so a question about something absent scores low.
    idf = {t: math.log(1 + (total + 1) / (sum(t in c[3] for c in candidates) + 1)) for t in wanted}
    norm = sum(idf.values())
    scored = [
        ScoredSentence(s, n, h, sum(idf[t] for t in wanted & ts) / norm, p) for s, n, h, ts, p in candidates
    ]
    return sorted(scored, key=lambda s: (-s.score, s.n))


def relevance(question: str, hits: Sequence[Hit]) -> float:
    """How well the retrieved passages cover the question: the best sentence's score (0 when none)."""
    scored = score_sentences(question, hits)
    return scored[0].score if scored else 0.0


def best_sentences(
    question: str, hits: Sequence[Hit], limit: int = 3, min_score: float = DEFAULT_MIN_RELEVANCE
) -> list[ScoredSentence]:
    """Up to ``limit`` sentences scoring at least ``min_score``, in reading order (hit, then position)."""
    chosen = [s for s in score_sentences(question, hits) if s.score >= min_score][:limit]
    return sorted(chosen, key=lambda s: (s.n, s.position))


def extractive_answer(
    question: str,
    hits: Sequence[Hit],
    lang: Language | None = None,
    limit: int = 3,
    min_score: float = DEFAULT_MIN_RELEVANCE,
) -> Answer:
    """An Answer built from ``best_sentences``; abstains (not-found sentence) when none is relevant."""
    lang = lang or detect_language(question)
    sentences = best_sentences(question, hits, limit=limit, min_score=min_score)
    if not sentences:
        return Answer(
            question=question, answer=NOT_FOUND[lang], mode="extractive", model=None,
            hits=list(hits), supported=False, abstained=True,
        )
    citations: dict[int, Citation] = {}
    for s in sentences:
        citations.setdefault(
            s.n,
            Citation.of(s.n, s.hit, collapse(s.hit.text)),
        )
    text = " ".join(f"{s.text} [{s.n}]" for s in sentences)
    return Answer(
        question=question, answer=text, mode="extractive", model=None,
        citations=list(citations.values()), hits=list(hits), supported=True,
    )
