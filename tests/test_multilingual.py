"""The multilingual channel: its encoder, its vectors kept in step with the passages, its place in the
fusion, and catalogs from before it (real models, real Chroma)."""

from __future__ import annotations

import numpy as np
import pytest

from rag.indexing import Indexer, backfill
from rag.multilingual import DIM, int8_matrix, nearest, pack, unpack, unpack_many
from rag.retrieval import Candidates, Retriever, fuse, multilingual_list, weights
from rag.store.catalog import SCHEMA_VERSION, Catalog
from tests.helpers import POLICY, make_doc, pending
from tests.invariants import assert_consistent

SERVICIOS = make_doc("servicios.pdf", [
    "El rector encabeza la institución y la representa ante las autoridades del Estado.",
    "Las clases del segundo semestre comienzan el 3 de agosto y terminan el 26 de noviembre.",
    "La biblioteca central abre de lunes a viernes de 8:00 a 20:00 horas.",
    "Los estudiantes que reprueben tres veces una asignatura pierden su matrícula en la carrera.",
    "El comedor universitario ofrece almuerzos subvencionados a los becarios.",
], title="Guía de servicios")


def _mvec_rows(service, collection="default"):
    rows = service.index.catalog(collection)._conn.execute("SELECT id, mvec FROM chunks").fetchall()
    return {cid: blob for cid, blob in rows}


# -- the encoder and the stored form ----------------------------------------------------------------
def test_packed_vectors_keep_their_cosines(multilingual):
    vectors = multilingual.embed(["La universidad se fundó en 1831.", "The university was founded in 1831.",
                                  "El comedor abre a mediodía."])
    assert vectors.shape == (3, DIM)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    packed = [pack(v) for v in vectors]
    assert {len(p) for p in packed} == {4 + DIM}
    restored = np.stack([unpack(p) for p in packed])
    assert np.abs(restored @ vectors.T - vectors @ vectors.T).max() < 5e-3
    assert np.array_equal(unpack_many(packed), restored)  # the same float32 values, all at once
    assert unpack_many([]).shape == (0, DIM)


def test_the_encoder_reads_spanish_and_across_languages(multilingual):
    """What the bundled English embedder cannot do: a Spanish question is nearest to the passage that
    answers it in other words, and to its English translation."""
    question = multilingual.embed(["¿Qué pasa si suspendo una materia varias veces?"], query=True)[0]
    passages = multilingual.embed([p for p in SERVICIOS.pages])
    assert int(np.argmax(passages @ question)) == 3  # "reprueben tres veces una asignatura"
    pair = multilingual.embed(["¿Cuánto tiempo se guardan los datos de investigación?", POLICY.pages[0],
                               POLICY.pages[1]])
    assert pair[1] @ pair[0] > pair[2] @ pair[0] + 0.1


# -- vectors in step with the passages --------------------------------------------------------------
def test_every_passage_gets_its_vector_in_the_same_write_and_loses_it_with_the_passage(service):
    indexer = Indexer(service.index, service.embedder, "default", multilingual=service.multilingual)
    indexer.add([pending(SERVICIOS), pending(POLICY)])
    rows = _mvec_rows(service)
    assert rows and all(blob is not None and len(blob) == 4 + DIM for blob in rows.values())
    cat = service.index.catalog("default")
    text = cat.chunks([next(iter(rows))])[next(iter(rows))].text
    stored = unpack(rows[next(iter(rows))])
    assert stored @ service.multilingual.embed([text])[0] > 0.999
    changed = make_doc("policy.pdf", ["Research data are kept for twenty years."])
    indexer.add([pending(changed)])  # the same file, new content
    rows = _mvec_rows(service)
    assert set(rows) == set(cat.chunk_ids()) and all(rows.values())
    service.remove_document("servicios.pdf")
    assert set(_mvec_rows(service)) == set(cat.chunk_ids())
    assert_consistent(service.index, "default")


