"""Fusion on constructed lists, and the lexical index kept in step with the vectors (real model, Chroma)."""

from __future__ import annotations

import numpy as np
import pytest

from rag.index.writer import Indexer
from rag.retrieve import Fusion, Retriever, fuse, group_by_page, hit_groups, merged_hit, rrf
from rag.retrieve.fusion import standardized, with_context
from rag.types import Chunk
from tests.helpers import make_doc, pending


def _ids(ranked):
    return [cid for cid, _ in ranked]


def _flat_dense(ids, top=0.62, step=0.002):
    """What an embedder's crowded cosines look like: similar values for everything."""
    return [(cid, top - i * step) for i, cid in enumerate(ids)]


LEX = [("a:0", 12.0), ("b:3", 7.0), ("c:1", 6.5), ("d:2", 6.0), ("e:0", 3.0)]
NO_CONTEXT = Fusion(neighbour=0.0, document=0.0)


# -- fusion on constructed lists --------------------------------------------------------------------
def test_rrf_rewards_agreement():
    assert _ids(rrf([[("a", 0.9), ("b", 0.8)], [("b", 3.1)]], [1, 1])) == ["b", "a"]


def test_standardized_scores_share_one_scale_whatever_the_band():
    crowded = standardized([("a", 0.86), ("b", 0.84), ("c", 0.82)])  # e5's narrow band
    wide = standardized([("a", 30.0), ("b", 20.0), ("c", 10.0)])  # BM25
    assert crowded == pytest.approx(wide)
    assert standardized([("a", 0.5), ("b", 0.5)]) == {"a": 0.0, "b": 0.0}
    assert standardized([]) == {}


def test_one_list_empty_gives_the_other():
    dense = [("x:0", 0.8), ("y:0", 0.5), ("z:0", 0.4)]
    assert _ids(fuse(dense, [], 3)) == ["x:0", "y:0", "z:0"]
    assert _ids(fuse([], LEX, 5, NO_CONTEXT)) == _ids(LEX)
    assert fuse([], [], 5) == []


def test_agreement_wins():
    dense = [("b:3", 0.70), ("z:0", 0.55), ("a:0", 0.50), ("y:0", 0.40)]
    # 'b:3' is second lexically but first by meaning: it rises above passages only one list likes
    fused = _ids(fuse(dense, LEX, 5, NO_CONTEXT))
    assert fused[0] == "b:3" and set(fused[:2]) == {"a:0", "b:3"}
    assert fused.index("b:3") < fused.index("c:1") and fused.index("a:0") < fused.index("z:0")


def test_a_passage_missing_from_a_list_takes_its_lowest_score():
    dense = [("only-dense:0", 0.9), ("both:0", 0.8), ("x:0", 0.7)]
    lexical = [("both:0", 9.0), ("only-lex:0", 8.0), ("y:0", 1.0)]
    fused = _ids(fuse(dense, lexical, 5, NO_CONTEXT))
    assert fused[0] == "both:0"
    assert fused.index("only-dense:0") < fused.index("y:0") and fused.index("only-lex:0") < fused.index("x:0")


def test_the_shares_decide_between_the_lists():
    dense = [("m:0", 0.9), ("n:0", 0.5), ("o:0", 0.4)]
    lexical = [("p:0", 9.0), ("q:0", 5.0), ("r:0", 4.0)]
    assert _ids(fuse(dense, lexical, 1, Fusion(dense_share=0.8, neighbour=0, document=0))) == ["m:0"]
    assert _ids(fuse(dense, lexical, 1, Fusion(dense_share=0.2, neighbour=0, document=0))) == ["p:0"]


def test_neighbours_and_document_lift_a_passage():
    # two passages tie; one sits next to the best passage of the best document
    scores = {"doc1:4": 10.0, "doc2:9": 5.0, "doc1:5": 5.0, "doc3:0": 1.0}
    assert _ids(with_context(scores, NO_CONTEXT))[1:3] == ["doc1:5", "doc2:9"]  # the tie, by id
    assert _ids(with_context(scores))[1] == "doc1:5"
    assert _ids(with_context({"doc2:9": 5.0, "doc1:5": 5.0}, Fusion(neighbour=0.0, document=0.0))) == [
        "doc1:5", "doc2:9"]


