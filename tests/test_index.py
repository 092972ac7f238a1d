"""The index's invariants: all-or-nothing documents, vectors and catalog in step, recovery, restart."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading

import numpy as np
import pytest

from rag.errors import EmbedderMismatchError
from rag.index.catalog import SCHEMA_VERSION, Catalog, NewDocument
from rag.index.writer import Indexer
from rag.text import analysis_fingerprint
from tests.helpers import make_doc, pending
from tests.invariants import assert_consistent as consistent

REGLAMENTO = make_doc("reglamento.pdf", [
    "Capítulo I\nArtículo 1. El presente reglamento regula la evaluación de los estudiantes de pregrado "
    "de todas las facultades y carreras de la universidad, en sus modalidades presencial y virtual.",
    "Artículo 2. La nota mínima de aprobación es de 51 puntos sobre 100 en todas las asignaturas. "
    "Las notas se publican en el sistema académico dentro de los cinco días hábiles siguientes.",
    "Artículo 3. La asistencia mínima obligatoria a clases es del ochenta por ciento. El estudiante "
    "que no cumpla con la asistencia mínima pierde el derecho a rendir el examen final.",
])
POLICY = make_doc("policy.pdf", [
    "Research data must be stored on university servers for at least ten years after publication.",
    "Theses are submitted through the library repository in PDF/A format.",
])


def test_write_search_and_rewrite_adds_nothing(service):
    indexer = Indexer(service.index, service.embedder, "default")
    indexer.add([pending(REGLAMENTO), pending(POLICY)])
    consistent(service.index, "default")
    before = service.index.vectors.count("default")
    hits = service.search("¿Cuál es la nota mínima de aprobación?", k=3)
    assert hits[0].source == "reglamento.pdf" and hits[0].page == 2
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    indexer.add([pending(REGLAMENTO)])  # same content again: stable ids, nothing duplicated
    assert service.index.vectors.count("default") == before
    consistent(service.index, "default")


def test_remove_leaves_nothing_behind(service):
    Indexer(service.index, service.embedder, "default").add([pending(REGLAMENTO), pending(POLICY)])
    service.remove_document("reglamento.pdf")
    consistent(service.index, "default")
    assert [d.name for d in service.documents()] == ["policy.pdf"]
    assert all(h.source == "policy.pdf" for h in service.search("nota mínima de aprobación", k=5))


def test_half_written_document_is_invisible_then_recovered(service):
    """Simulate a writer killed between the vector write and the catalog's commit."""
    index = service.index
    Indexer(index, service.embedder, "default").add([pending(POLICY)])
    chunks = Indexer(index, service.embedder, "default").chunk(REGLAMENTO)
    vectors = service.embedder.embed([c.text for c in chunks])
    cat = index.catalog("default")
    cat.begin([(REGLAMENTO.sha256, REGLAMENTO.name, 1)])
    index.vectors.upsert("default", [c.id for c in chunks], vectors, [c.doc_sha for c in chunks])
    # "killed" here: readers must not see it
    assert all(h.source != "reglamento.pdf" for h in service.search("nota mínima de aprobación", k=10))
    assert [d.name for d in service.documents()] == ["policy.pdf"]
    with index.writing():  # the next writer recovers on entry
        pass
    consistent(index, "default")
    assert index.vectors.count("default") == len(cat.chunk_ids())


def test_half_removed_document_is_finished_on_recovery(service):
    index = service.index
    Indexer(index, service.embedder, "default").add([pending(REGLAMENTO), pending(POLICY)])
    index.catalog("default").start_removal([REGLAMENTO.sha256])  # killed before the vectors went
    assert [d.name for d in service.documents()] == ["policy.pdf"]
    with index.writing():
        pass
    consistent(index, "default")


