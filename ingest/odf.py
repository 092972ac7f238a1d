"""The OpenDocument reader (.odt, .odp, .ods): lxml over the package's content.xml, never resolving an
entity or loading a DTD (ingest.safexml; odfpy refuses some real files, e.g. a formula with a DOCTYPE).

- .odt: one unit per section under its heading path, like .docx; footnotes (spliced inline in ODF) and
  comments come out of the sentence into units of their own; tracked deletions are never read.
- .odp: one unit per slide (draw:page) with its speaker notes.
- .ods: each sheet's rows in blocks that fit a passage, headers carried (repeated rows and columns are
  counted, not expanded).
An encrypted package (META-INF/manifest.xml declares encryption) ends as "encrypted: …".
"""

from __future__ import annotations

from collections.abc import Iterator

from ingest.loaders import Loaded
from ingest.safexml import Element, parse
from ingest.sandbox_worker import announce_units
from ingest.sniff import Kind, open_zip, read_member
from ingest.units import Budget, row_blocks, table_rows
from rag.errors import LoadError
from rag.locators import section_label, sheet_label, slide_label
from rag.text import normalize_page
from rag.types import PageInfo

OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
DRAW = "{urn:oasis:names:tc:opendocument:xmlns:drawing:1.0}"
PRESENTATION = "{urn:oasis:names:tc:opendocument:xmlns:presentation:1.0}"
MANIFEST = "{urn:oasis:names:tc:opendocument:xmlns:manifest:1.0}"
DC = "{http://purl.org/dc/elements/1.1/}"

MAX_REPEAT = 1_000  # a repeated non-empty cell or row is written at most this often
_SKIP = frozenset({TEXT + "note", OFFICE + "annotation", OFFICE + "annotation-end", TEXT + "tracked-changes",
                   TEXT + "note-citation", PRESENTATION + "notes", DRAW + "frame", TEXT + "bookmark-ref"})


def read(data: bytes, kind: Kind, password: str | None) -> Loaded:
    """Read an .odt, .odp or .ods into units."""
    archive = open_zip(data)
    manifest = parse(read_member(archive, "META-INF/manifest.xml", 4 * 2**20), "manifest.xml") \
        if "META-INF/manifest.xml" in archive.namelist() else None
    if manifest is not None and next(manifest.iter(MANIFEST + "encryption-data"), None) is not None:
        if not password:
            raise LoadError("encrypted: pass --password")
        raise LoadError("encrypted OpenDocument files are not read: save it without a password")
    root = parse(read_member(archive, "content.xml"), "content.xml")
    title = ""
    if "meta.xml" in archive.namelist():
        meta = parse(read_member(archive, "meta.xml", 4 * 2**20), "meta.xml")
        found = next(meta.iter(DC + "title"), None)
        title = (found.text or "") if found is not None else ""
    body = root.find(f"{OFFICE}body")
    if body is None:
        raise LoadError("damaged: content.xml has no body")
    try:
        if kind == "odt":
            loaded = _text_document(body)
        elif kind == "odp":
            loaded = _presentation(body)
        else:
            loaded = _spreadsheet(body)
    except RecursionError as exc:
        raise LoadError("damaged: elements nested too deeply") from exc
    if not any(loaded.pages):
        raise LoadError("no text")
    loaded.title = title or loaded.title
    return loaded


def _text(element: Element) -> str:
    """The text of a paragraph or heading: spaces (text:s), tabs and line breaks honoured; notes,
    comments and frames (text boxes, read apart) left out."""
    out: list[str] = []

    def walk(node: Element) -> None:
        if node.text:
            out.append(node.text)
        for child in node:
            tag = child.tag
            if isinstance(tag, str) and tag not in _SKIP:
                if tag == TEXT + "s":
                    out.append(" " * min(int(child.get(TEXT + "c", "1") or 1), 100))
                elif tag == TEXT + "tab":
                    out.append("\t")
                elif tag == TEXT + "line-break":
                    out.append("\n")
                else:
                    walk(child)
            if child.tail:
                out.append(child.tail)

    walk(element)
    return "".join(out)


def _blocks(container: Element) -> Iterator[tuple[int, str]]:
    """(heading level or 0, text) of the paragraphs, headings and table rows under ``container``, in order;
    a frame's text boxes after the paragraph holding them."""
    for child in container:
        tag = child.tag
        if not isinstance(tag, str) or tag in (TEXT + "tracked-changes", PRESENTATION + "notes",
                                               OFFICE + "annotation", TEXT + "note"):
            continue
        if tag in (TEXT + "p", TEXT + "h"):
            text = _text(child)
            if text.strip():
                level = int(child.get(TEXT + "outline-level", "1") or 1) if tag == TEXT + "h" else 0
                yield min(max(level, 1), 9) if tag == TEXT + "h" else 0, text
            for frame in child.iter(DRAW + "frame"):
                yield from _blocks(frame)
        elif tag == TABLE + "table":
            yield from ((0, row) for row in table_rows(_table(child)))
        else:  # lists, sections, frames, text boxes, groups: their paragraphs
            yield from _blocks(child)