def test_passages_written_without_vectors_get_them_on_the_next_ingest(service):
    """An index from before the channel (or written with it off) is filled in by `rag ingest`, and the
    channel joins the fusion once every proposed passage has its vector."""
    from ingest.pipeline import IngestJob

    Indexer(service.index, service.embedder, "default").add([pending(SERVICIOS), pending(POLICY)])
    cat = service.index.catalog("default")
    assert all(blob is None for blob in _mvec_rows(service).values())
    question = "¿Cuánto tiempo se guardan los datos de investigación?"
    assert service.retriever().inner.candidates(question, 4).multi == []  # no vectors: channel left out
    IngestJob(service).run([])  # nothing new to index: only the backfill
    assert cat.without_mvec(10) == [] and all(_mvec_rows(service).values())
    multi = service.retriever().inner.candidates(question, 4).multi
    assert multi and "Research data" in cat.chunks([multi[0][0]])[multi[0][0]].text
    assert_consistent(service.index, "default")


def test_a_version_2_catalog_is_upgraded_and_keeps_working(service, settings, embedder, multilingual):
    """A catalog from before the column: opened, it gains it (NULLs), search works, backfill fills it."""
    from rag.service import Service

    Indexer(service.index, service.embedder, "default").add([pending(SERVICIOS)])
    cat = service.index.catalog("default")
    expected = [h.chunk_id for h in service.search("biblioteca horario", k=3)]
    with cat._conn:
        cat._conn.execute("DROP INDEX chunks_no_mvec")
        cat._conn.execute("ALTER TABLE chunks DROP COLUMN mvec")
        cat._conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema'")
    cat.close()
    service.index._catalogs.clear()
    again = Service(settings, embedder=embedder, multilingual=multilingual)
    reopened = again.index.catalog("default")
    assert reopened.get_meta("schema") == SCHEMA_VERSION
    assert len(reopened.without_mvec(100)) == reopened.chunk_count()
    assert [h.chunk_id for h in again.search("biblioteca horario", k=3)] == expected
    filled = backfill(again.index, "default", multilingual)
    assert filled == reopened.chunk_count() and reopened.without_mvec(1) == []
    assert_consistent(again.index, "default")


def test_switched_off_nothing_is_stored_and_search_works(settings, embedder):
    from rag.service import Service

    off = Service(settings.model_copy(update={"multilingual": False}), embedder=embedder)
    assert off.multilingual is None
    Indexer(off.index, embedder, "default", multilingual=off.multilingual).add([pending(SERVICIOS)])
    assert all(blob is None for blob in _mvec_rows(off).values())
    assert off.search("¿A qué hora abre la biblioteca?", k=1)[0].page == 3
    assert off.retriever().inner.fusion_info()["multilingual"] is None


# -- the channel in the fusion ----------------------------------------------------------------------
def test_a_confident_multilingual_list_leads_when_the_others_are_flat():
    flat = [(f"p:{i}", 0.60 - 0.001 * i) for i in range(10)]
    lexical = [(f"p:{i}", 5.0 - 0.01 * i) for i in range(10)]
    multi = [("p:7", 0.55)] + [(f"p:{i}", 0.20 - 0.001 * i) for i in range(10) if i != 7]
    cands = Candidates(flat, lexical, multi=multi)
    d, m, lx = weights(cands)
    assert abs(d + m + lx - 1.0) < 1e-9 and m > 0.8
    assert fuse(cands, 3, context=False)[0][0] == "p:7"
    assert weights(Candidates(flat, lexical))[1] == 0.0  # absent: no share


def test_a_flat_multilingual_list_cannot_overturn_a_confident_lexical_one():
    lexical = [("a:0", 12.0), ("b:3", 7.0), ("c:1", 6.5), ("d:2", 6.0), ("e:0", 3.0)]
    multi = [(cid, 0.30 - 0.001 * i) for i, cid in enumerate(["e:0", "d:2", "c:1", "b:3", "a:0"])]
    fused = fuse(Candidates([], lexical, multi=multi), 5, context=False)
    assert fused[0][0] == "a:0" and weights(Candidates([], lexical, multi=multi))[1] < 0.05


