"""`rag ingest` as a user meets it: real files, the real model, real Chroma, a real CLI process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.pipeline import IngestJob, IngestReport, discover
from rag.index.chunking import embedding_text
from rag.service import Service
from tests.conftest import ROOT, subprocess_env
from tests.invariants import assert_consistent, ingest_until_ready, kill_then_rerun, snapshot

SAMPLE = ROOT / "corpora" / "sample"
KEYS = {"added", "updated", "unchanged", "removed", "failed", "chunks", "seconds"}


def ingest(service: Service, *paths: Path, prune: bool = False, password: str | None = None) -> IngestReport:
    report = IngestReport()
    sources = discover(paths, report)
    return IngestJob(service, password=password).run(sources, prune=prune, report=report)


def rag(settings, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rag", *args], capture_output=True, text=True,
                          env=subprocess_env(settings), timeout=timeout, cwd=ROOT)


def test_cli_json_contract_and_idempotence(settings, tmp_path):
    first = rag(settings, "ingest", str(SAMPLE), "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report.keys() >= KEYS
    assert sorted(report["added"]) == sorted(p.name for p in SAMPLE.iterdir() if p.suffix in {".pdf", ".md"})
    assert report["failed"] == [] and report["chunks"] > 0
    again = json.loads(rag(settings, "ingest", str(SAMPLE), "--json").stdout)
    assert again["added"] == [] and again["chunks"] == 0
    assert sorted(again["unchanged"]) == sorted(report["added"])
    docs = json.loads(rag(settings, "docs", "list", "--json").stdout)["documents"]
    assert {"name", "sha256", "pages", "chunks", "ingested_at", "unit", "sheets"} <= docs[0].keys()
    assert sum(d["chunks"] for d in docs) == report["chunks"]
    assert {d["unit"] for d in docs if d["name"].endswith(".pdf")} == {"page"}
    listing = rag(settings, "docs", "list").stdout
    pdf = next(d for d in docs if d["name"].endswith(".pdf"))
    assert f"{pdf['pages']} page" in next(line for line in listing.splitlines() if line.startswith(pdf["name"]))


def test_search_json_cites_file_and_page(settings):
    rag(settings, "ingest", str(SAMPLE))
    out = rag(settings, "search", "nota mínima de aprobación en posgrado", "-k", "3", "--json")
    data = json.loads(out.stdout)
    assert data["query"] == "nota mínima de aprobación en posgrado"
    hit = data["hits"][0]
    assert set(hit) == {"rank", "source", "page", "page_end", "locator", "text", "score", "chunk_id", "ocr",
                        "ocr_confidence"}
    assert hit["source"] == "reglamento_evaluacion.pdf" and hit["page"] == 1 and "71" in hit["text"]
    assert hit["locator"] == "p. 1" and hit["ocr"] is False and hit["ocr_confidence"] is None


def test_changed_file_replaces_old_passages_and_prune_removes_gone(service, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("La biblioteca central abre de lunes a viernes de 8:00 a 20:00.\n")
    (folder / "b.md").write_text("# Becas\nLa beca de excelencia cubre el cien por ciento de la matrícula.\n")
    ingest(service, folder)
    old_sha = {d.name: d.sha256 for d in service.documents()}["a.txt"]
    saved = (folder / "a.txt").stat().st_mtime_ns
    (folder / "a.txt").write_text("La biblioteca central abre de lunes a sábado de 7:00 a 22:00.\n")
    os.utime(folder / "a.txt", ns=(saved + 10**9, saved + 10**9))  # same size: a later save, whatever the clock
    report = ingest(service, folder)
    assert report.updated == ["a.txt"] and report.unchanged == ["b.md"]
    assert old_sha not in {d.sha256 for d in service.documents()}
    assert "22:00" in service.search("horario de la biblioteca", k=1)[0].text
    assert_consistent(service.index, "default")
    (folder / "b.md").unlink()
    report = ingest(service, folder, prune=True)
    assert report.removed == ["b.md"]
    assert [d.name for d in service.documents()] == ["a.txt"]
    assert_consistent(service.index, "default")


def test_same_content_under_two_names_is_stored_once(service, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(SAMPLE / "reglamento_evaluacion.pdf", folder / "reglamento.pdf")
    shutil.copy(SAMPLE / "reglamento_evaluacion.pdf", folder / "copia del reglamento.pdf")
    report = ingest(service, folder)
    assert len(report.added) == 1 and len(report.unchanged) == 1
    docs = service.documents()
    assert len(docs) == 1 and set(docs[0].names) == {"reglamento.pdf", "copia del reglamento.pdf"}
    # removing one of the two files keeps the document
    (folder / "reglamento.pdf").unlink()
    assert ingest(service, folder, prune=True).removed == []
    assert len(service.documents()) == 1
    assert_consistent(service.index, "default")


def test_known_sentence_on_its_page(service, shared_data):
    ingest(service, shared_data / "pdfs" / "english" / "pdfjs__tracemonkey.pdf")
    hits = service.search("trace trees loop nesting hot side exits", k=5)
    assert hits and hits[0].source == "pdfjs__tracemonkey.pdf"
    page = service.page_text(hits[0].doc_sha, hits[0].page)
    assert page is not None and hits[0].text.split()[0] in page
    # a sentence known to be on physical page 1 (the abstract)
    hit = service.search("Dynamic languages such as JavaScript are more difficult to compile than "
                         "statically typed ones", k=1, method="lexical")[0]
    assert hit.page == 1
    # the charts' garbled text layer (pp. 10, 11, 13) is not indexed: no passage or answer can show it
    catalog = service.index.catalog("default")
    assert not [c for c in catalog.chunks(catalog.chunk_ids()).values() if '!"#' in c.text]
    from rag.answer.extractive import extractive_answer

    question = "How does TraceMonkey handle type-unstable loops?"
    answer = extractive_answer(question, service.search(question, k=5))
    assert answer.answer and '!"#' not in answer.answer


@pytest.mark.slow
@pytest.mark.timeout(1800)  # about 40 scanned or glyph-garbage pages are recognised by OCR on the way
def test_every_shared_pdf_is_indexed_or_reported(service, shared_data, embedder):
    """The whole hostile corpus in one batch: nothing stops it, every file accounted for."""
    folder = shared_data / "pdfs"
    report = ingest(service, folder, password=None)
    files = [p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in {".pdf", ".txt", ".md"}]
    accounted = len(report.added) + len(report.unchanged) + len(report.failed)
    assert accounted == len(files)
    for failure in report.failed:
        assert failure["reason"] and "\n" not in failure["reason"] and len(failure["reason"]) < 120
    reasons = {Path(f["path"]).name: f["reason"] for f in report.failed}
    assert any("encrypted: pass --password" in r for r in reasons.values())
    assert any(r.startswith("no text layer") for r in reasons.values())
    assert any(r == "not a PDF" for r in reasons.values())
    assert_consistent(service.index, "default")
    # chunks fit the window, over every shared PDF that has text
    cat = service.index.catalog("default")
    chunks = [c for d in cat.documents() for c in cat.document_chunks(d.sha256)]
    counts = embedder.count_tokens([embedding_text(c) for c in chunks])
    assert max(counts) + 2 <= embedder.max_tokens


def test_encrypted_pdf_opens_with_its_password(service, shared_data):
    manifest = [json.loads(line) for line in (shared_data / "pdfs" / "manifest.jsonl").read_text().splitlines()]
    entry = next(m for m in manifest if m.get("password") and m.get("text_chars", 0) > 50)
    path = shared_data / "pdfs" / entry["file"]
    refused = ingest(service, path)
    assert refused.failed and "password" in refused.failed[0]["reason"]
    opened = ingest(service, path, password=entry["password"])
    assert opened.added == [path.name]


# -- crash safety and concurrency: real processes --------------------------------------------------

def _corpus(tmp_path: Path, n: int = 40) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for i in range(n):
        lines = [f"Documento {i}, sección {j}: la resolución {i * 100 + j} establece el plazo de "
                 f"{(i + j) % 30 + 1} días hábiles para el trámite número {i}-{j} de la facultad {i % 7}."
                 for j in range(60)]
        (folder / f"doc{i:03d}.txt").write_text("\f".join("\n".join(lines[k:k + 12]) for k in range(0, 60, 12)))
    shutil.copy(SAMPLE / "reglamento_evaluacion.pdf", folder)
    return folder




@pytest.mark.slow
def test_kill_9_at_any_moment_then_rerun_equals_clean_index(settings, embedder, tmp_path):
    folder = _corpus(tmp_path)
    clean_settings = settings.model_copy(update={"data_dir": tmp_path / "clean"})
    clean = Service(clean_settings, embedder=embedder)
    ingest(clean, folder)
    expected = snapshot(clean.index, "default")

    # kill at different moments: while loading, after a few documents, deep into the run; between the
    # kill and the re-run, a reader sees only whole documents
    kill_then_rerun((0, 3, 12, 25), folder, subprocess_env(settings), ROOT, settings.data_dir,
                    lambda: Service(settings, embedder=embedder), expected)


@pytest.mark.slow
def test_two_ingests_at_once_one_waits_and_search_keeps_working(settings, embedder, tmp_path):
    """The first ingest is paused (SIGSTOP) while it holds the lock, so that the second surely meets it,
    however fast the machine: the second waits with a message, a search answers meanwhile, and both
    finish once the first goes on."""
    folder = _corpus(tmp_path, n=30)
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(SAMPLE / "calendario_academico_2026.pdf", other)
    env = subprocess_env(settings)
    first = ingest_until_ready(folder, env, ROOT, settings.data_dir, 2)
    os.kill(first.pid, signal.SIGSTOP)  # mid-ingest, lock held
    try:
        err_file = tmp_path / "second.err"
        with err_file.open("w") as err:
            second = subprocess.Popen([sys.executable, "-m", "rag", "ingest", str(other), "--json"], env=env,
                                      cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True)
        deadline = time.monotonic() + 120
        while "waiting for another ingest" not in err_file.read_text():
            assert second.poll() is None and time.monotonic() < deadline, err_file.read_text()
            time.sleep(0.1)
        searched = rag(settings, "search", "plazo de días hábiles", "--json")  # while the first holds the lock
        assert searched.returncode == 0, searched.stderr
        assert json.loads(searched.stdout)["hits"]
    finally:
        os.kill(first.pid, signal.SIGCONT)
    out1, err1 = first.communicate(timeout=300)
    out2, _ = second.communicate(timeout=300)
    err2 = err_file.read_text()
    assert first.returncode == 0 and second.returncode == 0, (err1, err2)
    assert "waiting for another ingest" in err2
    assert json.loads(out2)["added"] == ["calendario_academico_2026.pdf"]
    service = Service(settings, embedder=embedder)
    assert_consistent(service.index, "default")
    assert len(service.documents()) == 32


def test_unwritable_data_dir_fails_clearly(settings, tmp_path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a folder")
    out = subprocess.run([sys.executable, "-m", "rag", "ingest", str(SAMPLE)], capture_output=True, text=True,
                         env=subprocess_env(settings, RAG_DATA_DIR=str(blocked / "data")), cwd=ROOT, timeout=120)
    assert out.returncode != 0
    assert "RAG_DATA_DIR" in out.stderr and "Traceback" not in out.stderr


def test_missing_path_and_unsupported_file_are_reported_not_fatal(service, tmp_path):
    (tmp_path / "notes.rtf").write_bytes(b"{\\rtf1 hola}")
    report = ingest(service, tmp_path / "nope", tmp_path / "notes.rtf", SAMPLE / "reglamento_evaluacion.pdf")
    reasons = sorted(f["reason"] for f in report.failed)
    assert reasons[0] == "no such file or folder" and reasons[1].startswith("unsupported file type .rtf")
    assert report.added == ["reglamento_evaluacion.pdf"]


def test_pypdf_noise_stays_out_of_the_terminal(settings, shared_data):
    bad = next((shared_data / "pdfs" / "adversarial").glob("*bad7*"))
    out = rag(settings, "ingest", str(bad))
    assert out.returncode == 0
    assert "damaged" in out.stdout + out.stderr
    assert "pypdf" not in out.stderr.lower() and "Traceback" not in out.stderr
