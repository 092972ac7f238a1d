"""The service as the CLI and the web page use it: built once from settings, everything loaded lazily."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import cached_property

import numpy as np

from rag.chunking import embedding_text
from rag.e5 import make_e5
from rag.embedders import Embedder, make_embedder, pick_precision
from rag.errors import DocumentNotFoundError
from rag.multilingual import MultilingualEncoder, make_multilingual
from rag.privacy import lock_down
from rag.retrieval import Method, Retriever
from rag.settings import Settings, validate_collection
from rag.store.index import Index
from rag.types import Chunk, DocumentInfo, Hit, PageInfo

log = logging.getLogger(__name__)


class Service:
    """Settings plus the slow things (index, embedding model), each opened on first use."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None, index: Index | None = None,
                 multilingual: MultilingualEncoder | None = None):
        self.settings = settings
        if embedder is not None:
            self.__dict__["embedder"] = embedder
        if multilingual is not None and settings.multilingual:
            self.__dict__["multilingual"] = multilingual
        if index is not None:
            self.__dict__["index"] = index

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Service:
        settings = settings or Settings()
        lock_down(settings.allow_downloads, endpoints=(settings.ollama_url, settings.chroma_url))
        return cls(settings)

    @cached_property
    def embedder(self) -> Embedder:
        return make_embedder(self.settings)

    @cached_property
    def multilingual(self) -> MultilingualEncoder | None:
        e5 = make_e5(self.settings.multilingual and self.settings.multilingual_e5,
                     pick_precision(self.settings.embed_precision), self.settings.embed_threads)
        return make_multilingual(self.settings.multilingual, self.settings.embed_threads, e5)

    @cached_property
    def index(self) -> Index:
        return Index.open(self.settings)

    def collection(self, name: str | None) -> str:
        return validate_collection(name or self.settings.collection)

    def collections(self) -> list[str]:
        """Collections in the data directory, with the default one even before it has documents."""
        return sorted({*self.index.collections(), self.settings.collection})

    def create_collection(self, name: str) -> str:
        """Create an empty collection (raises SettingsError for an invalid name); existing ones are kept."""
        name = validate_collection(name.strip())
        self.index.catalog(name)  # opening a catalog creates it
        return name

    def retriever(self, collection: str | None = None, method: Method = "hybrid") -> Retriever:
        return Retriever(self.index, self.embedder, self.collection(collection), method,
                         multilingual=self.multilingual)

    def search(self, question: str, collection: str | None = None, k: int | None = None,
               method: Method = "hybrid") -> list[Hit]:
        return self.retriever(collection, method).retrieve(question, k or self.settings.top_k)

    def documents(self, collection: str | None = None) -> list[DocumentInfo]:
        name = self.collection(collection)
        if not self.index.exists(name):
            return []
        return self.index.catalog(name).documents()

    def find_documents(self, name: str, collection: str | None = None) -> list[DocumentInfo]:
        """Documents matching a file name (any of its names) or a sha256 prefix of 8+ characters."""
        docs = self.documents(collection)
        found = [d for d in docs if name in d.names or d.name == name]
        if not found and len(name) >= 8:
            found = [d for d in docs if d.sha256.startswith(name.lower())]
        if not found:
            raise DocumentNotFoundError(
                f"no document named {name!r} in collection {self.collection(collection)!r} "
                "(see `rag docs list`)"
            )
        return found

    def remove_document(self, name: str, collection: str | None = None) -> list[DocumentInfo]:
        col = self.collection(collection)
        found = self.find_documents(name, col)
        with self.index.writing(self.settings.lock_timeout):
            self.index.remove(col, [d.sha256 for d in found])
        return found

    def page_text(self, doc_sha: str, page: int, collection: str | None = None) -> str | None:
        return self.index.catalog(self.collection(collection)).page_text(doc_sha, page)

    def page_info(self, doc_sha: str, page: int, collection: str | None = None) -> PageInfo | None:
        """How one stored unit is located (label, kind) and whether its text came from OCR."""
        return self.index.catalog(self.collection(collection)).page_info(doc_sha, page)

    def reembed(self, collection: str | None = None,
                on_document: Callable[[DocumentInfo, int], None] | None = None) -> int:
        """Re-embed every passage of a collection with the current embedder; returns the passages.

        Passages keep their boundaries (they were cut for the old model's window); a passage longer than
        the new model's window is truncated by it, which is logged.
        """
        col = self.collection(collection)
        if not self.index.exists(col):
            raise DocumentNotFoundError(f"there is no collection {col!r} (see `rag docs collections`)")
        embedder = self.embedder
        window = embedder.max_tokens - 2
        longest = 0

        def vectors_for(chunks: Sequence[Chunk]) -> np.ndarray:
            nonlocal longest
            texts = [embedding_text(c) for c in chunks]
            longest = max([longest, *embedder.count_tokens(texts)])
            return embedder.embed(texts)

        with self.index.writing(self.settings.lock_timeout):
            done = self.index.reembed(col, embedder.name, vectors_for, on_document)
        if longest > window:
            log.warning("some passages of %s (up to %d tokens) exceed %s's window of %d: their tails are "
                        "not embedded; re-ingest the files to cut passages for this model",
                        col, longest, embedder.name, window)
        return done
