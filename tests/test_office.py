"""Office files, web pages and content sniffing, with the real files of ../shared/data/office (manifest.jsonl):
ordinary ones give their probe sentences under the right kind of locator; every hostile one ends with its
reason through the real sandboxed worker, in bounded time and memory; re-ingesting adds nothing, and a
kill -9 mid-ingest then a re-run gives the clean index."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pytest

from ingest.loaders import load_bytes
from ingest.pipeline import IngestJob, IngestReport, discover
from ingest.sandbox import ParserPool
from ingest.sniff import MAX_ENTRIES, sniff
from rag.errors import LoadError
from rag.service import Service
from rag.types import ParsedDocument
from tests.conftest import ROOT, subprocess_env
from tests.helpers import make_pdf
from tests.invariants import assert_consistent, kill_then_rerun, snapshot
from ui.components import units_label
from ui.i18n import Translator

OFFICE = ROOT.parent / "shared" / "data" / "office"
needs_office = pytest.mark.skipif(not (OFFICE / "manifest.jsonl").exists(),
                                  reason="../shared/data/office is not here (shared real data)")
MANIFEST = ([json.loads(line) for line in (OFFICE / "manifest.jsonl").open()]
            if (OFFICE / "manifest.jsonl").exists() else [])
UNIT_KIND = {"docx": "section", "odt": "section", "html": "section", "pptx": "slide", "odp": "slide",
             "xlsx": "sheet", "ods": "sheet"}
# what each expected outcome of the manifest reads as, as a reason
REASONS = {
    "bomb": ("too large: ", "unsafe XML: "),
    "damaged": ("damaged: ",),
    "encrypted": ("encrypted: pass --password",),
    "unsupported": ("legacy ",),
    "empty": ("no text",),
}


def _flat(text: str) -> str:
    return " ".join(text.split())


def _parse_all(items: list[dict[str, object]], password_of: dict[str, str] | None = None
               ) -> dict[str, ParsedDocument | LoadError]:
    """Each file through the real sandboxed workers (2, as `rag ingest` uses), 60 s and 1 GB each."""
    files = [OFFICE / str(item["file"]) for item in items]
    out: dict[str, ParsedDocument | LoadError] = {}
    with ParserPool(workers=2, timeout=60, memory_mb=1024) as pool:
        if password_of is None:
            for path, result in pool.parse(files):
                out[path.name] = result
        else:
            for file in files:
                for path, result in pool.parse([file], password_of[file.name]):
                    out[path.name] = result
    return out


@needs_office
def test_ordinary_files_give_their_probe_under_the_right_locator() -> None:
    ordinary = [m for m in MANIFEST if m["kind"] == "ordinary"]
    results = _parse_all(ordinary)
    for item in ordinary:
        name = Path(item["file"]).name
        doc = results[name]
        assert isinstance(doc, ParsedDocument), (name, getattr(doc, "reason", doc))
        assert len(doc.page_info) == len(doc.pages)
        units = [(info, _flat(page)) for info, page in zip(doc.page_info, doc.pages, strict=True)]
        where = [info for info, text in units if item["probe"] in text]
        assert where, (name, item["probe"])
        assert {info.kind for info in doc.page_info} == {UNIT_KIND[item["format"]]}, name
        if item["format"] in ("pptx", "odp"):
            assert where[0].label.startswith("slide ")
        if item["format"] in ("xlsx", "ods"):
            assert where[0].label.startswith("sheet ") and ", rows " in where[0].label
        whole = " ".join(text for _, text in units)
        for absent in item.get("absent", []):
            assert absent not in whole, (name, absent)  # tracked deletions, mojibake


@needs_office
def test_tracked_deletions_are_not_indexed_and_insertions_are() -> None:
    [delins] = [m for m in MANIFEST if m["file"].endswith("poi__delins.docx")]
    doc = load_bytes((OFFICE / delins["file"]).read_bytes(), "delins.docx")
    text = _flat(" ".join(doc.pages))
    assert delins["probe"] in text and not any(a in text for a in delins["absent"])


@needs_office
def test_every_hostile_file_ends_with_its_reason_in_bounded_time_and_memory() -> None:
    hostile = [m for m in MANIFEST if m["kind"] == "adversarial"]
    results = _parse_all(hostile)
    for item in hostile:
        name = Path(item["file"]).name
        result = results[name]
        if item["expect"] == "text":  # XXE: read, the entity never resolved
            assert isinstance(result, ParsedDocument), (name, result)
            assert item["probe"] in _flat(" ".join(result.pages)) and "<html" not in " ".join(result.pages)
            continue
        assert isinstance(result, LoadError), name
        assert result.reason.startswith(REASONS[str(item["expect"])]), (name, result.reason)
        assert "\n" not in result.reason and len(result.reason) <= 120


@needs_office
def test_encrypted_ooxml_opens_with_the_password() -> None:
    locked = [m for m in MANIFEST if m["expect"] == "encrypted" and m.get("password")]
    assert len(locked) == 3
    results = _parse_all(locked, {Path(m["file"]).name: str(m["password"]) for m in locked})
    for item in locked:
        doc = results[Path(item["file"]).name]
        assert isinstance(doc, ParsedDocument), (item["file"], doc)
        if item.get("probe"):
            assert item["probe"] in _flat(" ".join(doc.pages))
    wrong = _parse_all(locked[:1], {Path(locked[0]["file"]).name: "not it"})
    assert [r.reason for r in wrong.values() if isinstance(r, LoadError)] == ["wrong password"]


ENCRYPTED_ODF = ROOT / "tests" / "files" / "encrypted_odf"  # real LibreOffice/OpenOffice files: README there


@needs_office
def test_encrypted_odf_opens_with_the_password() -> None:
    """ODF 1.2's AES-256-CBC (PBKDF2, 100,000 rounds), through the real sandboxed worker."""
    [item] = [m for m in MANIFEST if m["file"] == "adversarial/tika__testODTEncrypted.odt"]
    name = Path(item["file"]).name
    assert _parse_all([item])[name].reason == "encrypted: pass --password"  # type: ignore[union-attr]
    doc = _parse_all([item], {name: "tika"})[name]  # the password Tika's own test names
    assert isinstance(doc, ParsedDocument), doc
    assert "This should be encrypted." in _flat(" ".join(doc.pages))
    assert [i.kind for i in doc.page_info] == ["section"]
    wrong = _parse_all([item], {name: "Tika"})[name]
    assert isinstance(wrong, LoadError) and wrong.reason == "wrong password"


