"""File loaders: any supported file in, a ParsedDocument (one text per page, slide, block of rows or
section, with its PageInfo) out. This module is the router: it sniffs what the bytes are (ingest.sniff),
never trusting the name, and hands them to the one reader of that format family.

Example: load_file(Path("reglamento.pdf")).pages[2] is the normalized text of physical page 3;
load_file(Path("clase.pptx")).page_info[3].label == "slide 4".
Every failure is a LoadError whose ``reason`` is one short line ("encrypted: pass --password").

A reader is ``read(data, kind, password) -> Loaded`` (the ``Reader`` protocol), named below as
'module:function' and imported only when a file of its kind comes (each third-party library stays in
its reader's module, and a parent process never imports them).
"""

from __future__ import annotations

import codecs
import hashlib
import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, cast

from ingest.sniff import SUFFIXES, TEXT_SUFFIXES, Kind, sniff
from rag.errors import LoadError
from rag.text import normalize_page, strip_running_lines
from rag.types import PageInfo, ParsedDocument

SUPPORTED_SUFFIXES = SUFFIXES


@dataclass
class Loaded:
    """What a reader returns: the units' texts, their PageInfo (aligned; [] = physical pages) and the
    raw title from the file's metadata or first heading ("" if none; the router cleans it)."""

    pages: list[str]
    page_info: list[PageInfo] = field(default_factory=list)
    title: str = ""
    ocr_pages: list[int] = field(default_factory=list)  # 0-based pages without usable text, for OCR


class Reader(Protocol):
    def __call__(self, data: bytes, kind: Kind, password: str | None) -> Loaded: ...


# kind -> the reader of its format family
READERS: dict[str, str] = {
    "pdf": "ingest.loaders:read_pdf",
    "text": "ingest.loaders:read_text",
    "markdown": "ingest.loaders:read_text",
    "docx": "ingest.office:read",
    "pptx": "ingest.office:read",
    "xlsx": "ingest.office:read",
    "odt": "ingest.odf:read",
    "odp": "ingest.odf:read",
    "ods": "ingest.odf:read",
    "html": "ingest.html:read",
    "png": "ingest.images:read",
    "jpeg": "ingest.images:read",
    "tiff": "ingest.images:read",
}
_OOXML = ("docx", "pptx", "xlsx")
# Titles that authoring tools write when the author wrote none.
_JUNK_TITLES = {
    "untitled",
    "untitled document",
    "sin título",
    "sin titulo",
    "document",
    "documento",
    "title",
    "no title",
    "none",
    "null",
    "unknown",
    "adobe photoshop pdf",
    "powerpoint presentation",
    "presentación de powerpoint",
    "slide 1",
    "diapositiva 1",
}
_UNTITLED_N = re.compile(r"untitled[-_ ]?\d*", re.IGNORECASE)
# "Microsoft Word - Reglamento 2023.docx" -> "Reglamento 2023"
_OFFICE_PREFIX = re.compile(r"^microsoft\s+(?:office\s+)?(?:word|powerpoint|excel)\s*-\s*", re.IGNORECASE)
_FILE_EXTENSION = re.compile(
    r"\.(?:pdf|docx?|odt|rtf|txt|tex|dvi|ps|pptx?|odp|xlsx?|ods|indd|qxd|wpd|html?)$", re.IGNORECASE
)
_MD_HEADING = re.compile(r"^#\s+(.+?)\s*#*\s*$")
_MD_FENCE = re.compile(r"^\s*(```|~~~)")
_MAX_TITLE = 300


