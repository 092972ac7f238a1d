"""Two models side by side: one retrieval, the same passages to both, each answer checked and timed."""

from __future__ import annotations

import argparse
import io
import json
import threading
from typing import Any

import pytest

from rag.answer.compare import Comparer, parse_pair
from rag.cli import ask as ask_cli
from rag.cli import compare as compare_cli
from rag.errors import SettingsError
from rag.settings import Settings
from tests.answer_helpers import FakeRetriever
from tests.ollama_stub import OllamaStub

Q = "¿Cuál es la nota mínima de aprobación?"
PAIR = ("qwen2.5:7b", "llama3.1:8b")


def comparer_for(url: str, tmp_path: Any, parallel: int = 1, models: tuple[str, str] = PAIR,
                 retriever: FakeRetriever | None = None) -> Comparer:
    settings = Settings(ollama_host=url, data_dir=tmp_path, request_timeout=10.0, ollama_parallel=parallel)
    return Comparer.from_settings(settings, retriever or FakeRetriever(), models)


def test_both_models_answer_from_one_retrieval_with_checked_citations(model_zoo: OllamaStub, tmp_path) -> None:
    retriever = FakeRetriever()
    comparer = comparer_for(model_zoo.url, tmp_path, retriever=retriever)
    result = comparer.compare(Q)
    comparer.close()
    assert retriever.questions == [Q], "retrieval runs once"
    a, b = result.a, result.b
    assert (a.model, b.model) == PAIR and a.outcome == b.outcome == "ok"
    assert a.answer is not None and b.answer is not None
    assert a.answer.answer == "Según los documentos, la respuesta está en el primer pasaje [1]."
    assert b.answer.answer == "Otra respuesta, de otro modelo [2]."
    assert [c.source for c in a.answer.citations] == ["reglamento.pdf"]
    assert [c.source for c in b.answer.citations] == ["posgrado.pdf"]
    assert a.answer.supported and b.answer.supported and not a.answer.abstained
    for side in (a, b):
        assert side.ttft is not None and side.ttft >= 0 and side.seconds is not None
        assert side.tokens > 0 and side.tokens_per_second is not None and side.tokens_per_second > 0
    prompts = {body["model"]: body["messages"][-1]["content"] for body in model_zoo.bodies("/api/chat")}
    assert set(prompts) == set(PAIR) and prompts[PAIR[0]] == prompts[PAIR[1]], "the same passages to both"
    assert not result.concurrent and result.extractive is None
    out = result.to_json()
    assert [x["model"] for x in out["answers"]] == list(PAIR) and out["answers"][1]["citations"][0]["n"] == 2
    assert {"ttft_s", "tokens_per_second", "supported", "abstained", "outcome"} <= set(out["answers"][0])


def test_sequential_runs_one_after_the_other(model_zoo: OllamaStub, tmp_path) -> None:
    order = [(side, kind) for side, kind, _ in comparer_for(model_zoo.url, tmp_path).stream(Q)
             if kind in {"start", "done"} and side]
    assert order == [("a", "start"), ("a", "done"), ("b", "start"), ("b", "done")]


def test_concurrent_when_ollama_allows(model_zoo: OllamaStub, tmp_path) -> None:
    both_asked = threading.Barrier(2, timeout=10)  # breaks (an error answer) unless both requests overlap

    def together(reply: Any) -> Any:
        def answer(messages: list[dict[str, Any]]) -> Any:
            both_asked.wait()
            return reply(messages)
        return answer

    model_zoo.reply = together(model_zoo.reply)
    model_zoo.replies = {name: together(r) for name, r in model_zoo.replies.items()}
    result = comparer_for(model_zoo.url, tmp_path, parallel=2).compare(Q)
    assert result.concurrent
    assert result.a.answer is not None and result.a.answer.mode == "llm" and result.a.answer.supported
    assert result.b.answer is not None and result.b.answer.mode == "llm" and result.b.answer.supported


def test_cancelling_one_side_leaves_the_other_running(model_zoo: OllamaStub, tmp_path) -> None:
    release = threading.Event()
    model_zoo.reply = lambda m: ["Primera ", *["parte "] * 10_000, "[1]."]  # side a ends only if cancelled
    slow = model_zoo.replies["llama3.1:8b"]
    model_zoo.replies["llama3.1:8b"] = lambda m: (release.wait(10), slow(m))[1]
    model_zoo.token_delay = 0.2
    comparer = comparer_for(model_zoo.url, tmp_path, parallel=2)
    final = None
    for side, kind, data in comparer.stream(Q):
        if side == "a" and kind == "token":
            comparer.cancel("a")
            release.set()
        if not side and kind == "done":
            final = data
    assert final is not None
    assert final.a.outcome == "cancelled" and final.a.answer is None and final.a.partial.startswith("Primera")
    assert final.b.outcome == "ok" and final.b.answer is not None
    assert final.b.answer.answer == "Otra respuesta, de otro modelo [2]."


def test_ollama_down_gives_the_extractive_answer_once(dead_ollama_url: str, tmp_path) -> None:
    result = comparer_for(dead_ollama_url, tmp_path).compare(Q)
    assert result.a.outcome == result.b.outcome == "error"
    assert result.extractive is not None and result.extractive.mode == "extractive"
    assert "5,0 sobre 10" in result.extractive.answer and result.extractive.citations
    assert result.notice is not None and "ollama serve" in result.notice
    out = io.StringIO()
    err = io.StringIO()
    compare_cli.run(comparer_for(dead_ollama_url, tmp_path), Q, out=out, err=err)
    assert out.getvalue().count("── extractive ──") == 1 and "ollama serve" in err.getvalue()


def test_a_missing_model_says_how_to_pull_it(model_zoo: OllamaStub, tmp_path) -> None:
    result = comparer_for(model_zoo.url, tmp_path, models=("qwen2.5:7b", "gemma3:4b")).compare(Q)
    assert result.b.outcome == "missing" and "`ollama pull gemma3:4b`" in result.b.error
    assert result.a.outcome == "ok" and result.a.answer is not None and result.a.answer.mode == "llm"
    assert result.extractive is None


def test_cli_compare_json_and_terminal(model_zoo: OllamaStub, tmp_path) -> None:
    out = io.StringIO()
    assert compare_cli.run(comparer_for(model_zoo.url, tmp_path), Q, as_json=True, out=out) == 0
    data = json.loads(out.getvalue())
    assert [a["answer"] for a in data["answers"]] == ["Según los documentos, la respuesta está en el primer "
                                                      "pasaje [1].", "Otra respuesta, de otro modelo [2]."]
    assert data["concurrent"] is False and len(data["hits"]) == 3
    out, err = io.StringIO(), io.StringIO()
    compare_cli.run(comparer_for(model_zoo.url, tmp_path), Q, out=out, err=err)
    text = out.getvalue()
    assert "── A: qwen2.5:7b ──" in text and "── B: llama3.1:8b ──" in text
    assert "[2] posgrado.pdf, p. 7" in text and "tokens/s" in text and "one after the other" in err.getvalue()


def test_compare_option_is_parsed(monkeypatch, capsys) -> None:
    assert parse_pair(" a:1 , b:2 ") == ("a:1", "b:2")
    for bad in ("a", "a,a", "a,b,c"):
        with pytest.raises(SettingsError, match="two different models"):
            parse_pair(bad)
    parser = argparse.ArgumentParser(prog="rag")
    ask_cli.register(parser.add_subparsers(dest="command", required=True))
    assert parser.parse_args(["ask", Q, "--compare", "a,b"]).compare == "a,b"
