"""The service as the CLI and the web page use it: built once from settings, everything loaded lazily.

Every call that reads or writes a collection names its caller (``identity=``, an ``rag.access.control.Identity``;
left out, personal mode's one local user, and in department mode an error) and is refused unless the
caller holds the right: a collection they may not read is one that does not exist (CollectionNotFoundError,
the same message either way); one they read but may not change raises AccessDeniedError.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from rag.access.control import RIGHTS, AccessControl, AuditEntry, Grant, Identity, Right, check_right, implies
from rag.access.conversations import ConversationStore
from rag.access.db import AccessDB
from rag.encoders.embedders import Embedder, make_embedder
from rag.errors import AccessDeniedError, CollectionNotFoundError, DocumentNotFoundError, SettingsError
from rag.index.chunking import embedding_text
from rag.index.store import Index
from rag.privacy import lock_down
from rag.retrieve import Method, Retriever
from rag.settings import Settings, validate_collection
from rag.types import Chunk, DocumentInfo, Hit, PageInfo

if TYPE_CHECKING:  # the answering chain imports LangChain (~3 s): not for ingestion or its parser processes
    from rag.answer.answerer import Answerer
    from rag.answer.chain import Generator

log = logging.getLogger(__name__)


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

    @cached_property
    def access(self) -> AccessControl:
        """Grants and the audit trail (``RAG_DATA_DIR/access.sqlite3``)."""
        return AccessControl(AccessDB.open(self.settings.data_dir, timeout=max(self.settings.lock_timeout, 1.0)))

    @cached_property
    def conversations(self) -> ConversationStore:
        """Every user's conversations; each call acts for one identity, on their own ones only."""
        return ConversationStore(self.access.db, self.access)

    # -- who is calling, and may they --------------------------------------------------------------
    def caller(self, identity: Identity | None) -> Identity:
        """The identity a call acts for: personal mode's local user when none is given."""
        if identity is not None:
            return identity
        if self.settings.mode == "personal":
            return Identity.local()
        raise AccessDeniedError("department mode: this call must name its caller (identity=...); "
                                "the command line acts as Identity.operator()")

    def collection(self, name: str | None) -> str:
        """The collection a call names (RAG_COLLECTION when none), checked for a valid name only."""
        return validate_collection(name or self.settings.collection)

    def exists(self, name: str) -> bool:
        """A collection with a catalog, or the default one (which exists before its first document)."""
        return name == self.settings.collection or self.index.exists(name)

    def require(self, collection: str | None, right: Right = "read", *, identity: Identity | None = None) -> str:
        """The collection's name if the caller holds ``right`` on it, else an error that says what to do.

        A collection the caller may not read, or that does not exist, raises CollectionNotFoundError (with
        the same message, listing the ones they may read); one they read but may not change, AccessDeniedError.
        Administrators create a collection by writing to it (``rag ingest --collection NEW``).
        """
        who = self.caller(identity)
        name = self.collection(collection)
        held = self.access.right_of(who, name)
        if not implies(held, "read") or (not self.exists(name) and not (who.admin and right == "write")):
            raise CollectionNotFoundError(name, self.collections(identity=who))
        if not implies(held, right):
            doing = "change the documents of" if right == "write" else "change who may use"
            raise AccessDeniedError(f"you may read the collection {name!r} but not {doing} it: ask one of its "
                                    f"administrators for the {right!r} right")
        return name

    def can(self, collection: str | None, right: Right = "read", *, identity: Identity | None = None) -> bool:
        """Whether ``require`` would let the caller through (for a page to hide what it would refuse)."""
        try:
            self.require(collection, right, identity=identity)
        except (CollectionNotFoundError, AccessDeniedError):
            return False
        return True

    def record(self, action: str, collection: str = "", *, identity: Identity | None = None,
               **detail: object) -> None:
        """Add one line to the audit trail (uploads, removals, re-indexing; the library records its own)."""
        self.access.record(self.caller(identity), action, collection, **detail)

    # -- collections ------------------------------------------------------------------------------
    def collections(self, *, identity: Identity | None = None) -> list[str]:
        """The collections the caller may read, with the default one even before it has documents."""
        names = sorted({*self.index.collections(), self.settings.collection})
        return self.access.readable(self.caller(identity), names)

    def create_collection(self, name: str, *, identity: Identity | None = None, group: str | None = None,
                          group_right: Right = "write") -> str:
        """Create an empty collection owned by ``group`` (the creator administers it); existing ones are kept.

        In department mode a non-administrator must name one of their own groups; the group gets
        ``group_right`` (write: its members upload and ask). Raises SettingsError for an invalid name.
        """
        who = self.caller(identity)
        name = validate_collection(name.strip())
        if self.exists(name):
            if self.access.can(who, name, "read"):
                return name
            raise AccessDeniedError(f"the name {name!r} is taken: choose another one")
        if group is not None and not group.strip():
            group = None
        if self.settings.mode == "department" and not who.admin:
            if group is None:
                raise SettingsError("choose which of your groups the new collection belongs to")
            if group not in who.groups:
                raise AccessDeniedError(f"you are not a member of the group {group!r}: choose one of yours")
        self.index.catalog(name)  # opening a catalog creates it
        if group is not None:
            self.access.set_grant(who, name, f"group:{group}", check_right(group_right))
        if who.user not in {Identity.local().user, Identity.operator().user}:
            self.access.set_grant(who, name, f"user:{who.user}", "admin")
        self.access.record(who, "create", name, group=group)
        return name

    # -- reading ----------------------------------------------------------------------------------
    def retriever(self, collection: str | None = None, method: Method = "hybrid", *,
                  identity: Identity | None = None) -> CheckedRetriever:
        """A retriever of a collection the caller may read, which checks again on every question."""
        who = self.caller(identity)
        name = self.require(collection, "read", identity=who)
        inner = Retriever(self.index, self.embedder, name, method)
        return CheckedRetriever(self, who, inner)

    def answerer(self, collection: str | None = None, *, identity: Identity | None = None,
                 model: str | None = None, generator: Generator | None = None) -> Answerer:
        """An Answerer over a collection the caller may read (checked on every question); cheap to build,
        so a web page makes one per request and shares only ``generator`` (the model's connection)."""
        from rag.answer.answerer import Answerer

        retriever = self.retriever(collection, identity=identity)
        if generator is None:
            return Answerer.from_settings(self.settings, retriever, model=model)
        return Answerer(retriever, generator, top_k=self.settings.top_k)

    def search(self, question: str, collection: str | None = None, k: int | None = None,
               method: Method = "hybrid", *, identity: Identity | None = None) -> list[Hit]:
        return self.retriever(collection, method, identity=identity).retrieve(question, k or self.settings.top_k)

    def documents(self, collection: str | None = None, *, identity: Identity | None = None) -> list[DocumentInfo]:
        name = self.require(collection, "read", identity=identity)
        if not self.index.exists(name):
            return []
        return self.index.catalog(name).documents()

    def find_documents(self, name: str, collection: str | None = None, *,
                       identity: Identity | None = None) -> list[DocumentInfo]:
        """Documents matching a file name (any of its names) or a sha256 prefix of 8+ characters."""
        docs = self.documents(collection, identity=identity)
        found = [d for d in docs if name in d.names or d.name == name]
        if not found and len(name) >= 8:
            found = [d for d in docs if d.sha256.startswith(name.lower())]
        if not found:
            raise DocumentNotFoundError(
                f"no document named {name!r} in collection {self.collection(collection)!r} "
                "(see `rag docs list`)"
            )
        return found

    def page_text(self, doc_sha: str, page: int, collection: str | None = None, *,
                  identity: Identity | None = None) -> str | None:
        name = self.require(collection, "read", identity=identity)
        if not self.index.exists(name):
            return None
        return self.index.catalog(name).page_text(doc_sha, page)

    # -- writing ----------------------------------------------------------------------------------
    def remove_document(self, name: str, collection: str | None = None, *,
                        identity: Identity | None = None) -> list[DocumentInfo]:
        who = self.caller(identity)
        col = self.require(collection, "write", identity=who)
        found = self.find_documents(name, col, identity=who)
        with self.index.writing(self.settings.lock_timeout):
            self.index.remove(col, [d.sha256 for d in found])
            self.access.record(who, "remove", col, documents=[d.name for d in found],
                               sha256=[d.sha256 for d in found])
        return found

    def page_info(self, doc_sha: str, page: int, collection: str | None = None, *,
                  identity: Identity | None = None) -> PageInfo | None:
        """How one stored unit is located (label, kind) and whether its text came from OCR."""
        name = self.require(collection, "read", identity=identity)
        if not self.index.exists(name):
            return None
        return self.index.catalog(name).page_info(doc_sha, page)

    def reembed(self, collection: str | None = None,
                on_document: Callable[[DocumentInfo, int], None] | None = None, *,
                identity: Identity | None = None) -> int:
        """Re-embed every passage of a collection with the current embedder; returns the passages.

        Passages keep their boundaries (they were cut for the old model's window); a passage longer than
        the new model's window is truncated by it, which is logged.
        """
        who = self.caller(identity)
        col = self.require(collection, "write", identity=who)
        if not self.index.exists(col):
            raise DocumentNotFoundError(f"the collection {col!r} has no documents yet: nothing to re-embed")
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
            self.access.record(who, "reembed", col, embedder=embedder.name, passages=done)
        if longest > window:
            log.warning("some passages of %s (up to %d tokens) exceed %s's window of %d: their tails are "
                        "not embedded; re-ingest the files to cut passages for this model",
                        col, longest, embedder.name, window)
        return done

    # -- grants and the audit trail ---------------------------------------------------------------
    def grants(self, collection: str | None, *, identity: Identity | None = None) -> list[Grant]:
        """Who may do what to a collection; for its administrators."""
        return self.access.grants(self.require(collection, "admin", identity=identity))

    def grant(self, collection: str | None, principal: str, right: Right, *,
              identity: Identity | None = None) -> Right | None:
        """Give ``principal`` exactly ``right`` (more or less than before); returns the right it had."""
        who = self.caller(identity)
        name = self.require(collection, "admin", identity=who)
        return self.access.set_grant(who, name, principal, check_right(right))

    def revoke(self, collection: str | None, principal: str, right: Right | None = None, *,
               identity: Identity | None = None) -> Right | None:
        """Take ``right`` away (keeping the rights below it), or everything when None; returns what is left."""
        who = self.caller(identity)
        name = self.require(collection, "admin", identity=who)
        held = next((g.right for g in self.access.grants(name) if g.principal == principal.strip()), None)
        left: Right | None = None
        if right is not None:
            wanted = RIGHTS.index(check_right(right))
            left = held if not implies(held, right) else (RIGHTS[wanted - 1] if wanted else None)
        self.access.set_grant(who, name, principal, left)
        return left

    def audit(self, limit: int = 100, collection: str | None = None, *,
              identity: Identity | None = None) -> list[AuditEntry]:
        """The newest audit lines: all of them for administrators, one collection's for its administrators."""
        who = self.caller(identity)
        if collection is not None:
            return self.access.audit(limit, self.require(collection, "admin", identity=who))
        if not who.admin:
            raise AccessDeniedError("only administrators read the audit trail (RAG_ADMIN_USERS, RAG_ADMIN_GROUPS)")
        return self.access.audit(limit)


class CheckedRetriever:
    """A collection's retriever for one caller: checks the caller may still read it on every question, so
    a grant revoked takes effect on the next one; with RAG_LOG_QUESTIONS, also records each question."""

    def __init__(self, service: Service, identity: Identity, inner: Retriever) -> None:
        self.service = service
        self.identity = identity
        self.inner = inner
        self.collection = inner.collection

    def retrieve(self, question: str, k: int) -> list[Hit]:
        self.service.require(self.collection, "read", identity=self.identity)
        if self.service.settings.log_questions:
            self.service.access.record(self.identity, "question", self.collection, text=question)
        return self.inner.retrieve(question, k)

    @property
    def encoder(self) -> Embedder:
        """The inner retriever's embedder (the extractive answer compares units across languages with it)."""
        return self.inner.encoder

    def page_text(self, doc_sha: str, page: int) -> str | None:
        """A page of this collection, as stored, while the caller may still read it."""
        self.service.require(self.collection, "read", identity=self.identity)
        return self.inner.page_text(doc_sha, page)
