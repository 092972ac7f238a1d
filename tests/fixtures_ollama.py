"""Pytest fixtures for the Ollama stand-in; a plugin (``pytest_plugins = ["tests.fixtures_ollama"]``)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from rag.settings import Settings
from tests.ollama_stub import OllamaStub, free_port


@pytest.fixture
def ollama_stub() -> Iterator[OllamaStub]:
    """A running fake Ollama on 127.0.0.1; script it per test, read ``.requests`` after."""
    with OllamaStub() as stub:
        yield stub


@pytest.fixture
def dead_ollama_url() -> str:
    """A loopback URL where nothing listens: connection refused, as with Ollama not started."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def stub_settings(ollama_stub: OllamaStub, tmp_path: Any) -> Settings:
    """Settings pointing at the stub, with a short timeout so slow-answer tests stay quick."""
    return Settings(ollama_host=ollama_stub.url, data_dir=tmp_path, request_timeout=5.0)


def _is_loopback(address: Any) -> bool:
    if not isinstance(address, tuple):
        return True  # AF_UNIX paths and the like never leave the machine
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any socket connection that would leave 127.0.0.1/::1 during the test."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> None:
        if not _is_loopback(address):
            raise AssertionError(f"test tried to reach {address!r}; only loopback is allowed")
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not _is_loopback(address):
            raise AssertionError(f"test tried to reach {address!r}; only loopback is allowed")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
