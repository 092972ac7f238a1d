"""Users' conversations, kept in the access database: each readable and deletable by its owner only.

Not even administrators read another user's conversations: every call names the caller, and a
conversation that is not theirs is one that does not exist. Each turn keeps its collection, its answer,
citations and hits; a turn of a collection the owner may no longer read comes back withheld (no answer
text, citations or passages, and no collection name), so losing read access loses the old answers too.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from rag.access.control import AccessControl, Identity
from rag.access.db import AccessDB, now
from rag.errors import CollectionNotFoundError, ConversationNotFoundError
from rag.types import Answer, Citation, Hit, Turn

TITLE_CHARS = 80


@dataclass(frozen=True)
class ConversationInfo:
    """One line of a user's list of conversations."""

    id: str
    title: str  # the first question, shortened
    collection: str  # "" when the owner may no longer read it
    created_at: str
    updated_at: str
    turns: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StoredTurn:
    """One question and its answer as kept; ``withheld``: its collection is no longer readable."""

    question: str
    answer: Answer
    collection: str
    at: str
    withheld: bool = False


@dataclass(frozen=True)
class StoredConversation:
    """A conversation reopened for its owner."""

    info: ConversationInfo
    turns: list[StoredTurn] = field(default_factory=list)

    def history(self) -> list[Turn]:
        """What follow-up questions are condensed with (withheld turns left out)."""
        return [Turn(t.question, t.answer.answer) for t in self.turns if not t.withheld]


class ConversationStore:
    """The conversations of every user; each method acts for ``identity`` on their own ones only."""

    def __init__(self, db: AccessDB, access: AccessControl) -> None:
        self.db = db
        self.access = access

    def list(self, identity: Identity, limit: int = 100) -> list[ConversationInfo]:
        """The caller's conversations, most recently updated first."""
        rows = self.db.rows(
            "SELECT c.id, c.title, c.collection, c.created_at, c.updated_at, "
            "(SELECT COUNT(*) FROM turns t WHERE t.conversation = c.id) "
            "FROM conversations c WHERE c.owner = ? ORDER BY c.updated_at DESC, c.rowid DESC LIMIT ?",
            (identity.user, limit))
        readable = set(self.access.readable(identity, sorted({r[2] for r in rows})))
        return [ConversationInfo(r[0], r[1], r[2] if r[2] in readable else "", r[3], r[4], r[5]) for r in rows]

    def get(self, identity: Identity, conversation_id: str) -> StoredConversation:
        """One of the caller's conversations, turns oldest first; ConversationNotFoundError if not theirs."""
        info = self._info(identity, conversation_id)
        rows = self.db.rows("SELECT question, answer, collection, at FROM turns WHERE conversation = ? "
                            "ORDER BY position", (conversation_id,))
        readable = set(self.access.readable(identity, sorted({r[2] for r in rows} | {info.collection})))
        turns = []
        for question, answer, collection, at in rows:
            if collection in readable:
                turns.append(StoredTurn(question, _answer(json.loads(answer)), collection, at))
            else:
                turns.append(StoredTurn(question, Answer(question, "", "extractive", None, supported=False),
                                        "", at, withheld=True))
        if info.collection not in readable:
            info = ConversationInfo(info.id, info.title, "", info.created_at, info.updated_at, info.turns)
        return StoredConversation(info, turns)

    def append(self, identity: Identity, conversation_id: str | None, collection: str, answer: Answer) -> str:
        """Keep one answered question: in a new conversation (``conversation_id`` None) or the caller's
        own one; returns the conversation's id. Refused (CollectionNotFoundError) for a collection the caller
        may not read."""
        if not self.access.can(identity, collection, "read"):
            raise CollectionNotFoundError(collection)
        stamp = now()
        with self.db.write() as conn:
            if conversation_id is None:
                conversation_id = secrets.token_urlsafe(12)
                title = " ".join(answer.question.split())
                if len(title) > TITLE_CHARS:
                    title = title[: TITLE_CHARS - 1].rsplit(" ", 1)[0] + "…"
                conn.execute("INSERT INTO conversations(id, owner, title, collection, created_at, updated_at) "
                             "VALUES (?, ?, ?, ?, ?, ?)",
                             (conversation_id, identity.user, title, collection, stamp, stamp))
            else:
                row = conn.execute("SELECT 1 FROM conversations WHERE id = ? AND owner = ?",
                                   (conversation_id, identity.user)).fetchone()
                if row is None:
                    raise ConversationNotFoundError(_missing(conversation_id))
                conn.execute("UPDATE conversations SET updated_at = ?, collection = ? WHERE id = ?",
                             (stamp, collection, conversation_id))
            position = conn.execute("SELECT COALESCE(MAX(position) + 1, 0) FROM turns WHERE conversation = ?",
                                    (conversation_id,)).fetchone()[0]
            conn.execute("INSERT INTO turns(conversation, position, collection, question, answer, at) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         (conversation_id, position, collection, answer.question,
                          json.dumps(asdict(answer), ensure_ascii=False), stamp))
        return conversation_id

    def delete(self, identity: Identity, conversation_id: str) -> None:
        """Delete one of the caller's conversations; ConversationNotFoundError if not theirs."""
        with self.db.write() as conn:
            gone = conn.execute("DELETE FROM conversations WHERE id = ? AND owner = ?",
                                (conversation_id, identity.user)).rowcount
        if not gone:
            raise ConversationNotFoundError(_missing(conversation_id))

    def _info(self, identity: Identity, conversation_id: str) -> ConversationInfo:
        row = self.db.one(
            "SELECT c.id, c.title, c.collection, c.created_at, c.updated_at, "
            "(SELECT COUNT(*) FROM turns t WHERE t.conversation = c.id) "
            "FROM conversations c WHERE c.id = ? AND c.owner = ?", (conversation_id, identity.user))
        if row is None:
            raise ConversationNotFoundError(_missing(conversation_id))
        return ConversationInfo(*row)


def _missing(conversation_id: str) -> str:
    return f"there is no conversation {conversation_id!r} of yours (it was deleted, or never existed)"


def _answer(data: dict[str, Any]) -> Answer:
    """An Answer back from ``asdict``."""
    citations = [Citation(**c) for c in data.pop("citations", [])]
    hits = [Hit(**h) for h in data.pop("hits", [])]
    return Answer(**data, citations=citations, hits=hits)
