"""The file loaders, in-process: real PDFs from ../shared/data/pdfs plus small files written here."""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from ingest.loaders import clean_title, load_bytes, load_file, markdown_title
from ingest.pdf import NO_TEXT_LAYER, is_glyph_garbage
from ingest.scans import ScanDocument
from rag.errors import LoadError
from rag.text import collapse, drop_garbled_runs
from tests.helpers import PDFS, make_pdf

ROOT = Path(__file__).resolve().parents[1]

needs_pdfs = pytest.mark.skipif(
    not (PDFS / "manifest.jsonl").is_file(), reason=f"shared test PDFs not found at {PDFS}"
)


def manifest() -> list[dict[str, Any]]:
    if not (PDFS / "manifest.jsonl").is_file():
        return []
    lines = (PDFS / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def entry(name: str) -> dict[str, Any]:
    return next(e for e in manifest() if e["file"].endswith("/" + name))


def load_error(path: Path, password: str | None = None) -> str:
    with pytest.raises(LoadError) as info:
        load_file(path, password)
    reason = info.value.reason
    assert "\n" not in reason and len(reason) < 120
    return reason


ENCRYPTED = [e for e in manifest() if e.get("encrypted")]
NEEDS_PASSWORD = [e for e in ENCRYPTED if e.get("decrypt_empty") == "0"]
OPENS_ALONE = [e for e in ENCRYPTED if e.get("decrypt_empty") != "0"]
SCANNED = [e for e in manifest() if e.get("pages") and e.get("empty_text_pages") == e["pages"]]
DRAW_NOTHING = {"adversarial/ocrmypdf__no_contents.pdf", "adversarial/pdfjs__operator_list_cycle.pdf",
                "adversarial/pdfjs__GHOSTSCRIPT-698804-1-fuzzed.pdf", "adversarial/pdfjs__empty_protected.pdf"}


# -- real PDFs --------------------------------------------------------------------------------------------


@needs_pdfs
def test_known_sentence_on_its_physical_page() -> None:
    doc = load_file(PDFS / "english" / "pdfjs__tracemonkey.pdf")
    sentence = "A trace is simply a program path, which may cross function call boundaries."
    assert [n for n, text in enumerate(doc.pages, start=1) if sentence in collapse(text)] == [4]
    assert len(doc.pages) == 14 == entry("pdfjs__tracemonkey.pdf")["pages"]


@needs_pdfs
def test_a_charts_garbled_text_layer_is_dropped_and_the_text_around_it_kept() -> None:
    """TraceMonkey's charts (pp. 10, 11, 13) have a font without a Unicode map: pypdf reads them as
    runs of symbols ('!"# $!"#%…') that ended up in passages and in an extractive answer."""
    doc = load_file(PDFS / "english" / "pdfjs__tracemonkey.pdf")
    for number in (10, 11, 13):
        assert '!"#' not in doc.pages[number - 1] and "&’()*+," not in doc.pages[number - 1]
        assert "56#" not in doc.pages[number - 1] and "23#" not in doc.pages[number - 1]  # chart labels
    assert "Figure 11" in collapse(doc.pages[9]) or "Figure 12" in collapse(doc.pages[9])


def test_garbled_runs_go_and_code_formulas_and_rules_stay() -> None:
    garbled = 'Speedup. !"# $!"#%!"#&!"#’!"#( Figure 11.\n&’()*+,"\nnext'
    assert drop_garbled_runs(garbled) == "Speedup. Figure 11.\n\nnext"
    kept = ["if (a && b) { f(x); } else { return -1; }", "}))}}]);})();", "x ≤ y + 1 and a => b",
            "| --- | --- |", "Capítulo 1 .................. 5", "C++, C# y a@b.c", "«¡Hola!» —¿qué?",
            "$$$ 100 $$$", "*** *** *** ***", "a_b ____ !?", ""]
    for text in kept:
        assert drop_garbled_runs(text) == text, text
    assert drop_garbled_runs("ok !\"#$%&'()*+ ok") == "ok ok"  # one token of 10 kinds
    labels = ["&-./012#3%4%56#", "<//2??.1@A<9=.>922?#3!4,56#", "1@>8:?.&1@>.1@>?.@A.1=>2#3%(4(56#",
              "/9=:>8.<2?#3$4)56#", "?>9@AJ.B<?><#3$4(56#"]
    page = "\n".join(["Figure 10. Speedup of 2.5x (a) over SFX."] + labels + ["L5?><56# M/,56*#"])
    assert drop_garbled_runs(page) == "\n".join(["Figure 10. Speedup of 2.5x (a) over SFX."] + [""] * 6)
    few = "\n".join(labels[:2] + ["f(x)=x^2+1", "(“DMCA”)."])  # too few to be a chart's labels: left alone
    assert drop_garbled_runs(few) == few


@needs_pdfs
def test_identity_fields() -> None:
    path = PDFS / "english" / "pdfjs__tracemonkey.pdf"
    doc = load_file(path)
    assert doc.name == "pdfjs__tracemonkey.pdf"
    assert doc.path == str(path)
    assert doc.size == path.stat().st_size
    assert doc.sha256 == entry("pdfjs__tracemonkey.pdf")["sha256"]


@needs_pdfs
def test_pages_without_text_stay_empty_in_place() -> None:
    doc = load_file(PDFS / "scanned" / "ocrmypdf__multipage.pdf")  # 6 scans, only page 4 has OCR text
    assert len(doc.pages) == 6
    assert [bool(page) for page in doc.pages] == [False, False, False, True, False, False]
    assert isinstance(doc, ScanDocument) and doc.ocr_pages == [0, 1, 2, 4, 5]  # the others await OCR


@needs_pdfs
@pytest.mark.parametrize("item", NEEDS_PASSWORD, ids=lambda e: Path(e["file"]).name)
def test_encrypted_opens_with_its_password(item: dict[str, Any]) -> None:
    doc = load_file(PDFS / item["file"], item["password"])
    assert len(doc.pages) == item["pages"]
    assert any(doc.pages)


@needs_pdfs
@pytest.mark.parametrize("item", NEEDS_PASSWORD, ids=lambda e: Path(e["file"]).name)
def test_encrypted_without_or_with_wrong_password(item: dict[str, Any]) -> None:
    assert load_error(PDFS / item["file"]) == "encrypted: pass --password"
    assert load_error(PDFS / item["file"], "not-the-password") == "wrong password"


@needs_pdfs
@pytest.mark.parametrize("item", OPENS_ALONE, ids=lambda e: Path(e["file"]).name)
def test_empty_user_password_opens_alone(item: dict[str, Any]) -> None:
    try:
        doc = load_file(PDFS / item["file"])
    except LoadError as exc:  # pdfjs__empty_protected.pdf opens fine but has no text at all
        assert exc.reason == NO_TEXT_LAYER and item["text_chars"] == 0
    else:
        assert len(doc.pages) == item["pages"]
        assert any(doc.pages) or (isinstance(doc, ScanDocument) and item["text_chars"] == 0)


@needs_pdfs
def test_unicode_password_is_saslprepped() -> None:
    path = PDFS / "adversarial" / "pdfjs__saslprep-r6.pdf"
    password = entry("pdfjs__saslprep-r6.pdf")["password"]
    assert "\u00ad" in password  # a soft hyphen, which SASLprep maps to nothing
    assert load_file(path, password).pages == ["Hello pdf.js world"]
    # The same password as a person would type it: 'ª' folds to 'a' and the soft hyphen is dropped.
    assert load_file(path, "SaSLprep").pages == ["Hello pdf.js world"]


@needs_pdfs
@pytest.mark.parametrize("item", SCANNED, ids=lambda e: Path(e["file"]).name)
def test_image_only_pages_all_await_ocr(item: dict[str, Any]) -> None:
    if item["file"] in DRAW_NOTHING:  # nothing to recognise either
        assert load_error(PDFS / item["file"]) == NO_TEXT_LAYER
        return
    doc = load_file(PDFS / item["file"], item.get("password"))
    assert isinstance(doc, ScanDocument) and not any(doc.pages)
    assert doc.ocr_pages == list(range(item["pages"]))


@needs_pdfs
def test_not_a_pdf_and_no_pages(tmp_path: Path) -> None:
    assert load_error(PDFS / "adversarial" / "qpdf__bad1.pdf") == "not a PDF"
    (tmp_path / "notes.pdf").write_text("just some text, not a PDF\n")
    assert load_error(tmp_path / "notes.pdf") == "not a PDF"
    assert load_error(PDFS / "adversarial" / "qpdf__empty.pdf") == "no pages"


@needs_pdfs
def test_ligatures_become_letters() -> None:
    doc = load_file(PDFS / "adversarial" / "pdfjs__copy_paste_ligatures.pdf")
    text = "".join(doc.pages)
    assert "\ufb01" not in text and "fi" in text
    assert not any("\ufb00" <= ch <= "\ufb06" for ch in text)


@needs_pdfs
def test_glyph_name_garbage_is_not_text() -> None:
    garbage = load_file(PDFS / "adversarial" / "ocrmypdf__type3_font_nomapping.pdf")
    assert garbage.pages == [""] and isinstance(garbage, ScanDocument) and garbage.ocr_pages == [0]  # for OCR
    doc = load_file(PDFS / "adversarial" / "pdfjs__TAMReview.pdf")  # real text on pages 1 and 23 only
    assert len(doc.pages) == 23
    assert isinstance(doc, ScanDocument) and doc.ocr_pages == list(range(1, 22))
    assert "Technology Acceptance Model" in doc.pages[0] and "Editors" in doc.pages[22]
    assert doc.pages[1:22] == [""] * 21
    assert (
        doc.title
        == "Overview of the Technology Acceptance Model: Origins, Developments and Future Directions"
    )


@needs_pdfs
@pytest.mark.parametrize(
    "name",
    ["qpdf__bad7.pdf", "qpdf__deep-pages.pdf", "qpdf__pages-loop.pdf", "pdfjs__REDHAT-1531897-0.pdf"],
)
def test_damaged_files_give_one_short_line(name: str) -> None:
    assert load_error(PDFS / "adversarial" / name).startswith("damaged: ")


@needs_pdfs
def test_pypdf_noise_stays_off_the_terminal(capfd: pytest.CaptureFixture[str], caplog: Any) -> None:
    from pypdf import PdfReader

    path = PDFS / "adversarial" / "qpdf__bad3.pdf"  # a broken xref that pypdf repairs, loudly
    with caplog.at_level(logging.WARNING, logger="pypdf"):
        PdfReader(path).pages[0].extract_text()
    assert any(r.name.startswith("pypdf") for r in caplog.records), "expected pypdf to complain here"
    capfd.readouterr()
    level = logging.getLogger("pypdf").level
    for name in (
        "qpdf__bad3.pdf",
        "qpdf__bad7.pdf",
        "pdfjs__Pages-tree-refs.pdf",
        "qpdf__append-xref-loop.pdf",
    ):
        with contextlib.suppress(LoadError):
            load_file(PDFS / "adversarial" / name)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert logging.getLogger("pypdf").level == level  # the loader restores what it changed


@needs_pdfs
def test_metadata_title_file_name_is_dropped() -> None:
    # pypdf__Seige_of_Vicksburg_Sample_OCR.pdf has /Title "Binder1.pdf"
    assert load_file(PDFS / "scanned" / "pypdf__Seige_of_Vicksburg_Sample_OCR.pdf").title == ""


@needs_pdfs
@pytest.mark.slow
def test_long_book_reads_its_text_layer_and_leaves_only_the_cover_to_ocr() -> None:
    """What keeps a 352-page book quick is that its pages read from their text layer, all but the cover (an
    image) which alone waits for OCR (how quick is for benchmarks/, not for a test)."""
    doc = load_file(PDFS / "english" / "pdfjs__freeculture.pdf")
    assert len(doc.pages) == 352 and doc.title == "Free Culture"
    assert sum(len(p) for p in doc.pages) > 600_000
    assert isinstance(doc, ScanDocument) and doc.ocr_pages == [0]


# -- synthetic files --------------------------------------------------------------------------------------


def test_blank_page_between_text_pages(tmp_path: Path) -> None:
    path = tmp_path / "three.pdf"
    path.write_bytes(make_pdf(["Primera página del reglamento", "", "Tercera página: evaluación"]))
    doc = load_file(path)
    assert doc.pages == ["Primera página del reglamento", "", "Tercera página: evaluación"]


def test_office_title_keeps_the_stem(tmp_path: Path) -> None:
    path = tmp_path / "t.pdf"
    path.write_bytes(make_pdf(["texto"], title="Microsoft Word - Normativa de permanencia.doc"))
    assert load_file(path).title == "Normativa de permanencia"
    path.write_bytes(make_pdf(["texto"], title="Untitled"))
    assert load_file(path).title == ""


@pytest.mark.parametrize(
    ("raw", "title"),
    [
        ("Calendario académico 2024/25", "Calendario académico 2024/25"),
        ("  Free\r\n Culture ", "Free Culture"),
        ("Microsoft PowerPoint - Clase 3.pptx", "Clase 3"),
        ("Binder1.pdf", ""),
        ("untitled-2", ""),
        ("Sin título", ""),
        ("", ""),
        ("1234", ""),
    ],
)
def test_clean_title(raw: str, title: str) -> None:
    assert clean_title(raw) == title


def test_text_file_pages_and_encodings(tmp_path: Path) -> None:
    utf8 = tmp_path / "a.txt"
    utf8.write_text("Página uno\n\fPágina dos\f", encoding="utf-8")
    doc = load_file(utf8)
    assert doc.pages == ["Página uno", "Página dos"]  # the trailing form feed adds no page
    assert doc.title == "" and doc.size == utf8.stat().st_size
    legacy = tmp_path / "b.txt"
    legacy.write_bytes("Año académico — “comillas”".encode("cp1252"))
    assert load_file(legacy).pages == ["Año académico — “comillas”"]
    latin1 = tmp_path / "c.txt"
    latin1.write_bytes(b"caf\xe9 \x81")  # 0x81 is undefined in cp1252
    assert load_file(latin1).pages == ["café \x81"]
    bom = tmp_path / "d.txt"
    bom.write_bytes("\ufeffcon BOM".encode("utf-16"))
    assert load_file(bom).pages == ["con BOM"]


def test_markdown_title_skips_code_fences(tmp_path: Path) -> None:
    path = tmp_path / "guia.md"
    path.write_text("```bash\n# not a title\n```\n\n# Guía del estudiante #\n\nTexto.\n", encoding="utf-8")
    assert load_file(path).title == "Guía del estudiante"
    assert markdown_title("## Sub\nno title") == ""


def test_text_file_failures(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    assert load_error(tmp_path / "empty.txt") == "empty file"
    (tmp_path / "blank.md").write_text("  \n\f \n")
    assert load_error(tmp_path / "blank.md") == "no text"
    (tmp_path / "bin.txt").write_bytes(b"\x07\x00\x00\x01binario")
    assert load_error(tmp_path / "bin.txt") == "not a text file (binary content)"
    (tmp_path / "x.docx").write_bytes(b"PK\x03\x04")
    assert load_error(tmp_path / "x.docx").startswith("damaged: ")
    (tmp_path / "x.rtf").write_bytes(b"{\\rtf1 hola}")
    assert load_error(tmp_path / "x.rtf") == "unsupported file type .rtf"
    assert load_error(tmp_path / "README") == "unsupported file type (no extension)"
    assert load_error(tmp_path / "missing.pdf").startswith("cannot read: ")


def test_load_bytes_for_uploads() -> None:
    doc = load_bytes(make_pdf(["subido"]), "Subida.PDF")
    assert doc.pages == ["subido"] and doc.name == "Subida.PDF" and doc.path == ""


def test_glyph_garbage_detector() -> None:
    assert is_glyph_garbage("/g18/g152/g135/g3/g145")
    assert is_glyph_garbage("(cid:12)(cid:7) (cid:99)")
    assert not is_glyph_garbage("See https://example.org/page1 for the 2024 rules.")
    assert not is_glyph_garbage("")


def test_running_headers_and_footers_are_removed() -> None:
    from rag.text import strip_running_lines

    pages = [
        f"Universidad Autónoma de Ejemplo\nArtículo {i}. Texto propio de la página {i}.\n"
        f"Otra línea sobre el tema {'abcd'[i - 1]}.\n"
        f"Reglamento General - Página {i} de 4"
        for i in range(1, 5)
    ]
    pages[2] = "Universidad Autónoma de Ejemplo\nArtículo 3. Solo aquí.\nReglamento General - Página 3 de 4"
    out = strip_running_lines(pages)
    assert all("Universidad Autónoma" not in p and "Página" not in p for p in out)
    assert out[0] == "Artículo 1. Texto propio de la página 1.\nOtra línea sobre el tema a."
    assert out[2] == "Artículo 3. Solo aquí."
    # two pages are too few to tell a running line from content
    assert strip_running_lines(pages[:2]) == pages[:2]


def test_sample_pdf_loses_its_running_footer() -> None:
    doc = load_file(ROOT / "corpora" / "sample" / "reglamento_evaluacion.pdf")
    assert not any("Fictional sample document" in p or "Página" in p.split("\n")[-1] for p in doc.pages)
    assert "Nota mínima de aprobación" in doc.pages[0]
