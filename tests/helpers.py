"""Test-only helpers: a tiny PDF writer and loaders that misbehave on purpose (run inside pool workers)."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

from rag.index.catalog import PathRecord
from rag.index.writer import Pending
from rag.types import ParsedDocument

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
PDFS = SHARED_DATA / "pdfs"


def make_pdf(pages: list[str], title: str | None = None) -> bytes:
    """A valid PDF with one Helvetica text line per non-empty page; "" makes a page with no text."""
    objects: list[bytes] = []
    page_ids = [4 + 2 * i for i in range(len(pages))]
    kids = " ".join(f"{pid} 0 R" for pid in page_ids)
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    for pid, text in zip(page_ids, pages, strict=True):
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("cp1252")
        stream = b"BT /F1 12 Tf 72 720 Td (" + escaped + b") Tj ET" if text else b""
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >>"
            f" /Contents {pid + 1} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    trailer_extra = b""
    if title is not None:
        objects.append(b"<< /Title (" + title.encode("cp1252") + b") >>")
        trailer_extra = b" /Info %d 0 R" % len(objects)
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        trailer_extra,
        xref,
    )
    return bytes(out)


def _doc(path: Path, text: str) -> ParsedDocument:
    return ParsedDocument(
        name=path.name, sha256=hashlib.sha256(text.encode()).hexdigest(), pages=[text], path=str(path)
    )


def slow_loader(path: Path, password: str | None = None) -> ParsedDocument:
    """'hang*' never returns; 'held*' returns once the test touches "release" in the marker folder (a minute
    at most); anything else returns at once (text: its pid)."""
    marker = os.environ.get("RAG_TEST_MARKER_DIR")
    if marker:  # lets a test see that a file has reached a worker
        (Path(marker) / f"{path.name}.started").touch()
    if path.name.startswith("hang"):
        time.sleep(3600)
    if path.name.startswith("held") and marker:
        release, deadline = Path(marker) / "release", time.monotonic() + 60
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    return _doc(path, f"pid {os.getpid()}")


def hog_loader(path: Path, password: str | None = None) -> ParsedDocument:
    """'hog*' asks for 8 GiB at once (a decompression bomb's allocation); anything else is quick."""
    if path.name.startswith("hog"):
        blob = bytearray(8 * 1024**3)
        return _doc(path, str(len(blob)))
    return _doc(path, f"pid {os.getpid()}")


def crash_loader(path: Path, password: str | None = None) -> ParsedDocument:
    """'segv*' dies of SIGSEGV, 'oomkill*' of SIGKILL (as from the kernel's OOM killer), 'bug*' raises."""
    if path.name.startswith("segv"):
        os.kill(os.getpid(), signal.SIGSEGV)
    if path.name.startswith("oomkill"):
        os.kill(os.getpid(), signal.SIGKILL)
    if path.name.startswith("bug"):
        raise ZeroDivisionError("division by zero")
    return _doc(path, f"pid {os.getpid()}")


def make_doc(name: str, pages: list[str], title: str = "") -> ParsedDocument:
    """A parsed document whose identity is the hash of its pages, as if read from /docs/<name>."""
    sha = hashlib.sha256("\f".join(pages).encode()).hexdigest()
    return ParsedDocument(name=name, sha256=sha, pages=pages, title=title, path=f"/docs/{name}")


# an English document, for tests across languages
POLICY = make_doc("policy.pdf", [
    "Research data must be stored on university servers for at least ten years after publication.",
    "Theses are submitted through the library repository in PDF/A format.",
], title="Research policy")


def pending(doc: ParsedDocument) -> Pending:
    """``doc`` on its way into the index, tracked under its /docs path."""
    return Pending(doc, PathRecord(f"/docs/{doc.name}", doc.name, doc.sha256, 10, 1))
