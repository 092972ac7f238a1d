"""``rag ask``: terminal and JSON output, exit codes, and the seam to the index."""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Iterator

import pytest

from rag.answer.answerer import Answerer
from rag.cli import ask as ask_cli
from rag.errors import SettingsError
from rag.settings import Settings
from rag.types import Citation
from tests.answer_helpers import REGLAMENTO, FakeRetriever, hit
from tests.ollama_stub import OllamaStub

Q_ES = "¿Cuál es la nota mínima de aprobación?"


def ask_main(argv: list[str]) -> int:
    """Parse and run ``rag ask`` alone, so other commands' plugins cannot get in the way."""
    parser = argparse.ArgumentParser(prog="rag")
    ask_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.handler(args))


@pytest.fixture
def answerer(stub_settings: Settings) -> Iterator[Answerer]:
    answerer = Answerer.from_settings(stub_settings, FakeRetriever())
    yield answerer
    answerer.close()


def run(answerer: Answerer, question: str = Q_ES, as_json: bool = False) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = ask_cli.run(answerer, question, as_json=as_json, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_terminal_streams_the_answer_then_lists_sources(answerer: Answerer, ollama_stub: OllamaStub) -> None:
    ollama_stub.reply = lambda m: "La nota mínima es 5,0 [1]; en posgrado, 7,0 [2][9]."
    code, out, err = run(answerer)
    assert code == 0 and err == ""
    answer, sources = out.split("\n\nFuentes:\n")
    assert answer == "La nota mínima es 5,0 [1]; en posgrado, 7,0 [2]."
    lines = sources.splitlines()
    assert lines[0].startswith('[1] reglamento.pdf, p. 3 — "Artículo 12. La nota mínima para aprobar')
    assert lines[0].endswith('publican en el aula virtual."')
    assert lines[1].startswith("[2] posgrado.pdf, p. 7 — ")
    assert len(lines) == 2


def test_source_lines_shorten_long_passages_and_show_page_ranges() -> None:
    citation = Citation(n=2, source="tesis.pdf", page=4, page_end=5, text="palabra " * 100)
    line = ask_cli.format_citation(citation)
    assert line.startswith('[2] tesis.pdf, pp. 4-5 — "palabra palabra') and line.endswith('palabra…"')
    assert len(line) < 200


def test_english_question_lists_sources(answerer: Answerer) -> None:
    _, out, _ = run(answerer, "What is the minimum passing grade?")
    assert "\n\nSources:\n[1] reglamento.pdf, p. 3" in out


def test_extractive_answer_explains_on_stderr(dead_ollama_url: str) -> None:
    answerer = Answerer.from_settings(Settings(ollama_host=dead_ollama_url), FakeRetriever())
    code, out, err = run(answerer)
    assert code == 0
    assert "5,0 sobre 10. [1]" in out and "[1] reglamento.pdf, p. 3" in out
    assert err.count("`ollama serve`") == 1 and "Respuesta extractiva" in err


def test_unsupported_answer_is_flagged(answerer: Answerer, ollama_stub: OllamaStub) -> None:
    ollama_stub.reply = lambda m: "Es 4, creo."
    code, out, err = run(answerer)
    assert code == 0 and out == "Es 4, creo.\n"
    assert "ninguna cita" in err


def test_json_is_one_object_without_streamed_text(answerer: Answerer, ollama_stub: OllamaStub) -> None:
    ollama_stub.reply = lambda m: "Es 5,0 [1]."
    code, out, err = run(answerer, as_json=True)
    assert code == 0 and err == ""
    data = json.loads(out)
    assert out.count("\n") == 1 and "¿Cuál" in out  # ensure_ascii=False
    assert {"question", "answer", "mode", "model", "citations", "hits"} <= data.keys()
    assert data["mode"] == "llm" and data["model"] == "qwen2.5:7b" and "notice" not in data
    assert data["citations"] == [{"n": 1, "source": "reglamento.pdf", "page": 3, "locator": "p. 3",
                                  "text": REGLAMENTO[0].text, "ocr": False, "ocr_confidence": None}]
    assert [h["rank"] for h in data["hits"]] == [1, 2, 3]


def test_json_carries_the_notice_when_degraded(stub_settings: Settings) -> None:
    answerer = Answerer.from_settings(stub_settings, FakeRetriever(), model="mistral")
    _, out, err = run(answerer, as_json=True)
    data = json.loads(out)
    assert data["mode"] == "extractive" and data["model"] is None
    assert "`ollama pull mistral`" in data["notice"] and err == ""


def test_terminal_output_cannot_carry_escapes(answerer: Answerer, ollama_stub: OllamaStub) -> None:
    answerer.retriever.hits[:] = [hit(1, "a\x1b[31m.pdf", 1, "Texto \x1b]0;x\x07 con escape. " * 3)]
    ollama_stub.reply = lambda m: "Sí \x1b[2J[1]."
    _, out, _ = run(answerer)
    assert "\x1b" not in out and "\x07" not in out
    assert "[1] a.pdf, p. 1" in out


def test_handler_uses_the_index_seam(
    monkeypatch: pytest.MonkeyPatch, answerer: Answerer, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[tuple[str, str]] = []

    def build(settings: Settings, collection: str) -> Answerer:
        seen.append((settings.model, collection))
        return answerer

    monkeypatch.setattr(ask_cli, "build_answerer", build)
    assert ask_main(["ask", Q_ES, "--collection", "tesis", "--model", "qwen2.5:7b", "-k", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert seen == [("qwen2.5:7b", "tesis")] and len(data["hits"]) == 2


def test_bad_arguments_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        ask_main(["ask", Q_ES, "-k", "0"])
    assert info.value.code == 2 and "must be 1 or more" in capsys.readouterr().err
    with pytest.raises(SettingsError, match="invalid collection name"):  # rag.cli.main: one line, exit 2
        ask_main(["ask", Q_ES, "--collection", "a"])


# -- end to end: the real CLI process, the real index and model, the Ollama stand-in -----------------

def test_rag_ask_end_to_end_cites_the_right_page(settings, ollama_stub) -> None:
    import json
    import subprocess

    from tests.conftest import ROOT, subprocess_env

    sample = ROOT / "corpora" / "sample"
    env = subprocess_env(settings)
    subprocess.run([sys.executable, "-m", "rag", "ingest", str(sample)], env=env, cwd=ROOT, check=True,
                   capture_output=True, timeout=300)

    def reply(messages):  # a model that answers from passage [1] and cites it, plus a bogus [9]
        prompt = messages[-1]["content"]
        assert "71" in prompt  # the retrieved passage reached the model
        return "En posgrado la nota mínima de aprobación es 71 puntos [1]. Ver también [9]."

    ollama_stub.reply = reply
    env["OLLAMA_HOST"] = ollama_stub.url
    out = subprocess.run([sys.executable, "-m", "rag", "ask", "¿Cuál es la nota mínima de aprobación en posgrado?",
                          "--json"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["mode"] == "llm" and answer["model"] == "qwen2.5:7b"
    assert "[9]" not in answer["answer"]  # a marker naming no retrieved passage is dropped
    assert [c["n"] for c in answer["citations"]] == [1]
    cited = answer["citations"][0]
    assert cited["source"] == "reglamento_evaluacion.pdf" and cited["page"] == 1
    assert cited["text"] == answer["hits"][0]["text"]
