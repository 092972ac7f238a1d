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

from rag.encoders.embedders import Embedder
from rag.errors import IndexError_
from rag.index.catalog import NewDocument, PathRecord
from rag.index.chunking import ChunkerConfig, chunk_document, embedding_text
from rag.index.store import Index
from rag.text import passage_terms
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
                 batch_chunks: int = 256, config: ChunkerConfig | None = None) -> None:
        self.index = index
        self.embedder = embedder
        self.collection = collection
        self.batch_chunks = batch_chunks
        self.config = config or ChunkerConfig.for_window(embedder.max_tokens)

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
                if not np.isfinite(vectors).all():  # Chroma would refuse them with a less helpful message
                    raise IndexError_(
                        f"the embedding model {self.embedder.name} gave non-finite vectors (NaN) for a batch "
                        "of passages; nothing of it was written. Check the torch thread settings "
                        "(OMP_THREAD_LIMIT, RAG_EMBED_THREADS) or try RAG_EMBED_PRECISION=fp32")
            self._write(batch, vectors)
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

    def _write(self, batch: list[tuple[Pending, list[Chunk]]], vectors: np.ndarray) -> None:
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
            )
            for p, chunks in batch
        ]
        with self.index.writing():
            self.index.write(self.collection, self.embedder.name, docs, vectors)
