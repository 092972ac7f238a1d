"""The web app's model picker: facts and licence of each model, restricted ones marked, the text a click away."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures_ollama import UNKNOWN_TEXT
from tests.ollama_stub import OllamaStub
from tests.test_ui import start


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    from ui.model_facts import load_facts
    from ui.state import load_answerer, load_service, probe_ollama

    yield
    for cached in (load_answerer, load_service, probe_ollama, load_facts):
        cached.clear()


@pytest.fixture
def app_env(settings, monkeypatch: pytest.MonkeyPatch):
    """The app's environment: the test's data directory; OLLAMA_HOST stays dead unless a test points it."""
    monkeypatch.setenv("RAG_DATA_DIR", str(settings.data_dir))
    return settings


def sidebar_text(at) -> str:
    parts = [m.value for m in at.sidebar.markdown] + [c.value for c in at.sidebar.caption]
    return "\n".join(parts)


def test_picker_shows_facts_and_licence_lines(app_env, model_zoo: OllamaStub, monkeypatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", model_zoo.url)
    at = start()
    assert not at.exception
    picker = at.sidebar.selectbox(key="model")
    assert picker.options == ["qwen2.5:7b", "llama3.1:8b", "acme:1b", "bare:latest"]
    assert picker.value == "qwen2.5:7b"
    shown = sidebar_text(at)
    assert "qwen2 · 7\\.6B · Q4\\_K\\_M · 32,768 tokens de contexto · 4.7 GB" in shown
    assert ":green-badge[Apache\\-2\\.0]" in shown
    assert "**Uso comercial:** Permitido\\: usar" in shown and "(https://www.apache.org/licenses/LICENSE-2.0)" in shown
    assert any("Apache License" in c.value for c in at.sidebar.code)  # the full text, in the expander

    picker.set_value("llama3.1:8b").run()
    shown = sidebar_text(at)
    assert "Llama 3\\.1 Community License Agreement" in shown and "700 millones" in shown
    assert "Built with Llama" in shown and "(https://www.llama.com/llama3_1/use-policy/)" in shown

    at.sidebar.selectbox(key="model").set_value("acme:1b").run()
    assert "Licencia no reconocida" in sidebar_text(at)
    assert [c.value for c in at.sidebar.code] == [UNKNOWN_TEXT.strip()]

    at.sidebar.selectbox(key="model").set_value("bare:latest").run()
    assert "Sin licencia indicada" in sidebar_text(at) and not at.sidebar.code
    assert "`ollama pull qwen2.5:7b`" in sidebar_text(at)  # the recommendations, one click away


def test_restricted_models_are_marked_in_the_list(app_env, model_zoo: OllamaStub, monkeypatch) -> None:
    model_zoo.cards["acme:1b"]["license"] = "Mistral AI Research License\nIf You want to use a Mistral Model…"
    monkeypatch.setenv("OLLAMA_HOST", model_zoo.url)
    at = start(model="acme:1b")
    picker = at.sidebar.selectbox(key="model")
    assert picker.format_func("acme:1b") == "acme:1b · restringida" and picker.format_func("qwen2.5:7b") == "qwen2.5:7b"
    assert "Licencia restringida" in sidebar_text(at)


def test_picker_with_ollama_down_still_recommends(app_env) -> None:
    at = start()
    assert not at.exception
    shown = sidebar_text(at)
    assert "Ollama no disponible" in shown and "`ollama pull gemma3:4b`" in shown
