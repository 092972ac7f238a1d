"""Documents in, index out: chunk, embed in large batches across documents, write all-or-nothing.

The one path every document takes into the index, whether it came from ``rag ingest``, an upload in the
web page, or ``rag eval``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from rag.encoders.embedders import Embedder, threads_beside
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
    """Embeds and writes documents for one collection; load it once, feed it many documents.

    ``others()`` says how many other processes work for the same job at the moment (parsers, Tesseract):
    the model then runs on that many threads fewer (the vectors are the same: only batches change them).
    ``embed_ahead`` embeds the text pages of a document whose other pages Tesseract is still reading, so that
    the model works meanwhile; ``add`` reuses those vectors.
    """

    def __init__(self, index: Index, embedder: Embedder, collection: str, *,
                 batch_chunks: int = 256, alone: int = 32, slice_: int = 64, config: ChunkerConfig | None = None,
                 others: Callable[[], int] = lambda: 0) -> None:
        self.index = index
        self.embedder = embedder
        self.collection = collection
        self.batch_chunks = batch_chunks  # passages of small documents gathered into one batch
        self.alone = alone  # a document this long is a batch of its own: the model need not wait for the next
        self.slice = slice_  # passages a call to the model (progress and the thread count between calls)
        self.config = config or ChunkerConfig.for_window(embedder.max_tokens)
        self.others = others
        self._ahead: dict[str, np.ndarray] = {}  # embedding text -> vector, embedded before its document came
        # sentence -> word pieces, from the first embed_ahead until the batch is written: a document embedded
        # ahead is chunked again when it comes whole, and then costs no counting
        self._tokens: dict[str, int] | None = None
        self.seconds_ahead = 0.0  # in the model for embed_ahead: counted in the next add's seconds_in_model

    def chunk(self, doc: ParsedDocument) -> list[Chunk]:
        return chunk_document(doc, self.embedder.count_tokens if self._tokens is None else self._count, self.config)

    def _count(self, texts: Sequence[str]) -> list[int]:
        """The embedder's token counts, remembered (a document embedded ahead is chunked twice)."""
        known = self._tokens if self._tokens is not None else {}
        new = [t for t in dict.fromkeys(texts) if t not in known]
        if new:
            known.update(zip(new, self.embedder.count_tokens(new), strict=True))
        return [known[t] for t in texts]

    def add(self, items: Iterable[Pending],
            on_progress: Callable[[Progress], None] | None = None,
            on_written: Callable[[Pending, int], None] | None = None) -> WriteReport:
        """Index every document; each is written whole as soon as all its passages are embedded.

        Passages of several small documents share a model batch; a big document's passages are embedded
        in slices (with progress between); a document reaches the index only when all its vectors exist.
        """
        report = WriteReport()
        try:
            for batch in self._batches(items):
                texts = [embedding_text(c) for _, chunks in batch for c in chunks]
                known = {i: self._ahead.pop(t) for i, t in enumerate(texts) if t in self._ahead}
                todo = [i for i in range(len(texts)) if i not in known]

                def done_so_far(n: int, reused: int = len(known)) -> None:
                    if on_progress is not None:
                        on_progress(Progress(len(report.written), report.chunks + reused + n,
                                             report.seconds_in_model))

                fresh = self._embed([texts[i] for i in todo], report, done_so_far)
                dim = fresh.shape[1] if todo else len(next(iter(known.values()), [0]))
                vectors = np.empty((len(texts), dim), np.float32)
                if todo:
                    vectors[todo] = fresh
                for i, vector in known.items():
                    vectors[i] = vector
                if not np.isfinite(vectors).all():  # Chroma would refuse them with a less helpful message
                    raise IndexError_(
                        f"the embedding model {self.embedder.name} gave non-finite vectors (NaN) for a batch "
                        "of passages; nothing of it was written. Check the torch thread settings "
                        "(OMP_THREAD_LIMIT, RAG_EMBED_THREADS) or try RAG_EMBED_PRECISION=fp32")
                self._write(batch, vectors)
                self._tokens = None
                for pending, chunks in batch:
                    report.written.append(pending.doc.sha256)
                    report.chunks += len(chunks)
                    if on_written is not None:
                        on_written(pending, len(chunks))
                if on_progress is not None:
                    on_progress(Progress(len(report.written), report.chunks, report.seconds_in_model))
        finally:
            self._ahead.clear()  # what no document claimed (a page the final text reads otherwise)
            self._tokens = None
        return report

    def embed_ahead(self, doc: ParsedDocument) -> None:
        """Embed the passages of ``doc``, a document whose other pages are still being read (by Tesseract),
        for ``add`` to reuse: the passages that come out the same in the whole document (the same embedding
        text) are not embedded again. Always all of them, whatever the timing: a passage's vector depends a
        little on the batch it ran in, and the same files must give the same index."""
        if self._tokens is None:
            self._tokens = {}
        texts = [t for t in dict.fromkeys(embedding_text(c) for c in self.chunk(doc)) if t not in self._ahead]
        began = time.perf_counter()
        vectors = self._run(texts, lambda n: None)
        self.seconds_ahead += time.perf_counter() - began
        self._ahead.update(zip(texts, vectors, strict=True))

    def _embed(self, texts: list[str], report: WriteReport, progress: Callable[[int], None]) -> np.ndarray:
        report.seconds_in_model += self.seconds_ahead
        self.seconds_ahead = 0.0
        began = time.perf_counter()
        vectors = self._run(texts, progress)
        report.seconds_in_model += time.perf_counter() - began
        return vectors

    def _run(self, texts: list[str], progress: Callable[[int], None]) -> np.ndarray:
        """Vectors of ``texts`` in order, run longest first over all of them, not only within each slice:
        the model's batches then hold passages of similar length, so less padding is computed. Slices of
        fixed size (so batches do not depend on timing), each on the threads other processes leave."""
        if not texts:
            return np.zeros((0, 1), np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        parts = []
        for start in range(0, len(texts), self.slice):
            with threads_beside(self.others()):
                parts.append(self.embedder.embed([texts[i] for i in order[start:start + self.slice]]))
            if start + self.slice < len(texts):
                progress(start + self.slice)
        sorted_vectors = np.concatenate(parts)
        vectors = np.empty_like(sorted_vectors)
        vectors[order] = sorted_vectors
        return vectors

    def _batches(self, items: Iterable[Pending]) -> Iterator[list[tuple[Pending, list[Chunk]]]]:
        batch: list[tuple[Pending, list[Chunk]]] = []
        size = 0
        for pending in items:
            chunks = self.chunk(pending.doc)
            if len(chunks) >= self.alone:  # embedded now, while the next file is parsed
                if batch:
                    yield batch
                    batch, size = [], 0
                yield [(pending, chunks)]
                continue
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