# -- hits: passages of one page come as one -----------------------------------------------------------
def _chunk(doc: str, position: int, page: int, text: str, page_end: int | None = None) -> Chunk:
    return Chunk(id=f"{doc}:{position}", doc_sha=doc, source=f"{doc}.pdf", page=page,
                 page_end=page if page_end is None else page_end, position=position, text=text)


def test_passages_of_one_page_are_one_hit_whether_or_not_they_touch():
    chunks = {c.id: c for c in [
        _chunk("d", 4, 3, "Artículo 5. Plazos."), _chunk("d", 7, 3, "Artículo 8. Recursos."),
        _chunk("d", 3, 3, "Artículo 4. Objeto."), _chunk("e", 0, 3, "Otro documento."),
        _chunk("d", 9, 4, "Página siguiente."), _chunk("d", 5, 3, "Artículo 6.", page_end=4)]}
    ranked = [("d:4", 9.0), ("e:0", 8.0), ("d:7", 7.0), ("d:3", 6.0), ("d:9", 5.0), ("d:5", 4.0)]
    groups = [[cid for cid, _ in g] for g in hit_groups(ranked, chunks, limit=2)]
    # d:3 is on page 3 too, but the page's hit is full; a passage across pages stays alone
    assert groups == [["d:4", "d:7"], ["e:0"], ["d:3"], ["d:9"], ["d:5"]]
    assert [[cid for cid, _ in g] for g in hit_groups(ranked, chunks, limit=3)][0] == ["d:4", "d:7", "d:3"]
    assert len(hit_groups(ranked, chunks, merge=False)) == len(ranked)
    assert group_by_page([], {}) == []


def test_a_page_hit_reads_in_order_and_marks_the_gap():
    first, apart, next_to = (_chunk("d", 7, 3, "Artículo 8. Recursos."), _chunk("d", 3, 3, "Artículo 4. Objeto."),
                             _chunk("d", 4, 3, "Artículo 4. Objeto. Artículo 5. Plazos."))
    hit = merged_hit(1, [first, apart, next_to], 2.5)
    # neighbours share their overlap once; the gap between passages apart is marked; the best one names the hit
    assert hit.text == "Artículo 4. Objeto. Artículo 5. Plazos.\n[…]\nArtículo 8. Recursos."
    assert (hit.chunk_id, hit.page, hit.page_end, hit.score) == ("d:7", 3, 3, 2.5)


# -- the real index ------------------------------------------------------------------------------------
CALENDARIO = make_doc("calendario.pdf", [
    "Calendario académico 2026. Las clases del primer semestre comienzan el 2 de marzo y terminan el 26 "
    "de junio. El periodo de exámenes finales va del 29 de junio al 10 de julio.",
    "La inscripción de asignaturas se realiza en línea del 9 al 20 de febrero. Los estudiantes que se "
    "inscriban fuera de plazo pagarán un recargo del diez por ciento sobre la matrícula.",
], title="Calendario académico")
THESIS = make_doc("thesis.pdf", [
    "Thesis guidelines. A doctoral thesis must be submitted to the graduate school in PDF/A format "
    "together with a signed declaration of originality.",
    "The examination committee has three members, at least one of them from another university. The "
    "public defence takes place within three months of submission.",
], title="Thesis guidelines")


def test_questions_in_the_other_language_find_their_passage(service):
    Indexer(service.index, service.embedder, "default").add([pending(CALENDARIO), pending(THESIS)])
    hit = service.search("When does course registration take place?", k=1)[0]
    assert hit.source == "calendario.pdf" and "9 al 20 de febrero" in hit.text
    hit = service.search("¿Cuántos miembros tiene el tribunal de la tesis?", k=1)[0]
    assert hit.source == "thesis.pdf" and "three members" in hit.text


def test_hybrid_finds_spanish_and_english_passages(service):
    Indexer(service.index, service.embedder, "default").add([pending(CALENDARIO), pending(THESIS)])
    hit = service.search("¿Cuándo es la inscripción de asignaturas?", k=3)[0]
    assert hit.source == "calendario.pdf" and hit.page <= 2 <= hit.page_end
    assert "9 al 20 de febrero" in hit.text
    hit = service.search("How many people sit on the examination committee?", k=3)[0]
    assert hit.source == "thesis.pdf" and "three members" in hit.text
    hit = service.search("recargo por inscribirse tarde", k=3)[0]  # stemming: inscriban / inscribirse
    assert hit.source == "calendario.pdf" and "recargo" in hit.text


