"""The sample corpus and its questions agree: each answer is on the page the question file names.

These checks read the committed files with pypdf (no index, no model), so they run in a second and
catch a regenerated corpus whose text moved to another page.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pypdf
import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "corpora" / "sample"
QUESTIONS = ROOT / "corpora" / "sample_questions.json"
SCRIPT = ROOT / "corpora" / "make_sample.py"


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def _pages(folder: Path) -> dict[tuple[str, int], str]:
    """Every page's text, keyed by (file name, 1-based page); a Markdown file is one page."""
    pages: dict[tuple[str, int], str] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix == ".pdf":
            for number, page in enumerate(pypdf.PdfReader(path).pages, start=1):
                pages[(path.name, number)] = page.extract_text()
        elif path.suffix == ".md":
            pages[(path.name, 1)] = path.read_text(encoding="utf-8")
    return pages


def _questions() -> list[dict]:
    return json.loads(QUESTIONS.read_text(encoding="utf-8"))["questions"]


def test_corpus_has_the_documented_shape():
    pdfs = sorted(SAMPLE.glob("*.pdf"))
    assert 3 <= len(pdfs) <= 4
    assert len(list(SAMPLE.glob("*.md"))) == 1
    for path in pdfs:
        reader = pypdf.PdfReader(path)
        assert 2 <= len(reader.pages) <= 5, path.name
        assert reader.metadata is not None and reader.metadata.title, f"{path.name} has no title"


def test_questions_are_well_formed():
    questions = _questions()
    assert len(questions) >= 12
    assert len({q["id"] for q in questions}) == len(questions)
    assert {q["lang"] for q in questions} == {"es", "en"}
    for q in questions:
        if q["answerable"]:
            assert (SAMPLE / q["source"]).is_file(), q["id"]
            assert isinstance(q["page"], int) and q["page"] >= 1, q["id"]
            assert q["answer_contains"], q["id"]
        else:
            assert q["source"] is None and q["page"] is None, q["id"]


def test_each_answer_is_on_its_page_and_nowhere_else():
    pages = {key: _collapse(text) for key, text in _pages(SAMPLE).items()}
    for q in _questions():
        if not q["answerable"]:
            continue
        found = [key for key, text in pages.items() if q["answer_contains"] in text]
        assert found == [(q["source"], q["page"])], f"{q['id']}: {q['answer_contains']!r} found on {found}"


def test_answers_survive_extraction_without_line_breaks():
    """The answer string is on one extracted line, so a test need not guess how pypdf wraps text."""
    pages = _pages(SAMPLE)
    for q in _questions():
        if q["answerable"]:
            assert q["answer_contains"] in pages[(q["source"], q["page"])], q["id"]


def test_regenerating_gives_identical_bytes_and_the_committed_text(tmp_path):
    pytest.importorskip("fpdf", reason="fpdf2 (the dev extra) generates the sample corpus")
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        subprocess.run([sys.executable, str(SCRIPT), str(out)], check=True, capture_output=True)
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in SAMPLE.iterdir())
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), f"{name} is not deterministic"
    # Byte equality with the committed files would tie the test to one fpdf2 version; the text must match.
    assert _pages(first) == _pages(SAMPLE)
