"""Which words of a passage support an answer: character spans to highlight, no markup.

A word is supporting when its light stem (rag.text.light_stem: accent-folded, Spanish and English
suffixes stripped) is among the content terms of the evidence (the answer and the question). Only the
sentences that share the most with the evidence are marked, so a passage that repeats a common word
("nota", "examen") does not light up everywhere. Adjacent supporting words separated only by spaces or
a few stop words ("de", "entre") merge into one span, so phrases read as one mark.

Example: support_spans("La nota mínima es 51 puntos.", "¿Cuál es la nota mínima?") -> [(3, 14)]
(the span covers "nota mínima"; escaping and ``<mark>`` are the page's business).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rag.text import WORD, content_terms, light_stem

_CITATION = re.compile(r"\[\s*\d{1,3}(?:\s*[-\u2013,;]\s*\d{1,3})*\s*\]")
_MAX_GAP = 12  # characters of stop words ("de la", "entre") a span may bridge
_GAP = re.compile(r"[^\W_]*(?:[ \t,()'’%-]+[^\W_]*)*")
_SENTENCE = re.compile(r"[^.!?;\n]+(?:[.!?;]+|\n|$)")
_KEEP_SHARE = 0.5  # a sentence is marked when it shares at least this share of the best one's terms


def support_terms(evidence: str | Iterable[str]) -> set[str]:
    """Content terms (stems) of the evidence texts; an answer's citation markers ("[1]") are not words."""
    texts = [evidence] if isinstance(evidence, str) else list(evidence)
    found: set[str] = set()
    for text in texts:
        found |= content_terms(_CITATION.sub(" ", text))
    return found


def _matches(text: str, start: int, end: int, wanted: set[str]) -> list[tuple[int, int, str]]:
    found = []
    for match in WORD.finditer(text, start, end):
        word = match.group(0)
        if len(word) < 2 and not word.isdigit():
            continue
        key = light_stem(word)
        if key in wanted:
            found.append((match.start(), match.end(), key))
    return found


def _bridgeable(gap: str) -> bool:
    """Whether two marked words separated by ``gap`` read as one phrase: only stop words and punctuation."""
    return len(gap) <= _MAX_GAP and bool(_GAP.fullmatch(gap)) and not content_terms(gap)


def support_spans(text: str, evidence: str | Iterable[str]) -> list[tuple[int, int]]:
    """(start, end) character spans of ``text`` whose words support ``evidence``, in order, merged."""
    wanted = support_terms(evidence)
    if not wanted:
        return []
    sentences = [_matches(text, m.start(), m.end(), wanted) for m in _SENTENCE.finditer(text)]
    best = max((len({key for *_, key in s}) for s in sentences), default=0)
    spans: list[tuple[int, int]] = []
    for found in sentences:
        if not found or len({key for *_, key in found}) < _KEEP_SHARE * best:
            continue
        for start, end, _key in found:
            if spans and _bridgeable(text[spans[-1][1] : start]):
                spans[-1] = (spans[-1][0], end)
            else:
                spans.append((start, end))
    return spans