def test_lexical_index_survives_restart(service, settings, embedder):
    Indexer(service.index, service.embedder, "default").add([pending(REGLAMENTO), pending(POLICY)])
    first = [(h.chunk_id, h.score) for h in service.search("asistencia mínima", method="lexical")]
    from rag.service import Service

    again = Service(settings, embedder=embedder)  # a new process would open the same files
    assert [(h.chunk_id, h.score) for h in again.search("asistencia mínima", method="lexical")] == first
    assert first and again.search("asistencia mínima", method="lexical")[0].page == 3


def test_changed_file_replaces_its_old_version(service):
    index = service.index
    Indexer(index, service.embedder, "default").add([pending(REGLAMENTO)])
    changed = make_doc("reglamento.pdf", ["Artículo 2. La nota mínima de aprobación es de 61 puntos."])
    Indexer(index, service.embedder, "default").add([pending(changed)])
    docs = service.documents()
    assert [d.sha256 for d in docs] == [changed.sha256]
    consistent(index, "default")
    assert "61" in service.search("nota mínima", k=1)[0].text


def test_other_embedder_is_refused(service):
    Indexer(service.index, service.embedder, "default").add([pending(POLICY)])
    with pytest.raises(EmbedderMismatchError, match="RAG_EMBED_MODEL"):
        service.index.check_embedder("default", "some-other-model")


