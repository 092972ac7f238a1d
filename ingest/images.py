"""Scans as images (.png, .jpg, .tif): the slot the OCR reader fills.

Until it does, an image ends with a one-line reason, like any file that cannot be read. Contract (see
ingest.loaders.Reader): ``read(data, kind, password) -> Loaded`` with one page per image frame and a
``PageInfo(ocr=True, ocr_confidence=...)`` for each.
"""

from __future__ import annotations

from ingest.loaders import Loaded
from ingest.sniff import Kind
from rag.errors import LoadError

OCR_UNAVAILABLE = "OCR not available: scans as images are not read yet"


def read(data: bytes, kind: Kind, password: str | None) -> Loaded:
    """Placeholder: every image is refused with ``OCR_UNAVAILABLE``."""
    raise LoadError(OCR_UNAVAILABLE)
