"""The page as an image beside its text: drawn on demand from the stored original, the cited passage marked.

Born-digital PDF pages are rendered by pdfium and the passage is found in their text layer; scanned pages
and image files are read again by OCR for the word positions (a best-effort mark: the reader checks the
image, which is the point of showing it). Images are cached per page and passage.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import streamlit as st

from ingest.images import image_frame
from ingest.render import Box, find_text_boxes, marked_png, render_pdf_page
from ingest.uploads import document_sources
from rag.access.control import Identity
from rag.errors import LoadError, RagError
from rag.service import Service
from ui.i18n import Translator

log = logging.getLogger(__name__)

VIEW_DPI = 150  # sharp enough to read on screen, light enough to send
VIEW_WIDTH = 1100  # pixels of the PNG sent to the browser
_PHRASE_WORDS = 5
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class PageImage:
    """A page drawn for the reader: PNG bytes, and whether the passage could be located on it."""

    png: bytes
    marked: bool


def original(service: Service, collection: str, doc_sha: str, identity: Identity) -> bytes | None:
    """The bytes of the file a document was ingested from, if it is still kept or still on disk (and the
    caller may read its collection)."""
    for source in document_sources(service, collection, doc_sha, identity=identity):
        try:
            return source.file.read_bytes()
        except OSError:
            continue
    return None


def phrases(passage: str, size: int = _PHRASE_WORDS) -> list[str]:
    """Short runs of the passage's words to look for in a text layer (lines break long ones).

    A short tail joins the run before it: one stray word would be marked wherever it occurs.
    Example: phrases("a b c d e f g", 3) -> ["a b c", "d e f g"]
    """
    words = passage.split()
    runs = [words[i : i + size] for i in range(0, len(words), size)]
    if len(runs) > 1 and len(runs[-1]) < 3:
        runs[-2].extend(runs.pop())
    return [" ".join(run) for run in runs]


def word_boxes(words: Sequence[tuple[str, Box]], passage: str) -> list[Box]:
    """Boxes of recognised words that run in the passage's order: each word of a shared trigram is marked."""
    wanted = [_fold(w) for w in _WORD.findall(passage)]
    grams = {tuple(wanted[i : i + 3]) for i in range(max(0, len(wanted) - 2))}
    folded = [_fold(" ".join(_WORD.findall(text))) for text, _ in words]
    marked: set[int] = set()
    for i in range(len(words) - 2):
        if tuple(folded[i : i + 3]) in grams:
            marked.update((i, i + 1, i + 2))
    return [words[i][1] for i in sorted(marked)]


def draw_page(data: bytes, page: int, passage: str, ocr: bool, langs: str) -> PageImage:
    """Page ``page`` (1-based) of a PDF or image file as PNG, the passage marked where it can be found."""
    index = page - 1
    is_pdf = b"%PDF-" in data[:1024]
    if is_pdf and not ocr:
        image, dpi = render_pdf_page(data, index, VIEW_DPI)
        boxes = find_text_boxes(data, index, phrases(passage), dpi)
        return PageImage(marked_png(image, boxes, VIEW_WIDTH), bool(boxes))
    image, dpi = render_pdf_page(data, index) if is_pdf else image_frame(data, index)
    boxes = []
    try:
        from ingest.ocr import recognise, unavailable_reason

        if unavailable_reason(langs) is None:
            read = recognise(image, langs, dpi)
            image = read.image or image
            boxes = word_boxes([(w.text, Box(w.left, w.top, w.left + w.width, w.top + w.height))
                                for w in read.words], passage)
    except LoadError as exc:  # the image is shown anyway, unmarked
        log.info("no OCR marks for page %d: %s", page, exc.reason)
    return PageImage(marked_png(image, boxes, VIEW_WIDTH), bool(boxes))


_IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*")


def drawable(data: bytes) -> bool:
    """True for a PDF or an image file: the originals a page can be drawn from."""
    return b"%PDF-" in data[:1024] or data.startswith(_IMAGE_MAGIC)


@st.cache_data(max_entries=24, show_spinner=False)
def _cached(_service: Service, data_dir: str, collection: str, doc_sha: str, page: int, passage: str,
            ocr: bool, _identity: Identity) -> PageImage | None:
    data = original(_service, collection, doc_sha, _identity)
    if data is None or not drawable(data):
        return None
    return draw_page(data, page, passage, ocr, _service.settings.ocr_langs)


def page_image(tr: Translator, service: Service, collection: str, doc_sha: str, page: int,
               passage: str, identity: Identity) -> Callable[[], None] | None:
    """What draws physical page ``page`` with the passage marked, or None where there is no image to show
    (a slide, a sheet, a section, a text file, an original that is gone or cannot be drawn)."""
    try:
        info = service.page_info(doc_sha, page, collection, identity=identity)  # refused: not the caller's
    except RagError:
        return None
    if info is not None and info.kind != "page":
        return None
    ocr = bool(info is not None and info.ocr)
    with st.spinner(tr("page.drawing")):
        try:
            drawn = _cached(service, str(service.settings.data_dir), collection, doc_sha, page, passage, ocr,
                            identity)
        except (RagError, OSError, ValueError) as exc:
            log.info("page %d of %s not drawn: %s", page, doc_sha[:12], exc)
            drawn = None
    if drawn is None:
        return None
    image = drawn

    def show() -> None:
        st.image(image.png, width="stretch",
                 caption=tr("page.image_caption_marked" if image.marked else "page.image_caption"))
        if ocr:
            st.caption(tr("page.image_ocr"))

    return show


def _fold(text: str) -> str:
    """Case and accents away: OCR and the stored text may differ in both."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
