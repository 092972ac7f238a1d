"""The batch ingestion job: find files, skip what is already indexed, parse with bounds, index.

Only new or changed files cost time: a file whose size and modification time match the catalog is
skipped without being read; otherwise its content hash decides (the same bytes are stored once, under
every name they were found with). Bad files are reported with a one-line reason, never fatal.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ingest.sandbox import ParserPool
from ingest.scans import ScanDocument, Waiting, recognise_scans
from ingest.sniff import SUFFIXES
from rag.access.control import Identity
from rag.errors import LoadError
from rag.index.catalog import PathRecord
from rag.index.writer import Indexer, Pending, Progress
from rag.service import Service
from rag.types import ParsedDocument

log = logging.getLogger(__name__)

SUPPORTED = frozenset(SUFFIXES)  # what a folder is searched for; the content then decides (ingest.sniff)
FORMATS = "PDF, Word, LibreOffice, PowerPoint, Excel, HTML, text, Markdown and scans are read"
UPLOAD_PREFIX = "upload:"


@dataclass(frozen=True)
class Source:
    """One file to ingest: where to read it, the key it is tracked under, and its display name."""

    file: Path
    key: str  # absolute path for files on disk; "upload:<name>" for uploads
    name: str


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    chunks: int = 0
    seconds: float = 0.0
    seconds_in_model: float = 0.0

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["seconds"] = round(self.seconds, 3)
        data["seconds_in_model"] = round(self.seconds_in_model, 3)
        return data


class ProgressSink(Protocol):
    """Where the job reports progress: a terminal bar, plain lines, or a web page."""

    def start(self, files: int) -> None: ...
    def file_done(self, name: str, status: str, chunks: int = 0, reason: str = "") -> None: ...
    def chunks(self, done: int) -> None: ...
    def ocr_pages(self, name: str, done: int, total: int) -> None: ...
    def message(self, text: str) -> None: ...
    def close(self) -> None: ...


class NullProgress:
    def start(self, files: int) -> None: ...
    def file_done(self, name: str, status: str, chunks: int = 0, reason: str = "") -> None: ...
    def chunks(self, done: int) -> None: ...
    def ocr_pages(self, name: str, done: int, total: int) -> None: ...
    def message(self, text: str) -> None: ...
    def close(self) -> None: ...


def discover(paths: Iterable[Path], report: IngestReport) -> list[Source]:
    """Supported files under ``paths`` (recursive, hidden entries skipped), each once, sorted."""
    found: dict[Path, Source] = {}
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                rel = file.relative_to(path)
                if any(part.startswith(".") for part in rel.parts):
                    continue
                if file.is_file() and file.suffix.lower() in SUPPORTED:
                    real = file.resolve()
                    found.setdefault(real, Source(real, str(real), file.name))
        elif path.is_file():
            if path.suffix.lower() not in SUPPORTED:
                report.failed.append({"path": str(path),
                                      "reason": f"unsupported file type {path.suffix or '(none)'} ({FORMATS})"})
                continue
            real = path.resolve()
            found.setdefault(real, Source(real, str(real), path.name))
        else:
            report.failed.append({"path": str(path), "reason": "no such file or folder"})
    return sorted(found.values(), key=lambda s: s.key)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class IngestJob:
    """One run of ingestion into one collection."""

    def __init__(self, service: Service, collection: str | None = None, *, password: str | None = None,
                 progress: ProgressSink | None = None, workers: int = 1, identity: Identity | None = None,
                 action: str = "ingest") -> None:
        self.service = service
        self.identity = service.caller(identity)
        self.collection = service.require(collection, "write", identity=self.identity)
        self.action = action  # what the audit trail calls this run: ingest, upload, reindex
        self.password = password
        self.progress = progress or NullProgress()
        self.workers = workers

    def run(self, sources: Sequence[Source], prune: bool = False,
            report: IngestReport | None = None) -> IngestReport:
        report = report or IngestReport()
        began = time.perf_counter()
        index = self.service.index
        embedder = self.service.embedder
        index.check_embedder(self.collection, embedder.name)
        self.progress.start(len(sources))
        try:
            with index.writing(self.service.settings.lock_timeout, on_wait=self.progress.message):
                self._run_locked(sources, prune, report)
                if report.added or report.updated or report.removed:
                    self.service.record(self.action, self.collection, identity=self.identity,
                                        added=report.added, updated=report.updated, removed=report.removed)
        finally:
            self.progress.close()
        report.seconds = time.perf_counter() - began
        return report

    def _run_locked(self, sources: Sequence[Source], prune: bool, report: IngestReport) -> None:
        index = self.service.index
        catalog = index.catalog(self.collection)
        to_parse: dict[str, tuple[Source, PathRecord | None, PathRecord]] = {}
        aliases: list[tuple[Source, PathRecord, PathRecord | None]] = []
        for src in sources:
            try:
                stat = src.file.stat()
                old = catalog.path(src.key)
                if (old is not None and old.size == stat.st_size and old.mtime_ns == stat.st_mtime_ns
                        and catalog.has(old.sha)):
                    report.unchanged.append(src.name)
                    self.progress.file_done(src.name, "unchanged")
                    continue
                sha = file_sha256(src.file)
            except OSError as exc:
                self._fail(report, src, f"cannot read: {exc.strerror or exc}")
                continue
            rec = PathRecord(src.key, src.name, sha, stat.st_size, stat.st_mtime_ns)
            if catalog.has(sha) or sha in to_parse:
                aliases.append((src, rec, old))  # content already indexed (or queued) under another name
            else:
                to_parse[sha] = (src, old, rec)

        if to_parse:
            self._index(list(to_parse.values()), report)
        for src, rec, old in aliases:
            if not catalog.has(rec.sha):
                continue  # its twin failed to parse; the twin's failure is reported
            index.put_path(self.collection, rec)
            if old is not None and old.sha != rec.sha:
                report.updated.append(src.name)
                self.progress.file_done(src.name, "updated")
            else:
                report.unchanged.append(src.name)
                self.progress.file_done(src.name, "unchanged")
        if prune:
            # only files on disk can be "gone"; uploads and eval documents are tracked under "name:" keys
            gone = [p for p in catalog.paths() if p.path.startswith("/") and not Path(p.path).exists()]
            names = {p.sha: p.name for p in gone}
            for sha in index.drop_paths(self.collection, [p.path for p in gone]):
                report.removed.append(names.get(sha, sha))
                self.progress.file_done(names.get(sha, sha), "removed")

    def _fail(self, report: IngestReport, src: Source, reason: str) -> None:
        report.failed.append({"path": src.key if not src.key.startswith(UPLOAD_PREFIX) else src.name,
                              "reason": reason})
        self.progress.file_done(src.name, "failed", reason=reason)

    def _index(self, work: list[tuple[Source, PathRecord | None, PathRecord]], report: IngestReport) -> None:
        """Parse every file; index the born-digital ones at once and the scans once their pages are read."""
        settings = self.service.settings
        by_file = {src.file: (src, old, rec) for src, old, rec in work}
        by_key = {src.key: (src, old) for src, old, _rec in work}
        indexer = Indexer(self.service.index, self.service.embedder, self.collection)
        waiting: list[Waiting] = []

        def accepted(src: Source, rec: PathRecord, result: ParsedDocument) -> Pending:
            if result.sha256 != rec.sha:  # the file changed between hashing and parsing
                rec = dataclasses.replace(rec, sha=result.sha256)
            return Pending(dataclasses.replace(result, name=src.name), rec)

        def parsed() -> Iterable[Pending]:
            with ParserPool(self.workers, settings.parse_timeout, settings.parse_memory_mb,
                            per_unit=settings.parse_seconds_per_page) as pool:
                for file, result in pool.parse([src.file for src, _, _ in work], self.password):
                    src, _old, rec = by_file[file]
                    if isinstance(result, LoadError):
                        self._fail(report, src, result.reason)
                    elif isinstance(result, ScanDocument):  # pages to recognise: after the born-digital files
                        waiting.append(Waiting(file, result, tag=(src, rec)))
                    else:
                        yield accepted(src, rec, result)

        def recognised() -> Iterable[Pending]:
            for item, result in recognise_scans(settings, waiting, self.password, on_page=page_read):
                src, rec = item.tag
                if isinstance(result, LoadError):
                    self._fail(report, src, result.reason)
                else:
                    yield accepted(src, rec, result)

        def page_read(item: Waiting) -> None:
            src, _rec = item.tag
            self.progress.ocr_pages(src.name, item.done, item.total)

        def written(pending: Pending, chunks: int) -> None:
            assert pending.path is not None
            src, old = by_key[pending.path.path]
            status = "updated" if old is not None and old.sha != pending.doc.sha256 else "added"
            (report.updated if status == "updated" else report.added).append(src.name)
            self.progress.file_done(src.name, status, chunks)

        before = report.chunks

        def progressed(p: Progress) -> None:
            self.progress.chunks(before + p.chunks_done)

        for documents in (parsed, recognised):
            result = indexer.add(documents(), on_progress=progressed, on_written=written)
            report.chunks += result.chunks
            report.seconds_in_model += result.seconds_in_model
            before = report.chunks
