"""API keys: a secret shown once, stored as its SHA-256, that lets a program act as one user.

A key is ``rag_<id>_<secret>``: ``id`` (8 hex characters) is public and names the key in lists and
revocations; the whole key is hashed, and only the hash is kept (``RAG_DATA_DIR/api_keys.sqlite3``). A key
carries its user and the groups she had when it was made (the web page refreshes them at each sign-in,
the operator gives them with ``rag keys create --groups``); the HTTP API turns them into the same
``Identity`` a sign-in gives, so a key can do exactly what its user can, and nothing once revoked.

    info, secret = KeyStore.open(settings.data_dir).create("ana@uni.es", ["rrhh"], "intranet")
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rag.access.shared_db import SharedDB
from rag.errors import SettingsError

KEYS_FILE = "api_keys.sqlite3"
PREFIX = "rag_"
_KEY_RE = re.compile(r"^rag_([0-9a-f]{8})_([A-Za-z0-9_-]{32,})$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    user TEXT NOT NULL,
    groups TEXT NOT NULL DEFAULT '[]',
    label TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    last_used_at TEXT NOT NULL DEFAULT '',
    revoked_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS keys_user ON keys(user);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class KeyInfo:
    """One key as lists show it: never the secret."""

    id: str
    user: str
    groups: tuple[str, ...]
    label: str
    created_at: str
    last_used_at: str = ""
    revoked_at: str = ""

    @property
    def active(self) -> bool:
        return not self.revoked_at

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "user": self.user, "groups": list(self.groups), "label": self.label,
                "created_at": self.created_at, "last_used_at": self.last_used_at,
                "revoked_at": self.revoked_at, "active": self.active}


class KeyStore(SharedDB):
    """The data directory's API keys; safe to share between the threads of one process."""

    FILE = KEYS_FILE
    SCHEMA = _SCHEMA

    def create(self, user: str, groups: Iterable[str] = (), label: str = "") -> tuple[KeyInfo, str]:
        """A new key for ``user``: its info and the secret, which is never shown again."""
        user = user.strip()
        if not user:
            raise SettingsError("a key needs a user: rag keys create --user NAME")
        clean = tuple(sorted({g.strip() for g in groups if g.strip()}))
        key_id = secrets.token_hex(4)
        secret = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        info = KeyInfo(key_id, user, clean, label.strip()[:100], _now())
        with self._lock:
            self._conn.execute(
                "INSERT INTO keys(id, hash, user, groups, label, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (info.id, _digest(secret), info.user, json.dumps(list(clean)), info.label, info.created_at))
        return info, secret

    def verify(self, presented: str) -> KeyInfo | None:
        """The active key ``presented`` is, or None (unknown, malformed or revoked); compared in constant time."""
        match = _KEY_RE.match(presented.strip())
        if not match:
            return None
        with self._lock:
            row = self._conn.execute(
                "SELECT id, hash, user, groups, label, created_at, last_used_at, revoked_at FROM keys WHERE id = ?",
                (match.group(1),)).fetchone()
        if row is None or not hmac.compare_digest(row[1], _digest(presented.strip())) or row[7]:
            return None
        used = _now()
        if row[6][:16] != used[:16]:  # at most one write a minute per key
            with self._lock:
                self._conn.execute("UPDATE keys SET last_used_at = ? WHERE id = ?", (used, row[0]))
        return KeyInfo(row[0], row[2], tuple(json.loads(row[3])), row[4], row[5], used, "")

    def list(self, user: str | None = None, include_revoked: bool = False) -> list[KeyInfo]:
        """Keys of ``user`` (everyone's when None), newest first."""
        where, params = [], []
        if user is not None:
            where.append("user = ?")
            params.append(user)
        if not include_revoked:
            where.append("revoked_at = ''")
        sql = "SELECT id, user, groups, label, created_at, last_used_at, revoked_at FROM keys"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY created_at DESC, id", params).fetchall()
        return [KeyInfo(r[0], r[1], tuple(json.loads(r[2])), r[3], r[4], r[5], r[6]) for r in rows]

    def any_active(self) -> bool:
        with self._lock:
            return self._conn.execute("SELECT 1 FROM keys WHERE revoked_at = '' LIMIT 1").fetchone() is not None

    def revoke(self, key_id: str, user: str | None = None) -> KeyInfo:
        """Revoke a key by its id (only one of ``user``'s, when given); SettingsError if there is none."""
        key_id = key_id.strip().removeprefix(PREFIX).split("_", 1)[0]
        found = [k for k in self.list(user, include_revoked=True) if k.id == key_id]
        if not found:
            raise SettingsError(f"no API key {key_id!r}" + (f" of {user!r}" if user else "") +
                                ": see `rag keys list`")
        with self._lock:
            self._conn.execute("UPDATE keys SET revoked_at = ? WHERE id = ? AND revoked_at = ''", (_now(), key_id))
        return next(k for k in self.list(user, include_revoked=True) if k.id == key_id)

    def refresh_groups(self, user: str, groups: Iterable[str]) -> int:
        """Give every active key of ``user`` her current groups (called at each sign-in); returns how many."""
        clean = json.dumps(sorted({g.strip() for g in groups if g.strip()}))
        with self._lock:
            cur = self._conn.execute("UPDATE keys SET groups = ? WHERE user = ? AND revoked_at = ''", (clean, user))
        return cur.rowcount
