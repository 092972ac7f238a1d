"""Tesseract, the one OCR engine: the only module that imports pytesseract.

A page image is straightened (skew measured from the text lines' projection profile), read with the
configured languages (``RAG_OCR_LANGS``, default ``spa+eng``), and — when the reading is poor — turned
the way Tesseract's orientation detector (OSD) says and read again. Each page gets its mean word
confidence, so passages from OCR can say how far to trust them.

Pages are recognised one per job in the parser sandbox's bounded workers (``recognise_job``), so a batch
reads pages on every core and a slow page costs its own time bound, not the run.

Example: recognise(Image.open("scan.png"), "spa+eng", 300).text -> "Artículo 1. Objeto ..."
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytesseract
from PIL import Image

from ingest.images import image_frame
from ingest.render import render_pdf_page
from ingest.scans import RecognisedPage, split_job
from rag.errors import LoadError
from rag.text import normalize_page

logger = logging.getLogger(__name__)

INSTALL_TESSERACT = ("install Tesseract: apt-get install tesseract-ocr tesseract-ocr-spa "
                     "(macOS: brew install tesseract tesseract-lang)")
DEFAULT_LANGS = "spa+eng"
DEFAULT_DPI = 300

# A reading this poor (mean word confidence, 0-100) may be a page fed sideways or upside down: ask OSD.
_RETRY_BELOW = 70.0
_MIN_WORDS = 8
_SKEW_MIN_DEGREES = 0.3
_SKEW_MAX_DEGREES = 10.0
_SKEW_SAMPLE = 900  # pixels on the long side of the image the skew is measured on
_TESSERACT_SECONDS = 600  # pytesseract's own timeout; the worker's bound is usually shorter


@dataclass(frozen=True)
class Word:
    """A recognised word and where it is on the (straightened) page image, in pixels."""

    text: str
    left: int
    top: int
    width: int
    height: int
    confidence: float  # 0-1


@dataclass
class PageText:
    """What OCR made of one page image."""

    text: str
    confidence: float | None  # mean word confidence, 0-100 (Tesseract's scale); None when no word was found
    words: list[Word] = field(default_factory=list)
    rotated: int = 0  # degrees the image was turned (counter-clockwise) before the final reading
    skew: float = 0.0  # degrees it was straightened by
    image: Image.Image | None = None  # the straightened, upright image the word boxes refer to


def language_package(lang: str) -> str:
    """The Debian package that holds a Tesseract language: 'fra' -> 'tesseract-ocr-fra'."""
    return "tesseract-ocr-" + lang.lower().replace("_", "-")


@functools.lru_cache(maxsize=8)
def unavailable_reason(langs: str) -> str | None:
    """Why OCR cannot run with ``langs`` (Tesseract or a language missing), or None when it can."""
    wanted = [lang for lang in langs.replace(",", "+").split("+") if lang.strip()]
    if not wanted:
        return "no OCR language set (RAG_OCR_LANGS, e.g. spa+eng)"
    if shutil.which(pytesseract.pytesseract.tesseract_cmd) is None:
        return f"OCR needs Tesseract, which is not installed: {INSTALL_TESSERACT}"
    try:
        installed = set(pytesseract.get_languages(config=""))
    except (pytesseract.TesseractError, OSError, subprocess.SubprocessError) as exc:
        return f"Tesseract does not run ({' '.join(str(exc).split())[:60]}): {INSTALL_TESSERACT}"
    missing = [lang.strip() for lang in wanted if lang.strip() not in installed]
    if missing:
        packages = " ".join(language_package(lang) for lang in missing)
        return f"OCR language {'+'.join(missing)} is not installed: apt-get install {packages}"
    return None


def recognise(image: Image.Image, langs: str = DEFAULT_LANGS, dpi: int = DEFAULT_DPI) -> PageText:
    """Read one page image: straighten it, read it, and turn it by OSD's advice when the reading is poor."""
    gray = image.convert("L")
    skew = estimate_skew(gray)
    if abs(skew) >= _SKEW_MIN_DEGREES:
        gray = gray.rotate(skew, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    else:
        skew = 0.0
    best = _read(gray, langs, dpi)
    best.skew, best.image = skew, gray
    if best.confidence is not None and best.confidence >= _RETRY_BELOW and len(best.words) >= _MIN_WORDS:
        return best
    turn = _osd_rotation(gray, dpi)
    if turn:
        upright = gray.rotate(turn, expand=True)
        again = _read(upright, langs, dpi)
        again.rotated, again.skew, again.image = turn, skew, upright
        if _quality(again) > _quality(best):
            best = again
    return best


def estimate_skew(gray: Image.Image) -> float:
    """The angle (degrees, counter-clockwise) that makes the text lines level: sharpest line profile wins."""
    small = gray.copy()
    small.thumbnail((_SKEW_SAMPLE, _SKEW_SAMPLE))
    pixels = np.asarray(small, dtype=np.uint8)
    if pixels.size == 0:
        return 0.0
    threshold = min(160.0, float(pixels.mean()) * 0.8)
    ink = Image.fromarray(((pixels < threshold) * 255).astype(np.uint8))
    if not np.asarray(ink).any():
        return 0.0

    def sharpness(angle: float) -> float:
        turned = np.asarray(ink.rotate(angle, resample=Image.Resampling.NEAREST), dtype=np.float32)
        rows, cols = turned.sum(axis=1), turned.sum(axis=0)
        return float(max(np.square(np.diff(rows)).sum(), np.square(np.diff(cols)).sum()))

    coarse = max(np.arange(-_SKEW_MAX_DEGREES, _SKEW_MAX_DEGREES + 0.01, 1.0), key=sharpness)
    fine = max(np.arange(coarse - 1.0, coarse + 1.01, 0.1), key=sharpness)
    # a level page scores the same as itself: keep 0 unless another angle is clearly sharper
    return round(float(fine), 2) if sharpness(fine) > 1.02 * sharpness(0.0) else 0.0


def recognise_job(job: Path, password: str | None = None, langs: str = DEFAULT_LANGS,
                  dpi: int = DEFAULT_DPI) -> RecognisedPage:
    """A sandbox loader: recognise one page of a PDF or image file (the job names file and page)."""
    reason = unavailable_reason(langs)
    if reason:
        raise LoadError(reason)
    file, index = split_job(job)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise LoadError(f"cannot read: {exc.strerror or type(exc).__name__}") from exc
    image, used_dpi = page_image(data, index, dpi, password)
    page = recognise(image, langs, used_dpi)
    return RecognisedPage(name=file.name, sha256="", pages=[normalize_page(page.text)], index=index,
                          confidence=page.confidence)


def page_image(data: bytes, index: int, dpi: int = DEFAULT_DPI,
               password: str | None = None) -> tuple[Image.Image, int]:
    """Page ``index`` of a PDF (rendered) or of an image file (its frame), grayscale, and its dpi."""
    try:
        if b"%PDF-" in data[:1024]:
            return render_pdf_page(data, index, dpi, password)
        return image_frame(data, index)
    except OSError as exc:  # Pillow decodes lazily: a truncated file fails here
        raise LoadError(f"damaged image: {' '.join(str(exc).split())[:80]}") from exc


def _one_thread() -> None:
    """Tesseract's own processes run one OpenMP thread each (unless the user set OMP_THREAD_LIMIT): pages
    are read in parallel workers, and two workers' threads fighting over two cores took 2.3x the CPU
    (docs/decisions/office-ocr.md). Only pytesseract's environment for its child gets it: in os.environ
    it would reach every later child process, and torch under OMP_THREAD_LIMIT=1 embeds NaN."""
    pytesseract.pytesseract.environ = {"OMP_THREAD_LIMIT": "1", **os.environ}


def _read(gray: Image.Image, langs: str, dpi: int) -> PageText:
    """One Tesseract pass: words with boxes and confidences, and the text rebuilt line by line."""
    _one_thread()
    try:
        data = pytesseract.image_to_data(gray, lang=langs, config=f"--dpi {dpi}",
                                         output_type=pytesseract.Output.DICT, timeout=_TESSERACT_SECONDS)
    except pytesseract.TesseractNotFoundError as exc:
        raise LoadError(f"OCR needs Tesseract, which is not installed: {INSTALL_TESSERACT}") from exc
    except RuntimeError as exc:  # pytesseract's timeout
        raise LoadError("OCR took too long") from exc
    except pytesseract.TesseractError as exc:
        raise LoadError(f"OCR failed: {' '.join(str(exc.message).split())[:80]}") from exc
    words: list[Word] = []
    lines: list[str] = []
    current: list[str] = []
    line_key: tuple[int, int, int] | None = None
    para_key: tuple[int, int] | None = None
    for i, raw in enumerate(data["text"]):
        text = str(raw).strip()
        conf = float(data["conf"][i])
        if not text or conf < 0:
            continue
        key = (int(data["block_num"][i]), int(data["par_num"][i]), int(data["line_num"][i]))
        if key != line_key:
            if current:
                lines.append(" ".join(current))
            if para_key is not None and key[:2] != para_key:
                lines.append("")  # a blank line between paragraphs
            current, line_key, para_key = [], key, key[:2]
        current.append(text)
        words.append(Word(text, int(data["left"][i]), int(data["top"][i]), int(data["width"][i]),
                          int(data["height"][i]), conf / 100.0))
    if current:
        lines.append(" ".join(current))
    confidence = round(100 * sum(w.confidence for w in words) / len(words), 1) if words else None
    return PageText("\n".join(lines), confidence, words)


def _osd_rotation(gray: Image.Image, dpi: int) -> int:
    """Degrees (counter-clockwise, for PIL's rotate) that OSD says make the page upright; 0 if unsure."""
    _one_thread()
    try:
        osd = pytesseract.image_to_osd(gray, config=f"--psm 0 --dpi {dpi}",
                                       output_type=pytesseract.Output.DICT, timeout=_TESSERACT_SECONDS)
    except (pytesseract.TesseractError, RuntimeError) as exc:  # too few characters, or no osd data
        logger.debug("orientation not detected: %s", exc)
        return 0
    turn = int(osd.get("rotate", 0)) % 360
    # Tesseract's "Rotate" is clockwise; PIL turns counter-clockwise.
    return (360 - turn) % 360 if float(osd.get("orientation_conf", 0.0)) >= 1.0 else 0


def _quality(page: PageText) -> float:
    return (page.confidence or 0.0) * len(page.words)
