"""Files that arrive through the web page: kept, ingested, re-ingested and removed with their documents.

An upload is tracked under the key ``upload:<name>`` (uploading a changed file with the same name replaces
the old version) and its bytes are kept in ``RAG_DATA_DIR/uploads/<collection>/<name>``, so the document
can be re-ingested later and its file deleted when the document is removed. A file is staged first and
moves into place only once it is indexed, so a broken new version never replaces a good stored one.

    report = ingest_uploads(service, "default", [Upload("reglamento.pdf", data)], progress=sink)
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest.pipeline import (
    FORMATS,
    SUPPORTED,
    UPLOAD_PREFIX,
    IngestJob,
    IngestReport,
    NullProgress,
    ProgressSink,
    Source,
)
from rag.access.control import Identity
from rag.errors import DocumentNotFoundError, LoadError
from rag.service import Service
from rag.types import DocumentInfo

log = logging.getLogger(__name__)

_MAX_NAME = 200
@dataclass(frozen=True)
class Upload:
    """One uploaded file: the name the browser sent and its bytes."""

    name: str
    data: bytes


def uploads_dir(service: Service, collection: str | None = None) -> Path:
    """Where a collection's uploaded files are kept."""
    return service.settings.data_dir / "uploads" / service.collection(collection)


def upload_name(raw: str) -> str:
    """A safe file name for an upload: the last path part, no control characters; LoadError if none.

    Example: upload_name("../../etc/Reglamento 2026.pdf") -> "Reglamento 2026.pdf"
    """
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    if not name or name in {".", ".."} or name.startswith("."):
        raise LoadError("the file has no usable name")
    if len(name) > _MAX_NAME:
        stem, suffix = os.path.splitext(name)
        name = stem[: _MAX_NAME - len(suffix)] + suffix
    return name


def ingest_uploads(service: Service, collection: str | None, uploads: Sequence[Upload], *,
                   password: str | None = None, progress: ProgressSink | None = None,
                   identity: Identity | None = None) -> IngestReport:
    """Check, stage and ingest uploaded files through the same job as ``rag ingest``; keep those indexed.

    Files over RAG_MAX_UPLOAD_MB, of an unsupported type, or named twice are reported as failed and
    never written. ``progress`` hears about every file, including those refused before the job runs.
    The caller must hold ``write`` on the collection (checked before anything is written).
    """
    progress = progress or NullProgress()
    col = service.require(collection, "write", identity=identity)
    report = IngestReport()
    limit = service.settings.max_upload_mb
    accepted: dict[str, Upload] = {}
    refused: list[tuple[str, str]] = []
    for upload in uploads:
        try:
            name = upload_name(upload.name)
        except LoadError as exc:
            refused.append((upload.name, exc.reason))
            continue
        suffix = Path(name).suffix.lower()
        if suffix not in SUPPORTED:
            refused.append((name, f"unsupported file type {suffix or '(none)'} ({FORMATS})"))
        elif len(upload.data) > limit * 1024 * 1024:
            refused.append((name, f"larger than the {limit} MB limit per file (RAG_MAX_UPLOAD_MB)"))
        elif not upload.data:
            refused.append((name, "empty file"))
        elif name in accepted:
            refused.append((name, "the same file name twice in one upload"))
        else:
            accepted[name] = upload

    stored = uploads_dir(service, col)
    stored.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=stored))
    try:
        sources = []
        for name, upload in accepted.items():
            file = staging / name
            file.write_bytes(upload.data)
            sources.append(Source(file, UPLOAD_PREFIX + name, name))
        for name, reason in refused:
            report.failed.append({"path": name, "reason": reason})
        job = IngestJob(service, col, password=password or None, progress=_Prepend(progress, refused),
                        identity=identity, action="upload")
        job.run(sources, report=report)  # takes the index's write lock: other writers wait their turn
        kept = {*report.added, *report.updated, *report.unchanged}
        for src in sources:
            if src.name in kept:
                os.replace(src.file, stored / src.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report


class _Prepend:
    """A ProgressSink that reports the refused files first, so a page can count them with the rest."""

    def __init__(self, inner: ProgressSink, refused: list[tuple[str, str]]) -> None:
        self.inner = inner
        self.refused = refused

    def start(self, files: int) -> None:
        self.inner.start(files + len(self.refused))
        for name, reason in self.refused:
            self.inner.file_done(name, "failed", reason=reason)

    def file_done(self, name: str, status: str, chunks: int = 0, reason: str = "") -> None:
        self.inner.file_done(name, status, chunks, reason)

    def chunks(self, done: int) -> None:
        self.inner.chunks(done)

    def ocr_pages(self, name: str, done: int, total: int) -> None:
        self.inner.ocr_pages(name, done, total)

    def message(self, text: str) -> None:
        self.inner.message(text)

    def close(self) -> None:
        self.inner.close()


def documents_sources(service: Service, collection: str | None, shas: Collection[str], *,
                      identity: Identity | None = None) -> dict[str, list[Source]]:
    """For each of these documents, the files it can be read again from: kept uploads, paths still there."""
    col = service.require(collection, "read", identity=identity)
    found: dict[str, list[Source]] = {sha: [] for sha in shas}
    if not service.index.exists(col):
        return found
    for rec in service.index.catalog(col).paths():
        if rec.sha not in found:
            continue
        if rec.path.startswith(UPLOAD_PREFIX):
            file = uploads_dir(service, col) / upload_name(rec.path.removeprefix(UPLOAD_PREFIX))
        elif rec.path.startswith("/"):
            file = Path(rec.path)
        else:
            continue  # eval documents and other in-memory sources have no file
        if file.is_file():
            found[rec.sha].append(Source(file, rec.path, rec.name))
    return found


def document_sources(service: Service, collection: str | None, sha: str, *,
                     identity: Identity | None = None) -> list[Source]:
    """The files one document can be read again from."""
    return documents_sources(service, collection, {sha}, identity=identity)[sha]


def reingest_document(service: Service, collection: str | None, sha: str,
                      progress: ProgressSink | None = None, *, identity: Identity | None = None) -> IngestReport:
    """Read a document again from its files and index it afresh (after a parser or chunker upgrade).

    The old version is removed first, under the same write lock, so even unchanged bytes are parsed
    again; should the new parse fail, the report says why and the file stays available to retry.
    """
    col = service.require(collection, "write", identity=identity)
    sources = document_sources(service, col, sha, identity=identity)
    if not sources:
        raise DocumentNotFoundError(
            "the document's file is no longer available (it was not uploaded here, or it was moved): "
            "ingest it again from its new place"
        )
    index = service.index
    waiting = (progress or NullProgress()).message
    with index.writing(service.settings.lock_timeout, on_wait=waiting):
        index.remove(col, [sha])
        return IngestJob(service, col, progress=progress, identity=identity, action="reindex").run(sources)


def remove_document(service: Service, collection: str | None, sha: str, *,
                    identity: Identity | None = None) -> list[DocumentInfo]:
    """Remove a document from the collection and delete the uploaded files kept for it."""
    col = service.require(collection, "write", identity=identity)
    keys = [p.path for p in service.index.catalog(col).paths() if p.sha == sha] if service.index.exists(col) else []
    removed = service.remove_document(sha, col, identity=identity)
    for key in keys:
        if key.startswith(UPLOAD_PREFIX):
            file = uploads_dir(service, col) / upload_name(key.removeprefix(UPLOAD_PREFIX))
            file.unlink(missing_ok=True)
    return removed