@pytest.mark.parametrize(("file", "text", "unit"), [
    ("libre_office_sample_pw_hello.odt", "Hey ho :)", "section"),  # AES-256-GCM + Argon2id, whole package
    ("libre_office_spreadsheet_pw_hello.ods", "Hello!", "sheet"),
    ("aoo_document_pw_hello.odt", "Mission accomplished", "section"),  # Blowfish CFB, per entry
    ("aoo_presentation_pw_hello.odp", "Fire!", "slide"),
])
def test_each_odf_encryption_scheme_opens(file: str, text: str, unit: str) -> None:
    data = (ENCRYPTED_ODF / file).read_bytes()
    with pytest.raises(LoadError, match=r"^encrypted: pass --password$"):
        load_bytes(data, file)
    doc = load_bytes(data, file, "hello")
    assert text in _flat(" ".join(doc.pages))
    assert {i.kind for i in doc.page_info} == {unit}
    with pytest.raises(LoadError, match=r"^wrong password$"):
        load_bytes(data, file, "hallo")


def test_a_hostile_key_derivation_is_refused_before_it_runs() -> None:
    """A manifest asking Argon2id for 64 GiB would stall or kill the worker: refused from the numbers alone."""
    original = zipfile.ZipFile(ENCRYPTED_ODF / "libre_office_sample_pw_hello.odt")
    entries = {n: original.read(n) for n in original.namelist()}
    entries["META-INF/manifest.xml"] = entries["META-INF/manifest.xml"].replace(
        b'argon2-memory="65536"', b'argon2-memory="67108864"')
    with pytest.raises(LoadError, match=r"^too large: the password's key derivation"):
        load_bytes(_zip(entries), "hostil.odt", "hello")


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


CONTENT_TYPES = (b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                 b'<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
                 b'officedocument.wordprocessingml.document.main+xml"/></Types>')


def test_zip_bombs_are_refused_before_anything_is_expanded(tmp_path: Path) -> None:
    ratio_bomb = _zip({"[Content_Types].xml": CONTENT_TYPES, "word/document.xml": b"\0" * (64 * 2**20)})
    assert len(ratio_bomb) < 2**20  # 64 MB of zeros in well under 1 MB
    with pytest.raises(LoadError, match=r"^too large: .*zip bomb"):
        load_bytes(ratio_bomb, "bomba.docx")
    many = _zip({"[Content_Types].xml": CONTENT_TYPES, **{f"x/{i}": b"" for i in range(MAX_ENTRIES + 1)}})
    with pytest.raises(LoadError, match=r"^too large: an archive of over"):
        load_bytes(many, "muchas.docx")
    # and through the sandboxed worker, as a batch would meet it
    (tmp_path / "bomba.xlsx").write_bytes(ratio_bomb)
    with ParserPool(workers=1, timeout=30, memory_mb=512) as pool:
        [(_, result)] = list(pool.parse([tmp_path / "bomba.xlsx"]))
    assert isinstance(result, LoadError) and result.reason.startswith("too large: ")


