"""Locators: the short, language-neutral string that says where a passage is in its file.

One scheme, built here and nowhere else (loaders call the label builders; the chunker calls ``locator``;
the web page translates the words with ``ui.i18n.localize_locator``):

    physical pages (PDF, scans, text)   "p. 3"            "pp. 3-4"
    presentations                       "slide 4"         "slides 4-5"
    spreadsheets                        "sheet Datos, rows 2-41"   (one sheet, rows merged over units)
    Word, ODT, HTML (no pages)          "Capítulo 2 › Artículo 5, ¶ 3"   (heading path, paragraph)
                                        "¶ 3"             (text before the first heading)

The paragraph is counted within its section, from 1, headings not counted; a table row is a paragraph.
"""

from __future__ import annotations

import re

from rag.types import PageInfo, page_locator

PATH_SEPARATOR = " › "
PARAGRAPH = "¶"
_SHEET = re.compile(r"^sheet (?P<name>.*), rows (?P<first>\d+)-(?P<last>\d+)$")
_SLIDE = re.compile(r"^slide (\d+)$")
_MAX_LABEL = 200


def slide_label(number: int) -> str:
    """'slide 4'."""
    return f"slide {number}"


def sheet_label(name: str, first: int, last: int) -> str:
    """'sheet Datos, rows 2-41' (rows as the spreadsheet numbers them, 1-based)."""
    return f"sheet {_clean(name)}, rows {first}-{last}"


def sheet_name(label: str) -> str | None:
    """The sheet a 'sheet Datos, rows 2-41' label names; None for any other label."""
    match = _SHEET.match(label)
    return match["name"] if match else None


def section_label(path: list[str]) -> str:
    """'Capítulo 2 › Artículo 5' from the headings above a section (outermost first); "" for none."""
    parts = [_clean(p) for p in path if _clean(p)]
    label = PATH_SEPARATOR.join(parts)
    while len(label) > _MAX_LABEL and len(parts) > 1:  # keep the innermost headings: they locate best
        parts = parts[1:]
        label = "… › " + PATH_SEPARATOR.join(parts)
    return label[:_MAX_LABEL]


def locator(page: int, page_end: int, start: PageInfo, end: PageInfo, paragraph: int = 0) -> str:
    """Where a passage from unit ``page`` (``start``) to unit ``page_end`` (``end``) is, starting at
    ``paragraph`` of its first unit (1-based; 0 = unknown)."""
    if start.kind == "page":
        return page_locator(page, page_end)
    if start.kind == "slide":
        first, last = _slide(start, page), _slide(end, page_end)
        return f"slides {first}-{last}" if last > first else slide_label(first)
    if start.kind == "sheet":
        a, b = _SHEET.match(start.label), _SHEET.match(end.label)
        if a and b and a["name"] == b["name"]:
            return sheet_label(a["name"], int(a["first"]), int(b["last"]))
        return start.label if page_end <= page else f"{start.label} – {end.label}"
    where = f"{PARAGRAPH} {paragraph}" if paragraph > 0 else ""
    return ", ".join(p for p in (start.label, where) if p) or page_locator(page, page_end)


def _slide(info: PageInfo, page: int) -> int:
    match = _SLIDE.match(info.label)
    return int(match.group(1)) if match else page


def _clean(text: str) -> str:
    return " ".join(text.split())[:_MAX_LABEL]