def test_the_channel_is_left_out_when_a_proposed_passage_has_no_vector(service):
    Indexer(service.index, service.embedder, "default", multilingual=service.multilingual).add(
        [pending(SERVICIOS)])
    Indexer(service.index, service.embedder, "default").add([pending(POLICY)])  # no vectors
    cat = service.index.catalog("default")
    query = service.multilingual.embed(["¿A qué hora abre la biblioteca?"], query=True)[0]
    with_vectors = [c.id for c in cat.document_chunks(SERVICIOS.sha256)]
    ranked = multilingual_list(cat, with_vectors, query)
    assert len(ranked) == len(with_vectors) and "biblioteca" in cat.chunks([ranked[0][0]])[ranked[0][0]].text
    assert multilingual_list(cat, cat.chunk_ids(), query) == []
    assert multilingual_list(cat, with_vectors, None) == []


FACTS = [make_doc(name, [text]) for name, text in (
    ("rectorado.pdf", "El rector encabeza la institución y la representa ante las autoridades del Estado."),
    ("calendario.pdf", "Las clases del segundo semestre comienzan el 3 de agosto y terminan el 26 de noviembre."),
    ("biblioteca.pdf", "La biblioteca central abre de lunes a viernes de 8:00 a 20:00 horas."),
    ("reglamento.pdf", "Los estudiantes que reprueben tres veces una asignatura pierden su matrícula."),
    ("comedor.pdf", "El comedor universitario ofrece almuerzos subvencionados a los becarios."),
    ("policy.pdf", "Research data must be stored on university servers for at least ten years."),
    ("becas.pdf", "Las becas de excelencia cubren la matrícula completa de los estudiantes destacados."),
    ("deportes.pdf", "El gimnasio del campus está disponible para los estudiantes con carnet vigente."),
)]


@pytest.mark.parametrize("question, expected", [
    ("¿Dónde puedo hacer ejercicio?", "deportes.pdf"),
    ("¿Dónde puedo comer barato?", "comedor.pdf"),
])
def test_the_channel_reads_questions_the_english_embedder_does_not(service, question, expected):
    """Questions that share no content word with their passage: the English embedder ranks another
    passage first, the multilingual list ranks theirs first, and fused with it they rank higher than
    in the fusion of the other two lists alone."""
    Indexer(service.index, service.embedder, "default", multilingual=service.multilingual).add(
        [pending(doc) for doc in FACTS])
    cat = service.index.catalog("default")
    source = {c.id: c.source for c in cat.chunks(cat.chunk_ids()).values()}
    with_channel = service.retriever().inner
    without = Retriever(service.index, service.embedder, "default")
    cands = with_channel.candidates(question, 5)
    assert source[cands.dense[0][0]] != expected
    assert source[cands.multi[0][0]] == expected
    rank_with = [source[cid] for cid, _ in with_channel.fuse(cands, 8)].index(expected)
    plain = without.candidates(question, 5)
    assert plain.multi == []
    rank_without = [source[cid] for cid, _ in without.fuse(plain, 8)].index(expected)
    assert rank_with <= 1 and rank_with <= rank_without


