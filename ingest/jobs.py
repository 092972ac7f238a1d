"""Ingestion jobs that outlive their request: uploads queued, run one at a time, their state kept in SQLite.

A job is created at once (its id goes back to the caller) and run in the background by ``JobRunner``
through ``ingest_uploads``, the same bounded, crash-safe job as ``rag ingest``; every file's outcome is
written to ``RAG_DATA_DIR/jobs.sqlite3`` as it happens. A process that dies mid-job leaves no half
document (the index shows only finished ones) and, when the next runner starts, the job is marked
``interrupted`` with the files it had not finished.

    runner = JobRunner(service, JobStore.open(settings.data_dir))
    job_id = runner.submit(identity, "default", [Upload("a.pdf", data)])
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from ingest.uploads import Upload, ingest_uploads
from rag.access.control import Identity
from rag.access.shared_db import SharedDB
from rag.errors import RagError
from rag.service import Service

log = logging.getLogger(__name__)

JOBS_FILE = "jobs.sqlite3"
State = Literal["queued", "running", "done", "failed", "interrupted"]
FINISHED: frozenset[str] = frozenset({"done", "failed", "interrupted"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    collection TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    files TEXT NOT NULL,
    passages INTEGER NOT NULL DEFAULT 0,
    report TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_user ON jobs(user, created_at);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class JobFile:
    """One file of a job: ``pending`` until the job reaches it, then added/updated/unchanged/failed."""

    name: str
    status: str = "pending"
    chunks: int = 0
    reason: str = ""
    ocr_pages: tuple[int, int] | None = None  # (recognised, of) while a scan's pages go through OCR

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "status": self.status, "chunks": self.chunks}
        if self.reason:
            out["reason"] = self.reason
        if self.ocr_pages is not None:
            out["ocr_pages"] = {"done": self.ocr_pages[0], "total": self.ocr_pages[1]}
        return out


@dataclass
class Job:
    """A job as ``GET /api/jobs/{id}`` shows it; ``report`` is the ``rag ingest --json`` object once done."""

    id: str
    user: str
    collection: str
    state: State
    created_at: str
    updated_at: str
    files: list[JobFile] = field(default_factory=list)
    passages: int = 0
    report: dict[str, Any] | None = None
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        done = sum(f.status != "pending" for f in self.files)
        return {"id": self.id, "collection": self.collection, "state": self.state,
                "created_at": self.created_at, "updated_at": self.updated_at,
                "progress": {"files": len(self.files), "done": done, "passages": self.passages},
                "files": [f.to_json() for f in self.files], "report": self.report, "error": self.error or None}


class JobStore(SharedDB):
    """The data directory's jobs; one connection shared by the threads of a process."""

    FILE = JOBS_FILE
    SCHEMA = _SCHEMA

    def create(self, user: str, collection: str, names: Sequence[str]) -> Job:
        at = _now()
        job = Job(secrets.token_hex(8), user, collection, "queued", at, at, [JobFile(n) for n in names])
        with self._lock:
            self._conn.execute(
                "INSERT INTO jobs(id, user, collection, state, created_at, updated_at, files) VALUES (?,?,?,?,?,?,?)",
                (job.id, user, collection, job.state, at, at, self._files(job.files)))
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT id, user, collection, state, created_at, updated_at, files, passages, report, error "
                "FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return self._job(row) if row else None

    def for_user(self, user: str, limit: int = 50) -> list[Job]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, user, collection, state, created_at, updated_at, files, passages, report, error "
                "FROM jobs WHERE user = ? ORDER BY created_at DESC, rowid DESC LIMIT ?", (user, limit)).fetchall()
        return [self._job(r) for r in rows]

    def update(self, job: Job) -> None:
        job.updated_at = _now()
        with self._lock:
            self._conn.execute(
                "UPDATE jobs SET state = ?, updated_at = ?, files = ?, passages = ?, report = ?, error = ? "
                "WHERE id = ?", (job.state, job.updated_at, self._files(job.files), job.passages,
                                 json.dumps(job.report) if job.report is not None else "", job.error, job.id))

    def interrupt_unfinished(self) -> int:
        """Mark every job a dead process left queued or running as interrupted (at start-up); returns how many."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, user, collection, state, created_at, updated_at, files, passages, report, error "
                "FROM jobs WHERE state IN ('queued', 'running')").fetchall()
        for row in rows:
            job = self._job(row)
            job.state = "interrupted"
            job.error = "the server stopped before this job finished: upload the files marked interrupted again"
            for f in job.files:
                if f.status == "pending":
                    f.status = "interrupted"
            self.update(job)
        return len(rows)

    @staticmethod
    def _files(files: list[JobFile]) -> str:
        return json.dumps([f.to_json() for f in files], ensure_ascii=False)

    @staticmethod
    def _job(row: tuple[Any, ...]) -> Job:
        files = [JobFile(f["name"], f["status"], f.get("chunks", 0), f.get("reason", ""),
                         (f["ocr_pages"]["done"], f["ocr_pages"]["total"]) if "ocr_pages" in f else None)
                 for f in json.loads(row[6])]
        return Job(row[0], row[1], row[2], row[3], row[4], row[5], files, row[7],
                   json.loads(row[8]) if row[8] else None, row[9])


class JobProgress:
    """A ProgressSink that writes each file's outcome into its job as it happens."""

    def __init__(self, store: JobStore, job: Job) -> None:
        self.store = store
        self.job = job
        self._saved = 0.0

    def start(self, files: int) -> None:
        self.job.state = "running"
        self.store.update(self.job)

    def file_done(self, name: str, status: str, chunks: int = 0, reason: str = "") -> None:
        entry = next((f for f in self.job.files if f.name == name and f.status == "pending"), None)
        if entry is None:  # a name the upload cleaned (paths, control characters): a new line
            entry = JobFile(name)
            self.job.files.append(entry)
        entry.status, entry.chunks, entry.reason = status, chunks, reason
        self.store.update(self.job)

    def chunks(self, done: int) -> None:
        self.job.passages = done
        if time.monotonic() - self._saved >= 1.0:  # at most one write a second
            self._saved = time.monotonic()
            self.store.update(self.job)

    def ocr_pages(self, name: str, done: int, total: int) -> None:
        entry = next((f for f in self.job.files if f.name == name), None)
        if entry is not None:
            entry.ocr_pages = (done, total)
            self.store.update(self.job)

    def message(self, text: str) -> None:
        log.info("job %s: %s", self.job.id, text)

    def close(self) -> None: ...


