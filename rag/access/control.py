"""Who may do what to which collection: identities, rights, grants and the audit trail.

Each collection grants ``read`` (ask, search, see documents and pages), ``write`` (upload, remove,
re-index) or ``admin`` (change its grants) to principals, ``"group:NAME"`` or ``"user:NAME"``; each right
implies the ones before it. Administrators (``RAG_ADMIN_USERS``, ``RAG_ADMIN_GROUPS``, the operator's CLI,
the one local user of personal mode) hold every right on every collection. Anyone else holds the highest
right granted to them or to one of their groups, and nothing on a collection that grants them nothing.

The checks themselves are made by ``rag.service.Service``, on every call that reads or writes a collection.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

from rag.access.db import AccessDB, now
from rag.errors import SettingsError
from rag.settings import Settings

Right = Literal["read", "write", "admin"]
RIGHTS: tuple[Right, ...] = get_args(Right)  # weakest first: each implies those before it

LOCAL_USER = "local"
OPERATOR_USER = "operator"

_PRINCIPAL_RE = re.compile(r"^(user|group):(\S.{0,199})$")


def implies(held: Right | None, wanted: Right) -> bool:
    """Whether holding ``held`` gives ``wanted`` (admin ⊃ write ⊃ read)."""
    return held is not None and RIGHTS.index(held) >= RIGHTS.index(wanted)


def check_right(text: str) -> Right:
    """``text`` as a Right, else SettingsError naming the three."""
    if text not in RIGHTS:
        raise SettingsError(f"unknown right {text!r}: use read, write or admin")
    return text


def check_principal(text: str) -> str:
    """``"group:NAME"`` or ``"user:NAME"``, else SettingsError with an example."""
    text = text.strip()
    if not _PRINCIPAL_RE.match(text):
        raise SettingsError(f"invalid principal {text!r}: write group:NAME or user:NAME "
                            "(e.g. group:rrhh or user:ana@universidad.es)")
    return text


@dataclass(frozen=True)
class Identity:
    """The caller of a library call: who they are, their groups, whether they administer everything."""

    user: str
    groups: frozenset[str] = frozenset()
    admin: bool = False
    name: str = ""  # for display only

    @classmethod
    def local(cls) -> Identity:
        """Personal mode's one local user: every right, no sign-in."""
        return cls(LOCAL_USER, admin=True, name="local user")

    @classmethod
    def operator(cls) -> Identity:
        """The CLI run on the server by its operator: acts as an administrator (the CLI says so)."""
        return cls(OPERATOR_USER, admin=True, name="operator (command line)")

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any], settings: Settings) -> Identity:
        """The identity an OpenID Connect ID token (or userinfo) describes, with the settings' admin lists.

        The user is the ``RAG_USER_CLAIM`` claim (``email`` by default), else ``sub``; the groups are the
        ``RAG_GROUPS_CLAIM`` claim, a list of strings or one space- or comma-separated string.
        """
        user = str(claims.get(settings.user_claim) or claims.get("sub") or "").strip()
        if not user:
            raise SettingsError(f"the identity provider sent neither {settings.user_claim!r} nor 'sub': "
                                "set RAG_USER_CLAIM to a claim it sends")
        raw = claims.get(settings.groups_claim) or []
        items = re.split(r"[,\s]+", raw) if isinstance(raw, str) else [str(g) for g in raw]
        groups = frozenset(g.strip() for g in items if g.strip())
        admin = user in settings.admin_users or bool(groups & set(settings.admin_groups))
        return cls(user, groups, admin, str(claims.get("name") or user))

    def principals(self) -> frozenset[str]:
        """The principals grants may name for this caller."""
        return frozenset({f"user:{self.user}", *(f"group:{g}" for g in self.groups)})

    @property
    def label(self) -> str:
        return self.name or self.user


@dataclass(frozen=True)
class Grant:
    """One principal's right on one collection."""

    collection: str
    principal: str  # "group:NAME" or "user:NAME"
    right: Right
    granted_by: str = ""
    granted_at: str = ""  # ISO 8601, UTC

    def to_json(self) -> dict[str, Any]:
        return {"collection": self.collection, "principal": self.principal, "right": self.right,
                "granted_by": self.granted_by, "granted_at": self.granted_at}


