"""Check an answer's ``[n]`` markers against the passages the model was shown.

Markers that name no shown passage are removed (with the space before them); the rest become Citations.
Accepted forms: ``[1]``, ``[1, 2]``, ``[1][2]``, ``[1-3]`` (also ``;`` and an en dash).
Example: check_citations("Es 5 [1][9].", passages_1_to_3).text == "Es 5 [1]."
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from rag.answer.prompts import Passage
from rag.text import collapse
from rag.types import Citation

# Up to three digits: "[2019]" is a year, not a citation, and stays as written.
_PART = r"\d{1,3}(?:\s*[-\u2013]\s*\d{1,3})?"
_MARKER = re.compile(rf"(\s*)\[\s*({_PART}(?:\s*[,;]\s*{_PART})*)\s*\]")
# What an unfinished marker can look like while tokens are still arriving: "[", "[1", "[1, 2-".
_OPEN_MARKER = re.compile(r"\[[\d\s,;\-\u2013]*$")
_MAX_OPEN = 40


@dataclass(frozen=True)
class CheckedAnswer:
    """The answer with invalid markers removed, the citations it keeps, and whether any remain."""

    text: str
    citations: list[Citation]
    supported: bool


def marker_numbers(body: str, limit: int) -> list[int]:
    """Numbers named inside one marker's brackets: '1, 3-4' -> [1, 3, 4]; ranges never pass ``limit``."""
    numbers: list[int] = []
    for part in re.split(r"[,;]", body):
        bounds = [int(x) for x in re.findall(r"\d+", part)]
        if len(bounds) == 2:
            lo, hi = sorted(bounds)
            numbers.extend(range(lo, min(hi, limit + 1) + 1))  # one past limit keeps a bad range visible
        elif bounds:
            numbers.append(bounds[0])
    return numbers


def _rewrite(match: re.Match[str], valid: Collection[int], seen: list[int]) -> str:
    lead, body = match.group(1), match.group(2)
    numbers = marker_numbers(body, max(valid, default=0))
    good = [n for n in dict.fromkeys(numbers) if n in valid]
    for n in good:
        if n not in seen:
            seen.append(n)
    if not good:
        return ""
    if len(good) == len(numbers):
        return match.group(0)  # every number valid: keep the model's own spelling
    return f"{lead}[{', '.join(str(n) for n in good)}]"


def clean_markers(text: str, valid: Collection[int], seen: list[int] | None = None) -> str:
    """``text`` with markers reduced to their valid numbers (dropped if none); records them in ``seen``."""
    found: list[int] = [] if seen is None else seen
    return _MARKER.sub(lambda m: _rewrite(m, valid, found), text)


def check_citations(answer: str, passages: Sequence[Passage]) -> CheckedAnswer:
    """Validate ``answer``'s markers against ``passages`` (numbered as in the prompt)."""
    by_n = {p.n: p for p in passages}
    seen: list[int] = []
    text = clean_markers(answer, by_n.keys(), seen).strip()
    citations = [
        Citation.of(n, by_n[n].hit, collapse(by_n[n].hit.text))
        for n in seen
    ]
    return CheckedAnswer(text=text, citations=citations, supported=bool(citations))


class MarkerFilter:
    """Streams tokens with invalid markers already removed, holding back only an unfinished marker.

    Example: feed("Es 5 [") -> "Es 5"; feed("9]. Y") -> ". Y"; feed(" [1") -> ""; flush() -> " [1"
    """

    def __init__(self, valid: Collection[int]) -> None:
        self._valid = set(valid)
        self._pending = ""

    def feed(self, token: str) -> str:
        """Take the next token; return the text that can safely be shown now."""
        self._pending += token
        hold = len(self._pending)
        start = self._pending.rfind("[")
        open_marker = start >= 0 and len(self._pending) - start <= _MAX_OPEN
        if open_marker and _OPEN_MARKER.match(self._pending, start):
            hold = start
        # Spaces before a marker go with it when it is dropped, so they wait until the next word.
        hold = len(self._pending[:hold].rstrip())
        ready, self._pending = self._pending[:hold], self._pending[hold:]
        return clean_markers(ready, self._valid)

    def flush(self) -> str:
        """Whatever is still held, cleaned, at the end of the stream."""
        ready, self._pending = self._pending, ""
        return clean_markers(ready, self._valid)
