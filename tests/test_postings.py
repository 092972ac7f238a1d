"""The in-memory copy of the lexical postings: FTS5's own BM25, the same scores, never stale."""

from __future__ import annotations

import sqlite3
import time

import pytest

from rag.index.postings import Postings, fts_tokens
from rag.index.writer import Indexer
from rag.text import analyze_query
from tests.helpers import make_doc, pending

DOCS = [
    make_doc("reglamento.pdf", [
        "Artículo 2. La nota mínima de aprobación es de 51 puntos sobre 100 en todas las asignaturas. "
        "Las notas se publican en el sistema académico dentro de los cinco días hábiles siguientes.",
        "Artículo 3. La asistencia mínima obligatoria a clases es del ochenta por ciento. La asistencia "
        "se registra en cada clase; sin asistencia mínima no se rinde el examen final de 1.830,5 horas.",
    ], title="Reglamento de evaluación"),
    make_doc("calendario.pdf", [
        "Calendario académico 2026: las clases comienzan el 2 de febrero y el examen final de la gestión "
        "se rinde en junio. La nota de los exámenes se publica en el sistema.",
    ]),
    make_doc("policy.pdf", [
        "Research data must be stored on university servers for at least ten years after publication.",
        "Theses are submitted through the library repository in PDF/A format; the final exam is oral.",
    ]),
]
QUESTIONS = ["¿Cuál es la nota mínima de aprobación?", "asistencia mínima a clases", "examen final",
             "When is the final exam?", "¿Dónde se publican las notas del sistema académico?",
             "research data servers", "calendario 2026 febrero", "nada de esto aparece"]


def _fts5(catalog, terms, k=50):
    """What FTS5 answers, with the copy out of the way."""
    with catalog._postings_lock:
        catalog._postings, catalog._postings_building = None, True  # as if a copy were being made
    try:
        return catalog.lexical(terms, k)
    finally:
        catalog._postings_building = False


@pytest.fixture
def catalog(service):
    Indexer(service.index, service.embedder, "default").add([pending(d) for d in DOCS])
    return service.index.catalog("default")


def test_tokens_are_fts5_unicode61s():
    """Checked against FTS5 itself: the tokens a row of stored terms is counted as."""
    texts = ["1.830,5 horas", "ñandu año", "a_b x-y", "pdf/a", "½ 3,5 2026", "señal", "", "  uno  dos "]
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize = 'unicode61 remove_diacritics 0')")
    conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
    for i, text in enumerate(texts, start=1):
        conn.execute("INSERT INTO t(rowid, x) VALUES (?, ?)", (i, text))
        fts = [term for term, in conn.execute("SELECT term FROM v WHERE doc = ? ORDER BY offset", (i,))]
        assert fts_tokens(text) == fts, text


def test_search_gives_fts5s_ranking_and_scores(catalog):
    postings = catalog.postings(wait=True)
    assert postings is not None and postings.size == catalog.chunk_count()
    for question in QUESTIONS:
        terms = analyze_query(question)
        for k in (1, 3, 50):
            expected = _fts5(catalog, terms, k)
            assert postings.search(terms, k) == expected, (question, k)
            assert catalog.lexical(terms, k) == expected  # answered from the copy now
    assert catalog.lexical(analyze_query("nada de esto aparece"), 5) == []


def test_a_term_fts5_reads_as_a_phrase_is_left_to_fts5(catalog):
    postings = catalog.postings(wait=True)
    terms = ["1.830,5", "hor"]
    assert postings.search(terms, 5) is None
    found = catalog.lexical(terms, 5)
    assert found and found == _fts5(catalog, terms, 5)


def test_a_copy_is_made_in_the_background_and_never_used_once_stale(service, catalog):
    terms = analyze_query("examen final de la gestión")
    assert catalog.postings() is None  # none yet: FTS5 answers, a copy is being made
    deadline = time.monotonic() + 30
    while catalog.postings() is None:
        assert time.monotonic() < deadline, "the copy was never made"
        time.sleep(0.05)
    before = catalog.lexical(terms, 10)
    extra = make_doc("examenes.pdf", ["El examen final de la gestión se rinde ante un tribunal de tres docentes."])
    Indexer(service.index, service.embedder, "default").add([pending(extra)])
    assert catalog.postings() is None  # the write made the copy stale: not used
    after = catalog.lexical(terms, 10)
    assert after == _fts5(catalog, terms, 10) and after != before
    assert catalog.postings(wait=True).search(terms, 10) == after  # a fresh copy agrees
    service.remove_document("examenes.pdf")
    assert catalog.lexical(terms, 10) == before == _fts5(catalog, terms, 10)


def test_one_question_does_not_start_a_copy_a_second_one_does(catalog):
    """A process that asks once (``rag search``) does not spend its CPU on a copy it never uses."""
    terms = analyze_query("examen final")
    first = catalog.lexical(terms, 5)
    assert first and not catalog._postings_building and catalog._postings is None
    assert catalog.lexical(terms, 5) == first
    assert catalog._postings_building or catalog._postings is not None  # the second one started it
    assert catalog.postings(wait=True).search(terms, 5) == first


def test_a_copy_read_while_the_catalog_changed_is_dropped(service, catalog):
    version = catalog._version()
    extra = make_doc("otro.pdf", ["Otro documento sobre la asistencia."])
    Indexer(service.index, service.embedder, "default").add([pending(extra)])
    assert catalog._build_postings(version) is None  # read after the version moved: not kept
    assert catalog._postings is None


def test_another_process_writing_makes_the_copy_stale(service, catalog, settings):
    from rag.index.catalog import Catalog

    catalog.postings(wait=True)
    other = Catalog.open(catalog.file)  # another connection, as another process has
    try:
        other._conn.execute("DELETE FROM lex WHERE rowid = (SELECT MIN(rowid) FROM lex)")
    finally:
        other.close()
    assert catalog.postings() is None


def test_empty_and_degenerate_inputs():
    empty = Postings.build([], (1.0, 1.0))
    assert empty.size == 0 and empty.search(["nota"], 5) == []
    one = Postings.build([("a:0", "not minim", "")], (1.0, 1.0))
    assert one.search([], 5) == [] and one.search(["nota"], 0) == []
    assert [cid for cid, _ in one.search(["minim", '"'], 5)] == ["a:0"]
    assert one.search(["Minim"], 5) is None  # FTS5 would fold the case: its to answer