@needs_office
def test_content_decides_the_format_not_the_name() -> None:
    html = (OFFICE / "docs" / "aoo__es_por-que_why_edu.html").read_bytes()
    assert sniff(html, "acta.docx") == "html"
    doc = load_bytes(html, "acta.docx")  # a web page saved under a Word name
    assert doc.page_info[0].kind == "section" and "Apache OpenOffice" in " ".join(doc.pages)
    pdf = load_bytes(make_pdf(["Resolución rectoral número cinco"]), "resolucion.docx")  # a PDF named .docx
    assert pdf.page_info == [] and "Resolución rectoral" in pdf.pages[0]
    pptx = (OFFICE / "docs" / "poi__SampleShow.pptx").read_bytes()
    assert load_bytes(pptx, "diapositivas.pdf").page_info[0].label == "slide 1"  # a deck named .pdf
    assert sniff(b"<!DOCTYPE html><html><body><p>Hola</p></body></html>", "nota.odt") == "html"
    with pytest.raises(LoadError, match=r"^damaged: not a real \.odt file"):
        load_bytes(b"just some text, no archive", "nota.odt")


def ingest(service: Service, *paths: Path, password: str | None = None) -> IngestReport:
    report = IngestReport()
    return IngestJob(service, password=password).run(discover(paths, report), report=report)


OFFICE_SAMPLE = ("docs/poi__SampleShow.pptx", "docs/poi__delins.docx", "docs/poi__SampleSS.ods",
                 "docs/aoo__es_por-que_why_gov.html", "docs/tika__testNPEOpenDocument_gnupg_es.odt",
                 "adversarial/tika__testWORD.doc")


def _sample(tmp_path: Path) -> Path:
    folder = tmp_path / "oficina"
    folder.mkdir()
    for name in OFFICE_SAMPLE:
        (folder / Path(name).name).symlink_to(OFFICE / name)
    return folder


@needs_office
def test_office_folder_is_indexed_cited_by_locator_and_reingesting_adds_nothing(service, tmp_path) -> None:
    folder = _sample(tmp_path)
    report = ingest(service, folder)
    assert len(report.added) == 5
    assert report.failed == [{"path": str((folder / "tika__testWORD.doc").resolve()),
                              "reason": "legacy Word format: save it as .docx"}]
    assert_consistent(service.index, "default")
    notes = service.search("I am the notes of the first slide", k=1)[0].to_json()
    assert notes["source"] == "poi__SampleShow.pptx" and notes["locator"] == "slide 1" and notes["ocr"] is False
    gpg = service.search("enviar un mensaje criptografiado", k=1)[0]
    assert gpg.source.endswith(".odt") and re.fullmatch(r"Práctica de GnuPG, ¶ \d+", gpg.locator), gpg.locator
    listed = {d.name: d for d in service.documents()}  # the list counts each file's own units
    assert (listed["poi__SampleShow.pptx"].unit, listed["poi__SampleShow.pptx"].pages) == ("slide", 2)
    assert {listed[n].unit for n in ("poi__delins.docx", "aoo__es_por-que_why_gov.html",
                                     "tika__testNPEOpenDocument_gnupg_es.odt")} == {"section"}
    sheet = listed["poi__SampleSS.ods"]
    assert sheet.unit == "sheet" and 1 <= sheet.sheets <= sheet.pages and sheet.to_json()["sheets"] == sheet.sheets
    assert units_label(Translator("es"), listed["poi__SampleShow.pptx"]) == "2 diapositivas"
    assert units_label(Translator("en"), listed["poi__SampleShow.pptx"]) == "2 slides"
    before = snapshot(service.index, "default")
    again = ingest(service, folder)
    assert again.added == [] and again.updated == [] and len(again.unchanged) == 5
    assert snapshot(service.index, "default") == before


@needs_office
def test_password_opens_encrypted_office_files_in_a_batch(service, tmp_path) -> None:
    folder = tmp_path / "cifrados"
    folder.mkdir()
    (folder / "a.docx").symlink_to(OFFICE / "adversarial" / "tika__testWORD_protected_passtika.docx")
    assert ingest(service, folder).failed[0]["reason"] == "encrypted: pass --password"
    report = ingest(service, folder, password="tika")
    assert report.added == ["a.docx"]
    assert service.search("encrypted Word 2007 File", k=1)[0].source == "a.docx"


@pytest.mark.slow
@needs_office
def test_kill_9_mid_office_ingest_then_rerun_equals_clean_index(settings, embedder, tmp_path) -> None:
    folder = _sample(tmp_path)
    clean = Service(settings.model_copy(update={"data_dir": tmp_path / "clean"}), embedder=embedder)
    ingest(clean, folder)
    expected = snapshot(clean.index, "default")
    kill_then_rerun((0, 2), folder, subprocess_env(settings), ROOT, settings.data_dir,
                    lambda: Service(settings, embedder=embedder), expected)


@needs_office
def test_scans_are_routed_to_the_image_reader() -> None:
    from ingest.loaders import READERS

    for name, kind in [("tess__phototest.tif", "tiff"), ("tika__testRotated_plus10.png", "png"),
                       ("tika__testOCR.jpg", "jpeg")]:
        data = (OFFICE / "scans" / name).read_bytes()
        assert sniff(data, "escaneo.pdf") == kind  # the content, not the name
        assert READERS[kind] == "ingest.images:read"