def load_file(path: Path, password: str | None = None) -> ParsedDocument:
    """Read one file into a ParsedDocument, or raise LoadError with a one-line reason."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise LoadError(f"unsupported file type {suffix or '(no extension)'}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"cannot read: {exc.strerror or type(exc).__name__}") from exc
    doc = load_bytes(data, path.name, password)
    doc.path = str(path)
    return doc


def load_bytes(data: bytes, name: str, password: str | None = None) -> ParsedDocument:
    """Like load_file, for content already in memory (an upload); the content decides the format."""
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise LoadError(f"unsupported file type {suffix or '(no extension)'}")
    if not data:
        raise LoadError("empty file")
    kind = sniff(data, name)
    content = data
    if kind == "ole2":  # a legacy binary (refused with its reason) or an encrypted OOXML package
        from ingest.ole2 import decrypt

        content = decrypt(data, password)
        kind = sniff(content, name)
        if kind not in _OOXML:
            raise LoadError("unsupported file type: an encrypted package that is no Office document")
    if kind in ("text", "markdown") and suffix not in TEXT_SUFFIXES:  # a binary format's name on text
        raise LoadError("not a PDF" if suffix == ".pdf" else f"damaged: not a real {suffix} file (plain text)")
    loaded = _reader(kind)(content, kind, password)
    pages, infos = loaded.pages, loaded.page_info
    if infos and len(infos) != len(pages):
        raise LoadError(f"internal error: {kind} reader gave {len(infos)} page infos for {len(pages)} pages")
    if kind in ("pdf", "text", "markdown"):
        pages = strip_running_lines(pages)  # headers and footers would repeat in every passage
    title = markdown_title(pages[0]) if kind == "markdown" else clean_title(loaded.title)
    sha = hashlib.sha256(data).hexdigest()
    if loaded.ocr_pages:  # recognised later, in the OCR phase of the batch (ingest.scans)
        from ingest.scans import ScanDocument

        return ScanDocument(name=name, sha256=sha, pages=pages, title=title, size=len(data), page_info=infos,
                            ocr_pages=loaded.ocr_pages)
    if not any(p.strip() for p in pages):
        raise LoadError("no text")
    return ParsedDocument(name=name, sha256=sha, pages=pages, title=title, size=len(data), page_info=infos)


def read_pdf(data: bytes, kind: Kind, password: str | None) -> Loaded:
    """The PDF reader (ingest.pdf): one text per physical page; pages without usable text await OCR."""
    # Imported here so that the parent of a sandboxed parse never pays for pypdf.
    from ingest.pdf import NO_TEXT_LAYER, NO_USABLE_TEXT, read_pdf_pages

    pages, title, unreadable = read_pdf_pages(data, password)
    ocr_pages = _worth_ocr(data, unreadable, password)
    if not ocr_pages and not any(pages):
        raise LoadError(NO_USABLE_TEXT if any(unreadable.values()) else NO_TEXT_LAYER)
    return Loaded(pages, [], title, ocr_pages)


def _worth_ocr(data: bytes, unreadable: dict[int, bool], password: str | None) -> list[int]:
    """The pages without usable text that draw something (a blank separator page is not worth OCR)."""
    if not unreadable:
        return []
    from ingest.render import is_blank

    pages = []
    for index, garbage in sorted(unreadable.items()):
        try:
            if garbage or not is_blank(data, index, password):
                pages.append(index)
        except LoadError:
            pages.append(index)  # pdfium could not draw it here; the OCR job will say why
    return pages


def read_text(data: bytes, kind: Kind, password: str | None) -> Loaded:
    """Plain text and Markdown: one page per form-feed section."""
    return Loaded(_text_pages(_decode(data)))


def _reader(kind: Kind) -> Reader:
    module, _, function = READERS[kind].partition(":")
    return cast(Reader, getattr(importlib.import_module(module), function))


def clean_title(raw: str) -> str:
    """A metadata title worth showing, else "": 'Microsoft Word - Normativa.doc' -> 'Normativa'."""
    title = " ".join(raw.replace("\x00", "").split())
    office = _OFFICE_PREFIX.match(title)
    if office:  # the document's file name, which is all such a title holds: keep its stem
        title = _FILE_EXTENSION.sub("", title[office.end() :]).strip()
    elif _FILE_EXTENSION.search(title):  # a bare file name ("Binder1.pdf") says nothing
        return ""
    if title.casefold() in _JUNK_TITLES or _UNTITLED_N.fullmatch(title) or not re.search(r"[^\W\d_]", title):
        return ""
    return title[:_MAX_TITLE]


def markdown_title(text: str) -> str:
    """The first level-1 ATX heading outside code fences: '# Calendario 2024' -> 'Calendario 2024'."""
    in_fence = False
    for line in text.split("\n"):
        if _MD_FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and (match := _MD_HEADING.match(line)):
            return match.group(1)[:_MAX_TITLE]
    return ""


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, then Windows-1252, then Latin-1 (never fails)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise LoadError("not a text file (bad UTF-16)") from exc
    if b"\x00" in data:
        raise LoadError("not a text file (binary content)")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _text_pages(text: str) -> list[str]:
    """One page per form-feed section (how plain-text exports mark page breaks), else one page."""
    sections = text.split("\f")
    if len(sections) > 1 and not sections[-1].strip():
        sections.pop()  # pdftotext ends every page with a form feed, the last one included
    pages = [normalize_page(section) for section in sections]
    if not any(pages):
        raise LoadError("no text")
    return pages