@dataclass(frozen=True)
class AuditEntry:
    """One recorded action: who did what to which collection, and when."""

    id: int
    at: str  # ISO 8601, UTC
    user: str
    action: str  # create, upload, remove, reindex, reembed, grant, revoke, ask (only with RAG_LOG_QUESTIONS)
    collection: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at, "user": self.user, "action": self.action,
                "collection": self.collection, "detail": self.detail}


class AccessControl:
    """Grants and the audit trail in the access database; ``right_of`` is the one rule every check uses."""

    def __init__(self, db: AccessDB) -> None:
        self.db = db

    # -- checks ---------------------------------------------------------------------------------
    def right_of(self, identity: Identity, collection: str) -> Right | None:
        """The highest right ``identity`` holds on ``collection`` (None: nothing, not even its name)."""
        if identity.admin:
            return "admin"
        principals = sorted(identity.principals())
        marks = ",".join("?" * len(principals))
        held = [cast(Right, r[0]) for r in self.db.rows(
            f"SELECT right FROM grants WHERE collection = ? AND principal IN ({marks})", [collection, *principals])]
        return max(held, key=RIGHTS.index) if held else None

    def can(self, identity: Identity, collection: str, right: Right) -> bool:
        return implies(self.right_of(identity, collection), right)

    def readable(self, identity: Identity, collections: list[str]) -> list[str]:
        """Those of ``collections`` that ``identity`` may read, in order (one query)."""
        if identity.admin:
            return list(collections)
        principals = sorted(identity.principals())
        marks = ",".join("?" * len(principals))
        granted = {r[0] for r in self.db.rows(
            f"SELECT DISTINCT collection FROM grants WHERE principal IN ({marks})", principals)}
        return [c for c in collections if c in granted]

    # -- grants ---------------------------------------------------------------------------------
    def grants(self, collection: str) -> list[Grant]:
        return [Grant(r[0], r[1], cast(Right, r[2]), r[3], r[4]) for r in self.db.rows(
            "SELECT collection, principal, right, granted_by, granted_at FROM grants WHERE collection = ? "
            "ORDER BY principal", (collection,))]

    def set_grant(self, by: Identity, collection: str, principal: str, right: Right | None) -> Right | None:
        """Give ``principal`` exactly ``right`` on ``collection`` (None: nothing), audited; returns the old one.

        The caller has checked that ``by`` administers the collection.
        """
        principal = check_principal(principal)
        with self.db.write() as conn:
            row = conn.execute("SELECT right FROM grants WHERE collection = ? AND principal = ?",
                               (collection, principal)).fetchone()
            old = cast(Right, row[0]) if row else None
            if right is None:
                conn.execute("DELETE FROM grants WHERE collection = ? AND principal = ?", (collection, principal))
            else:
                conn.execute("INSERT OR REPLACE INTO grants(collection, principal, right, granted_by, granted_at) "
                             "VALUES (?, ?, ?, ?, ?)", (collection, principal, right, by.user, now()))
            if old != right:
                lowered = right is None or (old is not None and RIGHTS.index(right) < RIGHTS.index(old))
                _audit(conn, by, "revoke" if lowered else "grant", collection,
                       {"principal": principal, "right": right, "was": old})
        return old

    def forget_collection(self, collection: str) -> None:
        """Drop a removed collection's grants, so a new one by the same name starts with none."""
        with self.db.write() as conn:
            conn.execute("DELETE FROM grants WHERE collection = ?", (collection,))

    # -- audit ----------------------------------------------------------------------------------
    def record(self, by: Identity, action: str, collection: str = "", **detail: Any) -> None:
        """Append one line to the audit trail."""
        with self.db.write() as conn:
            _audit(conn, by, action, collection, detail)

    def audit(self, limit: int = 100, collection: str | None = None) -> list[AuditEntry]:
        """The newest ``limit`` audit lines, newest first (of one collection, if given)."""
        where, params = ("WHERE collection = ?", [collection]) if collection else ("", [])
        return [AuditEntry(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in self.db.rows(
            f"SELECT id, at, user, action, collection, detail FROM audit {where} ORDER BY id DESC LIMIT ?",
            [*params, limit])]


def _audit(conn: Any, by: Identity, action: str, collection: str, detail: Mapping[str, Any]) -> None:
    conn.execute("INSERT INTO audit(at, user, action, collection, detail) VALUES (?, ?, ?, ?, ?)",
                 (now(), by.user, action, collection, json.dumps(dict(detail), ensure_ascii=False)))
