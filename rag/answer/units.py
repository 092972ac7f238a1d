"""The answerable units of a retrieved passage: prose sentences, list items and table or calendar rows.

A passage's stored text is one line (``rag.index.chunking`` joins a page's lines), so a calendar row such as
"Inicio de clases 12-01-2026" runs into the next one and no sentence end separates them. The page's own
text keeps its lines: where it is at hand, a passage's units are cut from its page(s) - a line shorter
than the page's wrapped lines ends its unit (a row, an item, a paragraph's last line), a line opening
with a list marker starts one, and prose is cut at sentence ends - and kept when they lie inside the
passage, so every unit is text that was retrieved. Without the page, the passage is cut at sentence ends.

Example: the page lines "Inicio de clases . . . . 12-01-2026" / "Fin de clases . . . . 29-05-2026"
give the units "Inicio de clases … 12-01-2026" and "Fin de clases … 29-05-2026".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from rag.text import collapse
from rag.types import Hit

PageText = Callable[[str, int], "str | None"]  # (document sha, page) -> the page's text, None if unknown

MAX_CHARS = 400  # a longer unit is clipped where shown
_WRAPPED = 0.75  # a line at least this share of the page's long lines' width is wrapped prose
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")
_LEADER = re.compile(r"\s*(?:\.\s*){3,}")  # dotted leaders of tables and indexes
# bullets as PDFs extract them (•, -, private-use glyphs, "o"), "a)", "1.", "iv)"
_ITEM = re.compile(r"^(?:[•·▪●○■□\-–—*\uf0a7\uf0b7\uf02d]|o(?=\s)|[a-zñ]\)|\d{1,2}[.)º](?=\s)|[ivx]{1,4}\))")
_NOT_WORD = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class Unit:
    """One answerable piece of a hit: its text, the hit's citation number and the unit's order in it."""

    text: str
    n: int  # 1-based position of its hit in the hit list (the citation number)
    hit: Hit
    position: int


def _compact(text: str) -> str:
    """Letters and digits only: a page's line and its passage's copy compare equal whatever the spacing."""
    return _NOT_WORD.sub("", text.lower())


def _keep(text: str) -> bool:
    """Fragments (under 15 characters or 4 words, such as the heading "Reclamo de notas.") read as
    non-answers on their own."""
    return len(text) >= 15 and len(text.split()) >= 4


def clip(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS].rsplit(" ", 1)[0] + " …"


def split_sentences(text: str) -> list[str]:
    """Sentences of a one-line passage, fragments dropped, long ones clipped."""
    return [clip(s) for s in (collapse(p) for p in _SENTENCE_END.split(text)) if _keep(s)]


def page_units(page_text: str) -> list[str]:
    """The units of one page's text, in reading order (see the module docstring)."""
    lines = [collapse(_LEADER.sub(" … ", line) if ". ." in line or "..." in line else line)
             for line in page_text.split("\n")]
    lines = [line for line in lines if line]
    if not lines:
        return []
    widths = sorted(len(line) for line in lines)
    wrapped = _WRAPPED * widths[int(0.9 * (len(widths) - 1))]
    out: list[str] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            out.extend(s for s in (p.strip() for p in _SENTENCE_END.split(" ".join(paragraph))) if s)
            paragraph.clear()

    for line in lines:
        if _ITEM.match(line):
            flush()
        paragraph.append(line)
        if len(line) < wrapped or line.endswith((".", ";", ":")):
            flush()
    flush()
    return [u for u in out if _keep(u)]


def hit_units(hits: list[Hit] | tuple[Hit, ...], pages: PageText | None = None) -> list[Unit]:
    """Every distinct unit of ``hits`` (overlapping passages repeat sentences), in hit order."""
    out: list[Unit] = []
    seen: set[str] = set()
    for n, hit in enumerate(hits, start=1):
        texts = _from_pages(hit, pages) if pages is not None and hit.doc_sha else None
        for text in texts if texts else split_sentences(hit.text):
            key = _compact(text)
            if key and key not in seen:
                seen.add(key)
                out.append(Unit(clip(text), n, hit, len(out)))
    return out


def _from_pages(hit: Hit, pages: PageText) -> list[str] | None:
    """The units of the hit's page(s) that lie inside its text; None when a page is not at hand."""
    inside = _compact(hit.text)
    found: list[str] = []
    for page in range(hit.page, max(hit.page, hit.page_end) + 1):
        text = pages(hit.doc_sha, page)
        if text is None:
            return None
        found += [u for u in page_units(text) if (key := _compact(u)) and key in inside]
    return found
