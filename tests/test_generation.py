"""The Ollama adapter against the loopback stand-in: real ``ollama`` and ``langchain-ollama`` clients."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rag.answer.generation import OllamaGenerator, context_window_from_show, is_pulled
from rag.errors import GenerationError, GenerationTimeoutError, ModelNotFoundError, OllamaUnavailableError
from rag.settings import Settings
from tests.ollama_stub import OllamaStub

MESSAGES = [("system", "Reglas."), ("user", "Pregunta: ¿nota?")]


@pytest.fixture
def generator(stub_settings: Settings) -> Iterator[OllamaGenerator]:
    with OllamaGenerator(stub_settings) as gen:
        yield gen


def test_is_pulled_follows_ollama_tag_rules() -> None:
    assert is_pulled("qwen2.5:7b", ["qwen2.5:7b"])
    assert is_pulled("llama3", ["llama3:latest"])
    assert not is_pulled("llama3", ["llama3:8b"])
    assert not is_pulled("qwen2.5", ["qwen2.5:7b"])


@pytest.mark.parametrize(
    ("info", "parameters", "window"),
    [
        ({"general.architecture": "qwen2", "qwen2.context_length": 32768}, "", 8192),  # capped
        ({"general.architecture": "llama", "llama.context_length": 2048}, "", 2048),
        ({"general.architecture": "llama", "llama.context_length": 131072}, "num_ctx 16384\nstop x", 16384),
        ({"general.architecture": "gemma3"}, "", 4096),  # unknown: Ollama's default
    ],
)
def test_context_window_from_show(info: dict, parameters: str, window: int) -> None:
    assert context_window_from_show(info, parameters, max_context=8192) == window


def test_metadata_from_the_real_endpoints(generator: OllamaGenerator, ollama_stub: OllamaStub) -> None:
    assert generator.version() == "0.12.6"
    assert generator.models() == ["qwen2.5:7b", "nomic-embed-text:latest"]
    ollama_stub.context_length = 2048
    assert generator.context_window() == 2048
    assert [r.path for r in ollama_stub.requests] == [
        "/api/version",
        "/api/tags",
        "/api/version",
        "/api/tags",
        "/api/show",
    ]
    generator.context_window()  # cached: no more requests
    assert len(ollama_stub.requests) == 5


def test_modelfile_num_ctx_wins(generator: OllamaGenerator, ollama_stub: OllamaStub) -> None:
    ollama_stub.num_ctx = 3000
    assert generator.context_window() == 3000


def test_streams_the_answer_with_the_window_it_budgeted(
    generator: OllamaGenerator, ollama_stub: OllamaStub
) -> None:
    ollama_stub.reply = lambda messages: ["La nota ", "mínima es ", "5 [1]."]
    assert list(generator.stream(MESSAGES)) == ["La nota ", "mínima es ", "5 [1]."]
    (body,) = ollama_stub.bodies("/api/chat")
    assert body["model"] == "qwen2.5:7b" and body["stream"] is True
    assert body["options"]["num_ctx"] == 8192 and body["options"]["temperature"] == pytest.approx(0.1)
    assert [m["role"] for m in body["messages"]] == ["system", "user"]


def test_nothing_listening_is_explained(dead_ollama_url: str) -> None:
    gen = OllamaGenerator(Settings(ollama_host=dead_ollama_url))
    with pytest.raises(OllamaUnavailableError, match="start it with `ollama serve`") as info:
        gen.context_window()
    assert dead_ollama_url in str(info.value)
    gen._window = 4096  # as if Ollama had been there earlier and then stopped
    with pytest.raises(OllamaUnavailableError):
        list(gen.stream(MESSAGES))


def test_missing_model_lists_what_is_there(stub_settings: Settings) -> None:
    gen = OllamaGenerator(stub_settings, model="llama3")
    with pytest.raises(ModelNotFoundError, match=r"run `ollama pull llama3`") as info:
        gen.context_window()
    assert info.value.available == ["qwen2.5:7b", "nomic-embed-text:latest"]
    assert "available: qwen2.5:7b, nomic-embed-text:latest" in str(info.value)


def test_model_removed_after_the_check_is_explained(
    generator: OllamaGenerator, ollama_stub: OllamaStub
) -> None:
    generator.context_window()
    ollama_stub.models = ["phi3:mini"]  # someone ran `ollama rm` meanwhile: /api/chat answers 404
    with pytest.raises(ModelNotFoundError, match="available: phi3:mini"):
        list(generator.stream(MESSAGES))


def test_stream_cut_keeps_what_arrived(generator: OllamaGenerator, ollama_stub: OllamaStub) -> None:
    ollama_stub.reply = lambda messages: ["uno ", "dos ", "tres ", "cuatro"]
    ollama_stub.cut_after = 2
    received: list[str] = []
    with pytest.raises(GenerationError, match="closed in the middle"):
        for token in generator.stream(MESSAGES):
            received.append(token)
    assert received == ["uno ", "dos "]


def test_stream_without_final_message_is_incomplete(
    generator: OllamaGenerator, ollama_stub: OllamaStub
) -> None:
    ollama_stub.reply = lambda messages: ["uno ", "dos"]
    ollama_stub.cut_after = 2  # every chunk, then the connection drops before "done"
    with pytest.raises(GenerationError):
        list(generator.stream(MESSAGES))


def test_length_limit_is_reported(generator: OllamaGenerator, ollama_stub: OllamaStub) -> None:
    ollama_stub.done_reason = "length"
    with pytest.raises(GenerationError, match="length limit"):
        list(generator.stream(MESSAGES))


def test_model_error_is_explained(generator: OllamaGenerator, ollama_stub: OllamaStub) -> None:
    ollama_stub.fail_status = 500
    with pytest.raises(GenerationError, match=r"HTTP 500\): llama runner process has terminated") as info:
        list(generator.stream(MESSAGES))
    assert type(info.value) is GenerationError


def test_error_in_the_middle_of_the_stream(generator: OllamaGenerator, ollama_stub: OllamaStub) -> None:
    ollama_stub.stream_error_after = 1
    with pytest.raises(GenerationError, match="during the answer"):
        list(generator.stream(MESSAGES))


def test_slow_model_times_out(ollama_stub: OllamaStub) -> None:
    ollama_stub.delay = 3600  # answers only when the stub stops: the client's timeout is the only way out
    gen = OllamaGenerator(Settings(ollama_host=ollama_stub.url, request_timeout=0.5))
    with pytest.raises(GenerationTimeoutError, match="did not answer within 0.5 s"):
        list(gen.stream(MESSAGES))
    gen.close()


def test_something_else_on_the_port_is_not_mistaken_for_ollama(ollama_stub: OllamaStub) -> None:
    gen = OllamaGenerator(Settings(ollama_host=ollama_stub.url + "/not-ollama"))
    with pytest.raises(OllamaUnavailableError, match="not Ollama"):
        gen.version()


def test_status_lists_models_when_reachable(stub_settings: Settings, ollama_stub: OllamaStub) -> None:
    from rag.answer.generation import ollama_status

    status = ollama_status(stub_settings)
    assert status.reachable and status.version == "0.12.6" and status.error == ""
    assert status.models == ("qwen2.5:7b", "nomic-embed-text:latest") and status.has("qwen2.5:7b")
    assert [r.path for r in ollama_stub.requests] == ["/api/version", "/api/tags"]


def test_status_says_how_to_start_ollama(dead_ollama_url: str) -> None:
    from rag.answer.generation import ollama_status

    status = ollama_status(Settings(ollama_host=dead_ollama_url))
    assert not status.reachable and status.models == ()
    assert "ollama serve" in status.error and dead_ollama_url in status.error
