"""Split a document's pages into passages measured in the embedder's own tokens.

An encoder silently drops what does not fit its window, so every passage, with room for its context line
(title and section heading), stays inside it. Passages are packed from whole sentences, may run over a page
break (page..page_end), and overlap by a sentence or so, so that an answer straddling two passages is still
found whole in one of them. The context line is indexed lexically and shown, but not embedded: a title in
front of every passage pulls a document's vectors together (docs/decisions/chunking.md).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag.locators import PATH_SEPARATOR, locator
from rag.text import collapse, fold
from rag.types import Chunk, ChunkId, ParsedDocument

TokenCounter = Callable[[Sequence[str]], list[int]]

# Sentence ends: . ! ? … followed by space and something that starts a sentence. Abbreviations like
# "Art. 5" or "p. ej." rarely matter: a wrong split only moves a passage boundary.
_SENTENCE_END = re.compile(r"(?<=[.!?…;])\s+(?=[¿¡\"'(\[«“]?[A-ZÁÉÍÓÚÑÜ0-9])")
_HEADING = re.compile(
    r"^(?:(?:cap[ií]tulo|t[ií]tulo|secci[oó]n|art[ií]culo|anexo|chapter|section|article|part|appendix)\b"
    r"|(?:\d+(?:\.\d+)*\.?|[IVXLC]+\.)\s+\S)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ChunkerConfig:
    """Budget in word pieces; the defaults suit a 256-piece window."""

    window: int = 256  # the embedder's window, special tokens included
    target: int = 180  # tokens of passage text
    context_budget: int = 40  # tokens allowed for the context line in front
    overlap: int = 30  # tokens of trailing sentences repeated at the start of the next passage
    min_tokens: int = 24  # a shorter tail is merged into the passage before it
    page_break: int = 32  # at a page break, a passage this long ends (citations stay on one page); at
    # the start of a slide, a sheet's block of rows or a section, any passage ends

    @classmethod
    def for_window(cls, window: int) -> ChunkerConfig:
        """Scale to another model's window (bigger windows still use modest passages)."""
        usable = window - 2  # [CLS] and [SEP]
        context = min(40, usable // 6)
        target = max(32, min(usable - context, 180))
        return cls(window=window, target=target, context_budget=context, overlap=min(40, target // 6),
                   page_break=max(24, target // 6))


@dataclass
class _Unit:
    text: str
    page: int
    tokens: int
    heading: str
    paragraph: int = 0  # 1-based paragraph of its page (headings not counted)


def is_heading(line: str) -> bool:
    """A short line that looks like a title: 'Capítulo II', '3.1 Results', 'ARTÍCULO 5'."""
    line = line.strip()
    if not line or len(line) > 90 or line.endswith((",", ";")):
        return False
    if _HEADING.match(line) and len(line.split()) <= 12:
        return True
    letters = [c for c in line if c.isalpha()]
    return len(letters) >= 4 and all(c.isupper() for c in letters) and len(line.split()) <= 10


def _sentences(page_text: str, opening: str = "") -> list[tuple[str, bool, int]]:
    """(text, is_heading, paragraph number) pieces of one page, in order (a heading has its next
    paragraph's number); a first line equal to ``opening`` (a section's own heading) is a heading."""
    pieces: list[tuple[str, bool, int]] = []
    paragraph: list[str] = []
    number = 0

    def flush() -> None:
        nonlocal number
        if paragraph:
            joined = collapse(" ".join(paragraph))
            sentences = [s for s in _SENTENCE_END.split(joined) if s.strip()]
            if sentences:
                number += 1
                pieces.extend((s, False, number) for s in sentences)
            paragraph.clear()

    for line in page_text.split("\n"):
        if not line.strip():
            flush()
        elif is_heading(line) or (opening and not pieces and not paragraph and collapse(line) == opening):
            flush()
            pieces.append((collapse(line), True, number + 1))
        else:
            paragraph.append(line)
    flush()
    return pieces


def _split_long(text: str, budget: int, count: TokenCounter) -> list[str]:
    """Cut a sentence longer than the budget at word boundaries."""
    words = text.split()
    parts: list[str] = []
    start = 0
    while start < len(words):
        lo, hi = start + 1, len(words)
        # binary search for the longest run of words that fits
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count([" ".join(words[start:mid])])[0] <= budget:
                lo = mid
            else:
                hi = mid - 1
        if lo == start + 1 and count([words[start]])[0] > budget:
            parts.extend(_split_word(words[start], budget, count))  # one unbreakable run: cut it by characters
        else:
            parts.append(" ".join(words[start:lo]))
        start = lo
    return parts


def _split_word(word: str, budget: int, count: TokenCounter) -> list[str]:
    """A word longer than the budget (a rule line, a hash, a run of one letter) in pieces that fit."""
    parts: list[str] = []
    while word:
        lo, hi = 1, len(word)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count([word[:mid]])[0] <= budget:
                lo = mid
            else:
                hi = mid - 1
        parts.append(word[:lo])
        word = word[lo:]
    return parts


def _context_line(title: str, heading: str, count: TokenCounter, budget: int) -> str:
    parts = [p for p in (title, heading) if p]
    line = " — ".join(dict.fromkeys(parts))
    if not line:
        return ""
    if count([line])[0] <= budget:
        return line
    return _split_long(line, budget, count)[0]


def chunk_document(doc: ParsedDocument, count: TokenCounter, config: ChunkerConfig) -> list[Chunk]:
    """Passages of ``doc``; each one's context + text fits ``config.window``."""
    title = _title(doc)
    units: list[_Unit] = []
    heading = ""
    for page_no, page_text in enumerate(doc.pages, start=1):
        info = doc.info(page_no)
        if info.kind == "section":
            heading = info.label  # the section's heading path is its context, whatever its text holds
        opening = info.label.rsplit(PATH_SEPARATOR, 1)[-1] if info.kind == "section" else ""
        pieces = _sentences(page_text, opening)
        if not pieces:
            continue
        texts = [p[0] for p in pieces]
        for (text, is_head, paragraph), tokens in zip(pieces, count(texts), strict=True):
            if is_head:
                heading = text
            if tokens > config.target:
                for part in _split_long(text, config.target, count):
                    units.append(_Unit(part, page_no, count([part])[0], heading, paragraph))
            else:
                units.append(_Unit(text, page_no, tokens, heading, paragraph))

    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    size = 0
    for unit in units:
        if current and unit.page != current[-1].page and (size >= config.page_break
                                                          or doc.info(unit.page).kind != "page"
                                                          or doc.info(unit.page).ocr != doc.info(current[-1].page).ocr):
            # a new page starts a new passage, with no overlap carried over; a new slide, sheet block
            # or section always does (its locator names one), and so does a page read by OCR after one
            # with a text layer or the reverse (a passage is either recognised text or not)
            groups.append(current)
            current, size = [], 0
        if current and size + unit.tokens > config.target:
            groups.append(current)
            # carry trailing sentences as overlap, never the whole passage
            carry: list[_Unit] = []
            carried = 0
            for prev in reversed(current[1:]):
                if carried + prev.tokens > config.overlap:
                    break
                carry.insert(0, prev)
                carried += prev.tokens
            current, size = carry, carried
        current.append(unit)
        size += unit.tokens
    if current:
        same_unit = bool(groups) and (groups[-1][-1].page == current[0].page
                                      or (doc.info(current[0].page).kind == "page"
                                          and doc.info(current[0].page).ocr == doc.info(groups[-1][-1].page).ocr))
        if groups and same_unit and size < config.min_tokens and _fits(groups[-1], current, config):
            groups[-1] = groups[-1] + [u for u in current if u not in groups[-1]]
        else:
            groups.append(current)

    chunks: list[Chunk] = []
    for group in groups:
        text = " ".join(u.text for u in group)
        context = _context_line(title, group[0].heading, count, config.context_budget)
        position = len(chunks)
        first, last = group[0].page, group[-1].page
        infos = [doc.info(n) for n in range(first, last + 1)]
        confidences = [i.ocr_confidence for i in infos if i.ocr and i.ocr_confidence is not None]
        chunks.append(
            Chunk(
                id=str(ChunkId(doc.sha256, position)),
                doc_sha=doc.sha256,
                source=doc.name,
                page=first,
                page_end=last,
                position=position,
                text=text,
                context=context,
                locator=locator(first, last, infos[0], infos[-1], group[0].paragraph),
                ocr=any(i.ocr for i in infos),
                ocr_confidence=min(confidences) if confidences else None,
            )
        )
    return [_fit(c, count, config) for c in chunks]


def embedding_text(chunk: Chunk) -> str:
    """What the embedder reads for a passage: its context line (document title, section heading), then its
    text; what a document says about itself places a passage as it does in the lexical index."""
    return f"{chunk.context}\n{chunk.text}" if chunk.context else chunk.text


def _fits(a: list[_Unit], b: list[_Unit], config: ChunkerConfig) -> bool:
    return sum(u.tokens for u in a) + sum(u.tokens for u in b) <= config.target + config.min_tokens


def _fit(chunk: Chunk, count: TokenCounter, config: ChunkerConfig) -> Chunk:
    """Guarantee the window: joining sentences can tokenize a little differently from their sum."""
    limit = config.window - 2
    text = chunk.text
    while count([embedding_text(_with(chunk, text))])[0] > limit:
        words = text.split()
        shorter = " ".join(words[: max(1, int(len(words) * 0.9))])
        text = shorter if shorter != text else text[: int(len(text) * 0.9)]  # one word left: cut characters
    return chunk if text == chunk.text else _with(chunk, text)


def _with(chunk: Chunk, text: str) -> Chunk:
    return dataclasses.replace(chunk, text=text)


def _title(doc: ParsedDocument) -> str:
    """The title, with the words of the file name it lacks: 'Reglamento de evaluación (2024)' for
    reglamento_evaluacion_2024.pdf; the file name alone when there is no title."""
    name = _stem(doc.name)
    if not doc.title:
        return name
    known = set(fold(doc.title).split())
    extra = [w for w in name.split() if len(w) >= 3 and fold(w) not in known]
    return f"{doc.title} ({' '.join(extra)})" if extra else doc.title


def _stem(name: str) -> str:
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return collapse(re.sub(r"[_\-]+", " ", stem))
