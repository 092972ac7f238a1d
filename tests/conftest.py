"""Shared fixtures. No test may reach beyond this machine: sockets may connect to loopback only."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rag.privacy import lock_down

pytest_plugins = ["tests.fixtures_ollama", "tests.fixtures_chroma"]

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"

lock_down()  # before any test imports Hugging Face or Chroma
os.environ.setdefault("RAG_LOCK_TIMEOUT", "60")

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_local(address: Any) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX
        return True
    host = address[0]
    if host in {"localhost", ""}:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost would need DNS: outside the machine


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if not _is_local(address):
        raise ConnectionRefusedError(f"tests may not connect outside this machine: {address!r}")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> Any:
    if not _is_local(address):
        raise ConnectionRefusedError(f"tests may not connect outside this machine: {address!r}")
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True)
def _no_outside_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared data not found at {SHARED} (clone with ../shared beside the project)")
    return SHARED


@pytest.fixture(scope="session")
def embedder() -> Any:
    """The real default embedder (the bundled multilingual-e5-small), loaded once for the whole run."""
    from rag.embedders import make_embedder
    from rag.settings import Settings

    emb = make_embedder(Settings(embed_model=""))
    emb.embed(["warm up"])
    return emb


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Settings on a fresh data directory, ignoring the developer's environment and .env."""
    from rag.settings import Settings

    for key in list(os.environ):
        if key.startswith("RAG_") and key != "RAG_LOCK_TIMEOUT":
            monkeypatch.delenv(key)
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")  # nothing listens: extractive unless a test says
    monkeypatch.chdir(tmp_path)  # no stray .env
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def service(settings: Any, embedder: Any) -> Iterator[Any]:
    from rag.service import Service

    yield Service(settings, embedder=embedder)


def subprocess_env(settings: Any, **extra: str) -> dict[str, str]:
    """Environment for a `python -m rag` child on the same data directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update({"RAG_DATA_DIR": str(settings.data_dir), "PYTHONPATH": str(ROOT), "OLLAMA_HOST": "http://127.0.0.1:9"})
    env.update(extra)
    return env
