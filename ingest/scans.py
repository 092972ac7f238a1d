"""The OCR phase of a batch: pages without a text layer recognised in bounded workers, one page a job.

The batch indexes its born-digital files first; the documents that await OCR come here afterwards, their
pages spread over every core (one Tesseract per page, each under ``RAG_OCR_PAGE_TIMEOUT`` and the parse
memory cap, so a document's bound grows with its pages). A document is handed on once all its pages are
read; a page that fails stays empty (logged), a document with no text at all fails with the reason.

    for item, doc_or_reason in recognise_scans(settings, waiting, password, on_page):
        ...
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.sandbox import ParserPool
from rag.errors import LoadError
from rag.settings import Settings
from rag.types import PageInfo, ParsedDocument

log = logging.getLogger(__name__)

OCR_LOADER = "ingest.ocr:recognise_job"
NO_TEXT_FOUND = "no text found by OCR"
JOB_MARK = "#ocr-page-"  # page_job(Path("a.pdf"), 2) -> Path("a.pdf#ocr-page-2")


@dataclass
class ScanDocument(ParsedDocument):
    """A parsed file some of whose pages (``ocr_pages``, 0-based) have no usable text and await OCR."""

    ocr_pages: list[int] = field(default_factory=list)


@dataclass
class RecognisedPage(ParsedDocument):
    """One OCR job's result: ``pages`` holds the one page's text; ``index`` is its 0-based number."""

    index: int = 0
    confidence: float | None = None


def page_job(file: Path, index: int) -> Path:
    """The job name for OCR of page ``index`` (0-based) of ``file``, as the sandbox passes it around."""
    return Path(f"{file}{JOB_MARK}{index}")


def split_job(job: Path) -> tuple[Path, int]:
    """The file and page index a job name stands for: 'a.pdf#ocr-page-2' -> (Path('a.pdf'), 2)."""
    file, mark, index = str(job).rpartition(JOB_MARK)
    if not mark or not index.isdigit():
        raise ValueError(f"not an OCR job: {job}")
    return Path(file), int(index)


@dataclass
class Waiting:
    """A parsed document with pages to recognise, and whatever the caller needs back with it."""

    file: Path
    doc: ScanDocument
    tag: Any = None
    done: int = 0
    confidences: dict[int, float | None] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.doc.ocr_pages)


def ocr_workers(settings: Settings) -> int:
    """How many pages are recognised at once: RAG_OCR_WORKERS, or one per core."""
    return settings.ocr_workers or max(1, os.cpu_count() or 1)


def finished_without_ocr(item: Waiting, reason: str) -> ParsedDocument | LoadError:
    """A document whose pages cannot be recognised: its text pages alone, or the reason it has none."""
    doc = plain(item.doc)
    if any(doc.pages):
        log.warning("%s: %d page(s) without text left unread: %s", doc.name, item.total, reason)
        return doc
    from ingest.pdf import NO_TEXT_LAYER

    return LoadError(f"{NO_TEXT_LAYER}: {reason}" if reason.startswith("OCR") else reason)


def recognise_scans(settings: Settings, waiting: Sequence[Waiting], password: str | None,
                    on_page: Callable[[Waiting], None] | None = None,
                    ) -> Iterator[tuple[Waiting, ParsedDocument | LoadError]]:
    """Recognise the pages of every waiting document; yield each as soon as all its pages are read."""
    if not waiting:  # a born-digital batch never loads the OCR engine
        return
    from ingest.ocr import unavailable_reason  # pytesseract: only where there is something to read

    reason = None if settings.ocr else "OCR is off (RAG_OCR=false)"
    reason = reason or unavailable_reason(settings.ocr_langs)
    if reason:
        for item in waiting:
            yield item, finished_without_ocr(item, reason)
        return
    jobs = {page_job(item.file, index): item for item in waiting for index in item.doc.ocr_pages}
    options = {"langs": settings.ocr_langs, "dpi": settings.ocr_dpi}
    with ParserPool(min(ocr_workers(settings), len(jobs)), settings.ocr_page_timeout, settings.parse_memory_mb,
                    loader=OCR_LOADER, options=options) as pool:
        for job, result in pool.parse(jobs, password):
            item = jobs[job]
            _, index = split_job(job)
            if isinstance(result, RecognisedPage):
                item.doc.pages[index] = result.pages[0]
                item.confidences[index] = result.confidence
            else:
                reason = result.reason if isinstance(result, LoadError) else "unexpected result"
                item.errors.append(reason)
                log.warning("%s, page %d: %s", item.doc.name, index + 1, reason)
            item.done += 1
            if on_page is not None:
                on_page(item)
            if item.done == item.total:
                yield item, _finished(item)


def plain(doc: ScanDocument) -> ParsedDocument:
    """The ParsedDocument part of a scan (what the index stores), without the OCR bookkeeping."""
    base = {f.name: getattr(doc, f.name) for f in dataclasses.fields(ParsedDocument)}
    return ParsedDocument(**base)


def _finished(item: Waiting) -> ParsedDocument | LoadError:
    """The document with its recognised pages marked as OCR (and their confidence), or why it has no text."""
    doc = plain(item.doc)
    if not any(doc.pages):
        return LoadError(item.errors[0] if item.errors else NO_TEXT_FOUND)
    infos = list(doc.page_info) or [PageInfo() for _ in doc.pages]
    for index, confidence in item.confidences.items():
        if doc.pages[index]:
            infos[index] = dataclasses.replace(infos[index], ocr=True, ocr_confidence=confidence)
    doc.page_info = infos
    return doc
