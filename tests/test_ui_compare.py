"""Compare mode and the leaderboard in the web app (AppTest): two answers side by side, a vote, its count."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from ingest.pipeline import IngestJob, IngestReport, discover
from rag.models.votes import VoteStore
from tests.ollama_stub import OllamaStub
from tests.test_ui import QUESTIONS, SAMPLE, start, texts

Q = next(q for q in QUESTIONS if q["id"] == "es-01")


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    from ui.model_facts import load_facts
    from ui.state import load_answerer, load_service, probe_ollama

    yield
    for cached in (load_answerer, load_service, probe_ollama, load_facts):
        cached.clear()


@pytest.fixture
def sample(service: Any, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("RAG_DATA_DIR", str(settings.data_dir))
    report = IngestReport()
    IngestJob(service).run(discover([SAMPLE], report), report=report)
    assert not report.failed
    return service


def compare_page(at: AppTest, question: str) -> AppTest:
    at.switch_page("views/compare.py").run()
    at.chat_input(key="compare_question").set_value(question)
    return at.run()


def test_compare_vote_and_leaderboard(sample, model_zoo: OllamaStub, monkeypatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", model_zoo.url)
    at = start()
    at.switch_page("views/compare.py").run()
    assert not at.exception
    assert at.selectbox(key="compare_a").value == "qwen2.5:7b"
    assert ":green-badge[Apache\\-2\\.0]" in [m.value for m in at.main.markdown]
    at.selectbox(key="compare_b").set_value("llama3.1:8b")
    at.chat_input(key="compare_question").set_value(Q["question"])
    at.run()
    assert not at.exception
    shown = texts(at)
    assert "Según los documentos\\, la respuesta está en el primer pasaje :blue-badge[1]" in shown
    assert "Otra respuesta\\, de otro modelo :blue-badge[2]" in shown
    assert shown.count("Redactada por") == 2 and shown.count(":green-badge[citada]") == 2
    assert "uno después del otro" in shown and "tokens/s" in shown
    cards = [m.value for m in at.markdown if m.value.startswith(":blue-badge[")]
    assert len(cards) == 2, "each answer with its cited source"
    assert len({b["messages"][-1]["content"] for b in model_zoo.bodies("/api/chat")}) == 1, "same passages"

    at.text_input(key="vote_comment").set_value("B cita el pasaje correcto")
    at.button(key="vote_b").click().run()
    assert not at.exception
    assert "Voto guardado: B es mejor" in texts(at)
    (vote,) = VoteStore.open(sample.settings.data_dir, "default").votes()
    assert (vote.model_a, vote.model_b, vote.verdict, vote.user) == ("qwen2.5:7b", "llama3.1:8b", "b", "local")
    assert vote.comment == "B cita el pasaje correcto" and vote.question == Q["question"]

    at.switch_page("views/leaderboard.py").run()
    assert not at.exception
    board = texts(at)
    assert "(1 en total)" in board
    assert "**llama3\\.1\\:8b** vs **qwen2\\.5\\:7b** · 1 votos" in board
    assert "llama3\\.1\\:8b: 100% de victorias" in board and "La puntuación aparece con 20 votos" in board


def test_compare_runs_concurrently_when_configured(sample, model_zoo: OllamaStub, monkeypatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", model_zoo.url)
    monkeypatch.setenv("RAG_OLLAMA_PARALLEL", "2")
    at = compare_page(start(), Q["question"])
    assert not at.exception
    assert "Los dos modelos responden a la vez" in texts(at)


def test_compare_with_a_missing_model_says_how_to_pull_it(sample, model_zoo: OllamaStub, monkeypatch) -> None:
    model_zoo.models = ["llama3.1:8b", "acme:1b"]  # the configured qwen2.5:7b is not pulled
    monkeypatch.setenv("OLLAMA_HOST", model_zoo.url)
    at = start()
    at.switch_page("views/compare.py").run()
    assert "qwen2.5:7b" in at.selectbox(key="compare_b").options
    at.selectbox(key="compare_a").set_value("llama3.1:8b")
    at.selectbox(key="compare_b").set_value("qwen2.5:7b")
    at.chat_input(key="compare_question").set_value(Q["question"])
    at.run()
    shown = texts(at)
    assert "El modelo `qwen2.5:7b` no está descargado: `ollama pull qwen2.5:7b`" in shown
    assert "Otra respuesta\\, de otro modelo" in shown
    assert not any(b.key == "vote_a" for b in at.button), "a vote needs two answers"


def test_compare_with_ollama_down_gives_one_extractive_answer(sample) -> None:
    at = compare_page(start(), Q["question"])
    assert not at.exception
    shown = texts(at)
    assert "Ollama no responde" in shown and "ollama serve" in shown
    assert shown.count("Respuesta extractiva") == 1
    assert not any(b.key == "vote_a" for b in at.button)


def test_leaderboard_without_votes(sample) -> None:
    at = start()
    at.switch_page("views/leaderboard.py").run()
    assert not at.exception and "Aún no hay votos" in texts(at)
