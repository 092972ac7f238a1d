"""Chunks fit the embedder's window and keep their pages."""

from __future__ import annotations

from rag.index.chunking import ChunkerConfig, chunk_document, embedding_text, is_heading
from rag.types import ParsedDocument


def test_long_spanish_text_fits_the_window(embedder):
    sentence = ("La comisión académica, previa revisión de los antecedentes presentados por el estudiante "
                "y con el informe favorable del tutor, aprobará la inscripción del proyecto de grado. ")
    pages = [sentence * 12, "", sentence * 3 + "x" * 900]  # an empty page and an unbreakable token run
    doc = ParsedDocument("r.pdf", "f" * 64, pages, title="Reglamento de Titulación")
    chunks = chunk_document(doc, embedder.count_tokens, ChunkerConfig())
    counts = embedder.count_tokens([embedding_text(c) for c in chunks])
    assert max(counts) + 2 <= embedder.max_tokens  # + [CLS] and [SEP]
    assert {c.page for c in chunks} <= {1, 3} and all(c.page <= c.page_end for c in chunks)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert all(c.id == f"{'f' * 64}:{c.position}" for c in chunks)
    assert chunks[0].context.startswith("Reglamento de Titulación")
    # nothing is lost: every word of the page appears in some chunk
    joined = " ".join(c.text for c in chunks)
    assert "inscripción del proyecto de grado." in joined and "x" * 100 in joined


def test_headings_become_context():
    assert is_heading("Capítulo II")
    assert is_heading("ARTÍCULO 5. DE LAS NOTAS")
    assert is_heading("3.1 Results")
    assert not is_heading("La nota mínima es 51, según el artículo 5 del reglamento vigente de la universidad,")


def test_heading_is_carried_into_context(embedder):
    doc = ParsedDocument("r.pdf", "a" * 64, ["Capítulo III\nDe la asistencia\nLa asistencia mínima es 80%."])
    chunks = chunk_document(doc, embedder.count_tokens, ChunkerConfig())
    assert "Capítulo III" in chunks[0].context


def test_a_passage_is_either_recognised_by_ocr_or_not(embedder):
    from rag.types import PageInfo

    pages = ["Reglamento de residencias: horario de visitas.", "Portez ce vieux whisky au juge blond.",
             "Otra página escaneada con poco texto."]
    infos = [PageInfo(), PageInfo(ocr=True, ocr_confidence=93.0), PageInfo(ocr=True, ocr_confidence=81.0)]
    doc = ParsedDocument("mixto.pdf", "b" * 64, pages, page_info=infos)
    chunks = chunk_document(doc, embedder.count_tokens, ChunkerConfig())
    assert [(c.page, c.page_end, c.ocr) for c in chunks] == [(1, 1, False), (2, 3, True)]
    assert chunks[1].ocr_confidence == 81.0  # the weakest page's
