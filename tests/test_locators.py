"""Locators and OCR flags: from a loader's PageInfo, through the sandbox, chunker and catalog, to hits,
citations and their JSON; and an older catalog upgraded in place."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ingest.sandbox import ParserPool
from rag.answer.citations import check_citations
from rag.answer.prompts import Passage
from rag.index.catalog import SCHEMA_VERSION
from rag.index.writer import Indexer
from rag.locators import locator, section_label, sheet_label, slide_label
from rag.types import PageInfo, ParsedDocument
from tests.helpers import make_doc, pending
from tests.invariants import assert_consistent as consistent
from ui.i18n import Translator

PAGE = PageInfo()


def _doc(name: str, pages: list[str], infos: list[PageInfo]) -> ParsedDocument:
    sha = hashlib.sha256(("\f".join(pages) + name).encode()).hexdigest()
    return ParsedDocument(name=name, sha256=sha, pages=pages, page_info=infos, path=f"/docs/{name}")


SLIDES = _doc("clase.pptx", [
    "Calendario del curso\n\nLas clases empiezan el lunes tres de marzo en el aula magna.",
    "Evaluación\n\nEl examen final de la asignatura vale el sesenta por ciento de la nota.",
], [PageInfo(slide_label(1), kind="slide"), PageInfo(slide_label(2), kind="slide")])
WORD = _doc("reglamento.docx", [
    "El presente reglamento regula los estudios de doctorado de la universidad.",
    "La matrícula se formaliza cada año académico en la secretaría de la escuela.\n\n"
    "El doctorando que no renueve la matrícula causa baja en el programa de doctorado sin más trámite.",
], [PageInfo("", kind="section"), PageInfo(section_label(["Capítulo 2", "Artículo 5"]), kind="section")])
SHEET = _doc("notas.xlsx", [
    "Nombre: Ana | Nota: 7\n\nNombre: Luis | Nota: 9",
    "Nombre: Marta | Nota: 4",
], [PageInfo(sheet_label("Notas", 2, 3), kind="sheet"), PageInfo(sheet_label("Notas", 4, 4), kind="sheet")])
SCAN = _doc("resolucion.pdf", [
    "Resolución rectoral sobre el calendario de matrícula de los cursos de posgrado del año siguiente.",
], [PageInfo(ocr=True, ocr_confidence=87.5)])


def test_locator_scheme() -> None:
    assert locator(3, 3, PAGE, PAGE) == "p. 3" and locator(3, 4, PAGE, PAGE) == "pp. 3-4"
    s4, s5 = PageInfo(slide_label(4), kind="slide"), PageInfo(slide_label(5), kind="slide")
    assert locator(4, 4, s4, s4) == "slide 4" and locator(4, 5, s4, s5) == "slides 4-5"
    a = PageInfo(sheet_label("Datos", 2, 41), kind="sheet")
    b = PageInfo(sheet_label("Datos", 42, 80), kind="sheet")
    assert locator(1, 2, a, b) == "sheet Datos, rows 2-80"
    sec = PageInfo(section_label(["Capítulo 2", "Artículo 5"]), kind="section")
    assert locator(7, 7, sec, sec, 3) == "Capítulo 2 › Artículo 5, ¶ 3"
    assert locator(1, 1, PageInfo(kind="section"), PageInfo(kind="section"), 2) == "¶ 2"


def test_locators_are_localized_for_the_page() -> None:
    es, en = Translator("es"), Translator("en")
    assert es.locator("slide 4") == "diapositiva 4" and en.locator("slide 4") == "slide 4"
    assert es.locator("sheet Datos, rows 2-41") == "hoja Datos, filas 2–41"
    assert es.locator("p. 3") == "pág. 3" and en.locator("pp. 3-4") == "pp. 3–4"
    assert es.locator("Capítulo 2 › Artículo 5, ¶ 3") == "Capítulo 2 › Artículo 5, ¶ 3"


def test_hits_and_citations_carry_locator_and_ocr(service) -> None:
    Indexer(service.index, service.embedder, "default").add(
        [pending(SLIDES), pending(WORD), pending(SHEET), pending(SCAN)])
    consistent(service.index, "default")

    def top(question: str) -> dict[str, object]:
        hit = service.search(question, k=1)[0]
        return hit.to_json()

    assert top("¿Cuánto vale el examen final de la asignatura?")["locator"] == "slide 2"
    baja = top("¿Qué pasa si el doctorando no renueve la matrícula?")
    assert baja["locator"] == "Capítulo 2 › Artículo 5, ¶ 1" and baja["ocr"] is False
    assert top("¿Qué nota tiene Marta?")["locator"].startswith("sheet Notas, rows ")  # type: ignore[union-attr]
    scan = service.search("calendario de matrícula de posgrado resolución rectoral", k=1)[0]
    assert scan.to_json()["locator"] == "p. 1"
    assert scan.ocr and scan.ocr_confidence == 87.5
    checked = check_citations("Hay una resolución [1].", [Passage(1, scan, scan.text)])
    cited = checked.citations[0].to_json()
    assert cited["locator"] == "p. 1" and cited["ocr"] is True and cited["ocr_confidence"] == 87.5
    info = service.page_info(SCAN.sha256, 1)
    assert info is not None and info.ocr and info.ocr_confidence == 87.5
    assert service.page_info(SLIDES.sha256, 2) == PageInfo("slide 2", kind="slide")


def test_a_version_5_catalog_is_upgraded_and_its_passages_cite_pages(service, settings, embedder) -> None:
    from rag.service import Service

    doc = make_doc("reglamento.pdf", ["Artículo 2. La nota mínima de aprobación es de 51 puntos sobre 100."])
    Indexer(service.index, service.embedder, "default").add([pending(doc)])
    cat = service.index.catalog("default")
    with cat._conn:
        for table, column in [("chunks", "locator"), ("chunks", "ocr"), ("chunks", "ocr_confidence"),
                              ("pages", "label"), ("pages", "kind"), ("pages", "ocr"), ("pages", "ocr_confidence")]:
            cat._conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        cat._conn.execute("UPDATE meta SET value = '5' WHERE key = 'schema'")
    again = Service(settings, embedder=embedder)
    assert again.index.catalog("default").get_meta("schema") == SCHEMA_VERSION
    consistent(again.index, "default")
    hit = again.search("nota mínima de aprobación", k=1)[0].to_json()
    assert hit["locator"] == "p. 1" and hit["ocr"] is False and hit["ocr_confidence"] is None
    assert again.page_info(doc.sha256, 1) == PageInfo()


def slides_loader(path: Path, password: str | None) -> ParsedDocument:
    """A loader (run in a sandboxed worker) that returns units with their PageInfo."""
    return ParsedDocument(name=path.name, sha256="0" * 64, pages=["uno", "dos"],
                          page_info=[PageInfo(slide_label(1), kind="slide"),
                                     PageInfo(slide_label(2), ocr=True, ocr_confidence=61.0, kind="slide")])


def test_page_info_crosses_the_sandbox(tmp_path: Path) -> None:
    file = tmp_path / "x.pptx"
    file.write_bytes(b"x")
    with ParserPool(workers=1, timeout=30, loader="tests.test_locators:slides_loader") as pool:
        [(_, doc)] = list(pool.parse([file]))
    assert isinstance(doc, ParsedDocument)
    assert doc.page_info[1] == PageInfo("slide 2", ocr=True, ocr_confidence=61.0, kind="slide")


def long_loader(path: Path, password: str | None) -> ParsedDocument:
    """A loader that announces 40 pages, then takes longer than the pool's bare timeout."""
    import time

    from ingest.sandbox_worker import announce_units

    announce_units(40)
    time.sleep(2.0)
    return ParsedDocument(name=path.name, sha256="1" * 64, pages=["hecho"])


def test_announced_pages_extend_the_time_limit(tmp_path: Path) -> None:
    file = tmp_path / "largo.pdf"
    file.write_bytes(b"x")
    # 40 pages at 1 s each: the 2 s parse is well inside, however busy the machine
    with ParserPool(workers=1, timeout=1.0, per_unit=1.0, loader="tests.test_locators:long_loader") as pool:
        [(_, doc)] = list(pool.parse([file]))
    assert isinstance(doc, ParsedDocument) and doc.pages == ["hecho"]
    with ParserPool(workers=1, timeout=1.0, loader="tests.test_locators:long_loader") as pool:
        [(_, failed)] = list(pool.parse([file]))
    assert not isinstance(failed, ParsedDocument) and "took too long" in failed.reason
