"""The Office Open XML readers: the only module that imports python-docx, python-pptx and openpyxl.

- .docx: one unit per section under its heading path ("Capítulo 2 › Artículo 5"): paragraphs, tables as
  rows that stand alone ("Curso: 2 | Nota: 7"), text boxes once (the mc:Fallback copy is skipped); tracked
  deletions and field codes are never read. Headers and footers (each distinct one once), footnotes,
  endnotes and comments come last, as units of their own.
- .pptx: one unit per slide ("slide 4"): its shapes (groups and tables included), its comments and its
  speaker notes; footer, date and slide-number placeholders are left out.
- .xlsx: read-only, cached values; each sheet's rows in blocks that fit a passage ("sheet Datos, rows
  2-41"), each row with its column headers carried so that it reads alone.

The archive's directory is checked first (ingest.sniff.check_zip); XML is never entity-expanded.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from typing import Any

from ingest.loaders import Loaded
from ingest.safexml import Element, parse
from ingest.sandbox_worker import announce_units
from ingest.sniff import Kind, open_zip
from ingest.units import Budget, row_blocks, table_rows
from rag.errors import LoadError
from rag.locators import section_label, sheet_label, slide_label
from rag.text import normalize_page
from rag.types import PageInfo

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
P = "{http://schemas.openxmlformats.org/presentationml/2006/main}"

MAX_CELL_CHARS = 32_767  # Excel's limit for one cell
_HEADING_STYLE = re.compile(r"^(?:heading|t[ií]tulo|encabezado|überschrift|titre)\s*(\d)$", re.IGNORECASE)
_SKIP_WORD = frozenset({W + "del", W + "delText", W + "instrText", W + "delInstrText", MC + "Fallback",
                        W + "txbxContent", W + "footnoteReference", W + "endnoteReference", W + "commentReference"})
_SKIP_SHAPES = ("FOOTER", "SLIDE_NUMBER", "DATE")


def read(data: bytes, kind: Kind, password: str | None) -> Loaded:
    """Read a .docx, .pptx or .xlsx (already decrypted, if it was) into units."""
    archive = open_zip(data)  # bounds the archive before any library expands it
    try:
        if kind == "docx":
            return _docx(data)
        if kind == "pptx":
            return _pptx(data, archive)
        return _xlsx(data)
    except (LoadError, MemoryError):
        raise
    except RecursionError as exc:
        raise LoadError("damaged: elements nested too deeply") from exc
    except (zipfile.BadZipFile, KeyError, EOFError, OSError) as exc:
        raise LoadError(_damaged(exc)) from exc
    except Exception as exc:  # the libraries raise many kinds of errors on malformed parts
        if _forbidden(exc):
            raise LoadError("unsafe XML: entity declarations (an XML bomb?) are not read") from exc
        raise LoadError(_damaged(exc)) from exc


def _forbidden(exc: BaseException | None) -> bool:
    """Whether defusedxml (which openpyxl parses with) refused entity declarations, here or as a cause."""
    seen = 0
    while exc is not None and seen < 10:
        if type(exc).__name__ in ("EntitiesForbidden", "DTDForbidden", "ExternalReferenceForbidden"):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


# -- Word ---------------------------------------------------------------------------------------------------
def _docx(data: bytes) -> Loaded:
    import docx

    document = docx.Document(io.BytesIO(data))
    budget = Budget()
    styles = _word_styles(document.styles.element)
    units: list[tuple[list[str], list[str]]] = [([], [])]  # (heading path, paragraphs)
    path: list[str] = []
    first_heading = ""
    for level, text in _word_blocks(document.element.body, styles):
        budget.take(text)
        if level:
            path = [*path[: level - 1], *[""] * max(0, level - 1 - len(path)), text]
            first_heading = first_heading or text
            units.append((list(path), [text]))  # the heading opens its section's text
        else:
            units[-1][1].append(text)
    extras: list[tuple[str, list[str]]] = [
        ("header", _distinct(_part_paragraphs(s.header) for s in document.sections)),
        ("footer", _distinct(_part_paragraphs(s.footer) for s in document.sections)),
    ]
    for name in ("footnotes", "endnotes", "comments"):
        extras.append((name, _notes(document, name)))
    pages, infos = [], []
    for heading_path, paragraphs in units:
        text = normalize_page("\n\n".join(paragraphs))
        if text:
            pages.append(text)
            infos.append(PageInfo(section_label(heading_path), kind="section"))
    for name, paragraphs in extras:
        text = normalize_page("\n\n".join(budget.take(p) for p in paragraphs))
        if text:
            pages.append(text)
            infos.append(PageInfo(name, kind="section"))
    if not pages:
        raise LoadError("no text")
    title = document.core_properties.title or ""
    return Loaded(pages, infos, title or first_heading)


def _word_styles(root: Element) -> dict[str, int]:
    """Heading level (1-9) of each paragraph style that is a heading, by style id; 'Title' is 1."""
    levels: dict[str, int] = {}
    for style in root.iter(W + "style"):
        sid = style.get(W + "styleId") or ""
        name_el = style.find(W + "name")
        name = (name_el.get(W + "val") if name_el is not None else "") or ""
        outline = style.find(f"{W}pPr/{W}outlineLvl")
        match = _HEADING_STYLE.match(name.strip()) or _HEADING_STYLE.match(sid)
        if match and 1 <= int(match.group(1)) <= 9:
            levels[sid] = int(match.group(1))
        elif outline is not None and (value := outline.get(W + "val", "")).isdigit() and int(value) < 9:
            levels[sid] = int(value) + 1
        elif name.strip().lower() == "title":
            levels[sid] = 1
    return levels


def _word_blocks(container: Element, styles: dict[str, int]) -> Iterator[tuple[int, str]]:
    """(heading level or 0, text) of each paragraph and table row of the body, in reading order."""
    stack: list[Iterator[Element]] = [iter(container)]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
            continue
        tag = child.tag
        if tag == W + "p":
            text = _word_text(child)
            if text.strip():
                yield _paragraph_level(child, styles), text
            for box in _text_boxes(child):  # a text box's paragraphs, once, after the paragraph holding it
                for paragraph in box.iter(W + "p"):
                    if (boxed := _word_text(paragraph)).strip():
                        yield 0, boxed
        elif tag == W + "tbl":
            yield from ((0, row) for row in table_rows(_word_table(child)))
        elif tag in (W + "sdt", W + "sdtContent", W + "customXml", W + "smartTag", W + "ins", W + "moveTo"):
            stack.append(iter(child))
        elif tag == MC + "AlternateContent":
            choice = child.find(MC + "Choice")
            if choice is not None:
                stack.append(iter(choice))


def _paragraph_level(paragraph: Element, styles: dict[str, int]) -> int:
    ppr = paragraph.find(W + "pPr")
    if ppr is None:
        return 0
    outline = ppr.find(W + "outlineLvl")
    if outline is not None and (value := outline.get(W + "val", "")).isdigit() and int(value) < 9:
        return int(value) + 1
    style = ppr.find(W + "pStyle")
    return styles.get(style.get(W + "val", ""), 0) if style is not None else 0


def _word_text(element: Element) -> str:
    """The visible text under ``element``: runs joined without spaces (words split across runs stay whole),
    tabs and breaks kept; deletions, field codes, text boxes and mc:Fallback copies left out."""
    out: list[str] = []
    stack: list[Iterator[Element]] = [iter([element])]
    while stack:
        node = next(stack[-1], None)
        if node is None:
            stack.pop()
            continue
        tag = node.tag
        if not isinstance(tag, str) or tag in _SKIP_WORD:
            continue
        if tag == W + "t":
            out.append(node.text or "")
        elif tag == W + "tab":
            out.append("\t")
        elif tag in (W + "br", W + "cr"):
            out.append("\n")
        elif tag == W + "noBreakHyphen":
            out.append("-")
        elif tag == W + "p" and node is not element and out:
            out.append("\n")  # paragraphs inside a cell or a note
        stack.append(iter(node))
    return "".join(out)


def _text_boxes(paragraph: Element) -> Iterator[Element]:
    """The text boxes anchored in a paragraph, outside any mc:Fallback (the VML copy of the same box)."""
    for box in paragraph.iter(W + "txbxContent"):
        ancestor = box.getparent()
        inside_fallback = False
        while ancestor is not None and ancestor is not paragraph:
            if ancestor.tag == MC + "Fallback" or ancestor.tag == W + "txbxContent":
                inside_fallback = True
                break
            ancestor = ancestor.getparent()
        if not inside_fallback:
            yield box


def _word_table(table: Element) -> list[list[str]]:
    """The table's rows as cell texts (a merged cell once; a nested table's text inside its cell)."""
    rows = []
    for tr in table.findall(W + "tr"):
        cells = [" ".join(_word_text(tc).split()) for tc in tr.findall(W + "tc")]
        rows.append(cells)
    return rows


def _part_paragraphs(header_footer: Any) -> list[str]:
    if header_footer.is_linked_to_previous:  # the previous section's, already read
        return []
    return [t for level_text in _word_blocks(header_footer._element, {}) if (t := level_text[1]).strip()]


def _distinct(groups: Iterable[list[str]]) -> list[str]:
    """Paragraphs of several headers (or footers), each distinct one once."""
    return list(dict.fromkeys(p for group in groups for p in group))


def _notes(document: Any, name: str) -> list[str]:
    """Paragraphs of word/footnotes.xml, endnotes.xml or comments.xml (separator notes have no text)."""
    for rel in document.part.rels.values():
        if rel.is_external or not rel.reltype.endswith("/" + name):
            continue
        root = parse(rel.target_part.blob, name)
        items = root.findall(W + name[:-1])  # w:footnote, w:endnote, w:comment
        return [text for item in items if (text := " ".join(_word_text(item).split()))]
    return []


# -- PowerPoint ---------------------------------------------------------------------------------------------
def _pptx(data: bytes, archive: zipfile.ZipFile) -> Loaded:
    import pptx
    from pptx.enum.shapes import PP_PLACEHOLDER

    deck = pptx.Presentation(io.BytesIO(data))
    slides = list(deck.slides)
    announce_units(len(slides))
    budget = Budget()
    skip = {getattr(PP_PLACEHOLDER, name) for name in _SKIP_SHAPES}
    pages, infos = [], []
    first_title = ""
    for number, slide in enumerate(slides, start=1):
        parts = [t for shape in slide.shapes for t in _shape_texts(shape, skip)]
        if not first_title and slide.shapes.title is not None and slide.shapes.title.has_text_frame:
            first_title = slide.shapes.title.text_frame.text
        parts.extend(_slide_comments(slide))
        if slide.has_notes_slide and (frame := slide.notes_slide.notes_text_frame) is not None:
            parts.append(frame.text)
        pages.append(normalize_page(budget.take("\n\n".join(p for p in parts if p.strip()))))
        infos.append(PageInfo(slide_label(number), kind="slide"))
    if not any(pages):
        raise LoadError("no text")
    return Loaded(pages, infos, deck.core_properties.title or first_title)


def _shape_texts(shape: Any, skip: set[Any]) -> Iterator[str]:
    """Texts of one shape: its text frame, a table's rows, a group's members (nested groups too)."""
    stack = [shape]
    while stack:
        item = stack.pop(0)
        if item.is_placeholder:
            try:
                if item.placeholder_format.type in skip:
                    continue
            except ValueError:
                pass
        if getattr(item, "shape_type", None) is not None and hasattr(item, "shapes"):  # a group
            stack[:0] = list(item.shapes)
            continue
        if getattr(item, "has_table", False) and item.has_table:
            rows = [[" ".join(cell.text.split()) for cell in row.cells] for row in item.table.rows]
            yield "\n\n".join(table_rows(rows))
        elif getattr(item, "has_text_frame", False) and item.has_text_frame:
            yield item.text_frame.text


def _slide_comments(slide: Any) -> list[str]:
    """Review comments of a slide (python-pptx does not read them): the p:text of its comments part."""
    out: list[str] = []
    for rel in slide.part.rels.values():
        if rel.is_external or not rel.reltype.endswith("/comments"):
            continue
        root = parse(rel.target_part.blob, "comments")
        out.extend(" ".join((t.text or "").split()) for t in root.iter(P + "text"))
    return [c for c in out if c]


# -- Excel --------------------------------------------------------------------------------------------------
def _xlsx(data: bytes) -> Loaded:
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    budget = Budget()
    pages, infos = [], []
    try:
        for sheet in book.worksheets:
            sheet.reset_dimensions()  # read every row there is, whatever the sheet's <dimension> claims
            cells = ((n, [_cell(v) for v in values])
                     for n, values in enumerate(sheet.iter_rows(values_only=True), start=1))
            for first, last, lines in row_blocks(cells, budget):
                pages.append(normalize_page("\n\n".join(lines)))
                infos.append(PageInfo(sheet_label(sheet.title, first, last), kind="sheet"))
        title = book.properties.title or ""
    finally:
        book.close()
    if not any(pages):
        raise LoadError("no text")
    return Loaded(pages, infos, title)


def _cell(value: Any) -> str:
    """A cell's value as text, at most MAX_CELL_CHARS (Excel's own limit) long."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return " ".join(str(value)[:MAX_CELL_CHARS].split())


def _damaged(exc: BaseException) -> str:
    detail = " ".join(str(exc).split()) or type(exc).__name__
    detail = detail if len(detail) <= 70 else detail[:69] + "…"
    return f"damaged: {detail}"