# -- the channel's own search over the whole collection ---------------------------------------------
def test_nearest_is_the_exact_cosine_ranking_of_the_stored_vectors():
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((300, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    matrix = int8_matrix([pack(v) for v in vectors])
    restored = np.stack([unpack(pack(v)) for v in vectors])
    for row in (0, 17, 299):
        query = vectors[row] + 0.7 * rng.standard_normal(DIM).astype(np.float32) / np.sqrt(DIM)
        query /= np.linalg.norm(query)
        found = nearest(matrix, query, 10)
        assert found[0] == row and len(set(found)) == 10
        cosines = restored @ query
        # best first, and the true top 10, to the int8 rounding of the stored vectors (~1e-3)
        assert all(cosines[a] >= cosines[b] - 3e-3 for a, b in zip(found, found[1:], strict=False))
        assert min(cosines[found]) >= np.sort(cosines)[-10] - 3e-3
    assert sorted(nearest(matrix[:3], vectors[0], 10)) == [0, 1, 2]
    assert nearest(matrix[:0], vectors[0], 10) == [] and nearest(matrix, vectors[0], 0) == []


KERNEL_ERROR = 0.0075  # what the int8 kernel's cosines may be off by (measured: up to 0.004)


def _large_matrix(seed: int, extra: int = 501) -> np.ndarray:
    import rag.multilingual as multilingual

    rng = np.random.default_rng(seed)
    return rng.integers(-127, 128, size=(multilingual.SCREEN_ROWS + extra, DIM), dtype=np.int8)


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_the_int8_kernel_scores_every_row_within_the_error_nearest_allows():
    import rag.multilingual as multilingual

    matrix = _large_matrix(11)
    queries = _unit(np.random.default_rng(3), 4)
    matrix[:50] = np.clip(np.rint(queries[0] * 500), -127, 127).astype(np.int8)  # cosines near 1 too
    inverse = multilingual.inverse_norms(matrix)
    exact = matrix.astype(np.float64) / np.linalg.norm(matrix.astype(np.float64), axis=1)[:, None]
    for query in queries:
        screened = multilingual._screen(matrix, query, inverse)
        assert screened is not None
        assert np.abs(screened - exact @ query).max() <= KERNEL_ERROR <= multilingual.SCREEN_ERROR


def test_a_screened_search_is_exact_whatever_error_within_the_bound(monkeypatch):
    """The screen's cosines may be off by up to KERNEL_ERROR: nearest must still return the rows and
    order of the float32 scan. Here the screen is made as wrong as that, on purpose."""
    import rag.multilingual as multilingual

    matrix = _large_matrix(13)
    rng = np.random.default_rng(17)
    queries = _unit(rng, 6)
    # many rows within the error of each other around the 50th place
    for i in range(400):
        matrix[2000 + i] = np.clip(np.rint(queries[0] * 300 + rng.integers(-3, 4, DIM)), -127, 127)
    inverse = multilingual.inverse_norms(matrix)

    def wrong_screen(matrix: np.ndarray, query: np.ndarray, inverse: np.ndarray) -> np.ndarray:
        error = rng.uniform(-KERNEL_ERROR, KERNEL_ERROR, len(matrix)).astype(np.float32)
        return multilingual._exact(matrix, query, inverse) + error

    monkeypatch.setattr(multilingual, "_screen", wrong_screen)
    screened = [nearest(matrix, q, 50, inverse) for q in queries]
    monkeypatch.setattr(multilingual, "SCREEN_ROWS", len(matrix) + 1)  # every row in float32
    assert [nearest(matrix, q, 50, inverse) for q in queries] == screened
    cosines = (matrix.astype(np.float64) / np.linalg.norm(matrix.astype(np.float64), axis=1)[:, None]) @ queries[0]
    assert min(cosines[screened[0]]) >= np.sort(cosines)[-50] - 1e-6 and set(screened[0]) <= set(range(2000, 2400))


def test_without_the_int8_kernel_every_row_is_scored_in_float32(monkeypatch):
    import torch

    import rag.multilingual as multilingual

    matrix = _large_matrix(5, extra=10)
    query = _unit(np.random.default_rng(5), 1)[0]
    with_kernel = nearest(matrix, query, 20)

    class NoKernel:
        def __getattr__(self, name):
            raise AttributeError(name)

    monkeypatch.setattr(torch.ops, "aten", NoKernel())
    assert multilingual._screen(matrix, query, multilingual.inverse_norms(matrix)) is None
    assert nearest(matrix, query, 20) == with_kernel

def test_the_search_sees_every_write_and_only_ready_passages(service, settings):
    Indexer(service.index, service.embedder, "default", multilingual=service.multilingual).add(
        [pending(SERVICIOS)])
    cat = service.index.catalog("default")
    query = service.multilingual.embed(["¿Cuántos años se conservan los datos de investigación?"],
                                       query=True)[0]
    assert {cid.split(":")[0] for cid in cat.nearest_mvecs(query, 50)} == {SERVICIOS.sha256}
    # written by this process, through the same catalog: the next search sees it
    Indexer(service.index, service.embedder, "default", multilingual=service.multilingual).add(
        [pending(POLICY)])
    assert cat.nearest_mvecs(query, 1)[0].startswith(POLICY.sha256)
    # removed by another process (another connection): gone from the next search
    other = Catalog.open(cat.file)
    other.start_removal([POLICY.sha256])  # hidden at once ('deleting'), before the rows go
    assert not any(cid.startswith(POLICY.sha256) for cid in cat.nearest_mvecs(query, 50))
    other.forget([POLICY.sha256])
    other.close()
    assert len(cat.nearest_mvecs(query, 50)) == len(cat.chunk_ids())


def _same_as_a_fresh_read(cat):
    cached = cat._mvecs()
    fresh = Catalog.open(cat.file)
    try:
        read = fresh._mvecs()
    finally:
        fresh.close()
    assert cached.ids == read.ids and np.array_equal(cached.matrix, read.matrix)
    assert np.array_equal(cached.inverse, read.inverse)
    return cached.ids


def test_the_vectors_in_memory_follow_additions_removals_and_backfills(service):
    """After a write only the new passages are read (the usual case while an ingest runs); any other
    change (a removal, vectors given to older passages) reads everything again. Either way the result is
    what a fresh read gives."""
    cat = service.index.catalog("default")
    with_channel = Indexer(service.index, service.embedder, "default", multilingual=service.multilingual)
    with_channel.add([pending(SERVICIOS)])
    servicios = [c.id for c in cat.document_chunks(SERVICIOS.sha256)]
    assert _same_as_a_fresh_read(cat) == servicios
    Indexer(service.index, service.embedder, "default").add([pending(POLICY)])  # written without vectors
    assert _same_as_a_fresh_read(cat) == servicios
    backfill(service.index, "default", service.multilingual)  # older rows get theirs
    assert _same_as_a_fresh_read(cat) == servicios + [c.id for c in cat.document_chunks(POLICY.sha256)]
    with_channel.add([pending(doc) for doc in FACTS[:3]])  # additions only
    ids = _same_as_a_fresh_read(cat)
    assert len(ids) == len(cat.chunk_ids())
    with service.index.writing():
        service.index.remove("default", [SERVICIOS.sha256])  # a removal
    ids = _same_as_a_fresh_read(cat)
    assert not any(cid.startswith(SERVICIOS.sha256) for cid in ids) and len(ids) == len(cat.chunk_ids())
    with_channel.add([pending(SERVICIOS)])  # and back
    assert sorted(_same_as_a_fresh_read(cat)) == sorted(cat.chunk_ids())


def test_a_passage_only_the_multilingual_search_finds_reaches_the_top(service):
    """A Spanish question about an English passage that shares no word with it, in a collection where
    the two other retrievers' short lists (depth 2 here, 50 in use) miss it: the channel's own search
    proposes it and the fusion ranks it first."""
    Indexer(service.index, service.embedder, "default", multilingual=service.multilingual).add(
        [pending(doc) for doc in FACTS])
    cat = service.index.catalog("default")
    source = {c.id: c.source for c in cat.chunks(cat.chunk_ids()).values()}
    question = "¿Durante cuánto tiempo hay que conservar los datos de una investigación?"
    retriever = Retriever(service.index, service.embedder, "default", depth=2, multilingual=service.multilingual)
    cands = retriever.candidates(question, 2)
    others = {source[cid] for cid, _ in cands.dense + cands.lexical}
    assert "policy.pdf" not in others
    assert source[cands.multi[0][0]] == "policy.pdf"
    assert source[retriever.fuse(cands, 3)[0][0]] == "policy.pdf"
    assert retriever.retrieve(question, 1)[0].source == "policy.pdf"
