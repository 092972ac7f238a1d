"""Pytest fixtures for the Ollama stand-in; a plugin (``pytest_plugins = ["tests.fixtures_ollama"]``)."""

from __future__ import annotations

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
