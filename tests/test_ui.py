"""The web app's flows through Streamlit's AppTest: ask with citations, upload, documents, Ollama down.

The app runs in this process on a temporary data directory, with the real index and embedding model; Ollama
is the loopback stand-in or a dead port.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from ingest.pipeline import IngestJob, IngestReport, discover
from ingest.uploads import uploads_dir
from tests.conftest import ROOT
from tests.helpers import make_pdf
from tests.ollama_stub import OllamaStub
from ui.components import md_escape

APP = ROOT / "ui" / "app.py"
SAMPLE = ROOT / "corpora" / "sample"
QUESTIONS = json.loads((ROOT / "corpora" / "sample_questions.json").read_text())["questions"]
PDF = "application/pdf"


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    """Each test's app opens its own index; the embedding model (keyed by name) stays loaded between tests."""
    from ui.state import load_answerer, load_service, probe_ollama

    yield
    load_answerer.clear()
    load_service.clear()
    probe_ollama.clear()


@pytest.fixture
def app_env(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The app's environment: the test's data directory; OLLAMA_HOST stays dead unless a test points it."""
    monkeypatch.setenv("RAG_DATA_DIR", str(settings.data_dir))
    return settings


@pytest.fixture
def sample(service: Any, app_env: Any) -> Any:
    """The sample corpus, ingested as `rag ingest corpora/sample` would."""
    report = IngestReport()
    IngestJob(service).run(discover([SAMPLE], report), report=report)
    assert not report.failed
    return service


def start(**session: Any) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=180)
    for key, value in session.items():
        at.session_state[key] = value
    return at.run()


def texts(at: AppTest) -> str:
    """Everything the page shows as text (Markdown, captions, alerts, HTML), one string to search."""
    parts: list[str] = []
    for kind in ("title", "markdown", "caption", "info", "warning", "error", "success", "html"):
        parts += [str(getattr(e, "value", "") or getattr(e, "body", "")) for e in getattr(at, kind)]
    return "\n".join(parts)


def ask(at: AppTest, question: str) -> AppTest:
    at.chat_input(key="question").set_value(question)
    return at.run()


def question(qid: str) -> dict[str, Any]:
    return next(q for q in QUESTIONS if q["id"] == qid)


# -- ask --------------------------------------------------------------------------------------------

def test_empty_collection_says_how_to_fill_it(app_env) -> None:
    at = start()
    assert not at.exception
    assert "La colección está vacía" in texts(at)
    assert at.chat_input(key="question").disabled


def test_ask_streams_an_answer_with_cited_source_cards(sample, ollama_stub: OllamaStub, monkeypatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", ollama_stub.url)
    ollama_stub.reply = lambda messages: ["La nota mínima ", "de aprobación es ", "51 puntos [1]."]
    q = question("es-01")
    at = ask(start(), q["question"])
    assert not at.exception
    shown = texts(at)
    assert "La nota mínima de aprobación es 51 puntos :blue-badge[1]" in shown
    assert "Redactada por qwen2\\.5\\:7b" in shown and "Ollama no responde" not in shown
    card = next(m.value for m in at.markdown if m.value.startswith(":blue-badge[1]"))
    assert md_escape(q["source"]) in card and f"pág. {q['page']}" in card
    passage = next(h.value for h in at.html if "rag-passage" in h.value)
    assert "<mark>" in passage and q["answer_contains"].split()[0] in passage

    # a follow-up is read with the conversation (the model is asked to make it standalone first)
    shows = len(ollama_stub.bodies("/api/show"))  # the chain's, and the model picker's facts (cached)
    ollama_stub.reply = lambda messages: "¿Cuál es la nota mínima de aprobación en posgrado?" \
        if "independiente" in messages[0]["content"] else "En posgrado es 71 [1]."
    at = ask(at, "¿Y en posgrado?")
    assert "En posgrado es 71" in texts(at) and len(at.chat_message) == 4
    assert any(q["question"] in p for p in ollama_stub.chat_prompts())
    assert len(ollama_stub.bodies("/api/show")) == shows  # the chain is built once: a second question only asks

    at.button(key="new_chat").click().run()
    assert len(at.chat_message) == 0 and "Haga una pregunta" in texts(at)


def test_ollama_down_gives_a_banner_and_labelled_extractive_answers(sample) -> None:
    at = start()
    banner = " ".join(w.value for w in at.warning)
    assert "Ollama no responde" in banner and "ollama serve" in banner and "OLLAMA_HOST" in banner
    assert any("modo extractivo" in m.value for m in at.sidebar.markdown)
    q = question("es-05")
    at = ask(at, q["question"])
    assert not at.exception
    assert "Respuesta extractiva" in texts(at)
    cards = [m.value for m in at.markdown if m.value.startswith(":blue-badge[")]
    assert any(md_escape(q["source"]) in c and f"pág. {q['page']}" in c for c in cards)


def test_ollama_dying_mid_answer_keeps_the_text_and_says_so(sample, ollama_stub, monkeypatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", ollama_stub.url)
    ollama_stub.reply = lambda messages: ["La nota ", "mínima ", "es 51 [1] ", "y además ", "otra cosa."]
    ollama_stub.cut_after = 3
    at = ask(start(), question("es-01")["question"])
    assert not at.exception
    assert "La nota mínima es 51" in texts(at)
    assert any("incomplet" in w.value.lower() or "cort" in w.value.lower() for w in at.warning), \
        [w.value for w in at.warning]


def test_empty_question_is_refused_kindly(sample) -> None:
    at = ask(start(), "   ")
    assert "Escriba una pregunta" in texts(at) and len(at.chat_message) == 0


def test_whole_page_opens_from_a_card(sample) -> None:
    q = question("es-03")
    at = ask(start(), q["question"])
    next(b for b in at.button if (b.key or "").startswith("page-default-0-")).click().run()
    assert not at.exception
    pages = [h.value for h in at.html if "rag-page" in h.value and "rag-passage" not in h.value]
    assert pages and "Artículo" in pages[0]


def test_models_come_from_ollama(sample, ollama_stub, monkeypatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", ollama_stub.url)
    ollama_stub.models = ["llama3.2:3b", "qwen2.5:7b", "nomic-embed-text:latest"]
    at = start()
    picker = at.sidebar.selectbox(key="model")
    assert picker.options == ["llama3.2:3b", "qwen2.5:7b"] and picker.value == "qwen2.5:7b"
    picker.set_value("llama3.2:3b").run()
    at = ask(at, question("es-01")["question"])
    assert [b["model"] for b in ollama_stub.bodies("/api/chat")] == ["llama3.2:3b"]


# -- upload -----------------------------------------------------------------------------------------

def upload(at: AppTest, files: list[tuple[str, bytes, str]], password: str = "") -> AppTest:
    at.file_uploader(key="files").set_value(files)
    if password:
        at.text_input(key="pdf_password").set_value(password)
    next(b for b in at.main.button if b.label == "Subir e indexar").click()
    return at.run()


def on_upload_page(**session: Any) -> AppTest:
    at = start(**session)
    at.switch_page("views/upload.py")
    return at.run()


def test_upload_then_ask_about_it(app_env) -> None:
    at = on_upload_page()
    assert "máx. 200 MB por archivo" in at.file_uploader(key="files").label
    pdf = (SAMPLE / "procedimiento_titulacion.pdf").read_bytes()
    at = upload(at, [("procedimiento_titulacion.pdf", pdf, PDF), ("dañado.pdf", b"%PDF-1.4 nada", PDF)])
    assert not at.exception
    shown = texts(at)
    assert "Añadidos (1)" in shown and "procedimiento\\_titulacion\\.pdf" in shown
    assert "No se pudieron añadir (1)" in shown and "dañado\\.pdf" in shown and "archivo dañado" in shown
    assert (uploads_dir_for(app_env) / "procedimiento_titulacion.pdf").read_bytes() == pdf

    at.switch_page("views/chat.py").run()
    q = question("es-10")
    at = ask(at, q["question"])
    cards = [m.value for m in at.markdown if m.value.startswith(":blue-badge[")]
    assert any("procedimiento\\_titulacion\\.pdf" in c and f"pág. {q['page']}" in c for c in cards)


def uploads_dir_for(settings: Any) -> Any:
    return settings.data_dir / "uploads" / "default"


def test_encrypted_and_image_only_pdfs_are_explained(app_env, shared_data) -> None:
    manifest = [json.loads(line) for line in (shared_data / "pdfs" / "manifest.jsonl").read_text().splitlines()]
    locked = next(m for m in manifest if m.get("password") and m.get("text_chars", 0) > 50)
    locked_bytes = (shared_data / "pdfs" / locked["file"]).read_bytes()
    scanned = make_pdf([""])  # a page with no text layer, as a scan has
    at = upload(on_upload_page(), [("protegido.pdf", locked_bytes, PDF), ("escaneo.pdf", scanned, PDF)])
    shown = texts(at)
    assert "protegido con contraseña" in shown and "no tiene texto que indexar" in shown
    at = upload(at, [("protegido.pdf", locked_bytes, PDF)], password=locked["password"])
    assert "Añadidos (1)" in texts(at)


def test_size_limit_is_stated_and_enforced(app_env, monkeypatch) -> None:
    monkeypatch.setenv("RAG_MAX_UPLOAD_MB", "1")
    at = on_upload_page()
    assert "máx. 1 MB por archivo" in at.file_uploader(key="files").label
    big = ("Una línea de texto del reglamento.\n" * 40_000).encode()
    assert len(big) > 1024 * 1024
    at = upload(at, [("enorme.txt", big, "text/plain")])
    assert not at.exception
    assert "supera el límite de 1 MB" in texts(at)
    assert not (uploads_dir_for(app_env)).exists() or not any(uploads_dir_for(app_env).iterdir())


# -- documents and collections ----------------------------------------------------------------------

def test_documents_reingest_and_remove(app_env, service) -> None:
    at = upload(on_upload_page(), [("faq.md", (SAMPLE / "preguntas_frecuentes_becas_biblioteca.md").read_bytes(),
                                    "text/markdown")])
    doc = service.documents()[0]
    at.switch_page("views/documents.py").run()
    assert "faq\\.md" in texts(at) and at.metric[0].value == "1"

    at.button(key=f"reingest-{doc.sha256}").click().run()
    assert not at.exception
    assert any("se volvió a indexar" in s.value for s in at.success)
    assert [d.sha256 for d in service.documents()] == [doc.sha256]

    at.button(key=f"remove-{doc.sha256}").click().run()
    assert any("se eliminó" in s.value for s in at.success)
    assert service.documents() == [] and "La colección está vacía" in texts(at)
    assert not (uploads_dir(service) / "faq.md").exists()


def test_new_collection_is_validated_then_chosen(app_env, service) -> None:
    at = start()
    at.sidebar.text_input(key="new_collection").set_value("mala colección")
    at.sidebar.button[0].click().run()
    assert any("Nombre no válido" in e.value for e in at.sidebar.error)
    at.sidebar.text_input(key="new_collection").set_value("tesis-2026")
    at.sidebar.button[0].click().run()
    assert at.sidebar.selectbox(key="collection").value == "tesis-2026"
    assert "tesis-2026" in service.index.collections()
    at.switch_page("views/upload.py").run()
    at = upload(at, [("aviso.txt", b"Convocatoria de tesis abierta hasta el 30 de junio.", "text/plain")])
    assert [d.name for d in service.documents("tesis-2026")] == ["aviso.txt"] and service.documents() == []


def test_english_switch(app_env) -> None:
    at = start()
    assert at.title[0].value == "Pregunte a sus documentos"
    at.sidebar.button_group[0].set_value("en").run()
    assert at.title[0].value == "Ask your documents"
    assert "The collection is empty" in texts(at)


def test_document_text_is_never_markup(app_env, service) -> None:
    hostile = "Reglamento <img src=http://example.com/x.png> ![x](http://example.com/y.png) nota mínima 5."
    at = upload(on_upload_page(), [("raro.txt", hostile.encode(), "text/plain")])
    at.switch_page("views/chat.py").run()
    at = ask(at, "¿Cuál es la nota mínima?")
    markdown = "\n".join(m.value for m in at.main.markdown)  # (the sidebar's links are the project's own)
    assert "\\<img src\\=http" in markdown and "\\!\\[x\\]\\(http" in markdown  # shown as text, inert
    assert "<img" not in markdown.replace("\\<img", "") and "](" not in markdown
    passages = "\n".join(h.value for h in at.html if "rag-passage" in h.value)
    assert "&lt;" in passages and "&gt;" in passages and "<img" not in passages


def test_the_service_comes_with_its_embedder_loaded(settings):
    """Its weights (~1 s) load with the page, not on the user's first question."""
    from rag.encoders.e5 import E5Encoder
    from ui.state import load_service, settings_key

    service = load_service(settings_key(settings), settings)
    embedder = service.embedder
    assert getattr(embedder, "_model", None) is not None
    assert isinstance(embedder, E5Encoder) or embedder.name != "bundled:multilingual-e5-small"


def test_the_answerer_starts_loading_its_collections_postings(settings, embedder):
    """The lexical postings go into memory when a collection's answerer is made, not on its first question."""
    from rag.index.writer import Indexer
    from tests.helpers import make_doc, pending
    from ui.state import load_answerer, load_service, settings_key

    service = load_service(settings_key(settings), settings)
    Indexer(service.index, service.embedder, "default").add([pending(make_doc("a.pdf", ["La nota mínima es 51."]))])
    catalog = service.index.catalog("default")
    assert catalog._postings is None and not catalog._postings_building
    load_answerer(settings_key(settings), "default", "llama3.2", service)
    deadline = time.monotonic() + 30
    while catalog._postings is None:  # being made in the background (not by asking for them here)
        assert catalog._postings_building and time.monotonic() < deadline, "the postings were never loaded"
        time.sleep(0.01)


def _middle_tier_page() -> None:
    """An extractive answer of the middle tier, rendered as the conversation renders it (AppTest script)."""
    import streamlit as st

    from rag.answer.extractive import extractive_answer
    from rag.types import Hit
    from ui.components import render_answer
    from ui.i18n import Translator

    hits = [Hit(rank=1, source="calendario.pdf", page=2, page_end=2, score=1.0, chunk_id="c:1",
                text="El curso se organiza en dos semestres con sus periodos de exámenes.", similarity=0.90),
            Hit(rank=2, source="reglamento.pdf", page=5, page_end=5, score=0.9, chunk_id="r:1",
                text="Los exámenes de recuperación se celebran al final de cada semestre.", similarity=0.93)]
    answer = extractive_answer("¿Cuándo son los exámenes de recuperación?", hits)
    render_answer(Translator(st.session_state.get("lang", "es")), None, "default", answer, "t")  # type: ignore[arg-type]


@pytest.mark.parametrize(("lang", "label"), [("es", "Pasajes que pueden contener la respuesta"),
                                             ("en", "Passages that may answer this")])
def test_the_middle_tier_is_shown_with_its_label(lang: str, label: str) -> None:
    at = AppTest.from_function(_middle_tier_page, default_timeout=60)
    at.session_state["lang"] = lang
    at.run()
    assert not at.exception
    shown = texts(at)
    assert f":violet-badge[:material/help: {label}]" in shown
    assert "Pasajes que pueden contener la respuesta" in shown  # the answer's own label, in its language
    assert ":blue-badge[1]" in shown and ":blue-badge[2]" in shown  # each passage cited


def test_documents_list_counts_each_file_in_its_own_units() -> None:
    """Slides, sheets and sections are no pages: the list says what it counts, in both languages."""
    from rag.types import DocumentInfo
    from ui.components import units_label
    from ui.i18n import Translator

    def doc(unit: str, pages: int, sheets: int = 0) -> DocumentInfo:
        return DocumentInfo("f", "0" * 64, pages, 1, "2026-12-06T00:00:00+00:00", unit=unit,  # type: ignore[arg-type]
                            sheets=sheets)

    es, en = Translator("es"), Translator("en")
    assert [units_label(es, d) for d in (doc("page", 12), doc("page", 1), doc("slide", 8), doc("slide", 1),
                                         doc("section", 5), doc("section", 1), doc("sheet", 7, 2),
                                         doc("sheet", 1, 1), doc("sheet", 3))] == [
        "12 pág.", "1 pág.", "8 diapositivas", "1 diapositiva", "5 secciones", "1 sección",
        "2 hojas (7 bloques de filas)", "1 hoja (1 bloque de filas)", "3 bloques de filas"]
    assert [units_label(en, d) for d in (doc("page", 12), doc("slide", 8), doc("section", 1), doc("sheet", 7, 2))] == [
        "12 p.", "8 slides", "1 section", "2 sheets (7 row blocks)"]
