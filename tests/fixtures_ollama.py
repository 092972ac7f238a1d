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


# -- several models with different facts and licences ---------------------------------------------------

APACHE_TEXT = """                                 Apache License
                           Version 2.0, January 2004
                        http://www.apache.org/licenses/

   TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION

   1. Definitions.
"""
# the body of the Llama 3.1 licence without its title line: recognition must not rest on the first line
LLAMA_TEXT = """Llama 3.1 Version Release Date: July 23, 2024
"Agreement" means the terms and conditions for use, reproduction, distribution and modification of the
Llama Materials set forth herein.
2. Additional Commercial Terms. If, on the Llama 3.1 version release date, the monthly active users of the
products or services made available by or for Licensee, or Licensee's affiliates, is greater than 700 million
monthly active users in the preceding calendar month, you must request a license from Meta.
"""
UNKNOWN_TEXT = "ACME Model Terms 2.0\nYou may use these weights inside ACME Corporation only.\n"

ZOO = {  # name: what /api/tags and /api/show say about it
    "qwen2.5:7b": {"license": APACHE_TEXT, "family": "qwen2", "parameter_size": "7.6B",
                   "quantization_level": "Q4_K_M", "context_length": 32768, "size": 4_683_087_332},
    "llama3.1:8b": {"license": LLAMA_TEXT, "family": "llama", "parameter_size": "8.0B",
                    "parameter_count": 8_030_261_248, "quantization_level": "Q4_K_M",
                    "context_length": 131072, "size": 4_920_753_328},
    "acme:1b": {"license": UNKNOWN_TEXT, "family": "acme", "parameter_size": "1.2B",
                "parameter_count": 1_200_000_000, "quantization_level": "Q8_0", "context_length": 4096,
                "size": 1_300_000_000},
    "bare:latest": {"family": "bare", "parameter_size": "3.2B", "parameter_count": 3_200_000_000,
                    "quantization_level": "F16", "context_length": 8192, "size": 6_400_000_000},
}


def llama_reply(messages: list[dict[str, Any]]) -> str:
    """The second model answers differently (and cites passage 2 where there is one)."""
    last = messages[-1]["content"] if messages else ""
    cite = "[2]" if '<passage n="2"' in last else "[1]"
    return f"Otra respuesta, de otro modelo {cite}." if "Pregunta:" in last else f"Another answer {cite}."


@pytest.fixture
def model_zoo(ollama_stub: OllamaStub) -> OllamaStub:
    """The stand-in serving four models: Apache-2.0, a Llama community licence, an unknown text, none."""
    ollama_stub.models = [*ZOO, "nomic-embed-text:latest"]
    ollama_stub.cards = {name: dict(card) for name, card in ZOO.items()}
    ollama_stub.replies = {"llama3.1:8b": llama_reply}
    return ollama_stub