class JobRunner:
    """Runs queued jobs one at a time in a background thread; refuses new ones beyond ``max_queued``."""

    def __init__(self, service: Service, store: JobStore, max_queued: int = 16) -> None:
        self.service = service
        self.store = store
        self.max_queued = max_queued
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rag-ingest-job")
        self._waiting = 0
        self._lock = threading.Lock()
        if interrupted := store.interrupt_unfinished():
            log.warning("%d ingestion job(s) were interrupted by the last shutdown", interrupted)

    def submit(self, identity: Identity, collection: str, uploads: Sequence[Upload]) -> Job | None:
        """Queue the uploads as one job (None when the queue is full: try again later)."""
        with self._lock:
            if self._waiting >= self.max_queued:
                return None
            self._waiting += 1
        job = self.store.create(identity.user, collection, [u.name for u in uploads])
        self._pool.submit(self._run, identity, job, list(uploads))
        return job

    def _run(self, identity: Identity, job: Job, uploads: list[Upload]) -> None:
        progress = JobProgress(self.store, job)
        try:
            report = ingest_uploads(self.service, job.collection, uploads, identity=identity, progress=progress)
            job.report = report.to_json()
            job.passages = report.chunks
            job.state = "done"
        except RagError as exc:
            job.state, job.error = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - a job never takes the server down; logged for us
            log.exception("ingestion job %s failed", job.id)
            job.state, job.error = "failed", f"internal error ({type(exc).__name__}): see the server log"
        finally:
            for f in job.files:
                if f.status == "pending":
                    f.status, f.reason = "failed", f.reason or job.error or "not processed"
            self.store.update(job)
            with self._lock:
                self._waiting -= 1

    def close(self) -> None:
        """Stop taking jobs; a job in progress is left to finish or, if the process dies, to be interrupted."""
        self._pool.shutdown(wait=False, cancel_futures=True)
