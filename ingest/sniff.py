"""What a file is, from its first bytes and (for archives) its table of contents, never its name.

Example: sniff(data, "acta.docx") -> "html" for a web page saved under a Word name; "docx" for a Word file
named "acta.pdf". Archives are bounded here, before any library expands them (``check_zip``): a zip bomb
or an archive of a million entries leaves as a one-line LoadError, not as an exhausted worker.

Kinds: pdf, docx, pptx, xlsx, odt, odp, ods, html, text, markdown, png, jpeg, tiff, ole2 (a Compound File:
a legacy .doc/.xls/.ppt, or an encrypted OOXML package: ``ingest.ole2`` tells which).
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Literal

from rag.errors import LoadError

Kind = Literal["pdf", "docx", "pptx", "xlsx", "odt", "odp", "ods", "html", "text", "markdown", "png", "jpeg",
               "tiff", "ole2"]
IMAGE_KINDS = frozenset({"png", "jpeg", "tiff"})

# The suffixes ingestion looks for in folders and accepts in uploads (the content still decides).
SUFFIXES = (".pdf", ".txt", ".md", ".docx", ".docm", ".odt", ".pptx", ".pptm", ".odp", ".xlsx", ".xlsm", ".ods",
            ".html", ".htm", ".xhtml", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".doc", ".xls", ".ppt")

# Bounds checked on the archive's own directory before anything is expanded.
MAX_ENTRIES = 10_000
MAX_UNZIPPED = 512 * 1024 * 1024  # declared uncompressed bytes, all entries together
MAX_RATIO = 200  # uncompressed / compressed, for an entry over RATIO_FLOOR
RATIO_FLOOR = 8 * 1024 * 1024

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_PDF_WINDOW = 1024  # Acrobat accepts the "%PDF-" header anywhere in the first 1024 bytes
_MAIN_PARTS: tuple[tuple[bytes, Kind], ...] = (
    (b"wordprocessingml.document.main+xml", "docx"),
    (b"wordprocessingml.template.main+xml", "docx"),
    (b"ms-word.document.macroenabled.main+xml", "docx"),
    (b"ms-word.template.macroenabledtemplate.main+xml", "docx"),
    (b"presentationml.presentation.main+xml", "pptx"),
    (b"presentationml.slideshow.main+xml", "pptx"),
    (b"ms-powerpoint.presentation.macroenabled.main+xml", "pptx"),
    (b"ms-powerpoint.slideshow.macroenabled.main+xml", "pptx"),
    (b"spreadsheetml.sheet.main+xml", "xlsx"),
    (b"spreadsheetml.template.main+xml", "xlsx"),
    (b"ms-excel.sheet.macroenabled.main+xml", "xlsx"),
)
_ODF_TYPES: dict[bytes, Kind] = {
    b"application/vnd.oasis.opendocument.text": "odt",
    b"application/vnd.oasis.opendocument.presentation": "odp",
    b"application/vnd.oasis.opendocument.spreadsheet": "ods",
}
_HTML_START = re.compile(
    rb"^(?:\s|<!--.*?-->|<\?xml[^>]*>)*<(?:!doctype\s+html|html|head|body|meta|title|iframe|div|p|table|h[1-6])\b",
    re.IGNORECASE | re.DOTALL,
)
_SNIFF_BYTES = 4096


TEXT_SUFFIXES = (".txt", ".text", ".md", ".markdown")
HTML_SUFFIXES = (".html", ".htm", ".xhtml")


def sniff(data: bytes, name: str = "") -> Kind:
    """The kind of ``data``. Signatures decide (PDF, zip, OLE2, images); the name only tells text that
    its author called text or markdown (kept as such, markup and all) from a web page, and a web page
    saved under another name is recognised by its markup. Raises LoadError when the content is no kind
    that is read (with what it looks like, where that helps)."""
    head = data[:_SNIFF_BYTES]
    suffix = Path(name).suffix.lower()
    if not data:
        raise LoadError("empty file")
    if b"%PDF-" in data[:_PDF_WINDOW]:
        return "pdf"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _zip_kind(data)
    if head.startswith(_OLE2):
        return "ole2"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    if head.startswith(b"PK"):
        raise LoadError("damaged: not a complete zip archive")
    if suffix in HTML_SUFFIXES:
        return "html"
    if suffix in TEXT_SUFFIXES:
        return "markdown" if suffix in (".md", ".markdown") else "text"
    if _HTML_START.match(_text_head(head)):
        return "html"
    return "text"


def open_zip(data: bytes) -> zipfile.ZipFile:
    """The archive, once ``check_zip`` has found it within bounds; a damaged one leaves as 'damaged: …'."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise LoadError(f"damaged: {_short(exc) or 'not a readable zip archive'}") from exc
    check_zip(archive)
    return archive


def check_zip(archive: zipfile.ZipFile) -> None:
    """Refuse an archive whose directory declares too many entries, too many bytes in all, or an entry
    that expands suspiciously (a zip bomb). Python's zipfile never yields more than an entry declares."""
    entries = archive.infolist()
    if len(entries) > MAX_ENTRIES:
        raise LoadError(f"too large: an archive of over {MAX_ENTRIES:,} entries (zip bomb?)")
    total = 0
    for info in entries:
        total += info.file_size
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise LoadError(f"too large: {info.filename[:40]} expands over {MAX_RATIO}x (zip bomb?)")
    if total > MAX_UNZIPPED:
        raise LoadError(f"too large: expands to over {MAX_UNZIPPED // 2**20} MB (zip bomb?)")


def read_member(archive: zipfile.ZipFile, member: str, limit: int = MAX_UNZIPPED) -> bytes:
    """One entry's bytes (bounded by what the checked directory declares); 'damaged: …' if unreadable."""
    try:
        info = archive.getinfo(member)
        if info.file_size > limit:
            raise LoadError(f"too large: {member[:40]} is over {limit // 2**20} MB")
        return archive.read(info)
    except KeyError as exc:
        raise LoadError(f"damaged: {member} is missing") from exc
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise LoadError(f"damaged: {_short(exc) or member}") from exc


def _zip_kind(data: bytes) -> Kind:
    archive = open_zip(data)
    names = set(archive.namelist())
    if not names:
        raise LoadError("no text (an empty archive)")
    if "mimetype" in names:
        mimetype = read_member(archive, "mimetype", 256).strip()
        for prefix, kind in _ODF_TYPES.items():
            if mimetype.startswith(prefix):  # "-template" variants read the same
                return kind
        raise LoadError(f"unsupported file type: an archive of {mimetype[:60].decode('ascii', 'replace')}")
    if "[Content_Types].xml" in names:
        types = read_member(archive, "[Content_Types].xml", 4 * 2**20).lower()
        for marker, kind in _MAIN_PARTS:
            if marker in types:
                return kind
        raise LoadError("unsupported file type: an Office package that is not a document, deck or workbook")
    raise LoadError("unsupported file type: a zip archive (unpack it and ingest the files inside)")


def _text_head(head: bytes) -> bytes:
    """The head without a UTF-8 BOM, and UTF-16 narrowed to ASCII, for the HTML test."""
    if head.startswith(b"\xef\xbb\xbf"):
        return head[3:]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head[2:].replace(b"\x00", b"")
    return head


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 80 else text[:79] + "…"


def is_supported_name(name: str) -> bool:
    """Whether a file name has a suffix ingestion looks at (folders) or accepts (uploads)."""
    return Path(name).suffix.lower() in SUFFIXES
