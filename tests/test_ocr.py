"""OCR with the real Tesseract on the shared scans: pages read, turned, straightened, cited, and bounded."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from PIL import Image

from ingest.loaders import load_file
from ingest.ocr import language_package, page_image, recognise, recognise_job, unavailable_reason
from ingest.pipeline import IngestJob, IngestReport, discover
from ingest.render import bounded_dpi
from ingest.scans import ScanDocument, page_job
from rag.errors import LoadError
from rag.service import Service
from tests.conftest import subprocess_env
from tests.helpers import PDFS, PROJECT_ROOT, make_pdf
from tests.invariants import assert_consistent, kill_then_rerun, snapshot

SCANS = PDFS.parent / "office" / "scans"
FRANCAIS = PDFS / "scanned" / "ocrmypdf__francais.pdf"
MULTIPAGE_TIFF = SCANS / "tika__testTIFF_multipage.tif"
PROBE = "vieux whisky au juge"

needs_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None,
    reason="Tesseract is not installed (apt-get install tesseract-ocr tesseract-ocr-spa; `make test` installs it)",
)
needs_scans = pytest.mark.skipif(not FRANCAIS.is_file() or not MULTIPAGE_TIFF.is_file(),
                                 reason=f"shared scans not found under {PDFS.parent}")
pytestmark = [needs_tesseract, needs_scans]


def francais_page() -> Image.Image:
    image, _ = page_image(FRANCAIS.read_bytes(), 0)
    return image


def mixed_pdf() -> bytes:
    """Page 1 born-digital text, page 2 the French scan (an image only): a partly scanned document."""
    doc = pdfium.PdfDocument(make_pdf(["Reglamento de residencias universitarias: horario de visitas."]))
    doc.import_pages(pdfium.PdfDocument(FRANCAIS.read_bytes()))
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def ingest(service: Service, *paths: Path) -> IngestReport:
    report = IngestReport()
    return IngestJob(service).run(discover(paths, report), report=report)


def test_a_french_sentence_is_read_on_its_page() -> None:
    page = recognise_job(page_job(FRANCAIS, 0), None, langs="spa+eng")
    assert PROBE in page.pages[0] and "Portez ce" in page.pages[0]
    assert page.index == 0 and page.confidence is not None and 50 < page.confidence <= 100


@pytest.mark.parametrize("turn", [90, 180])
def test_a_page_fed_sideways_or_upside_down_is_read(turn: int) -> None:
    page = recognise(francais_page().rotate(turn, expand=True, fillcolor=255), "spa+eng", 300)
    assert PROBE in " ".join(page.text.split())
    assert page.image is not None and page.image.size[0] < page.image.size[1] * 1.5


def test_a_skewed_page_is_straightened() -> None:
    page = recognise(francais_page().rotate(4, expand=True, fillcolor=255, resample=Image.Resampling.BICUBIC),
                     "spa+eng", 300)
    assert page.skew == pytest.approx(-4, abs=0.6)
    assert PROBE in " ".join(page.text.split())


def test_a_multipage_tiff_is_one_page_per_frame(service: Service, tmp_path: Path) -> None:
    doc = load_file(MULTIPAGE_TIFF)
    assert isinstance(doc, ScanDocument) and doc.pages == ["", ""] and doc.ocr_pages == [0, 1]
    report = ingest(service, MULTIPAGE_TIFF)
    assert report.added == [MULTIPAGE_TIFF.name], report.failed
    sha = doc.sha256
    assert "Page 1" in (service.page_text(sha, 1) or "") and "Page 2" in (service.page_text(sha, 2) or "")


def test_a_partly_scanned_pdf_is_cited_on_its_scanned_page(settings: Any, service: Service, tmp_path: Path
                                                           ) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "residencias.pdf").write_bytes(mixed_pdf())
    (folder / "nota.txt").write_text("Horario de la biblioteca: de 8 a 21 horas.\n")
    report = ingest(service, folder)
    assert sorted(report.added) == ["nota.txt", "residencias.pdf"] and not report.failed
    assert report.added[0] == "nota.txt"  # born-digital first: the scan waited for its OCR

    env = subprocess_env(settings)
    asked = "Portez ce vieux whisky au juge blond ?"
    for command in (["search", "whisky juge blond", "--json"], ["ask", asked, "--json"]):
        done = subprocess.run([sys.executable, "-m", "rag", *command], capture_output=True, text=True, env=env,
                              cwd=PROJECT_ROOT, timeout=300)
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout)
        top = out["hits"][0]
        assert top["source"] == "residencias.pdf" and top["page"] == 2 and PROBE in " ".join(top["text"].split())
        assert top["ocr"] is True and 50 < top["ocr_confidence"] <= 100
        if command[0] == "ask":
            cited = [c for c in out["citations"] if c["source"] == "residencias.pdf"]
            assert cited and cited[0]["page"] == 2 and cited[0]["ocr"] is True
    text_hit = service.search("horario de visitas residencias", k=5)
    born = next(h for h in text_hit if h.source == "residencias.pdf")
    assert born.page == 1 and born.to_json()["ocr"] is False


def test_re_ingesting_an_unchanged_scan_costs_nothing(service: Service, tmp_path: Path) -> None:
    file = tmp_path / "escaneo.tif"
    shutil.copy(MULTIPAGE_TIFF, file)
    assert ingest(service, file).added == ["escaneo.tif"]
    again = ingest(service, file)
    assert again.unchanged == ["escaneo.tif"] and again.chunks == 0


def test_without_tesseract_or_a_language_the_reason_says_what_to_install(
        service: Service, settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert language_package("chi_sim") == "tesseract-ocr-chi-sim"
    assert unavailable_reason("spa+fra+xyz") == (
        "OCR language fra+xyz is not installed: apt-get install tesseract-ocr-fra tesseract-ocr-xyz")
    unavailable_reason.cache_clear()
    monkeypatch.setenv("PATH", str(tmp_path))  # no tesseract on it
    try:
        reason = unavailable_reason("spa+eng")
    finally:
        unavailable_reason.cache_clear()
    assert reason is not None and "apt-get install tesseract-ocr tesseract-ocr-spa" in reason
    assert "brew install tesseract tesseract-lang" in reason
    monkeypatch.undo()

    # in a batch: the scan is reported with the fix, everything else is indexed
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(MULTIPAGE_TIFF, folder / "escaneo.tif")
    (folder / "nota.txt").write_text("Horario de la biblioteca: de 8 a 21 horas.\n")
    no_ocr = Service(settings.model_copy(update={"ocr_langs": "spa+fra"}), embedder=service.embedder)
    report = ingest(no_ocr, folder)
    assert report.added == ["nota.txt"]
    assert report.failed == [{"path": str((folder / "escaneo.tif").resolve()), "reason": "no text layer "
                              "(scanned image?): OCR language fra is not installed: apt-get install tesseract-ocr-fra"}]
    with pytest.raises(LoadError, match="tesseract-ocr-fra"):
        recognise_job(page_job(FRANCAIS, 0), None, langs="fra")


def test_huge_pages_and_images_are_refused_before_any_pixel_is_drawn(tmp_path: Path) -> None:
    assert bounded_dpi(612, 792, 300) == 300
    assert bounded_dpi(612 * 4, 792 * 4, 300) < 300  # a poster: drawn at a lower resolution
    with pytest.raises(LoadError, match="page too large"):
        bounded_dpi(14400, 14400, 300)  # 200 × 200 inches
    huge = tmp_path / "huge.png"
    Image.new("1", (13000, 13000), 1).save(huge)
    with pytest.raises(LoadError, match="image too large"):
        load_file(huge)


@pytest.mark.slow
def test_kill_9_mid_ocr_then_rerun_gives_the_clean_index(settings: Any, service: Service, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "nota.txt").write_text("Horario de la biblioteca: de 8 a 21 horas.\n")
    (folder / "residencias.pdf").write_bytes(mixed_pdf())
    shutil.copy(MULTIPAGE_TIFF, folder / "escaneo.tif")
    clean = Service(settings.model_copy(update={"data_dir": tmp_path / "clean"}), embedder=service.embedder)
    ingest(clean, folder)
    expected = snapshot(clean.index, "default")
    assert len(expected[0]) == 3
    # killed once the born-digital note is in, while the scans' pages are being recognised
    kill_then_rerun((1,), folder, subprocess_env(settings), PROJECT_ROOT, settings.data_dir,
                    lambda: Service(settings, embedder=service.embedder), expected)
    assert_consistent(service.index, "default")


def test_the_benchmark_error_rates() -> None:
    from benchmarks.ocr import edit_distance, rates

    assert edit_distance(list("kitten"), list("sitting")) == 3
    assert rates("el  plazo\nvence", "el plazo vence") == (0.0, 0.0)
    assert rates("el plazo vence", "el plazo vencido") == (round(3 / 16, 4), round(1 / 3, 4))


def test_reading_a_page_leaves_the_environment_alone() -> None:
    """OMP_THREAD_LIMIT=1 in os.environ would reach later `rag ingest` children, whose torch then embeds NaN."""
    before = dict(os.environ)
    recognise(francais_page())
    assert dict(os.environ) == before


def test_tesseract_runs_one_thread_and_a_users_limit_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages run in parallel workers, so each Tesseract gets OMP_THREAD_LIMIT=1 (its OpenMP threads on
    top of the workers took 2.3x the CPU), in its own environment only; a limit the user set is kept."""
    import pytesseract

    seen = tmp_path / "seen.txt"
    wrapper = tmp_path / "tesseract"
    wrapper.write_text(f'#!/bin/sh\necho "$OMP_THREAD_LIMIT" >> {seen}\nexec {shutil.which("tesseract")} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", str(wrapper))
    monkeypatch.delenv("OMP_THREAD_LIMIT", raising=False)
    page = recognise(francais_page())
    assert PROBE in " ".join(page.text.split()) and "OMP_THREAD_LIMIT" not in os.environ
    first = seen.read_text().split()
    monkeypatch.setenv("OMP_THREAD_LIMIT", "2")
    recognise(francais_page())
    assert first and set(first) == {"1"} and seen.read_text().split()[len(first):] == ["2"] * len(first)
