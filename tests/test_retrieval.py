"""Fusion on constructed lists, and the lexical index kept in step with the vectors (real model, Chroma)."""

from __future__ import annotations

import numpy as np
import pytest

from rag.analysis import analyze, passage_words
from rag.indexing import Indexer
from rag.retrieval import (
    Candidates,
    Retriever,
    best_sentence,
    confidence_gaps,
    dense_weight,
    fuse,
    join_lexical,
    rrf,
)
from tests.helpers import make_doc, pending
from tests.invariants import assert_gram_stats


def _ids(ranked):
    return [cid for cid, _ in ranked]


def _flat_dense(ids, top=0.62, step=0.002):
    """What an embedder that does not read the language returns: similar cosines for everything."""
    return [(cid, top - i * step) for i, cid in enumerate(ids)]


LEX = [("a:0", 12.0), ("b:3", 7.0), ("c:1", 6.5), ("d:2", 6.0), ("e:0", 3.0)]


# -- fusion on constructed lists --------------------------------------------------------------------
def test_rrf_rewards_agreement():
    assert _ids(rrf([[("a", 0.9), ("b", 0.8)], [("b", 3.1)]], [1, 1])) == ["b", "a"]


def test_one_list_empty_gives_the_other():
    dense = [("x:0", 0.8), ("y:0", 0.5), ("z:0", 0.4)]
    assert _ids(fuse(Candidates(dense, []), 3)) == ["x:0", "y:0", "z:0"]
    assert _ids(fuse(Candidates([], LEX), 5)) == _ids(LEX)
    assert fuse(Candidates([], []), 5) == []
    assert dense_weight(Candidates(dense, [])) == 1.0 and dense_weight(Candidates([], LEX)) == 0.0


def test_flat_dense_list_cannot_overturn_a_confident_lexical_one():
    dense = _flat_dense(["q:0", "r:0", "d:2", "s:0", "c:1", "t:0", "u:0", "v:0", "w:0", "x:0"])
    fused = _ids(fuse(Candidates(dense, LEX), 4, context=False))
    assert fused[0] == "a:0"  # the lexical winner keeps rank 1
    assert dense_weight(Candidates(dense, LEX)) < 0.1
    assert "q:0" not in fused[:2]


def test_flat_lexical_list_gives_way_to_a_confident_dense_one():
    # every passage matches the same common words equally; one passage is clearly nearest in meaning
    lexical = [(f"p:{i}", 5.0 - 0.01 * i) for i in range(10)]
    dense = [("m:0", 0.83)] + _flat_dense([f"n:{i}" for i in range(9)], top=0.41)
    assert dense_weight(Candidates(dense, lexical)) > 0.9
    assert _ids(fuse(Candidates(dense, lexical), 3))[0] == "m:0"


def test_agreement_wins():
    dense = [("b:3", 0.70), ("z:0", 0.55), ("a:0", 0.50), ("y:0", 0.40)]
    # 'b:3' is second lexically but first by meaning: with both confident, agreement lifts it
    fused = _ids(fuse(Candidates(dense, LEX), 5, context=False))
    assert set(fused[:2]) == {"a:0", "b:3"}
    assert fused.index("b:3") < fused.index("c:1")


def test_garbage_dense_list_does_not_displace_lexical_hits():
    dense = _flat_dense([f"junk:{i}" for i in range(50)], top=0.30, step=0.0005)
    fused = _ids(fuse(Candidates(dense, LEX), 5))
    assert fused[:4] == ["a:0", "b:3", "c:1", "d:2"]


def test_neighbours_and_document_lift_a_passage():
    # two passages tie; one sits next to the best passage of the best document
    lexical = [("doc1:4", 10.0), ("doc1:5", 5.0), ("doc2:9", 5.0), ("doc3:0", 1.0)]
    assert _ids(fuse(Candidates([], lexical), 3, context=False))[1:] == ["doc1:5", "doc2:9"]  # id order
    lexical = [("doc1:4", 10.0), ("doc2:9", 5.0), ("doc1:5", 5.0), ("doc3:0", 1.0)]
    assert _ids(fuse(Candidates([], lexical), 3))[1] == "doc1:5"


def test_gaps():
    gd, gl = confidence_gaps(Candidates([("a", 0.9)] + [(f"x{i}", 0.5) for i in range(9)], [("a", 4.0)]))
    assert abs(gd - 0.36) < 1e-9  # 0.9 - mean(0.9, 0.5 x 9)
    assert abs(gl - 0.9) < 1e-9  # one match of ten possible: a confident list, not an empty one


def test_a_lexical_list_that_holds_little_of_the_question_gives_way():
    """A question in another language than its documents matches one passage on a single rare word (a
    name): its BM25 list looks confident, but its best passage holds a tenth of the question. Measured by
    that share, the confident multilingual list leads instead; a lexical top holding the whole question
    keeps the lead."""
    lexical = [("name:0", 9.0)] + [(f"l{i}:0", 1.0) for i in range(5)]
    multi = [("answer:3", 0.62)] + [(f"m{i}:0", 0.40 - 0.01 * i) for i in range(12)]
    whole = Candidates([], lexical, multi=multi, coverage=1.0)
    little = Candidates([], lexical, multi=multi, coverage=0.1)
    assert confidence_gaps(little)[1] == pytest.approx(0.2 * confidence_gaps(whole)[1])  # 0.1 of 0.5
    half = Candidates([], lexical, multi=multi, coverage=0.5)
    assert confidence_gaps(half) == confidence_gaps(whole)  # half the question or more: in full
    assert _ids(fuse(whole, 3, context=False))[0] == "name:0"
    assert _ids(fuse(little, 3, context=False))[0] == "answer:3"