def test_lexical_index_follows_add_replace_and_remove(service):
    index = service.index
    indexer = Indexer(index, service.embedder, "default")
    indexer.add([pending(CALENDARIO), pending(THESIS)])
    cat = index.catalog("default")

    def lexical(question):
        return [h.source for h in service.search(question, k=5, method="lexical")]

    def in_step():
        assert set(index.vectors.ids("default")) == set(cat.chunk_ids())
        assert cat._conn.execute("SELECT COUNT(*) FROM lex").fetchone()[0] == cat.chunk_count()
        cat._conn.execute("INSERT INTO lex(lex) VALUES ('integrity-check')")  # raises if corrupt

    assert lexical("recargo") == ["calendario.pdf"]
    in_step()
    changed = make_doc("calendario.pdf", ["Calendario 2027. La matrícula extraordinaria cierra el 5 de marzo."])
    indexer.add([pending(changed)])  # the same file, new content: replaces the old version
    assert lexical("recargo") == [] and lexical("matrícula extraordinaria") == ["calendario.pdf"]
    in_step()
    service.remove_document("calendario.pdf")
    assert lexical("matrícula extraordinaria") == []
    assert lexical("examination committee") == ["thesis.pdf"]
    in_step()


def test_half_written_document_is_invisible_to_lexical_search(service):
    index = service.index
    Indexer(index, service.embedder, "default").add([pending(THESIS)])
    chunks = Indexer(index, service.embedder, "default").chunk(CALENDARIO)
    index.catalog("default").begin([(CALENDARIO.sha256, CALENDARIO.name, 1)])
    index.vectors.upsert("default", [c.id for c in chunks], np.ones((len(chunks), 384), np.float32),
                         [c.doc_sha for c in chunks])
    # killed before the catalog's commit: neither side may return it
    for method in ("lexical", "hybrid"):
        hits = service.search("recargo matrícula", k=5, method=method)
        assert all(h.source != "calendario.pdf" for h in hits)


def test_confidence_is_lower_for_a_question_the_documents_do_not_answer(service):
    Indexer(service.index, service.embedder, "default").add([pending(CALENDARIO), pending(THESIS)])
    retriever = Retriever(service.index, service.embedder, "default")
    question = "¿Cuándo comienzan las clases del primer semestre?"
    answered = retriever.confidence(retriever.candidates(question, 4))
    absent = retriever.confidence(retriever.candidates("¿Cuál es el horario de la cafetería del campus?", 4))
    assert 0.0 <= absent < answered <= 1.0
    assert answered > 0.8


def test_file_name_words_the_title_lacks_reach_both_indexes(service):
    doc = make_doc("reglamento_evaluacion_2024.pdf", ["La nota mínima de aprobación es 51 sobre 100."],
               title="Reglamento de evaluación")
    other = make_doc("reglamento_evaluacion_2019.pdf", ["La nota mínima de aprobación era 40 sobre 100."],
                 title="Reglamento de evaluación")
    Indexer(service.index, service.embedder, "default").add([pending(doc), pending(other)])
    hits = service.search("nota mínima del reglamento 2024", k=2, method="lexical")
    assert hits[0].source == "reglamento_evaluacion_2024.pdf" and "(2024)" in hits[0].context


def test_a_question_no_stem_of_which_is_in_the_collection_is_found_across_languages(service):
    """A Spanish question over English documents with no stem in common: the lexical list is empty and
    the multilingual dense list alone finds the passage (a page of bare note numbers once came first)."""
    paper = make_doc("tracing.pdf", [
        "Trace trees record hot loops in the interpreter and compile them to machine code.",
        "We handle type-unstable loops by allowing traces to compile that cannot loop back to "
        "themselves due to a type mismatch. Such traces are linked to other traces that accept the "
        "new types of the variables.",
        "The garbage collector runs between traces; the recorder aborts when it is invoked.",
    ], title="Trace-based compilation for dynamic languages")
    notes = make_doc("book.pdf", [
        "322 NOTES 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30",
        "The story of the village continues in the next chapter, where the climber meets the elders.",
    ])
    Indexer(service.index, service.embedder, "default").add([pending(paper), pending(notes)])
    question = "¿Cómo se manejan los bucles con tipos inestables?"
    assert service.search(question, k=1, method="lexical") == []  # no stem in common
    hits = service.search(question, k=2)
    assert hits[0].source == "tracing.pdf"
    assert "type-unstable" in " ".join(h.text for h in hits if h.source == "tracing.pdf")


