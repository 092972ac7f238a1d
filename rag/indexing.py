"""Documents in, index out: chunk, embed in large batches across documents, write all-or-nothing.

The one path every document takes into the index, whether it came from ``rag ingest``, an upload in the
web page, or ``rag eval``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from rag.analysis import passage_terms
from rag.chunking import ChunkerConfig, chunk_document, embedding_text
from rag.e5 import E5Encoder, e5_text, needs_e5
from rag.embedders import Embedder
from rag.multilingual import MultilingualEncoder, pack
from rag.store.catalog import Catalog, NewDocument, PathRecord
from rag.store.index import Index
from rag.types import Chunk, ParsedDocument

log = logging.getLogger(__name__)


@dataclass
class Pending:
    """A parsed document on its way in, with where its file lives."""

    doc: ParsedDocument
    path: PathRecord | None


@dataclass
class Progress:
    """Reported after each embedded batch."""

    documents_done: int
    chunks_done: int
    seconds_in_model: float


@dataclass
class WriteReport:
    written: list[str] = field(default_factory=list)  # shas
    chunks: int = 0
    seconds_in_model: float = 0.0


class Indexer:
    """Embeds and writes documents for one collection; load it once, feed it many documents."""

    def __init__(self, index: Index, embedder: Embedder, collection: str, *,
                 batch_chunks: int = 256, config: ChunkerConfig | None = None,
                 multilingual: MultilingualEncoder | None = None) -> None:
        self.index = index
        self.embedder = embedder
        self.collection = collection
        self.batch_chunks = batch_chunks
        self.config = config or ChunkerConfig.for_window(embedder.max_tokens)
        self.multilingual = multilingual  # also store each passage's multilingual vector (None: don't)

    def chunk(self, doc: ParsedDocument) -> list[Chunk]:
        return chunk_document(doc, self.embedder.count_tokens, self.config)

    def add(self, items: Iterable[Pending],
            on_progress: Callable[[Progress], None] | None = None,
            on_written: Callable[[Pending, int], None] | None = None) -> WriteReport:
        """Index every document; each is written whole as soon as all its passages are embedded.

        Passages of several small documents share a model batch; a big document's passages are embedded
        in slices (with progress between); a document reaches the index only when all its vectors exist.
        """
        report = WriteReport()
        for batch in self._batches(items):
            texts = [embedding_text(c) for _, chunks in batch for c in chunks]
            # Longest first over the whole batch, not only within each slice: the model's batches then
            # hold passages of similar length, so less padding is computed (vectors are put back in order).
            order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
            parts = []
            mvecs: list[bytes] = []
            for start in range(0, len(texts), self.batch_chunks):
                began = time.perf_counter()
                parts.append(self.embedder.embed([texts[i] for i in order[start : start + self.batch_chunks]]))
                report.seconds_in_model += time.perf_counter() - began
                if on_progress is not None and start + self.batch_chunks < len(texts):
                    done = report.chunks + start + self.batch_chunks
                    on_progress(Progress(len(report.written), done, report.seconds_in_model))
            vectors = np.zeros((0, 1), np.float32)
            if parts:
                sorted_vectors = np.concatenate(parts)
                vectors = np.empty_like(sorted_vectors)
                vectors[order] = sorted_vectors
            evecs: list[bytes] = []
            if self.multilingual is not None and texts:
                began = time.perf_counter()
                mvecs = [pack(v) for v in self.multilingual.embed(texts)]
                if self.multilingual.e5 is not None:
                    chunks = [c for _, doc_chunks in batch for c in doc_chunks]
                    evecs = e5_vectors(self.multilingual.e5, [e5_text(c.text, c.context) for c in chunks],
                                       [c.text for c in chunks])
                report.seconds_in_model += time.perf_counter() - began
            self._write(batch, vectors, mvecs, evecs)
            for pending, chunks in batch:
                report.written.append(pending.doc.sha256)
                report.chunks += len(chunks)
                if on_written is not None:
                    on_written(pending, len(chunks))
            if on_progress is not None:
                on_progress(Progress(len(report.written), report.chunks, report.seconds_in_model))
        return report

    def _batches(self, items: Iterable[Pending]) -> Iterator[list[tuple[Pending, list[Chunk]]]]:
        batch: list[tuple[Pending, list[Chunk]]] = []
        size = 0
        for pending in items:
            chunks = self.chunk(pending.doc)
            batch.append((pending, chunks))
            size += len(chunks)
            if size >= self.batch_chunks:
                yield batch
                batch, size = [], 0
        if batch:
            yield batch

    def _write(self, batch: list[tuple[Pending, list[Chunk]]], vectors: np.ndarray,
               mvecs: list[bytes] | None = None, evecs: list[bytes] | None = None) -> None:
        offsets = np.cumsum([0] + [len(chunks) for _, chunks in batch])
        docs = [
            NewDocument(
                sha=p.doc.sha256,
                name=p.doc.name,
                title=p.doc.title,
                pages=p.doc.pages,
                page_info=p.doc.page_info,
                chunks=chunks,
                terms=[passage_terms(c.text, c.context) for c in chunks],
                size=p.doc.size,
                path=p.path,
                mvecs=mvecs[offsets[n] : offsets[n + 1]] if mvecs else (),
                evecs=evecs[offsets[n] : offsets[n + 1]] if evecs else (),
            )
            for n, (p, chunks) in enumerate(batch)
        ]
        with self.index.writing():
            self.index.write(self.collection, self.embedder.name, docs, vectors)


def e5_vectors(e5: E5Encoder, texts: list[str], bodies: list[str]) -> list[bytes]:
    """Each passage's packed e5 vector of its ``rag.e5.e5_text``, or b"" for a passage whose ``body``
    is English (``rag.e5.needs_e5``: the model is not run on it)."""
    wanted = [i for i, body in enumerate(bodies) if needs_e5(body)]
    out = [b""] * len(texts)
    for i, vector in zip(wanted, e5.embed([texts[i] for i in wanted]), strict=True):
        out[i] = pack(vector)
    return out


def needs_backfill(catalog: Catalog, multilingual: MultilingualEncoder | None) -> bool:
    """Whether ``backfill`` has work in this catalog: a passage without its multilingual vector, or, with
    the e5 encoder on, one not yet decided for an e5 vector (both found from small partial indexes)."""
    if multilingual is None:
        return False
    return bool(catalog.without_mvec(1)) or (multilingual.e5 is not None and bool(catalog.without_evec(1)))


def backfill(index: Index, collection: str, multilingual: MultilingualEncoder | None, batch: int = 512) -> int:
    """Give every passage of ``collection`` written without a multilingual vector one (an index from
    before the channel, or written with it off), and decide its e5 vector when that encoder is on;
    returns how many vectors (of either kind) were decided. Only the multilingual encoders run (the
    bundled embedder is not loaded). Each batch is one transaction, so a killed run leaves only passages still without
    one, which the next run fills."""
    if multilingual is None or not index.exists(collection):
        return 0
    catalog = index.catalog(collection)
    if not needs_backfill(catalog, multilingual):
        return 0
    e5 = multilingual.e5
    done = 0
    with index.writing():
        while rows := catalog.without_mvec(batch):
            # the stored text is what ``embedding_text`` gave at ingestion: the passage's text
            vectors = multilingual.embed([text for _, _, text in rows])
            catalog.set_mvecs([(rowid, cid, pack(v)) for (rowid, cid, _), v in zip(rows, vectors, strict=True)])
            done += len(rows)
        while e5 is not None and (undecided := catalog.without_evec(batch)):
            blobs = e5_vectors(e5, [e5_text(text, context) for _, _, text, context in undecided],
                               [text for _, _, text, _ in undecided])
            catalog.set_evecs([(rowid, cid, blob) for (rowid, cid, _, _), blob
                               in zip(undecided, blobs, strict=True)])
            done += len(undecided)
    log.info("%s: %d passages given their multilingual vectors", collection, done)
    return done
