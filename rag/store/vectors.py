"""The Chroma adapter: the only module that imports chromadb.

Embedded persistent Chroma by default; a Chroma server over HTTP when ``RAG_CHROMA_URL`` is set.
Only vectors and the ids that join them to the catalog live here; passage text lives in the catalog.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from rag.errors import IndexError_, SettingsError

log = logging.getLogger(__name__)

_BATCH = 4000  # below Chroma's max batch size on every backend


class ChromaVectors:
    """One Chroma client; collections are created on first write."""

    def __init__(self, client: Any, where: str) -> None:
        self._client = client
        self.where = where  # for messages: a path or a URL
        self._collections: dict[str, Any] = {}

    @classmethod
    def open(cls, data_dir: Path, chroma_url: str = "") -> ChromaVectors:
        """Embedded store under ``data_dir/chroma``, or the server at ``chroma_url``."""
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        if not chroma_url:
            path = data_dir / "chroma"
            try:
                path.mkdir(parents=True, exist_ok=True)
                client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
            except Exception as exc:  # chromadb raises assorted types for a bad directory
                raise IndexError_(f"cannot open the index at {path}: {exc}") from exc
            return cls(client, str(path))
        url = urlparse(chroma_url if "://" in chroma_url else f"http://{chroma_url}")
        if url.scheme not in {"http", "https"} or not url.hostname:
            raise SettingsError(f"RAG_CHROMA_URL must look like http://host:8000, not {chroma_url!r}")
        try:
            client = chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
            client.heartbeat()
        except Exception as exc:
            raise IndexError_(
                f"cannot reach the Chroma server at {chroma_url}: {exc}. Start it (`chroma run --path DIR`) "
                "or unset RAG_CHROMA_URL to use the embedded store."
            ) from exc
        return cls(client, chroma_url)

    def _collection(self, name: str, create: bool) -> Any:
        col = self._collections.get(name)
        if col is not None:
            return col
        if create:
            col = self._client.get_or_create_collection(
                name, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
            )
        else:
            try:
                col = self._client.get_collection(name, embedding_function=None)
            except Exception:  # NotFoundError on 1.x; the type moved between releases
                return None
        self._collections[name] = col
        return col

    def upsert(
        self, collection: str, ids: Sequence[str], vectors: np.ndarray, doc_shas: Sequence[str]
    ) -> None:
        """Write vectors; ids are stable, so writing the same passage twice never duplicates it."""
        col = self._collection(collection, create=True)
        for start in range(0, len(ids), _BATCH):
            end = start + _BATCH
            col.upsert(
                ids=list(ids[start:end]),
                embeddings=vectors[start:end],
                metadatas=[{"doc": sha} for sha in doc_shas[start:end]],
            )

    def delete_documents(self, collection: str, doc_shas: Sequence[str]) -> None:
        """Remove every vector of these documents (a no-op for ones that have none)."""
        col = self._collection(collection, create=False)
        if col is None or not doc_shas:
            return
        for start in range(0, len(doc_shas), 100):
            col.delete(where={"doc": {"$in": list(doc_shas[start : start + 100])}})

    def query(self, collection: str, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity), best first."""
        col = self._collection(collection, create=False)
        if col is None or k <= 0:
            return []
        # no count() first: it costs ten times the HNSW query at 100k vectors, and Chroma returns
        # fewer than k results (none for an empty collection) without complaint
        res = col.query(query_embeddings=vector.reshape(1, -1), n_results=k, include=["distances"])
        return [(i, 1.0 - float(d)) for i, d in zip(res["ids"][0], res["distances"][0], strict=True)]

    def count(self, collection: str) -> int:
        col = self._collection(collection, create=False)
        return 0 if col is None else int(col.count())

    def document_shas(self, collection: str) -> set[str]:
        """Every document that has vectors (a full scan: for checks and repair, not queries)."""
        col = self._collection(collection, create=False)
        if col is None:
            return set()
        shas: set[str] = set()
        total = col.count()
        for offset in range(0, total, 5000):
            got = col.get(include=["metadatas"], limit=5000, offset=offset)
            shas.update(str(m["doc"]) for m in got["metadatas"] if m)
        return shas

    def ids(self, collection: str) -> list[str]:
        """Every vector id in the collection (for checks)."""
        col = self._collection(collection, create=False)
        if col is None:
            return []
        out: list[str] = []
        total = col.count()
        for offset in range(0, total, 5000):
            out.extend(col.get(include=[], limit=5000, offset=offset)["ids"])
        return out

    def drop(self, collection: str) -> None:
        self._collections.pop(collection, None)
        try:
            self._client.delete_collection(collection)
        except Exception:  # not there: nothing to drop
            log.debug("collection %s had no vectors", collection)

    def rename(self, old: str, new: str) -> None:
        """Give a collection's vectors another name (``new`` must not exist)."""
        col = self._collection(old, create=False)
        if col is None:
            return
        col.modify(name=new)
        self._collections.pop(old, None)
        self._collections.pop(new, None)

    def collections(self) -> list[str]:
        return sorted(c if isinstance(c, str) else c.name for c in self._client.list_collections())
