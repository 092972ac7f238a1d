"""The Ollama stand-in itself answers the real client's calls the way Ollama does."""

from __future__ import annotations

import ollama
import pytest

from tests.ollama_stub import OllamaStub


def test_generate_streams_and_ends_with_counters(ollama_stub: OllamaStub) -> None:
    ollama_stub.reply = lambda messages: ["Hola ", "mundo"]
    with ollama.Client(host=ollama_stub.url) as client:
        parts = list(client.generate(model="qwen2.5:7b", prompt="di hola", stream=True))
    assert [p.response for p in parts] == ["Hola ", "mundo", ""]
    assert parts[-1].done and parts[-1].done_reason == "stop" and parts[-1].eval_count == 2
    assert ollama_stub.bodies("/api/generate")[0]["prompt"] == "di hola"


def test_chat_without_streaming(ollama_stub: OllamaStub) -> None:
    with ollama.Client(host=ollama_stub.url) as client:
        reply = client.chat(model="qwen2.5:7b", messages=[{"role": "user", "content": "Question: x"}])
    assert reply.message.content.startswith("According to the documents") and reply.done
    assert ollama_stub.bodies("/api/chat")[0]["stream"] is False


def test_embed_is_deterministic_and_unit_length(ollama_stub: OllamaStub) -> None:
    with ollama.Client(host=ollama_stub.url) as client:
        first = client.embed(model="nomic-embed-text", input=["nota mínima", "posgrado"]).embeddings
        again = client.embed(model="nomic-embed-text", input="nota mínima").embeddings
    assert len(first) == 2 and len(first[0]) == ollama_stub.embed_dim
    assert again[0] == first[0] and first[0] != first[1]
    assert sum(v * v for v in first[0]) == pytest.approx(1.0)


def test_unknown_models_get_ollamas_404s(ollama_stub: OllamaStub) -> None:
    with ollama.Client(host=ollama_stub.url) as client:
        with pytest.raises(ollama.ResponseError) as shown:
            client.show("llama3")
        with pytest.raises(ollama.ResponseError) as chatted:
            client.chat(model="llama3", messages=[])
    assert shown.value.status_code == 404 and shown.value.error == "model 'llama3' not found"
    assert chatted.value.error == 'model "llama3" not found, try pulling it first'


def test_tags_and_version(ollama_stub: OllamaStub) -> None:
    with ollama.Client(host=ollama_stub.url) as client:
        models = client.list().models
    assert [m.model for m in models] == ollama_stub.models and models[0].details.family == "qwen2.5"
    assert ollama_stub.embedding("x") == ollama_stub.embedding("x")
