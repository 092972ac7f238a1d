"""Which words of a passage support an answer: character spans to highlight, no markup.

A word is supporting when its light stem (rag.extractive.stem: accent-folded, Spanish and English
suffixes stripped) is among the content terms of the evidence (the answer and the question). Adjacent
supporting words separated only by spaces or punctuation merge into one span, so phrases read as one mark.

Example: support_spans("La nota mínima es 51 puntos.", "¿Cuál es la nota mínima?") -> [(3, 14)]
(the span covers "nota mínima"; escaping and ``<mark>`` are the page's business).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rag.extractive import stem, terms

_WORD = re.compile(r"[^\W_]+")
_JOINABLE = re.compile(r"[\s,.;:()\-–—/%]*")  # what may separate two marked words inside one span


def support_terms(evidence: str | Iterable[str]) -> set[str]:
    """Content terms (stems) of the evidence texts."""
    texts = [evidence] if isinstance(evidence, str) else list(evidence)
    found: set[str] = set()
    for text in texts:
        found |= terms(text)
    return found


def support_spans(text: str, evidence: str | Iterable[str]) -> list[tuple[int, int]]:
    """(start, end) character spans of ``text`` whose words support ``evidence``, in order, merged."""
    wanted = support_terms(evidence)
    if not wanted:
        return []
    spans: list[tuple[int, int]] = []
    for match in _WORD.finditer(text):
        word = match.group(0)
        if len(word) < 2 and not word.isdigit():
            continue
        if stem(word) not in wanted:
            continue
        start, end = match.span()
        if spans and _JOINABLE.fullmatch(text, spans[-1][1], start):
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans
