"""Server mode (``RAG_CHROMA_URL``): a real ``chroma run`` on loopback gives the same results and the same
guarantees as the embedded store. The user's flow (ingest, search, ask, remove, re-ingest) goes through the
real CLI in child processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ingest.pipeline import IngestJob, IngestReport, discover
from rag.errors import IndexError_
from rag.index.store import Index
from rag.service import Service
from rag.settings import Settings
from tests.conftest import ROOT, subprocess_env
from tests.fixtures_chroma import ChromaServer
from tests.invariants import (
    assert_consistent,
    assert_whole_documents_only,
    ingest_until_ready,
    kill_then_rerun,
    snapshot,
)
from tests.ollama_stub import free_port
from tests.test_ingest import SAMPLE, _corpus

pytestmark = pytest.mark.server

QUESTIONS = [
    "¿Cuál es la nota mínima de aprobación en posgrado?",
    "¿Cuándo empieza el segundo semestre?",
    "requisitos para la defensa de tesis",
    "trace trees loop nesting hot side exits",
    "beca de excelencia biblioteca horario",
]


def rag_env(data_dir: Path, chroma_url: str = "", **extra: str) -> dict[str, str]:
    env = subprocess_env(SimpleNamespace(data_dir=data_dir), **extra)
    if chroma_url:
        env["RAG_CHROMA_URL"] = chroma_url
    return env


def rag(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rag", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)


def rag_both(envs: list[dict[str, str]], *args: str) -> list[Any]:
    """The same command in each environment, at the same time; the parsed JSON of each."""
    procs = [subprocess.Popen([sys.executable, "-m", "rag", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env, cwd=ROOT) for env in envs]
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        out.append(json.loads(stdout))
    return out


def open_index(data_dir: Path, chroma_url: str = "") -> Index:
    return Index.open(Settings(data_dir=data_dir, chroma_url=chroma_url))


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, chroma_server: ChromaServer, shared_data: Path) -> Any:
    """The same folder ingested through the CLI into an embedded index and into a server-mode index."""
    root = tmp_path_factory.mktemp("pair")
    folder = root / "docs"
    shutil.copytree(SAMPLE, folder)
    for name in ("english/pdfjs__tracemonkey.pdf", "adversarial/pypdf__multilang.pdf", "adversarial/qpdf__bad1.pdf"):
        shutil.copy(shared_data / "pdfs" / name, folder)
    embedded = rag_env(root / "embedded")
    server = rag_env(root / "server", chroma_server.url)
    reports = rag_both([embedded, server], "ingest", str(folder), "--json")
    return SimpleNamespace(folder=folder, embedded=embedded, server=server, reports=reports,
                           emb_dir=root / "embedded", srv_dir=root / "server", url=chroma_server.url)


@pytest.mark.slow
def test_same_documents_and_passages(pair):
    emb_report, srv_report = pair.reports
    for key in ("added", "updated", "unchanged", "removed", "failed", "chunks"):
        assert srv_report[key] == emb_report[key], key
    assert len(emb_report["added"]) == 7 and len(emb_report["failed"]) == 1
    emb, srv = open_index(pair.emb_dir), open_index(pair.srv_dir, pair.url)
    assert snapshot(srv, "default") == snapshot(emb, "default")
    assert_consistent(emb, "default")
    assert_consistent(srv, "default")  # vector ids read from the server
    assert srv.vectors.count("default") == emb.vectors.count("default") == emb_report["chunks"]
    listed = [json.loads(rag(env, "docs", "list", "--json").stdout)["documents"]
              for env in (pair.embedded, pair.server)]
    for docs in listed:
        for doc in docs:
            doc.pop("ingested_at")
    assert listed[1] == listed[0]


def assert_same_hits(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """The same passages, ranks, pages and texts; scores within 1e-3. The server's distances may differ from
    the embedded store's in the last bits of a float32, and the fusion standardises the cosines (divides by
    their spread, ~0.01), which makes a 1e-6 difference one of ~1e-4."""
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        assert {k: v for k, v in a.items() if k != "score"} == {k: v for k, v in b.items() if k != "score"}
        assert a["score"] == pytest.approx(b["score"], abs=1e-3), a["chunk_id"]


@pytest.mark.slow
def test_same_search_hits(pair, embedder):
    # through the CLI, as a user would
    emb_hits, srv_hits = (r["hits"] for r in rag_both([pair.embedded, pair.server], "search", QUESTIONS[0],
                                                      "-k", "8", "--json"))
    assert emb_hits and [h["chunk_id"] for h in srv_hits] == [h["chunk_id"] for h in emb_hits]
    assert_same_hits(srv_hits, emb_hits)
    # and more questions in-process: the same order; cosines within 1e-4, fused scores within 1e-3 (above)
    emb = Service(Settings(data_dir=pair.emb_dir), embedder=embedder)
    srv = Service(Settings(data_dir=pair.srv_dir, chroma_url=pair.url), embedder=embedder)
    for question in QUESTIONS:
        for method in ("dense", "hybrid"):
            a, b = emb.search(question, k=10, method=method), srv.search(question, k=10, method=method)
            assert [h.chunk_id for h in b] == [h.chunk_id for h in a], (question, method)
            tolerance = 1e-4 if method == "dense" else 1e-3
            assert all(abs(x.score - y.score) < tolerance for x, y in zip(a, b, strict=True)), (question, method)


@pytest.mark.slow
def test_same_extractive_answer_and_citations(pair):
    emb, srv = rag_both([pair.embedded, pair.server], "ask", "¿Cuál es la nota mínima de aprobación?", "--json")
    assert emb["mode"] == srv["mode"] == "extractive"  # nothing listens at OLLAMA_HOST
    assert srv["answer"] == emb["answer"] and srv["citations"] == emb["citations"]
    assert_same_hits(srv["hits"], emb["hits"])
    assert emb["citations"] and emb["citations"][0]["source"] == "reglamento_evaluacion.pdf"


@pytest.mark.slow
def test_reingest_adds_nothing(pair):
    before = open_index(pair.srv_dir, pair.url).vectors.count("default")
    again = json.loads(rag(pair.server, "ingest", str(pair.folder), "--json").stdout)
    assert again["added"] == again["updated"] == [] and again["chunks"] == 0
    assert sorted(again["unchanged"]) == sorted(pair.reports[1]["added"])
    index = open_index(pair.srv_dir, pair.url)
    assert index.vectors.count("default") == before
    assert_consistent(index, "default")


@pytest.mark.slow
def test_remove_then_reingest_gives_the_same_state(pair):
    expected_docs, expected_chunks = snapshot(open_index(pair.emb_dir), "default")
    index = open_index(pair.srv_dir, pair.url)
    gone = next(d for d in index.catalog("default").documents() if d.name == "reglamento_evaluacion.pdf")
    out = rag(pair.server, "docs", "remove", "reglamento_evaluacion.pdf", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"removed": ["reglamento_evaluacion.pdf"]}
    index = open_index(pair.srv_dir, pair.url)
    assert_consistent(index, "default")
    docs, chunks = snapshot(index, "default")
    assert docs == expected_docs - {gone.sha256}
    assert chunks == {c for c in expected_chunks if not c.startswith(gone.sha256)}
    assert gone.sha256 not in index.vectors.document_shas("default")
    # the file is still in the folder: ingesting again brings back exactly what was there
    again = json.loads(rag(pair.server, "ingest", str(pair.folder), "--json").stdout)
    assert again["added"] == ["reglamento_evaluacion.pdf"]
    index = open_index(pair.srv_dir, pair.url)
    assert_consistent(index, "default")
    assert snapshot(index, "default") == (expected_docs, expected_chunks)
    hits = json.loads(rag(pair.server, "search", "nota mínima de aprobación en posgrado", "-k", "3",
                          "--json").stdout)["hits"]
    assert hits[0]["source"] == "reglamento_evaluacion.pdf"


# -- crash safety and concurrency against the server ------------------------------------------------

@pytest.mark.slow
def test_kill_9_mid_ingest_then_rerun_is_consistent(server_settings, embedder, tmp_path):
    folder = _corpus(tmp_path, n=20)
    clean = Service(Settings(data_dir=tmp_path / "clean"), embedder=embedder)  # embedded reference
    report = IngestReport()
    IngestJob(clean).run(discover([folder], report), report=report)
    expected = snapshot(clean.index, "default")

    env = rag_env(server_settings.data_dir, server_settings.chroma_url)
    kill_then_rerun((0, 3, 12), folder, env, ROOT, server_settings.data_dir,
                    lambda: Service(server_settings, embedder=embedder), expected)


@pytest.mark.slow
def test_search_while_ingesting(server_settings, embedder, tmp_path):
    """A writer process ingests; readers (this process, and a `rag search` process) see whole documents only."""
    folder = _corpus(tmp_path, n=20)
    env = rag_env(server_settings.data_dir, server_settings.chroma_url)
    reader = Service(server_settings, embedder=embedder)
    reader.embedder.embed(["warm up"], query=True)  # its model loads now, not during the writer's short run
    writer = ingest_until_ready(folder, env, ROOT, server_settings.data_dir, 1)
    cli_reader = subprocess.Popen([sys.executable, "-m", "rag", "search", "plazo de días hábiles", "--json"],
                                  env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    searched_while_writing = 0
    while writer.poll() is None:
        hits = reader.search("plazo de días hábiles para el trámite", k=8)
        assert hits and all(h.text for h in hits)
        ready = {d.sha256: d.chunks for d in reader.documents()}
        assert {h.doc_sha for h in hits} <= ready.keys()  # never a passage of a half-written document
        assert_whole_documents_only(reader)
        searched_while_writing += 1
    assert searched_while_writing >= 3
    out, err = writer.communicate(timeout=300)
    assert writer.returncode == 0, err
    out, err = cli_reader.communicate(timeout=300)
    assert cli_reader.returncode == 0, err
    assert json.loads(out)["hits"]
    service = Service(server_settings, embedder=embedder)
    assert_consistent(service.index, "default")
    assert len(service.documents()) == 21


# -- several data directories on one server --------------------------------------------------------

def _ingest_text(service: Service, folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    report = IngestReport()
    IngestJob(service).run(discover([folder], report), report=report)
    assert not report.failed


def test_two_data_dirs_share_one_server_without_meeting(settings, chroma_server, embedder, tmp_path):
    a = Service(settings.model_copy(update={"data_dir": tmp_path / "a", "chroma_url": chroma_server.url}),
                embedder=embedder)
    b = Service(settings.model_copy(update={"data_dir": tmp_path / "b", "chroma_url": chroma_server.url}),
                embedder=embedder)
    _ingest_text(a, tmp_path / "docs-a", {"becas.txt": "La beca de excelencia cubre toda la matrícula.\n"})
    _ingest_text(b, tmp_path / "docs-b", {"horario.txt": "La biblioteca abre de lunes a viernes de 8 a 20.\n",
                                          "tesis.txt": "La tesis se entrega en la biblioteca en formato PDF/A.\n"})
    # both call their collection "default"; on the server each lives under its data directory's namespace
    na, nb = a.index.vectors.namespace, b.index.vectors.namespace
    assert na and nb and na != nb
    assert json.loads((tmp_path / "a" / "store.json").read_text()) == {"vectors": "server", "namespace": na}
    stored = {c.name for c in a.index.vectors._client.list_collections()}
    assert {f"{na}-default", f"{nb}-default"} <= stored and "default" not in stored
    assert a.index.vectors.collections() == ["default"] and b.index.vectors.collections() == ["default"]
    assert [h.source for h in a.search("horario de la biblioteca", k=5, method="dense")] == ["becas.txt"]
    assert {h.source for h in b.search("beca de excelencia", k=5, method="dense")} == {"horario.txt", "tesis.txt"}
    assert a.index.vectors.count("default") == 1 and b.index.vectors.count("default") == 2
    assert_consistent(a.index, "default")
    assert_consistent(b.index, "default")
    # dropping a's collection leaves b's alone
    a.index.drop_collection("default")
    assert b.index.vectors.count("default") == 2
    assert_consistent(b.index, "default")
    # a second process on the same data directory (a replica) finds the same namespace
    assert open_index(tmp_path / "b", chroma_server.url).vectors.namespace == nb


def test_long_collection_name_fits_chroma(settings, chroma_server, embedder, tmp_path):
    name = "departamento-de-ingenieria-de-sistemas-posgrado-2026-gestion-ii"
    assert len(name) == 63
    service = Service(settings.model_copy(update={"chroma_url": chroma_server.url, "collection": name}),
                      embedder=embedder)
    _ingest_text(service, tmp_path / "docs", {"a.txt": "El plazo de inscripción vence el 15 de marzo.\n"})
    vectors = service.index.vectors
    assert len(vectors.stored_name(name)) <= 63 and vectors.collections() == [name]
    assert service.search("plazo de inscripción", collection=name, k=1)[0].source == "a.txt"
    assert_consistent(service.index, name)


def test_data_dir_stays_with_its_kind_of_store(settings, chroma_server, embedder, tmp_path):
    embedded = Service(settings.model_copy(update={"data_dir": tmp_path / "emb"}), embedder=embedder)
    _ingest_text(embedded, tmp_path / "docs", {"a.txt": "El plazo de inscripción vence el 15 de marzo.\n"})
    with pytest.raises(IndexError_, match="holds an embedded index.*RAG_CHROMA_URL is set"):
        open_index(tmp_path / "emb", chroma_server.url)
    server = Service(settings.model_copy(update={"data_dir": tmp_path / "srv", "chroma_url": chroma_server.url}),
                     embedder=embedder)
    _ingest_text(server, tmp_path / "docs", {})
    with pytest.raises(IndexError_, match="on a Chroma server: set RAG_CHROMA_URL"):
        open_index(tmp_path / "srv")
    # a fresh data directory opened once with the wrong setting is not bound by that mistake
    with pytest.raises(IndexError_, match="cannot reach the Chroma server"):
        open_index(tmp_path / "fresh", f"http://127.0.0.1:{free_port()}")
    assert open_index(tmp_path / "fresh").vectors.remote is False
    assert open_index(tmp_path / "fresh", chroma_server.url).vectors.remote is True


# -- a server that is down, or a URL that is wrong ---------------------------------------------------

@pytest.fixture
def not_chroma(ollama_stub) -> str:
    """An HTTP server that is not Chroma (the Ollama stand-in)."""
    return ollama_stub.url


@pytest.mark.parametrize("command", [
    ["ingest", str(SAMPLE)],
    ["search", "nota mínima"],
    ["ask", "¿nota mínima?"],
    ["docs", "list"],
    ["docs", "remove", "reglamento_evaluacion.pdf"],
])
def test_server_down_is_one_clear_line(settings, command):
    url = f"http://127.0.0.1:{free_port()}"
    out = rag(rag_env(settings.data_dir, url), *command, timeout=120)
    assert out.returncode == 2, out
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert f"cannot reach the Chroma server at {url}" in out.stderr and "RAG_CHROMA_URL" in out.stderr


@pytest.mark.parametrize("url, says", [
    ("not_chroma", "does not answer as a Chroma server"),
    ("ftp://127.0.0.1:8000", "RAG_CHROMA_URL must look like http://host:8000"),
])
def test_wrong_url_is_one_clear_line(settings, request, url, says):
    if url == "not_chroma":
        url = request.getfixturevalue("not_chroma")
    for command in (["ingest", str(SAMPLE)], ["search", "nota mínima"]):
        out = rag(rag_env(settings.data_dir, url), *command, timeout=120)
        assert out.returncode == 2 and "Traceback" not in out.stderr, out
        assert out.stderr.count("\n") == 1 and says in out.stderr, out.stderr


def test_server_going_away_mid_use_is_a_clear_error_and_recovers(settings, embedder, tmp_path):
    server = ChromaServer(tmp_path / "chroma").start()
    try:
        service = Service(settings.model_copy(update={"chroma_url": server.url}), embedder=embedder)
        _ingest_text(service, tmp_path / "docs", {"a.txt": "El plazo de inscripción vence el 15 de marzo.\n"})
        server.stop()
        with pytest.raises(IndexError_, match=f"the Chroma server at {server.url} failed while searching"):
            service.search("plazo de inscripción", k=1)
        with pytest.raises(IndexError_, match="failed while"):
            _ingest_text(service, tmp_path / "docs", {"b.txt": "La matrícula se paga en dos cuotas.\n"})
        server.start()  # same port, same data
        assert service.search("plazo de inscripción", k=1)[0].source == "a.txt"
        _ingest_text(service, tmp_path / "docs", {})  # the next writer finishes what the failed one left
        assert {d.name for d in service.documents()} == {"a.txt", "b.txt"}
        assert_consistent(service.index, "default")
    finally:
        server.stop()


def test_a_server_that_never_answers_costs_the_timeout_not_a_hang(settings, embedder, tmp_path):
    """chromadb's own client would wait for ever; RAG_REQUEST_TIMEOUT bounds every call to the server,
    whether it hangs from the start (a port that accepts and never answers) or in the middle of use
    (the server stopped with SIGSTOP), and the error is the usual one line."""
    import socket

    silent = socket.create_server(("127.0.0.1", 0))  # accepts connections (backlog), never answers
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        env = {**rag_env(settings.data_dir, url), "RAG_REQUEST_TIMEOUT": "2"}
        out = rag(env, "search", "nota mínima", timeout=60)  # a hang raises TimeoutExpired
        assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out
        assert f"cannot reach the Chroma server at {url}" in out.stderr
    finally:
        silent.close()

    server = ChromaServer(tmp_path / "chroma").start()
    try:
        service = Service(settings.model_copy(update={"chroma_url": server.url, "request_timeout": 2.0}),
                          embedder=embedder)
        _ingest_text(service, tmp_path / "docs", {"a.txt": "El plazo de inscripción vence el 15 de marzo.\n"})
        os.killpg(server.pid, signal.SIGSTOP)
        try:  # without RAG_REQUEST_TIMEOUT the search would wait for ever (pytest-timeout's hang)
            with pytest.raises(IndexError_, match=f"the Chroma server at {server.url} failed while searching"):
                service.search("plazo de inscripción", k=1)
        finally:
            os.killpg(server.pid, signal.SIGCONT)
        assert service.search("plazo de inscripción", k=1)[0].source == "a.txt"
    finally:
        server.stop()
