"""The Chroma adapter: the only module that imports chromadb.

Embedded persistent Chroma by default; a Chroma server over HTTP when ``RAG_CHROMA_URL`` is set.
Only vectors and the ids that join them to the catalog live here; passage text lives in the catalog.

Callers speak the project's collection names. On a server, which several data directories may share,
each name is stored under the data directory's namespace (``<namespace>-<collection>``), so two
departments' collections called ``default`` never meet. The embedded store lives inside its data
directory and keeps the plain names.

On a server, every failure (server down, wrong URL, an error answered) becomes an ``IndexError_`` with a
one-line message, so commands end with that line instead of a traceback.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlparse

import numpy as np

from rag.errors import IndexError_, SettingsError

log = logging.getLogger(__name__)

_BATCH = 4000  # below Chroma's max batch size on every backend
_NAME_MAX = 63  # Chroma's longest collection name
# HNSW candidates kept while searching. Chroma's default, 100, found 98.2% of the exact top 58 (the fusion's
# depth plus 8) for regulations_es' 76 questions, and which ones it missed changed from build to build of the
# same passages (page-hit@5 59 or 58 of 68); 512 found all of them in two builds (docs/decisions/retrieval.md).
EF_SEARCH = 512

F = TypeVar("F", bound=Callable[..., Any])


def _one_line(exc: BaseException) -> str:
    """An exception as one short line (the chromadb client can carry a whole HTML error page)."""
    text = str(exc).strip()
    if text.startswith("<") or "<html" in text.lower():
        return "it answered with a web page"
    text = " ".join(text.split()).rstrip(".") or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def _unreachable(exc: BaseException) -> bool:
    """Whether nothing answered at all (refused, no such host, timed out), rather than a wrong answer."""
    import httpx

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, httpx.TransportError | ConnectionError | TimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _guarded(what: str) -> Callable[[F], F]:
    """On a server, turn any failure of the decorated call into an IndexError_ naming the server."""

    def wrap(method: F) -> F:
        @functools.wraps(method)
        def inner(self: ChromaVectors, *args: Any, **kwargs: Any) -> Any:
            if not self.remote:
                return method(self, *args, **kwargs)
            try:
                return method(self, *args, **kwargs)
            except (IndexError_, SettingsError):
                raise
            except Exception as exc:  # httpx transport errors, ChromaError, or a bare Exception(resp.text)
                raise IndexError_(
                    f"the Chroma server at {self.where} failed while {what}: {_one_line(exc)}"
                ) from exc

        return cast(F, inner)

    return wrap


class ChromaVectors:
    """One Chroma client; collections are created on first write."""

    def __init__(self, client: Any, where: str, *, remote: bool = False, namespace: str = "") -> None:
        self._client = client
        self.where = where  # for messages: a path or a URL
        self.remote = remote
        self.namespace = namespace
        self._collections: dict[str, Any] = {}

    @classmethod
    def open(cls, data_dir: Path, chroma_url: str = "", namespace: str = "",
             timeout: float = 120.0) -> ChromaVectors:
        """Embedded store under ``data_dir/chroma``, or the server at ``chroma_url``.

        ``namespace`` (server only) prefixes every collection name on the server; see ``stored_name``.
        """
        import chromadb
        import httpx
        from chromadb.config import Settings as ChromaSettings

        # Explicit values win over the CHROMA_*/ANONYMIZED_TELEMETRY variables chromadb would read from the
        # environment: no product telemetry, and no OpenTelemetry export of our calls to some collector.
        chroma_settings = ChromaSettings(
            anonymized_telemetry=False,
            allow_reset=False,
            chroma_otel_collection_endpoint="",
            chroma_otel_granularity="none",
        )
        if not chroma_url:
            path = data_dir / "chroma"
            try:
                path.mkdir(parents=True, exist_ok=True)
                client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
            except Exception as exc:  # chromadb raises assorted types for a bad directory
                raise IndexError_(f"cannot open the index at {path}: {exc}") from exc
            return cls(client, str(path))
        if namespace and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,19}", namespace):
            raise SettingsError(f"invalid Chroma namespace {namespace!r}: up to 20 letters, digits, '_' or '-'")
        url = urlparse(chroma_url if "://" in chroma_url else f"http://{chroma_url}")
        if url.scheme not in {"http", "https"} or not url.hostname:
            raise SettingsError(f"RAG_CHROMA_URL must look like http://host:8000, not {chroma_url!r}")
        port = url.port or (443 if url.scheme == "https" else 8000)
        # chromadb's HTTP client waits for ever (timeout=None), and talks to the server while it is built:
        # a server that accepts connections but never answers would hang the caller. So the heartbeat is
        # first asked with a bounded wait (building the client then checks the tenant and database, which
        # a server that is not Chroma fails), and the client's session gets the same bounds.
        limit = httpx.Timeout(timeout, connect=min(10.0, timeout))
        try:
            httpx.get(f"{url.scheme}://{url.hostname}:{port}/api/v2/heartbeat", timeout=limit,
                      trust_env=False).raise_for_status()
            client = chromadb.HttpClient(host=url.hostname, port=port, ssl=url.scheme == "https",
                                         settings=chroma_settings)
            session = getattr(getattr(client, "_server", None), "_session", None)
            if isinstance(session, httpx.Client):
                session.timeout = limit
        except Exception as exc:
            if _unreachable(exc):
                raise IndexError_(
                    f"cannot reach the Chroma server at {chroma_url} ({_one_line(exc)}): start it "
                    "(`chroma run --path DIR`), or unset RAG_CHROMA_URL to use the embedded store"
                ) from exc
            raise IndexError_(
                f"the server at {chroma_url} does not answer as a Chroma server ({_one_line(exc)}): "
                "check RAG_CHROMA_URL (a Chroma server listens on port 8000 unless told otherwise)"
            ) from exc
        return cls(client, chroma_url, remote=True, namespace=namespace)

    def stored_name(self, collection: str) -> str:
        """The collection's name in Chroma: ``<namespace>-<collection>`` on a shared server.

        A name too long for Chroma's 63 characters is replaced by a hash of it (the collection's metadata
        keeps the readable one).
        """
        if not self.namespace:
            return collection
        name = f"{self.namespace}-{collection}"
        if len(name) > _NAME_MAX:
            digest = hashlib.sha256(collection.encode()).hexdigest()
            name = f"{self.namespace}-{digest[: _NAME_MAX - len(self.namespace) - 1]}"
        return name

    def _collection(self, name: str, create: bool) -> Any:
        col = self._collections.get(name)
        if col is not None:
            return col
        stored = self.stored_name(name)
        if create:
            extra: dict[str, Any] = {}
            if self.namespace:  # lets whoever looks at a shared server tell whose collection it is
                extra["metadata"] = {"rag_collection": name, "rag_namespace": self.namespace}
            col = self._client.get_or_create_collection(
                stored, configuration={"hnsw": {"space": "cosine", "ef_search": EF_SEARCH}},
                embedding_function=None, **extra
            )
        else:
            try:
                col = self._client.get_collection(stored, embedding_function=None)
            except Exception as exc:
                if _is_not_found(exc):
                    return None
                raise  # a server that is down must not look like an empty collection
        hnsw = (col.configuration or {}).get("hnsw") or {}
        if hnsw.get("ef_search", EF_SEARCH) != EF_SEARCH:  # built before EF_SEARCH (or with another)
            try:
                col.modify(configuration={"hnsw": {"ef_search": EF_SEARCH}})
                col = self._client.get_collection(stored, embedding_function=None)
            except Exception as exc:  # e.g. a read-only folder or server: search as it is, less exactly
                log.warning("could not deepen the vector search of %s (%s)", stored, _one_line(exc))
        self._collections[name] = col
        return col

    @_guarded("writing vectors")
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

    @_guarded("deleting vectors")
    def delete_documents(self, collection: str, doc_shas: Sequence[str]) -> None:
        """Remove every vector of these documents (a no-op for ones that have none)."""
        col = self._collection(collection, create=False)
        if col is None or not doc_shas:
            return
        for start in range(0, len(doc_shas), 100):
            col.delete(where={"doc": {"$in": list(doc_shas[start : start + 100])}})

    @_guarded("searching")
    def query(self, collection: str, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity), best first."""
        col = self._collection(collection, create=False)
        if col is None or k <= 0:
            return []
        # no count() first: it costs ten times the HNSW query at 100k vectors, and Chroma returns
        # fewer than k results (none for an empty collection) without complaint
        res = col.query(query_embeddings=vector.reshape(1, -1), n_results=k, include=["distances"])
        return [(i, 1.0 - float(d)) for i, d in zip(res["ids"][0], res["distances"][0], strict=True)]

    @_guarded("reading vectors")
    def vectors(self, collection: str, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of ``ids`` (those that have one), as float32 rows."""
        col = self._collection(collection, create=False)
        if col is None or not ids:
            return {}
        got = col.get(ids=list(dict.fromkeys(ids)), include=["embeddings"])
        return {i: np.asarray(v, dtype=np.float32) for i, v in zip(got["ids"], got["embeddings"], strict=True)}

    @_guarded("counting vectors")
    def count(self, collection: str) -> int:
        col = self._collection(collection, create=False)
        return 0 if col is None else int(col.count())

    @_guarded("listing documents")
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

    @_guarded("listing vectors")
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

    @_guarded("deleting a collection")
    def drop(self, collection: str) -> None:
        self._collections.pop(collection, None)
        try:
            self._client.delete_collection(self.stored_name(collection))
        except Exception as exc:
            if not _is_not_found(exc):
                raise
            log.debug("collection %s had no vectors", collection)

    @_guarded("renaming a collection")
    def rename(self, old: str, new: str) -> None:
        """Give a collection's vectors another name (``new`` must not exist), inside this namespace."""
        col = self._collection(old, create=False)
        if col is None:
            return
        if self.namespace:
            col.modify(name=self.stored_name(new), metadata={"rag_collection": new, "rag_namespace": self.namespace})
        else:
            col.modify(name=self.stored_name(new))
        self._collections.pop(old, None)
        self._collections.pop(new, None)

    @_guarded("listing collections")
    def collections(self) -> list[str]:
        """This data directory's collections that have vectors (on a shared server: its namespace's)."""
        listed = [(c, None) if isinstance(c, str) else (c.name, c.metadata) for c in self._client.list_collections()]
        if not self.namespace:
            return sorted(name for name, _meta in listed)
        prefix = f"{self.namespace}-"
        return sorted(str((meta or {}).get("rag_collection") or name[len(prefix):])
                      for name, meta in listed if name.startswith(prefix))


def _is_not_found(exc: Exception) -> bool:
    """Chroma's "no such collection" (NotFoundError on 1.x; older releases raised ValueError)."""
    from chromadb.errors import NotFoundError

    return isinstance(exc, NotFoundError) or (isinstance(exc, ValueError) and "does not exist" in str(exc))