def test_a_collection_of_the_former_default_says_how_to_move_it_and_moves(service, settings, capsys, monkeypatch):
    """Built with the former English-only default: the first search says in one line what to do, and
    `rag reembed` moves it with its stored passages (nothing parsed again); search then works."""
    from rag.cli import main
    from rag.encoders.embedders import SentenceTransformerEmbedder
    from rag.service import Service
    from rag.settings import LEGACY_EMBEDDER

    old = Service(settings, embedder=SentenceTransformerEmbedder(LEGACY_EMBEDDER))
    Indexer(old.index, old.embedder, "default").add([pending(POLICY), pending(REGLAMENTO)])
    with pytest.raises(EmbedderMismatchError) as raised:
        service.search("nota mínima de aprobación")
    message = str(raised.value)
    assert "rag reembed --collection default" in message and LEGACY_EMBEDDER in message
    assert "\n" not in message
    passages = service.index.catalog("default").chunk_count()
    monkeypatch.setenv("RAG_DATA_DIR", str(settings.data_dir))
    assert main(["reembed", "--yes", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["previous"] == LEGACY_EMBEDDER and out["passages"] == passages
    fresh = Service(settings, embedder=service.embedder)
    assert "51" in fresh.search("nota mínima de aprobación", k=1)[0].text
    consistent(fresh.index, "default")


def test_write_requires_the_lock(service):
    doc = NewDocument(POLICY.sha256, POLICY.name, "", POLICY.pages, [], [], 1, None)
    with pytest.raises(RuntimeError):
        service.index.write("default", service.embedder.name, [doc], np.zeros((0, 384), np.float32))


def test_writers_in_threads_of_one_process_take_turns(service):
    """Two sessions of the web app share one Index: the lock is per thread, not per process."""
    index = service.index
    inside = threading.Event()
    release = threading.Event()
    order: list[str] = []
    messages: list[str] = []
    waiting = threading.Event()  # set by the lock when the second thread has to queue

    def first() -> None:
        with index.writing():
            order.append("first in")
            inside.set()
            release.wait(10)
            order.append("first out")

    def second() -> None:
        inside.wait(10)
        with index.writing(on_wait=lambda message: (messages.append(message), waiting.set())):
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    assert waiting.wait(10), "the second writer never queued"
    assert order == ["first in"]  # the second thread is waiting, not inside
    release.set()
    for t in threads:
        t.join(10)
    assert order == ["first in", "first out", "second in"]
    assert messages and "waiting" in messages[0]
    with pytest.raises(RuntimeError):  # holding the lock in one thread does not let another write
        errors: list[BaseException] = []

        def run() -> None:
            try:
                index.remove("default", [])
            except BaseException as exc:
                errors.append(exc)

        with index.writing():
            t = threading.Thread(target=run)
            t.start()
            t.join(10)
        raise errors[0]
def test_each_vector_belongs_to_its_own_passage_across_slices(service):
    """Passages are embedded longest first, in slices; every vector must still land on its passage."""
    from rag.index.chunking import embedding_text

    growing = make_doc("growing.pdf", [  # longer passages than POLICY
        "Artículo 1. La matrícula se paga en dos cuotas iguales durante el primer mes del semestre académico.",
        "Artículo 2. Las becas de excelencia cubren la matrícula completa de los estudiantes con el mejor "
        "promedio de su carrera y se renuevan cada año si el promedio se mantiene por encima de ochenta.",
        "Artículo 3. Los reclamos sobre notas se presentan por escrito ante la dirección de carrera dentro de "
        "los tres días hábiles siguientes a su publicación; la dirección responde en cinco días hábiles, y "
        "su decisión puede apelarse ante el consejo de facultad, que resuelve en última instancia.",
    ])
    indexer = Indexer(service.index, service.embedder, "default", batch_chunks=2)
    chunks = indexer.chunk(POLICY) + indexer.chunk(growing)  # short first: the sort must reorder
    lengths = [len(embedding_text(c)) for c in chunks]
    assert len(chunks) >= 3 and lengths != sorted(lengths, reverse=True)
    indexer.add([pending(POLICY), pending(growing)])
    for chunk in chunks:
        vector = service.embedder.embed([embedding_text(chunk)])[0]
        ((best, similarity),) = service.index.vectors.query("default", vector, 1)
        assert best == chunk.id and similarity > 0.999


def test_a_catalog_from_before_the_one_index_opens_and_keeps_working(service, settings, embedder):
    """A catalog of schema 6 (with the side channels' vector and word columns and the n-gram table) is
    opened as it is: its extra columns stay unused, search finds the same, and new documents go in."""
    from rag.service import Service

    Indexer(service.index, service.embedder, "default").add([pending(REGLAMENTO)])
    cat = service.index.catalog("default")
    expected = [(h.chunk_id, h.score) for h in service.search("asistencias mínimas")]
    assert expected
    with cat._conn:
        for column in ("mvec BLOB", "words TEXT", "evec BLOB"):
            cat._conn.execute(f"ALTER TABLE chunks ADD COLUMN {column}")
        cat._conn.execute("CREATE TABLE gram_df (gram TEXT PRIMARY KEY, df INTEGER NOT NULL) WITHOUT ROWID")
        cat._conn.execute("UPDATE meta SET value = '6' WHERE key = 'schema'")
    again = Service(settings, embedder=embedder)
    upgraded = again.index.catalog("default")
    assert upgraded.get_meta("schema") == SCHEMA_VERSION
    assert [(h.chunk_id, h.score) for h in again.search("asistencias mínimas")] == expected
    Indexer(again.index, again.embedder, "default").add([pending(POLICY)])
    consistent(again.index, "default")


def test_a_catalog_made_with_another_analysis_rederives_its_terms_on_open(service, settings, embedder):
    """Index terms made by another version of the analysis (other stop words, another stemmer) would
    quietly stop matching the questions, which this version analyses: such a catalog re-derives its
    terms from its stored texts the first time it is opened. No vector changes."""
    from rag.service import Service

    Indexer(service.index, service.embedder, "default").add([pending(REGLAMENTO), pending(POLICY)])
    cat = service.index.catalog("default")
    assert cat.get_meta("analysis") == analysis_fingerprint()
    expected = [(h.chunk_id, h.score) for h in service.search("asistencia mínima", method="lexical")]
    assert expected
    vectors = sorted(service.index.vectors.ids("default"))
    with cat._conn:  # what an older analysis might have written
        cat._conn.execute("UPDATE lex SET body = 'asistenci' || rowid, context = ''")
        cat._conn.execute("UPDATE meta SET value = 'older' WHERE key = 'analysis'")
    assert service.search("asistencia mínima", method="lexical") == []  # stale terms match nothing
    again = Service(settings, embedder=embedder)
    reopened = again.index.catalog("default")
    assert reopened.get_meta("analysis") == analysis_fingerprint()
    consistent(again.index, "default")  # the terms are this analysis's, of these texts
    assert [(h.chunk_id, h.score) for h in again.search("asistencia mínima", method="lexical")] == expected
    assert sorted(again.index.vectors.ids("default")) == vectors


def test_a_current_catalog_opens_without_writing(service, settings):
    """Opening a catalog made by this analysis never waits for the write lock (readers beside a writer)."""
    Indexer(service.index, service.embedder, "default").add([pending(POLICY)])
    file = service.index.catalog("default").file
    writer = sqlite3.connect(file, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
    try:
        opened: list[Catalog] = []
        opening = threading.Thread(target=lambda: opened.append(Catalog.open(file)), daemon=True)
        opening.start()
        opening.join(60)  # only a guard: an open that wanted the write lock would wait for the ROLLBACK below
        assert opened, "opening the catalog waited for another process's write"
        reader = opened[0]
        assert reader.chunk_count() == service.index.catalog("default").chunk_count() > 0
        reader.close()
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_the_vector_search_is_deep_enough_to_find_the_exact_nearest(tmp_path):
    """HNSW is approximate: with Chroma's default search depth (100) the top 58 the fusion takes missed
    some nearest passages, differently from build to build. A collection is searched with ``EF_SEARCH``
    candidates, one built before (with Chroma's default) included: it is raised when a process opens it
    (a process that has already searched it keeps the depth it loaded)."""
    from rag.index.chroma import EF_SEARCH, ChromaVectors

    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((2000, 48)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"p{i}" for i in range(len(vectors))]
    questions = vectors[rng.choice(len(vectors), 20)] + 0.5 * rng.standard_normal((20, 48)).astype(np.float32)
    np.save(tmp_path / "vectors.npy", vectors)
    build_as_before = (  # in another process, as a collection built before is (Chroma's default depth)
        "import sys, chromadb, numpy as np; v = np.load(sys.argv[2]); "
        "col = chromadb.PersistentClient(path=sys.argv[1]).create_collection("
        "'older', configuration={'hnsw': {'space': 'cosine'}}, embedding_function=None); "
        "col.add(ids=[f'p{i}' for i in range(len(v))], embeddings=v, metadatas=[{'doc': 'd'}] * len(v)); "
        "print(col.configuration['hnsw']['ef_search'])")
    built = subprocess.run([sys.executable, "-c", build_as_before, str(tmp_path / "chroma"),
                            str(tmp_path / "vectors.npy")], capture_output=True, text=True, check=True)
    assert int(built.stdout) < EF_SEARCH

    store = ChromaVectors.open(tmp_path)
    client = store._client
    store.upsert("current", ids, vectors, ["d"] * len(ids))
    for name in ("older", "current"):
        for question in questions:
            found = [cid for cid, _ in store.query(name, question, 58)]
            exact = [ids[i] for i in np.argsort(-(vectors @ question))[:58]]
            assert len(set(found) & set(exact)) >= 57, name  # all, but for a tie at the edge
    assert {client.get_collection(n).configuration["hnsw"]["ef_search"] for n in ("older", "current")} == {
        EF_SEARCH}


def test_a_collection_whose_search_cannot_be_deepened_is_still_searched(caplog):
    """A read-only folder or server refuses the change: the collection is searched as it was built."""
    from types import SimpleNamespace

    from rag.index.chroma import ChromaVectors

    def refuse(**_: object) -> None:
        raise PermissionError("attempt to write a readonly database")

    older = SimpleNamespace(configuration={"hnsw": {"ef_search": 100}}, modify=refuse,
                            query=lambda **_: {"ids": [["p1"]], "distances": [[0.25]]})
    store = ChromaVectors(SimpleNamespace(get_collection=lambda *_, **__: older), "somewhere")
    with caplog.at_level("WARNING", logger="rag.index.chroma"):
        assert store.query("older", np.ones(4, dtype=np.float32), 5) == [("p1", 0.75)]
    assert "could not deepen the vector search of older" in caplog.text
