"""Scans as image files (.png, .jpg, .tif, multi-page TIFF): the Pillow side, bounded in pixels.

An image has no text layer: the loader only checks that it opens and counts its frames (one physical
page each); ``ingest.ocr`` recognises them later, frame by frame, in bounded workers.

Example: image_frames(open("scan.tif", "rb").read()) -> 2 for a two-page TIFF
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from ingest.loaders import Loaded
from ingest.render import MAX_PIXELS
from ingest.sniff import Kind
from rag.errors import LoadError

# Decoding costs a byte or three per pixel before it can be scaled down: beyond this, refuse.
REFUSE_PIXELS = 4 * MAX_PIXELS
MAX_FRAMES = 2000


def read(data: bytes, kind: Kind, password: str | None) -> Loaded:
    """The router's reader for scans as images: one empty page per frame, every one awaiting OCR."""
    frames = image_frames(data)
    return Loaded([""] * frames, [], "", list(range(frames)))


def image_frames(data: bytes) -> int:
    """How many pages (frames) an image file holds; LoadError if it is not an image Pillow reads."""
    with _open(data) as image:
        frames = int(getattr(image, "n_frames", 1) or 1)
        if frames > MAX_FRAMES:
            raise LoadError(f"too many pages in one image ({frames})")
        for index in range(frames):
            image.seek(index)
            _check_size(image)
        return frames


def image_frame(data: bytes, index: int, max_pixels: int = MAX_PIXELS) -> tuple[Image.Image, int]:
    """Frame ``index`` as an upright grayscale image within ``max_pixels``, and its dpi (300 if unknown)."""
    with _open(data) as image:
        for number, frame in enumerate(ImageSequence.Iterator(image)):
            if number != index:
                continue
            _check_size(frame)
            dpi = _dpi(frame)
            page = ImageOps.exif_transpose(frame.convert("L")) or frame.convert("L")
            pixels = page.width * page.height
            if pixels > max_pixels:
                factor = (max_pixels / pixels) ** 0.5
                page = page.resize((max(1, int(page.width * factor)), max(1, int(page.height * factor))),
                                   Image.Resampling.LANCZOS)
                dpi = max(1, int(dpi * factor))
            return page, dpi
    raise LoadError(f"no page {index + 1} in the image")


def _dpi(image: Image.Image) -> int:
    """The resolution the scanner recorded; 300 when absent or absurd (72 is a screen's, not a scan's)."""
    raw = image.info.get("dpi")
    try:
        value = int(round(float(raw[0]))) if raw else 0
    except (TypeError, ValueError, IndexError):
        value = 0
    return value if 100 <= value <= 1200 else 300


def _check_size(image: Image.Image) -> None:
    width, height = image.size
    if width * height > REFUSE_PIXELS:
        raise LoadError(f"image too large to read ({width}×{height} pixels, over {REFUSE_PIXELS // 1_000_000} Mpx)")
    if width < 8 or height < 8:
        raise LoadError(f"image too small to read ({width}×{height} pixels)")


class _open:  # noqa: N801 - a context manager that reads like a function
    """Open image bytes with Pillow; anything it cannot read is a one-line LoadError."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.image: Image.Image | None = None

    def __enter__(self) -> Image.Image:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                self.image = Image.open(io.BytesIO(self.data))
        except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise LoadError("not an image Pillow can read" if isinstance(exc, UnidentifiedImageError)
                            else "image too large to read") from exc
        except (OSError, ValueError, SyntaxError) as exc:
            raise LoadError(f"damaged image: {' '.join(str(exc).split())[:80]}") from exc
        return self.image

    def __exit__(self, *exc: object) -> None:
        if self.image is not None:
            self.image.close()
