"""Page text clean-up shared by every loader and the chunker: what a document's text layer gets wrong.

Example: normalize_page("Regla\u00adment\nde evalu-\naci\u00f3n  \ufb01nal") -> "Reglament\nde evaluación final"
"""

from __future__ import annotations

import re
import unicodedata

from rag.text.analysis import fold

_SOFT_HYPHEN = "\u00ad"
# A word broken at a line end: "evalu-\nación" -> "evaluación". Both sides must be lower-case letters so
# that "Inter-\nAmerican" and list dashes survive.
# (only the letters on either side are matched: a leading \w* made this quadratic on a megabyte-long "word")
_HYPHEN_BREAK = re.compile(r"([a-záéíóúüñàèìòùâêîôûç])[-\u2010\u2011]\n[ \t]*([a-záéíóúüñàèìòùâêîôûç])")
_SPACES = re.compile(r"[ \t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\ufffe\uffff]")
_BLANK_LINES = re.compile(r"\n{3,}")


def normalize_page(text: str) -> str:
    """NFKC (ligatures -> letters), rejoin hyphenated line ends, collapse spaces; keep line breaks."""
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace(_SOFT_HYPHEN, "")
    text = text.replace("\ufeff", "").replace("\u200b", "")
    text = _CONTROL.sub(" ", text)
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    text = _HYPHEN_BREAK.sub(r"\1\2", text)
    text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


# A run of tokens without a letter, digit or underscore, within one line.
_SYMBOL_RUN = re.compile(r"(?<!\S)[^\w\s]+(?:[ \t]+[^\w\s]+)*(?!\S)")
GARBLED_SYMBOLS = 8  # a run holding at least this many symbols ...
GARBLED_KINDS = 6  # ... of at least this many different ones is a garbled text layer, not text
GARBLED_LABELS = 5  # lines that are one garbled-looking token, on one page, for them to go


def drop_garbled_runs(text: str) -> str:
    """``text`` without the symbol runs that a figure's text layer with a broken font encoding turns into
    ('!"# $!"#%!"#&!"#’!"#(…'): a run goes only with ``GARBLED_SYMBOLS`` symbols of ``GARBLED_KINDS`` kinds
    and no letter or digit, so code, formulas, table rules and dot leaders stay; lines of one mixed token
    each (a chart's labels, '<//2??.1@A<9=.>922?#3!4,56#') go when a page has ``GARBLED_LABELS`` of them.
    Why and what it drops in the shared PDFs: docs/decisions/office-ocr.md.

    Example: drop_garbled_runs('Speedup. !"# $!"#%!"#&!"#’!"#( Figure 11.') -> 'Speedup. Figure 11.'
    """
    def keep(match: re.Match[str]) -> str:
        symbols = "".join(match.group(0).split())
        return "" if len(symbols) >= GARBLED_SYMBOLS and len(set(symbols)) >= GARBLED_KINDS else match.group(0)

    lines = []
    for line in text.split("\n"):
        cleaned = _SYMBOL_RUN.sub(keep, line)
        lines.append(line if cleaned == line else _SPACES.sub(" ", cleaned).strip())
    labels = [i for i, line in enumerate(lines) if _garbled_label(line)]
    if len(labels) >= GARBLED_LABELS:
        for i in labels:
            lines[i] = ""
    return "\n".join(lines)


def _garbled_label(line: str) -> bool:
    """At most three tokens, 8+ characters, a third or more of them symbols of 4+ kinds:
    '<//2??.1@A<9=.>922?#3!4,56#', 'L5?><56# M/,56*#'."""
    tokens = line.split()
    visible = "".join(tokens)
    if not 1 <= len(tokens) <= 3 or len(visible) < 8:
        return False
    symbols = [ch for ch in visible if not (ch.isalnum() or ch == "_")]
    return 3 * len(symbols) >= len(visible) and len(set(symbols)) >= 4


def collapse(text: str) -> str:
    """One line, single spaces: how a passage is stored and shown."""
    return " ".join(text.split())


_DIGITS = re.compile(r"\d+")
# Numbered headings repeat in shape ("Artículo 3.", "Artículo 4.") but are content, not running lines.
_NUMBERED_HEADING = re.compile(
    r"^(?:\d|art[ií]culo|cap[ií]tulo|t[ií]tulo|secci[oó]n|anexo|parte|article|chapter|section|annex|part)\b",
    re.IGNORECASE,
)


def _line_key(line: str) -> str:
    """'Página 3 de 12' and 'Página 4 de 12' are the same running line."""
    return _DIGITS.sub("#", fold(line)).strip()


def strip_running_lines(pages: list[str], edge: int = 3, share: float = 0.6) -> list[str]:
    """Remove running headers and footers: lines repeated near the top or bottom of most pages.

    Only documents of 3+ pages are touched; a line must appear among the first or last ``edge`` lines of
    at least ``share`` of the pages with text. Example: a footer "Reglamento General - Página 3 de 12" on
    every page disappears, while an "Artículo 3." that happens to open one page stays.
    """
    texts = [p for p in pages if p.strip()]
    if len(texts) < 3:
        return pages
    counts: dict[str, int] = {}
    for page in texts:
        lines = [ln for ln in page.split("\n") if ln.strip()]
        edges = [ln for ln in lines[:edge] + lines[-edge:] if not _NUMBERED_HEADING.match(ln)]
        for key in {_line_key(ln) for ln in edges}:
            counts[key] = counts.get(key, 0) + 1
    running = {key for key, n in counts.items() if n >= max(3, share * len(texts)) and len(key) > 1}
    if not running:
        return pages
    out = []
    for page in pages:
        lines = page.split("\n")
        body = [i for i, ln in enumerate(lines) if ln.strip()]
        near_edge = set(body[:edge] + body[-edge:])
        kept = [ln for i, ln in enumerate(lines) if not (i in near_edge and _line_key(ln) in running)]
        # a page that is nothing but such lines ("This is page 7") keeps them: they are its content
        out.append("\n".join(kept).strip() if any(k.strip() for k in kept) else page)
    return out