def test_grams_lift_a_passage_the_stems_rank_lower():
    words = [("a:0", 10.0), ("b:0", 9.0), ("c:0", 8.0)]
    grams = [("c:0", 40.0), ("a:0", 10.0)]
    side = Candidates([], words, (), grams).lexical_side
    assert _ids(side)[0] == "c:0"  # 0.8 + 1.0 beats 1.0 + 0.25
    assert _ids(fuse(Candidates([], words, (), grams), 3, context=False)) == ["c:0", "a:0", "b:0"]
    assert Candidates([], words).lexical_side == words


def test_lexical_channels_join_on_their_own_scales():
    words = [("a:0", 8.0), ("b:0", 4.0)]
    grams = [("b:0", 30.0), ("c:0", 15.0)]
    assert join_lexical(words, grams) == [("b:0", 1.5), ("a:0", 1.0), ("c:0", 0.5)]
    assert join_lexical(words, []) == [("a:0", 1.0), ("b:0", 0.5)]
    assert join_lexical([], []) == []


def test_best_sentence_wants_the_question_in_one_sentence():
    term_idf = dict(zip(analyze("fundó universidad"), (2.0, 1.0), strict=True))
    gram_idf: dict[str, float] = {}
    together = passage_words("La universidad se fundó en 1831. Tiene tres sedes.")
    apart = passage_words("La universidad tiene tres sedes. Se fundó en 1831.")
    assert best_sentence(together, term_idf, gram_idf) == 0.5  # all stems; no 4-gram channel
    assert best_sentence(apart, term_idf, gram_idf) == 1.0 / 3  # "fundó" (2 of 3) alone is the best sentence
    assert best_sentence(passage_words("Nada que ver."), term_idf, gram_idf) == 0.0
    assert best_sentence("", term_idf, gram_idf) == 0.0
    assert best_sentence(together, {}, {}) == 0.0
    grams = {"#fun": 1.0, "undo": 1.0, "ndo#": 1.0, "#200": 1.0}
    assert best_sentence(together, term_idf, grams) == (1.0 + 0.75) / 2  # "fundó" yes, "2000" no


def test_a_passage_holding_the_question_in_one_sentence_rises():
    """Equal lexical evidence: the passage whose one sentence covers the question comes first, and the
    weight is a reordering among close scores, not an override of clearly better ones."""
    lexical = [("a:0", 10.0), ("b:0", 9.9), ("c:0", 5.0)]
    plain = _ids(fuse(Candidates([], lexical), 3, context=False))
    assert plain == ["a:0", "b:0", "c:0"]
    covered = Candidates([], lexical, ("x",), [], {"a:0": 0.3, "b:0": 1.0, "c:0": 1.0})
    assert _ids(fuse(covered, 3, context=False)) == ["b:0", "a:0", "c:0"]


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
        assert_gram_stats(cat)

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


def test_candidates_carry_each_passage_best_sentence_coverage(service):
    Indexer(service.index, service.embedder, "default").add([pending(CALENDARIO), pending(THESIS)])
    cands = service.retriever("default").inner.candidates("¿Cuándo terminan las clases del primer semestre?", 4)
    proposed = {cid for cid, _ in cands.dense} | {cid for cid, _ in cands.lexical}
    assert set(cands.sentences) == proposed  # all of them: fewer than SENTENCE_DEPTH here
    best = max(cands.sentences, key=lambda cid: cands.sentences[cid])
    chunk = service.index.catalog("default").chunks([best])[best]
    assert "terminan el 26 de junio" in chunk.text and cands.sentences[best] > 0.9
    assert all(0.0 <= v <= 1.0 for v in cands.sentences.values())


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


NOMBRES = make_doc("historia.pdf", [
    "Gengis Kan fundó el Imperio mongol en 1206 y murió en agosto de 1227 durante el sitio de Yinchuan.",
    "El 30 de julio de 1891 Tesla se convirtió en ciudadano naturalizado de los Estados Unidos.",
    "La ruta de la seda unía China con el Mediterráneo y llevaba seda, especias y metales preciosos.",
])


def test_character_grams_find_spelling_variants_the_stems_miss(service):
    """A question that spells a name another way, or uses a derived form, still finds its passage: the
    4-gram channel scores what the dense side proposes, though no stem matches."""
    Indexer(service.index, service.embedder, "default").add([pending(NOMBRES), pending(THESIS), pending(CALENDARIO)])
    retriever = service.retriever("default").inner
    for question, expected in (("Genghis Khan", "Gengis Kan"), ("ciudadanía", "ciudadano naturalizado")):
        assert service.search(question, k=1, method="lexical") == []  # no stem in common
        cands = retriever.candidates(question, 5)
        (best, _), *_ = cands.grams
        assert expected in service.index.catalog("default").chunks([best])[best].text
        assert expected in service.search(question, k=1)[0].text


def test_a_question_no_stem_of_which_is_in_the_collection_is_led_by_its_4grams(service):
    """A Spanish question over English documents with no stem in common: the English model's list is
    noise (a page of bare note numbers came first), and the 4-gram list, which matches the cognate
    ("inestables" / "unstable"), must not be discounted by a stem coverage that is 0 by construction:
    its confidence is weighed by the share of the question's 4-grams its best passage holds."""
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


def test_gram_coverage_is_the_idf_weighted_share_of_the_question_grams_a_passage_holds():
    from rag.retrieval import gram_coverage

    idf = {"stab": 3.0, "tabl": 1.0, "#buc": 4.0}
    assert gram_coverage((passage_words("We handle type-unstable loops."), ""), idf) == pytest.approx(0.5)
    assert gram_coverage((passage_words("Nothing here."), ""), idf) == 0.0
    assert gram_coverage((passage_words("bucles"), ""), {}) == 0.0
