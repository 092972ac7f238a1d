"""The Ollama embedder against a tiny loopback server speaking the two endpoints it uses."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from rag.embedders import make_embedder
from rag.errors import ModelNotFoundError, OllamaUnavailableError
from rag.ollama_embed import OllamaEmbedder
from rag.settings import Settings


class _Ollama(BaseHTTPRequestHandler):
    """/api/show and /api/embed as Ollama answers them; 'toy' embeds a text as (len, vowels, 1)."""

    models = {"toy": {"model_info": {"general.architecture": "bert", "bert.context_length": 1024}},
              "bare": {"parameters": "temperature 0.1"}}
    requests: list[tuple[str, dict[str, Any]]] = []

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        pass

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append((self.path, body))
        model = body.get("model")
        if model not in self.models:
            return self._send(404, {"error": f"model '{model}' not found, try pulling it first"})
        if self.path == "/api/show":
            return self._send(200, self.models[model])
        if self.path == "/api/embed":
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            vectors = [[float(len(t)), float(sum(c in "aeiou" for c in t)), 1.0] for t in inputs]
            return self._send(200, {"model": model, "embeddings": vectors})
        self._send(404, {"error": "not found"})

    def _send(self, status: int, data: dict[str, Any]) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture
def ollama() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ollama)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Ollama.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_embeds_in_batches_with_unit_vectors(ollama):
    emb = OllamaEmbedder("toy", Settings(ollama_host=ollama), batch_size=2)
    vectors = emb.embed(["hola", "evaluación final", "x"])
    assert vectors.shape == (3, 3) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    expected = np.array([4.0, 2.0, 1.0]) / np.linalg.norm([4.0, 2.0, 1.0])
    assert np.allclose(vectors[0], expected)
    embeds = [body for path, body in _Ollama.requests if path == "/api/embed"]
    assert [len(b["input"]) for b in embeds] == [2, 1] and all(b["model"] == "toy" for b in embeds)
    assert emb.name == "ollama:toy"
    emb.close()


def test_window_from_show_and_a_conservative_token_count(ollama):
    assert OllamaEmbedder("toy", Settings(ollama_host=ollama)).max_tokens == 1024
    assert OllamaEmbedder("bare", Settings(ollama_host=ollama)).max_tokens == 512  # not stated: default
    counts = OllamaEmbedder("toy", Settings(ollama_host=ollama)).count_tokens(["abcdefg", ""])
    assert counts == [3, 0]


def test_make_embedder_picks_ollama(ollama):
    emb = make_embedder(Settings(ollama_host=ollama, embed_model="ollama:toy"))
    assert isinstance(emb, OllamaEmbedder) and emb.name == "ollama:toy"
    assert emb.embed(["a"], query=True).shape == (1, 3)


def test_errors_say_what_to_do(ollama):
    with pytest.raises(ModelNotFoundError, match="ollama pull nomodel"):
        OllamaEmbedder("nomodel", Settings(ollama_host=ollama)).embed(["x"])
    with pytest.raises(OllamaUnavailableError, match="ollama serve"):
        OllamaEmbedder("toy", Settings(ollama_host="http://127.0.0.1:9")).embed(["x"])
