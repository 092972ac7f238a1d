"""The service as the CLI and the web page use it: built once from settings, everything loaded lazily."""

from __future__ import annotations

from functools import cached_property

from rag.embedders import Embedder, make_embedder
from rag.errors import DocumentNotFoundError
from rag.privacy import lock_down
from rag.retrieval import Method, Retriever
from rag.settings import Settings, validate_collection
from rag.store.index import Index
from rag.types import DocumentInfo, Hit


class Service:
    """Settings plus the slow things (index, embedding model), each opened on first use."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None, index: Index | None = None):
        self.settings = settings
        if embedder is not None:
            self.__dict__["embedder"] = embedder
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
        return Retriever(self.index, self.embedder, self.collection(collection), method)

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
