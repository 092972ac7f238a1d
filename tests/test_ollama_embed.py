"""The Ollama embedder against a tiny loopback server speaking the two endpoints it uses."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from rag.encoders.embedders import make_embedder
from rag.encoders.ollama_embed import OllamaEmbedder
from rag.errors import ModelNotFoundError, OllamaUnavailableError
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


# -- re-embedding a collection with another model ------------------------------------------------------
def _ingest_two(service):
    from rag.index.writer import Indexer
    from tests.test_index import POLICY, REGLAMENTO, pending

    Indexer(service.index, service.embedder, "default").add([pending(REGLAMENTO), pending(POLICY)])
    return service.index.catalog("default").chunk_count()


def test_reembed_swaps_the_model_and_refuses_the_old_one(service, settings, ollama, monkeypatch):
    from rag.cli import main
    from rag.errors import EmbedderMismatchError
    from rag.service import Service

    passages = _ingest_two(service)
    toy = Service(settings.model_copy(update={"ollama_host": ollama, "embed_model": "ollama:toy"}))
    with pytest.raises(EmbedderMismatchError, match="rag reembed --collection default"):
        toy.search("nota mínima", method="dense")
    assert toy.reembed() == passages
    cat = toy.index.catalog("default")
    assert cat.get_meta("embedder") == "ollama:toy" and cat.get_meta("dimension") == "3"
    assert cat.get_meta("reembed") is None
    assert set(toy.index.vectors.ids("default")) == set(cat.chunk_ids())
    assert toy.search("nota mínima", method="dense")  # the toy model's vectors answer now
    with pytest.raises(EmbedderMismatchError, match="ollama:toy"):
        service.search("nota mínima", method="dense")
    assert service.search("asistencia mínima", method="lexical")[0].page == 3  # lexical is untouched
    # the CLI refuses without confirmation when it cannot ask
    monkeypatch.setenv("RAG_DATA_DIR", str(settings.data_dir))
    assert main(["reembed"]) == 2


def test_reembed_interrupted_keeps_the_old_vectors(service, settings, ollama):
    passages = _ingest_two(service)
    index = service.index
    before = set(index.vectors.ids("default"))

    def fails_on_second(chunks, calls=[]):  # noqa: B006 - counts calls
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return np.ones((len(chunks), 3), np.float32)

    with pytest.raises(KeyboardInterrupt), index.writing():
        index.reembed("default", "ollama:toy", fails_on_second)
    assert index.catalog("default").get_meta("embedder") == service.embedder.name
    assert set(index.vectors.ids("default")) == before
    with index.writing():  # the next writer drops the half-built copy
        pass
    cat = index.catalog("default")
    assert cat.get_meta("reembed") is None and not [c for c in index.vectors.collections() if "reembed" in c]
    assert service.search("nota mínima de aprobación", method="dense")[0].source == "reglamento.pdf"
    assert cat.chunk_count() == passages


def test_reembed_killed_during_the_swap_is_finished_by_recovery(service, settings, ollama):
    passages = _ingest_two(service)
    index = service.index
    cat = index.catalog("default")
    with index.writing():
        index.reembed("default", "ollama:toy", lambda chunks: np.ones((len(chunks), 3), np.float32))
    # replay the state a kill right after dropping the old vectors leaves: marker set, staging renamed
    cat.set_meta("reembed", "other-model")
    cat.set_meta("reembed_done", "3")
    with index.writing():
        pass
    assert cat.get_meta("embedder") == "other-model" and cat.get_meta("reembed") is None
    assert index.vectors.count("default") == passages
