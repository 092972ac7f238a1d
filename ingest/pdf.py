"""The PDF adapter: the only module that imports pypdf; everything wrong leaves as a one-line LoadError.

Example: read_pdf(data) -> (["page one text", "", "page three text"], "Reglamento de evaluación")
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from pypdf import PdfReader
from pypdf.errors import DependencyError, PyPdfError

from rag.errors import LoadError
from rag.text import drop_garbled_runs, normalize_page

logger = logging.getLogger(__name__)

# Acrobat accepts the "%PDF-" header anywhere in the first 1024 bytes (junk before it is common).
_HEADER_WINDOW = 1024
_DETAIL_CHARS = 80

# What pypdf emits for glyphs it cannot map to Unicode: glyph names ("/g18/g152", "/uni00A0") or
# pdfminer-style "(cid:12)". A page made mostly of these is not text and must not be indexed as text.
_GLYPH_GARBAGE = re.compile(r"/(?:[A-Za-z]{1,8}\d{1,5}|uni[0-9A-Fa-f]{4,6})|\(cid:\d+\)")
_GARBAGE_SHARE = 0.5
_HAS_WORD = re.compile(r"\w")

NO_TEXT_LAYER = "no text layer (scanned image?)"
NO_USABLE_TEXT = "no usable text (fonts without a Unicode map)"


def read_pdf(data: bytes, password: str | None = None) -> tuple[list[str], str]:
    """Return (one normalized text per physical page, the raw /Title or "")."""
    pages, title, unreadable = read_pdf_pages(data, password)
    if len(unreadable) == len(pages):
        raise LoadError(NO_USABLE_TEXT if any(unreadable.values()) else NO_TEXT_LAYER)
    return pages, title


def read_pdf_pages(data: bytes, password: str | None = None) -> tuple[list[str], str, dict[int, bool]]:
    """Like read_pdf, but a PDF without text is not an error: it also returns its pages without
    usable text (0-based index -> True where the text was glyph-name garbage), the ones OCR may read.
    """
    if b"%PDF-" not in data[:_HEADER_WINDOW]:
        raise LoadError("not a PDF")
    with quiet_pypdf():
        try:
            reader = PdfReader(io.BytesIO(data), strict=False)
            _unlock(reader, password)
            count = len(reader.pages)
            if count == 0:
                raise LoadError("no pages")
            pages, garbage, failures = _extract_pages(reader, count)
            title = _metadata_title(reader)
        except (LoadError, MemoryError):
            raise  # MemoryError is the sandbox's to report: it knows the cap
        except RecursionError as exc:
            raise LoadError("damaged: objects nested too deeply") from exc
        except Exception as exc:  # pypdf raises far more than PdfReadError on hostile input
            raise LoadError(damaged(exc)) from exc
    unreadable = {i: i in garbage for i, page in enumerate(pages) if not _HAS_WORD.search(page)}
    if len(unreadable) == count and failures and len(failures) == count:
        raise LoadError(damaged(failures[0]))
    if failures:
        logger.warning(
            "%d of %d pages could not be read (left empty): %s", len(failures), count, damaged(failures[0])
        )
    if garbage:
        logger.info("%d of %d pages use fonts without a Unicode map (left empty)", len(garbage), count)
    return pages, title, unreadable


def damaged(exc: BaseException) -> str:
    """One short line for a parser failure: 'damaged: startxref not found'."""
    if isinstance(exc, DependencyError):
        return _one_line(f"missing decoder: {exc}")
    # pypdf's own messages read well; a stray AttributeError or KeyError needs its class to mean anything.
    detail = str(exc) if isinstance(exc, PyPdfError) and str(exc) else f"{type(exc).__name__}: {exc}"
    return _one_line(f"damaged: {detail}")


def is_glyph_garbage(text: str) -> bool:
    """True when most of ``text`` is unmapped glyph names: '/g18/g152/g135' -> True."""
    visible = sum(1 for ch in text if not ch.isspace())
    if not visible:
        return False
    garbage = sum(len(m.group(0)) for m in _GLYPH_GARBAGE.finditer(text))
    return garbage >= _GARBAGE_SHARE * visible


@contextmanager
def quiet_pypdf() -> Iterator[None]:
    """Keep pypdf's robustness warnings (logging and ``warnings``) off the user's terminal."""
    pypdf_logger = logging.getLogger("pypdf")
    previous = pypdf_logger.level
    # pypdf logs through child loggers ("pypdf._reader", ...) that inherit this level.
    pypdf_logger.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        pypdf_logger.setLevel(previous)


def _unlock(reader: PdfReader, password: str | None) -> None:
    """Decrypt with the empty user password, else the given one (pypdf applies SASLprep itself)."""
    if not reader.is_encrypted:
        return
    try:
        if reader.decrypt(""):
            return
        if not password:
            raise LoadError("encrypted: pass --password")
        if reader.decrypt(password):
            return
    except DependencyError as exc:
        raise LoadError("encrypted with AES: install the 'cryptography' package") from exc
    raise LoadError("wrong password")


def _extract_pages(reader: PdfReader, count: int) -> tuple[list[str], set[int], list[Exception]]:
    """Text of every page in physical order; unreadable or garbage pages stay as "" in place."""
    pages: list[str] = []
    garbage: set[int] = set()
    failures: list[Exception] = []
    for index in range(count):
        try:
            text = drop_garbled_runs(normalize_page(reader.pages[index].extract_text()))
        except MemoryError:
            raise
        except Exception as exc:  # one broken page must not cost the other pages (RecursionError too)
            failures.append(exc)
            text = ""
        if is_glyph_garbage(text):
            garbage.add(index)
            text = ""
        pages.append(text)
    return pages, garbage, failures


def _metadata_title(reader: PdfReader) -> str:
    """The /Title entry, or "" where it is missing or unreadable (a bad Info dict is not fatal)."""
    try:
        meta = reader.metadata
        raw = meta.title if meta is not None else None
    except Exception:  # metadata is optional; the text is what matters
        return ""
    return raw if isinstance(raw, str) else ""


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 1] + "…"
