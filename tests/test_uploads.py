"""Uploads from the web page: the same ingestion job as `rag ingest`, files kept for re-ingest and removal."""

from __future__ import annotations

import pytest

from ingest.uploads import (
    Upload,
    document_sources,
    ingest_uploads,
    reingest_document,
    remove_document,
    upload_name,
    uploads_dir,
)
from rag.errors import DocumentNotFoundError, LoadError, SettingsError
from tests.conftest import ROOT
from tests.helpers import make_pdf
from tests.invariants import assert_consistent

SAMPLE = ROOT / "corpora" / "sample"


def test_upload_names_are_plain_file_names() -> None:
    assert upload_name("../../etc/Reglamento 2026.pdf") == "Reglamento 2026.pdf"
    assert upload_name("C:\\Users\\ana\\tesis.pdf") == "tesis.pdf"
    assert upload_name("a\x00b\u202e.txt") == "ab.txt"
    for bad in ["", "..", "dir/", ".env"]:
        with pytest.raises(LoadError):
            upload_name(bad)


def test_uploads_are_indexed_kept_and_reported(service) -> None:
    pdf = (SAMPLE / "reglamento_evaluacion.pdf").read_bytes()
    report = ingest_uploads(service, None, [
        Upload("reglamento_evaluacion.pdf", pdf),
        Upload("notas.txt", b"La biblioteca abre a las 8:00."),
        Upload("roto.pdf", b"%PDF-1.4 garbage"),
        Upload("carta.rtf", b"{\\rtf1 hola}"),
        Upload("vacio.md", b""),
    ])
    assert sorted(report.added) == ["notas.txt", "reglamento_evaluacion.pdf"]
    reasons = {f["path"]: f["reason"] for f in report.failed}
    assert set(reasons) == {"roto.pdf", "carta.rtf", "vacio.md"}
    assert "unsupported" in reasons["carta.rtf"] and reasons["vacio.md"] == "empty file"
    kept = sorted(p.name for p in uploads_dir(service).iterdir())
    assert kept == ["notas.txt", "reglamento_evaluacion.pdf"]  # nothing failed is kept, no staging left
    hits = service.search("nota mínima de aprobación en posgrado", k=1)
    assert hits[0].source == "reglamento_evaluacion.pdf" and hits[0].page == 1
    again = ingest_uploads(service, None, [Upload("reglamento_evaluacion.pdf", pdf)])
    assert again.unchanged == ["reglamento_evaluacion.pdf"] and again.chunks == 0
    assert_consistent(service.index, "default")


def test_same_name_new_content_replaces_the_old_version(service) -> None:
    ingest_uploads(service, None, [Upload("aviso.pdf", make_pdf(["El plazo vence el lunes."]))])
    report = ingest_uploads(service, None, [Upload("aviso.pdf", make_pdf(["El plazo vence el viernes."]))])
    assert report.updated == ["aviso.pdf"]
    docs = service.documents()
    assert len(docs) == 1 and "viernes" in service.page_text(docs[0].sha256, 1)


def test_broken_new_version_keeps_the_good_one(service) -> None:
    good = make_pdf(["El plazo vence el lunes."])
    ingest_uploads(service, None, [Upload("aviso.pdf", good)])
    report = ingest_uploads(service, None, [Upload("aviso.pdf", b"%PDF-1.4 broken")])
    assert [f["path"] for f in report.failed] == ["aviso.pdf"]
    assert (uploads_dir(service) / "aviso.pdf").read_bytes() == good
    assert [d.name for d in service.documents()] == ["aviso.pdf"]


def test_size_limit_is_enforced_in_code(service) -> None:
    service.settings.max_upload_mb = 1
    report = ingest_uploads(service, None, [Upload("grande.txt", b"a " * (600 * 1024))])
    assert report.failed and "1 MB" in report.failed[0]["reason"] and not report.added
    assert not any(uploads_dir(service).iterdir())


def test_progress_hears_every_file_refused_ones_first(service) -> None:
    events = []

    class Sink:
        def start(self, files): events.append(("start", files))
        def file_done(self, name, status, chunks=0, reason=""): events.append((status, name))
        def chunks(self, done): pass
        def message(self, text): pass
        def close(self): events.append(("close",))

    ingest_uploads(service, None, [Upload("a.txt", b"Texto de prueba sobre becas."), Upload("b.exe", b"MZ")],
                   progress=Sink())
    assert events == [("start", 2), ("failed", "b.exe"), ("added", "a.txt"), ("close",)]


def test_reingest_reads_the_kept_file_again_and_remove_deletes_it(service) -> None:
    faq = (SAMPLE / "preguntas_frecuentes_becas_biblioteca.md").read_bytes()
    ingest_uploads(service, None, [Upload("faq.md", faq)])
    doc = service.documents()[0]
    assert [s.key for s in document_sources(service, None, doc.sha256)] == ["upload:faq.md"]
    report = reingest_document(service, None, doc.sha256)
    assert report.added == ["faq.md"] and report.chunks == doc.chunks
    assert [d.sha256 for d in service.documents()] == [doc.sha256]
    assert_consistent(service.index, "default")
    removed = remove_document(service, None, doc.sha256)
    assert [d.name for d in removed] == ["faq.md"]
    assert service.documents() == [] and not (uploads_dir(service) / "faq.md").exists()
    assert_consistent(service.index, "default")


def test_reingest_needs_a_file(service, tmp_path) -> None:
    path = tmp_path / "nota.txt"
    path.write_text("Una nota que luego se borra del disco.")
    from ingest.pipeline import IngestJob, IngestReport, discover

    IngestJob(service).run(discover([path], IngestReport()))
    sha = service.documents()[0].sha256
    assert [s.key for s in document_sources(service, None, sha)] == [str(path.resolve())]
    path.unlink()
    with pytest.raises(DocumentNotFoundError, match="no longer available"):
        reingest_document(service, None, sha)


def test_new_collections_are_validated_and_listed(service) -> None:
    assert service.collections() == ["default"]
    assert service.create_collection(" tesis-2026 ") == "tesis-2026"
    assert service.collections() == ["default", "tesis-2026"] and service.documents("tesis-2026") == []
    with pytest.raises(SettingsError, match="3-63 letters"):
        service.create_collection("mala colección")


def test_two_sessions_uploading_at_once_take_turns(service) -> None:
    import threading

    reports = {}

    def session(name: str, text: str) -> None:
        reports[name] = ingest_uploads(service, None, [Upload(name, text.encode() * 200)])

    threads = [threading.Thread(target=session, args=(f"aviso{i}.txt", f"Aviso número {i} sobre becas. "))
               for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(n for r in reports.values() for n in r.added) == ["aviso0.txt", "aviso1.txt", "aviso2.txt"]
    assert_consistent(service.index, "default")
