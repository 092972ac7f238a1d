"""Page images: the one module that adapts pypdfium2 (PDF pages rendered, text positions found).

OCR feeds Tesseract the rendered page; the web app shows it beside the text. Every image is bounded in
pixels before it is drawn, so an enormous page costs a reason, never unbounded memory.

Example: render_pdf_page(data, 0, dpi=300).size -> (2550, 3300) for a US Letter page
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import pypdfium2 as pdfium
from PIL import Image, ImageDraw

from rag.errors import LoadError

logger = logging.getLogger(__name__)

# ~ A4 at 600 dpi; Tesseract needs ~160 MB for a 300-dpi Letter page (8.4 Mpx), so this stays under 1 GB.
MAX_PIXELS = 36_000_000
# Below this, text is too small to read: a page that only fits the pixel bound at lower dpi is refused.
MIN_DPI = 70
_POINTS_PER_INCH = 72.0


@dataclass(frozen=True)
class Box:
    """A rectangle on a page image, in pixels from the top-left corner."""

    left: float
    top: float
    right: float
    bottom: float


def pdf_page_count(data: bytes, password: str | None = None) -> int:
    """Pages of a PDF as pdfium counts them (LoadError when it cannot open the file)."""
    with _open(data, password) as pdf:
        return len(pdf)


def bounded_dpi(width_pt: float, height_pt: float, dpi: int, max_pixels: int = MAX_PIXELS) -> int:
    """``dpi``, lowered so the page fits ``max_pixels``; LoadError when that leaves it unreadable.

    Example: bounded_dpi(612, 792, 300) -> 300; bounded_dpi(14400, 14400, 300) -> LoadError
    """
    pixels = (width_pt / _POINTS_PER_INCH * dpi) * (height_pt / _POINTS_PER_INCH * dpi)
    if pixels <= max_pixels:
        return dpi
    fitted = int(dpi * math.sqrt(max_pixels / pixels))
    if fitted < MIN_DPI:
        raise LoadError(f"page too large to read as an image ({width_pt / 72:.0f}×{height_pt / 72:.0f} in)")
    return fitted


def render_pdf_page(data: bytes, index: int, dpi: int = 300, password: str | None = None,
                    max_pixels: int = MAX_PIXELS) -> tuple[Image.Image, int]:
    """Page ``index`` (0-based) as a grayscale image, and the dpi it was drawn at (lowered for huge pages)."""
    with _open(data, password) as pdf:
        if not 0 <= index < len(pdf):
            raise LoadError(f"no page {index + 1}")
        page = pdf[index]
        try:
            width, height = page.get_size()
            used = bounded_dpi(width, height, dpi, max_pixels)
            bitmap = page.render(scale=used / _POINTS_PER_INCH, grayscale=True)
            return bitmap.to_pil().convert("L"), used
        finally:
            page.close()


def is_blank(data: bytes, index: int, password: str | None = None) -> bool:
    """True when the page draws nothing at all (a separator page): not worth an OCR pass."""
    image, _ = render_pdf_page(data, index, dpi=20, password=password)
    extrema = image.getextrema()  # (lowest, highest) for a grayscale image
    return isinstance(extrema[0], int | float) and extrema[0] >= 245


def find_text_boxes(data: bytes, index: int, needles: Sequence[str], dpi: int,
                    password: str | None = None) -> list[Box]:
    """Where each of ``needles`` is drawn on page ``index`` (born-digital text), in pixels at ``dpi``."""
    boxes: list[Box] = []
    scale = dpi / _POINTS_PER_INCH
    with _open(data, password) as pdf:
        if not 0 <= index < len(pdf):
            return []
        page = pdf[index]
        textpage = page.get_textpage()
        try:
            _, height = page.get_size()
            for needle in needles:
                needle = " ".join(needle.split())
                if not needle:
                    continue
                searcher = textpage.search(needle, match_case=False, match_whole_word=False)
                try:
                    found = searcher.get_next()
                    while found is not None:
                        start, count = found
                        for left, bottom, right, top in _rects(textpage, start, count):
                            boxes.append(Box(left * scale, (height - top) * scale,
                                             right * scale, (height - bottom) * scale))
                        found = searcher.get_next()
                finally:
                    searcher.close()
        finally:
            textpage.close()
            page.close()
    return boxes


def marked_png(image: Image.Image, boxes: Sequence[Box], width: int = 0) -> bytes:
    """The page image as PNG with ``boxes`` shaded yellow, scaled down to ``width`` pixels if wider."""
    page = image.convert("RGB")
    if boxes:
        shade = Image.new("RGBA", page.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(shade)
        for box in boxes:
            draw.rectangle((box.left - 2, box.top - 2, box.right + 2, box.bottom + 2), fill=(255, 214, 0, 96),
                           outline=(230, 160, 0, 200), width=2)
        page = Image.alpha_composite(page.convert("RGBA"), shade).convert("RGB")
    if width and page.width > width:
        page = page.resize((width, max(1, round(page.height * width / page.width))), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    page.save(out, format="PNG", optimize=False)
    return out.getvalue()


def _rects(textpage: pdfium.PdfTextPage, start: int, count: int) -> list[tuple[float, float, float, float]]:
    n = textpage.count_rects(start, count)
    return [textpage.get_rect(i) for i in range(n)]


class _open:  # noqa: N801 - used as a context manager, reads like a function
    """Open PDF bytes with pdfium, closing it afterwards; pdfium's errors become one-line LoadErrors."""

    def __init__(self, data: bytes, password: str | None) -> None:
        self.data = data
        self.password = password
        self.pdf: pdfium.PdfDocument | None = None

    def __enter__(self) -> pdfium.PdfDocument:
        try:
            self.pdf = pdfium.PdfDocument(self.data, password=self.password or None)
        except pdfium.PdfiumError as exc:
            text = str(exc).lower()
            if "password" in text:
                raise LoadError("encrypted: pass --password") from exc
            raise LoadError(f"damaged: {' '.join(str(exc).split())[:80]}") from exc
        return self.pdf

    def __exit__(self, *exc: object) -> None:
        if self.pdf is not None:
            self.pdf.close()
