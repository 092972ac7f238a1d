"""The index: Chroma vectors + per-collection SQLite catalogs, kept consistent by one protocol.

Writing documents (all-or-nothing per document, whatever moment a process is killed):
  1. catalog: the documents are recorded as 'pending'                      (one SQLite transaction)
  2. Chroma: their vectors are upserted under stable ids "<sha>:<position>"  (never duplicates)
  3. catalog: passages, pages, lexical terms, paths and state 'ready'      (one SQLite transaction)
Readers join every vector hit to a 'ready' catalog row, so a half-written document is invisible.
Removal runs the other way: hide ('deleting') and drop passages, delete vectors, forget the row.
On every writer's start, ``recover`` finishes what a crash left: it deletes the vectors of 'pending'
and 'deleting' documents and forgets them. Only one writer at a time holds the data directory's lock.

The data directory records where its vectors live (``store.json``): in the embedded store under it, or on
a Chroma server under a namespace of its own, so that several data directories can share one server
without their collections meeting, and a data directory is never read against the wrong store.

Re-embedding a collection with another model (``reembed``) writes every passage's new vector into a
staging Chroma collection while readers keep using the old one, marks the staging copy complete in the
catalog, then swaps it in (drop the old, rename the new) and records the new embedder. A crash before the
mark leaves the old vectors in use and the staging copy is dropped; after it, recovery finishes the swap.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from rag.errors import EmbedderMismatchError, IndexBusyError, IndexError_
from rag.index.catalog import Catalog, NewDocument, PathRecord
from rag.index.chroma import ChromaVectors
from rag.settings import BUNDLED_EMBEDDER, LEGACY_EMBEDDER, Settings, validate_collection
from rag.types import Chunk, DocumentInfo

log = logging.getLogger(__name__)

STORE_FILE = "store.json"


class Index:
    """All collections under one data directory (and one Chroma)."""

    def __init__(self, data_dir: Path, vectors: ChromaVectors) -> None:
        self.data_dir = data_dir
        self.vectors = vectors
        self._catalogs: dict[str, Catalog] = {}
        self._threads = threading.Lock()  # writers of this process, one at a time
        self._owner: int | None = None  # thread that holds the write lock

    @classmethod
    def open(cls, settings: Settings) -> Index:
        data_dir = settings.data_dir
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise IndexError_(f"cannot create the data directory {data_dir}: {exc}; set RAG_DATA_DIR") from exc
        if not os.access(data_dir, os.W_OK):
            raise IndexError_(f"the data directory {data_dir} is not writable; set RAG_DATA_DIR")
        namespace = _store_namespace(data_dir, settings.chroma_url)
        return cls(data_dir, ChromaVectors.open(data_dir, settings.chroma_url, namespace,
                                                      settings.request_timeout))

    # -- collections ----------------------------------------------------------------------------
    def _catalog_path(self, collection: str) -> Path:
        return self.data_dir / "collections" / validate_collection(collection) / "catalog.sqlite3"

    def catalog(self, collection: str) -> Catalog:
        cat = self._catalogs.get(collection)
        if cat is None:
            cat = Catalog.open(self._catalog_path(collection))
            self._catalogs[collection] = cat
        return cat

    def exists(self, collection: str) -> bool:
        return self._catalog_path(collection).exists()

    def collections(self) -> list[str]:
        root = self.data_dir / "collections"
        if not root.is_dir():
            return []
        return sorted(p.name for p in root.iterdir() if (p / "catalog.sqlite3").exists())

    def drop_collection(self, collection: str) -> None:
        """Delete a collection entirely (vectors, catalog, lexical index)."""
        with self.writing():
            cat = self._catalogs.pop(collection, None)
            if cat is not None:
                cat.close()
            self.vectors.drop(collection)
            shutil.rmtree(self._catalog_path(collection).parent, ignore_errors=True)

    # -- embedder bookkeeping -------------------------------------------------------------------
    def check_embedder(self, collection: str, embedder_name: str) -> None:
        """Refuse to mix vectors of two models in one collection."""
        if not self.exists(collection):
            return
        recorded = self.catalog(collection).get_meta("embedder")
        if recorded == LEGACY_EMBEDDER and embedder_name == BUNDLED_EMBEDDER:
            raise EmbedderMismatchError(
                f"collection {collection!r} was built with the former English-only default embedder "
                f"({LEGACY_EMBEDDER}); the default now reads Spanish and English alike ({BUNDLED_EMBEDDER}). "
                f"Move it with `rag reembed --collection {collection}` (reuses its stored passages), or "
                f"re-ingest its files; to keep using it as it is, set RAG_EMBED_MODEL={LEGACY_EMBEDDER}"
            )
        if recorded is not None and recorded != embedder_name:
            raise EmbedderMismatchError(
                f"collection {collection!r} was built with the embedding model {recorded!r}, not "
                f"{embedder_name!r}: set RAG_EMBED_MODEL={recorded} to use it, or re-embed it with "
                f"`rag reembed --collection {collection}`"
            )

    # -- the writer lock ------------------------------------------------------------------------
    @contextlib.contextmanager
    def writing(self, timeout: float = 600.0, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
        """Hold the data directory's write lock; recover what a killed writer left, on entry.

        Re-entrant for the thread that holds it. Other threads of this process (two sessions of the web
        app) queue on an in-process lock first; other processes on the lock file (``flock``).
        """
        me = threading.get_ident()
        if self._owner == me:
            yield
            return
        deadline = time.monotonic() + timeout
        if not self._threads.acquire(blocking=False):
            if on_wait is not None:
                on_wait("waiting for another upload or ingest in this process to finish writing")
            if not self._threads.acquire(timeout=max(0.0, timeout)):
                raise IndexBusyError(
                    f"another writer in this process is still writing to {self.data_dir}; try again when it "
                    "has finished, or raise RAG_LOCK_TIMEOUT"
                )
        try:
            fd = self._lock_file(deadline, on_wait)
            self._owner = me
            try:
                for collection in self.collections():
                    self.recover(collection)
                yield
            finally:
                self._owner = None
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
        finally:
            self._threads.release()

    def _lock_file(self, deadline: float, on_wait: Callable[[str], None] | None) -> int:
        """Take the lock file (other processes), waiting until ``deadline``; the pid is written in it."""
        fd = os.open(self.data_dir / "write.lock", os.O_RDWR | os.O_CREAT, 0o644)
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise IndexBusyError(
                        f"another ingest (pid {holder}) is writing to {self.data_dir}; "
                        "wait for it to finish, or raise RAG_LOCK_TIMEOUT"
                    ) from None
                if not told and on_wait is not None:
                    on_wait(f"waiting for another ingest (pid {holder}) to finish writing {self.data_dir}")
                    told = True
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        return fd

    def _require_lock(self) -> None:
        if self._owner != threading.get_ident():
            raise RuntimeError("write outside Index.writing()")

    # -- writing --------------------------------------------------------------------------------
    def write(self, collection: str, embedder_name: str, docs: Sequence[NewDocument],
              vectors: np.ndarray) -> None:
        """Write documents all-or-nothing each; ``vectors`` has one row per chunk, in order."""
        self._require_lock()
        self.check_embedder(collection, embedder_name)
        cat = self.catalog(collection)
        if cat.get_meta("embedder") is None:
            cat.set_meta("embedder", embedder_name)
            cat.set_meta("dimension", str(vectors.shape[1] if vectors.ndim == 2 else 0))
        cat.begin((d.sha, d.name, d.size) for d in docs)
        ids = [c.id for d in docs for c in d.chunks]
        shas = [d.sha for d in docs for _ in d.chunks]
        if ids:
            self.vectors.upsert(collection, ids, vectors, shas)
        replaced = cat.finish(docs)
        self._purge(collection, replaced)

    def remove(self, collection: str, shas: Sequence[str]) -> None:
        """Remove whole documents."""
        self._require_lock()
        cat = self.catalog(collection)
        cat.start_removal(shas)
        self._purge(collection, shas)

    def drop_paths(self, collection: str, paths: Sequence[str]) -> list[str]:
        """Forget file paths; documents left without any are removed (returned)."""
        self._require_lock()
        gone = self.catalog(collection).drop_paths(paths)
        self._purge(collection, gone)
        return gone

    def put_path(self, collection: str, rec: PathRecord) -> list[str]:
        """Record another name for indexed content; a version no path refers to is removed."""
        self._require_lock()
        gone = self.catalog(collection).put_path(rec)
        self._purge(collection, gone)
        return gone

    def _purge(self, collection: str, shas: Sequence[str]) -> None:
        if shas:
            self.vectors.delete_documents(collection, list(shas))
            self.catalog(collection).forget(list(shas))

    # -- re-embedding ---------------------------------------------------------------------------
    def reembed(self, collection: str, embedder_name: str,
                vectors_for: Callable[[Sequence[Chunk]], np.ndarray],
                on_document: Callable[[DocumentInfo, int], None] | None = None) -> int:
        """Replace every vector of ``collection`` with ``vectors_for(passages)``; all or nothing.

        Returns the passages re-embedded. Readers keep the old vectors (and the old embedder) until the
        new ones are complete; see the module docstring for what a crash leaves.
        """
        self._require_lock()
        cat = self.catalog(collection)
        staging = _staging(collection)
        self.vectors.drop(staging)
        cat.set_meta("reembed", embedder_name)
        cat.delete_meta("reembed_done")
        total, dimension = 0, 0
        for doc in cat.documents():
            chunks = cat.document_chunks(doc.sha256)
            if chunks:
                vectors = vectors_for(chunks)
                self.vectors.upsert(staging, [c.id for c in chunks], vectors, [c.doc_sha for c in chunks])
                total += len(chunks)
                dimension = int(vectors.shape[1])
            if on_document is not None:
                on_document(doc, len(chunks))
        cat.set_meta("reembed_done", str(dimension))
        self._finish_reembed(collection)
        return total

    def _finish_reembed(self, collection: str) -> None:
        """Swap the complete staging vectors in and record their embedder (idempotent)."""
        cat = self.catalog(collection)
        target = cat.get_meta("reembed")
        if target is None:
            return
        staging = _staging(collection)
        if staging in self.vectors.collections():  # else: already renamed before a crash
            self.vectors.drop(collection)
            self.vectors.rename(staging, collection)
        cat.set_meta("embedder", target)
        cat.set_meta("dimension", cat.get_meta("reembed_done") or "0")
        cat.delete_meta("reembed_done")
        cat.delete_meta("reembed")
        log.info("collection %s re-embedded with %s", collection, target)

    def recover(self, collection: str) -> list[str]:
        """Finish what a killed writer left: drop half-written and half-deleted documents."""
        self._require_lock()
        cat = self.catalog(collection)
        if cat.get_meta("reembed") is not None:
            if cat.get_meta("reembed_done") is not None:
                self._finish_reembed(collection)
            else:  # interrupted while embedding: the old vectors are intact
                log.warning("dropping an unfinished re-embedding of %s", collection)
                self.vectors.drop(_staging(collection))
                cat.delete_meta("reembed")
        broken = [sha for sha, _state in cat.unfinished()]
        if broken:
            log.warning("recovering %d unfinished document(s) in %s", len(broken), collection)
            self._purge(collection, broken)
        return broken


def _store_namespace(data_dir: Path, chroma_url: str) -> str:
    """The namespace of this data directory's collections on a Chroma server ("" when embedded).

    ``data_dir/store.json`` records it: ``{"vectors": "embedded"}`` or
    ``{"vectors": "server", "namespace": "<12 hex digits>"}``, written by the first process that opens the
    directory (rewritten while the directory holds no collection yet, so a mistaken first try binds
    nothing). A directory indexed before the file existed keeps what it had: plain collection names.
    Raises when the directory's collections are in the other kind of store than the settings say.
    """
    path = data_dir / STORE_FILE
    wanted = "server" if chroma_url else "embedded"
    has_data = any((data_dir / "collections").glob("*/catalog.sqlite3"))
    record = _read_store(path) if path.exists() else None
    if record is None:
        if not has_data:
            record = _new_store(wanted)
        elif (data_dir / "chroma").is_dir():
            record = {"vectors": "embedded"}  # indexed before store.json existed
        else:
            record = {"vectors": "server", "namespace": ""}  # a server index from before namespaces
        _write_store(path, record, replace=False)
        record = _read_store(path)  # another process may have been first
    if record["vectors"] != wanted:
        if has_data and wanted == "server":
            raise IndexError_(
                f"the data directory {data_dir} holds an embedded index (vectors in {data_dir / 'chroma'}), "
                "but RAG_CHROMA_URL is set: unset it, or give the Chroma server its own RAG_DATA_DIR and "
                "ingest again"
            )
        if has_data:
            raise IndexError_(
                f"the vectors of the data directory {data_dir} are on a Chroma server: set RAG_CHROMA_URL to it"
            )
        record = _new_store(wanted)
        _write_store(path, record, replace=True)
    return record.get("namespace", "") if record["vectors"] == "server" else ""


def _new_store(kind: str) -> dict[str, str]:
    return {"vectors": "server", "namespace": secrets.token_hex(6)} if kind == "server" else {"vectors": kind}


def _read_store(path: Path) -> dict[str, str]:
    try:
        record = json.loads(path.read_text())
        if record.get("vectors") not in {"embedded", "server"} or not isinstance(record.get("namespace", ""), str):
            raise ValueError(f"unexpected content {record!r}")
    except (OSError, ValueError, AttributeError) as exc:
        raise IndexError_(f"cannot read {path}: {exc}; restore it from the backup of this data directory") from exc
    return {str(k): str(v) for k, v in record.items()}


def _write_store(path: Path, record: dict[str, str], *, replace: bool) -> None:
    """Write atomically; without ``replace``, only if no other process wrote it first."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record) + "\n")
    try:
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def _staging(collection: str) -> str:
    """The Chroma name of a collection's re-embedding in progress (a valid name whatever its length)."""
    return "reembed-" + hashlib.sha256(collection.encode()).hexdigest()[:16]