def _table(table: Element) -> list[list[str]]:
    rows = []
    for row in table.iter(TABLE + "table-row"):
        if _owner_table(row) is not table:
            continue  # a nested table's row: its text is in its cell
        cells = [" ".join(" ".join(_text(p) for p in cell.iter(TEXT + "p", TEXT + "h")).split())
                 for cell in row if cell.tag == TABLE + "table-cell"]
        rows.append(cells)
    return rows


def _owner_table(row: Element) -> Element | None:
    parent = row.getparent()
    while parent is not None and parent.tag != TABLE + "table":
        parent = parent.getparent()
    return parent


def _notes(body: Element, tag: str) -> list[str]:
    texts = []
    for note in body.iter(tag):
        source = note.find(TEXT + "note-body") if tag == TEXT + "note" else note
        if source is not None:
            text = " ".join(" ".join(_text(p) for p in source.iter(TEXT + "p")).split())
            if text:
                texts.append(text)
    return texts


def _text_document(body: Element) -> Loaded:
    budget = Budget()
    units: list[tuple[list[str], list[str]]] = [([], [])]
    path: list[str] = []
    first_heading = ""
    for level, text in _blocks(body):
        budget.take(text)
        if level:
            path = [*path[: level - 1], *[""] * max(0, level - 1 - len(path)), " ".join(text.split())]
            first_heading = first_heading or " ".join(text.split())
            units.append((list(path), [text]))
        else:
            units[-1][1].append(text)
    pages, infos = [], []
    for heading_path, paragraphs in units:
        if text := normalize_page("\n\n".join(paragraphs)):
            pages.append(text)
            infos.append(PageInfo(section_label(heading_path), kind="section"))
    for name, texts in (("footnotes", _notes(body, TEXT + "note")), ("comments", _notes(body, OFFICE + "annotation"))):
        if text := normalize_page("\n\n".join(budget.take(t) for t in texts)):
            pages.append(text)
            infos.append(PageInfo(name, kind="section"))
    return Loaded(pages, infos, first_heading)


def _presentation(body: Element) -> Loaded:
    budget = Budget()
    slides = list(body.iter(DRAW + "page"))
    announce_units(len(slides))
    pages, infos = [], []
    for number, slide in enumerate(slides, start=1):
        parts = [text for _, text in _blocks(slide)]
        notes = slide.find(PRESENTATION + "notes")
        if notes is not None:
            parts.extend(text for _, text in _blocks(notes))
        parts.extend(_notes(slide, OFFICE + "annotation"))
        pages.append(normalize_page(budget.take("\n\n".join(p for p in parts if p.strip()))))
        infos.append(PageInfo(slide_label(number), kind="slide"))
    first = next((p.split("\n", 1)[0] for p in pages if p), "")
    return Loaded(pages, infos, first)


def _spreadsheet(body: Element) -> Loaded:
    budget = Budget()
    pages: list[str] = []
    infos: list[PageInfo] = []
    for sheet in body.iter(TABLE + "table"):
        if _owner_table(sheet) is not None:
            continue  # a table inside a cell's frame
        name = sheet.get(TABLE + "name", "") or f"{len(infos) + 1}"
        for first, last, lines in row_blocks(_sheet_rows(sheet), budget):
            pages.append(normalize_page("\n\n".join(lines)))
            infos.append(PageInfo(sheet_label(name, first, last), kind="sheet"))
    return Loaded(pages, infos, "")


def _sheet_rows(sheet: Element) -> Iterator[tuple[int, list[str]]]:
    """(row number, cell texts) of a sheet; repeated rows and cells counted, not expanded."""
    number = 0
    for row in sheet.iter(TABLE + "table-row"):
        if _owner_table(row) is not sheet:
            continue
        repeat = int(row.get(TABLE + "number-rows-repeated", "1") or 1)
        cells: list[str] = []
        pending = 0  # empty cells not yet written (only written before a non-empty one)
        for cell in row:
            if cell.tag not in (TABLE + "table-cell", TABLE + "covered-table-cell"):
                continue
            span = int(cell.get(TABLE + "number-columns-repeated", "1") or 1)
            text = " ".join(" ".join(_text(p) for p in cell.iter(TEXT + "p")).split())
            if not text:
                pending += span
                continue
            cells.extend([""] * min(pending, MAX_REPEAT))
            pending = 0
            cells.extend([text] * min(span, MAX_REPEAT))
        if any(cells):
            for offset in range(min(repeat, MAX_REPEAT)):
                yield number + offset + 1, cells
        number += repeat
