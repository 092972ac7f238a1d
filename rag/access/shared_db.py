"""A small SQLite database in the data directory (API keys, ingestion jobs): one WAL connection per process,
shared by its threads under a lock."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import ClassVar, Self


class SharedDB:
    """Subclasses name their file and schema; ``open`` creates both as needed."""

    FILE: ClassVar[str]
    SCHEMA: ClassVar[str]

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    @classmethod
    def open(cls, data_dir: Path) -> Self:
        data_dir.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(data_dir / cls.FILE, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(cls.SCHEMA)
        return cls(conn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
