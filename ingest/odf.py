"""The OpenDocument reader (.odt, .odp, .ods): lxml over the package's content.xml, never resolving an
entity or loading a DTD (ingest.safexml; odfpy refuses some real files, e.g. a formula with a DOCTYPE).

- .odt: one unit per section under its heading path, like .docx; footnotes (spliced inline in ODF) and
  comments come out of the sentence into units of their own; tracked deletions are never read.
- .odp: one unit per slide (draw:page) with its speaker notes.
- .ods: each sheet's rows in blocks that fit a passage, headers carried (repeated rows and columns are
  counted, not expanded).
An encrypted package (META-INF/manifest.xml declares encryption) ends as "encrypted: pass --password", or
is decrypted with the password (``_decrypt``: ODF 1.2 AES-256-CBC and old Blowfish-CFB entries, LibreOffice
24.2's whole-package AES-256-GCM with Argon2id), "wrong password" where it does not open.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.decrepit.ciphers.algorithms import Blowfish
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from ingest.loaders import Loaded
from ingest.safexml import Element, parse
from ingest.sandbox_worker import announce_units
from ingest.sniff import MAX_UNZIPPED, Kind, open_zip, read_member
from ingest.units import Budget, row_blocks, table_rows
from rag.errors import LoadError
from rag.locators import section_label, sheet_label, slide_label
from rag.text import normalize_page
from rag.types import PageInfo

OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
DRAW = "{urn:oasis:names:tc:opendocument:xmlns:drawing:1.0}"
PRESENTATION = "{urn:oasis:names:tc:opendocument:xmlns:presentation:1.0}"
MANIFEST = "{urn:oasis:names:tc:opendocument:xmlns:manifest:1.0}"
LOEXT = "{urn:org:documentfoundation:names:experimental:office:xmlns:loext:1.0}"
DC = "{http://purl.org/dc/elements/1.1/}"

MAX_REPEAT = 1_000  # a repeated non-empty cell or row is written at most this often
_SKIP = frozenset({TEXT + "note", OFFICE + "annotation", OFFICE + "annotation-end", TEXT + "tracked-changes",
                   TEXT + "note-citation", PRESENTATION + "notes", DRAW + "frame", TEXT + "bookmark-ref"})


def read(data: bytes, kind: Kind, password: str | None) -> Loaded:
    """Read an .odt, .odp or .ods into units (decrypting it first where it is encrypted)."""
    package = _open(data, password)
    root = parse(package.read("content.xml"), "content.xml")
    title = ""
    if package.has("meta.xml"):
        meta = parse(package.read("meta.xml", 4 * 2**20), "meta.xml")
        found = next(meta.iter(DC + "title"), None)
        title = (found.text or "") if found is not None else ""
    body = root.find(f"{OFFICE}body")
    if body is None:
        raise LoadError("damaged: content.xml has no body")
    try:
        if kind == "odt":
            loaded = _text_document(body)
        elif kind == "odp":
            loaded = _presentation(body)
        else:
            loaded = _spreadsheet(body)
    except RecursionError as exc:
        raise LoadError("damaged: elements nested too deeply") from exc
    if not any(loaded.pages):
        raise LoadError("no text")
    loaded.title = title or loaded.title
    return loaded


# --- encryption (ODF 1.2 part 3, section 3.8; LibreOffice 24.2's whole-package variant) -------------------

ENCRYPTED = "encrypted: pass --password"
WRONG_PASSWORD = "wrong password"
MAX_PBKDF2_ROUNDS = 10_000_000  # LibreOffice writes 100,000; a hostile manifest must not buy hours
MAX_ARGON2_KIB = 1024 * 1024  # LibreOffice writes 64 MiB, 3 passes, 4 lanes
MAX_ARGON2_PASSES = 64
_AES_CBC = ("http://www.w3.org/2001/04/xmlenc#aes256-cbc",)
_AES_GCM = ("http://www.w3.org/2009/xmlenc11#aes256-gcm",)
_BLOWFISH = ("Blowfish CFB", "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0#blowfish")
_SHA256 = ("http://www.w3.org/2000/09/xmldsig#sha256", "http://www.w3.org/2001/04/xmlenc#sha256", "SHA256")
_SHA1 = ("SHA1", "http://www.w3.org/2000/09/xmldsig#sha1")
_ARGON2ID = "urn:org:documentfoundation:names:experimental:office:manifest:argon2id"


@dataclass
class _Package:
    """An ODF package's entries, each decrypted on reading where the manifest says it is encrypted."""

    archive: zipfile.ZipFile
    encrypted: dict[str, Element]
    password: str

    def has(self, member: str) -> bool:
        return member in self.archive.namelist()

    def read(self, member: str, limit: int = MAX_UNZIPPED) -> bytes:
        data = read_member(self.archive, member, limit)
        if member not in self.encrypted:
            return data
        return _inflate(_decrypt(data, self.encrypted[member], self.password), limit, member)


def _open(data: bytes, password: str | None) -> _Package:
    """The package, its encrypted entries known; a whole encrypted package (encrypted-package) decrypted and
    opened as the archive it holds, bounded like any other."""
    archive = open_zip(data)
    entries: dict[str, Element] = {}
    if "META-INF/manifest.xml" in archive.namelist():
        manifest = parse(read_member(archive, "META-INF/manifest.xml", 4 * 2**20), "manifest.xml")
        for entry in manifest.iter(MANIFEST + "file-entry"):
            found = entry.find(MANIFEST + "encryption-data")
            if found is not None:
                entries[entry.get(MANIFEST + "full-path", "")] = found
    if not entries:
        return _Package(archive, {}, "")
    if not password:
        raise LoadError(ENCRYPTED)
    if "encrypted-package" in entries:
        inner = _inflate(_decrypt(read_member(archive, "encrypted-package"), entries["encrypted-package"], password),
                         MAX_UNZIPPED, "encrypted-package")
        return _open(inner, None)
    return _Package(archive, entries, password)


def _decrypt(data: bytes, encryption: Element, password: str) -> bytes:
    """One entry's plaintext, still deflated (SHA-256/SHA-1 start key, PBKDF2 or Argon2id, AES-CBC, AES-GCM or
    Blowfish-CFB64); 'wrong password' where the manifest's checksum, the padding or the GCM tag disagree."""
    algorithm = encryption.find(MANIFEST + "algorithm")
    derivation = encryption.find(MANIFEST + "key-derivation")
    start = encryption.find(MANIFEST + "start-key-generation")
    if algorithm is None or derivation is None:
        raise LoadError("damaged: the manifest's encryption data is incomplete")
    cipher_name = algorithm.get(MANIFEST + "algorithm-name", "")
    try:
        iv = base64.b64decode(algorithm.get(MANIFEST + "initialisation-vector", ""))
        salt = base64.b64decode(derivation.get(MANIFEST + "salt", ""))
        checksum = base64.b64decode(encryption.get(MANIFEST + "checksum", ""))
        key_size = int(derivation.get(MANIFEST + "key-size", "16" if cipher_name in _BLOWFISH else "32"))
    except ValueError as exc:
        raise LoadError("damaged: the manifest's encryption data is unreadable") from exc
    start_name = start.get(MANIFEST + "start-key-generation-name", "SHA1") if start is not None else "SHA1"
    if start_name in _SHA256:
        start_key = hashlib.sha256(password.encode()).digest()
    elif start_name in _SHA1:
        start_key = hashlib.sha1(password.encode()).digest()
    else:
        raise LoadError(f"unsupported encryption: start key by {start_name[-40:]}")
    key = _derive(start_key, derivation, salt, key_size)
    try:
        if cipher_name in _AES_GCM:
            body = data[len(iv):] if data[: len(iv)] == iv else data  # IV || ciphertext || tag
            return AESGCM(key).decrypt(iv, body, None)
        if cipher_name in _AES_CBC:
            decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
            padded = decryptor.update(data) + decryptor.finalize()
            pad = padded[-1] if padded else 0  # XML Encryption padding: only the last byte is defined
            if not 1 <= pad <= 16:
                raise LoadError(WRONG_PASSWORD)
            _check(encryption, checksum, padded[:-pad], padded)
            return padded[:-pad]
        if cipher_name in _BLOWFISH:
            decryptor = Cipher(Blowfish(key), _cfb64(iv)).decryptor()
            plain = decryptor.update(data) + decryptor.finalize()
            _check(encryption, checksum, plain, plain)
            return plain
    except InvalidTag as exc:
        raise LoadError(WRONG_PASSWORD) from exc
    except UnsupportedAlgorithm as exc:
        raise LoadError(f"unsupported encryption: this cryptography build lacks {cipher_name[-30:]}") from exc
    except ValueError as exc:  # an IV or key of the wrong length
        raise LoadError(f"damaged: {exc}"[:120]) from exc
    raise LoadError(f"unsupported encryption: {cipher_name[-40:] or 'no algorithm named'}")


def _derive(start_key: bytes, derivation: Element, salt: bytes, key_size: int) -> bytes:
    name = derivation.get(MANIFEST + "key-derivation-name", "")
    try:
        if name == _ARGON2ID:
            passes = int(derivation.get(LOEXT + "argon2-iterations", "3"))
            memory = int(derivation.get(LOEXT + "argon2-memory", "65536"))
            lanes = int(derivation.get(LOEXT + "argon2-lanes", "4"))
            if passes > MAX_ARGON2_PASSES or memory > MAX_ARGON2_KIB:
                raise LoadError("too large: the password's key derivation asks for too much time or memory")
            return Argon2id(salt=salt, length=key_size, iterations=passes, lanes=lanes,
                            memory_cost=memory).derive(start_key)
        if name in ("PBKDF2", "http://www.w3.org/2001/04/xmlenc#pbkdf2"):
            rounds = int(derivation.get(MANIFEST + "iteration-count", "1024"))
            if rounds > MAX_PBKDF2_ROUNDS:
                raise LoadError("too large: the password's key derivation asks for too much time")
            return PBKDF2HMAC(hashes.SHA1(), key_size, salt, rounds).derive(start_key)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise LoadError(f"damaged: the manifest's key derivation is unusable ({exc})"[:120]) from exc
    raise LoadError(f"unsupported encryption: key derivation {name[-40:]}")


def _check(encryption: Element, checksum: bytes, plain: bytes, padded: bytes) -> None:
    """The manifest's checksum of the first kilobyte (SHA-1 or SHA-256); LibreOffice has summed both with and
    without the CBC padding, so either is accepted."""
    kind = encryption.get(MANIFEST + "checksum-type", "")
    if not checksum or not kind:
        return
    digest = hashlib.sha256 if "256" in kind else hashlib.sha1
    if checksum not in (digest(plain[:1024]).digest(), digest(padded[:1024]).digest()):
        raise LoadError(WRONG_PASSWORD)


def _cfb64(iv: bytes) -> modes.ModeWithInitializationVector:
    """Blowfish's own 64-bit CFB (OpenOffice's "stream" mode), wherever this cryptography keeps it."""
    try:
        from cryptography.hazmat.decrepit.ciphers.modes import CFB
    except ImportError:  # before cryptography 47 it sits with the other modes
        return modes.CFB(iv)
    return CFB(iv)


def _inflate(data: bytes, limit: int, member: str) -> bytes:
    """An encrypted entry is raw deflate (stored ones are not compressed): at most ``limit`` bytes of it."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit)
    except zlib.error:
        if data.startswith(b"<?xml") or data.startswith(b"PK"):
            return data[:limit]  # stored uncompressed
        raise LoadError(WRONG_PASSWORD) from None
    if inflater.unconsumed_tail:
        raise LoadError(f"too large: {member[:40]} is over {limit // 2**20} MB")
    return out


def _text(element: Element) -> str:
    """The text of a paragraph or heading: spaces (text:s), tabs and line breaks honoured; notes,
    comments and frames (text boxes, read apart) left out."""
    out: list[str] = []

    def walk(node: Element) -> None:
        if node.text:
            out.append(node.text)
        for child in node:
            tag = child.tag
            if isinstance(tag, str) and tag not in _SKIP:
                if tag == TEXT + "s":
                    out.append(" " * min(int(child.get(TEXT + "c", "1") or 1), 100))
                elif tag == TEXT + "tab":
                    out.append("\t")
                elif tag == TEXT + "line-break":
                    out.append("\n")
                else:
                    walk(child)
            if child.tail:
                out.append(child.tail)

    walk(element)
    return "".join(out)


def _blocks(container: Element) -> Iterator[tuple[int, str]]:
    """(heading level or 0, text) of the paragraphs, headings and table rows under ``container``, in order;
    a frame's text boxes after the paragraph holding them."""
    for child in container:
        tag = child.tag
        if not isinstance(tag, str) or tag in (TEXT + "tracked-changes", PRESENTATION + "notes",
                                               OFFICE + "annotation", TEXT + "note"):
            continue
        if tag in (TEXT + "p", TEXT + "h"):
            text = _text(child)
            if text.strip():
                level = int(child.get(TEXT + "outline-level", "1") or 1) if tag == TEXT + "h" else 0
                yield min(max(level, 1), 9) if tag == TEXT + "h" else 0, text
            for frame in child.iter(DRAW + "frame"):
                yield from _blocks(frame)
        elif tag == TABLE + "table":
            yield from ((0, row) for row in table_rows(_table(child)))
        else:  # lists, sections, frames, text boxes, groups: their paragraphs
            yield from _blocks(child)


def _table(table: Element) -> list[list[str]]:
    rows = []
    for row in table.iter(TABLE + "table-row"):
        if _owner_table(row) is not table:
            continue  # a nested table's row: its text is in its cell
        cells = [" ".join(" ".join(_text(p) for p in cell.iter(TEXT + "p", TEXT + "h")).split())
                 for cell in row if cell.tag == TABLE + "table-cell"]
        rows.append(cells)
    return rows


def _owner_table(row: Element) -> Element | None:
    parent = row.getparent()
    while parent is not None and parent.tag != TABLE + "table":
        parent = parent.getparent()
    return parent


def _notes(body: Element, tag: str) -> list[str]:
    texts = []
    for note in body.iter(tag):
        source = note.find(TEXT + "note-body") if tag == TEXT + "note" else note
        if source is not None:
            text = " ".join(" ".join(_text(p) for p in source.iter(TEXT + "p")).split())
            if text:
                texts.append(text)
    return texts


def _text_document(body: Element) -> Loaded:
    budget = Budget()
    units: list[tuple[list[str], list[str]]] = [([], [])]
    path: list[str] = []
    first_heading = ""
    for level, text in _blocks(body):
        budget.take(text)
        if level:
            path = [*path[: level - 1], *[""] * max(0, level - 1 - len(path)), " ".join(text.split())]
            first_heading = first_heading or " ".join(text.split())
            units.append((list(path), [text]))
        else:
            units[-1][1].append(text)
    pages, infos = [], []
    for heading_path, paragraphs in units:
        if text := normalize_page("\n\n".join(paragraphs)):
            pages.append(text)
            infos.append(PageInfo(section_label(heading_path), kind="section"))
    for name, texts in (("footnotes", _notes(body, TEXT + "note")), ("comments", _notes(body, OFFICE + "annotation"))):
        if text := normalize_page("\n\n".join(budget.take(t) for t in texts)):
            pages.append(text)
            infos.append(PageInfo(name, kind="section"))
    return Loaded(pages, infos, first_heading)


def _presentation(body: Element) -> Loaded:
    budget = Budget()
    slides = list(body.iter(DRAW + "page"))
    announce_units(len(slides))
    pages, infos = [], []
    for number, slide in enumerate(slides, start=1):
        parts = [text for _, text in _blocks(slide)]
        notes = slide.find(PRESENTATION + "notes")
        if notes is not None:
            parts.extend(text for _, text in _blocks(notes))
        parts.extend(_notes(slide, OFFICE + "annotation"))
        pages.append(normalize_page(budget.take("\n\n".join(p for p in parts if p.strip()))))
        infos.append(PageInfo(slide_label(number), kind="slide"))
    first = next((p.split("\n", 1)[0] for p in pages if p), "")
    return Loaded(pages, infos, first)


def _spreadsheet(body: Element) -> Loaded:
    budget = Budget()
    pages: list[str] = []
    infos: list[PageInfo] = []
    for sheet in body.iter(TABLE + "table"):
        if _owner_table(sheet) is not None:
            continue  # a table inside a cell's frame
        name = sheet.get(TABLE + "name", "") or f"{len(infos) + 1}"
        for first, last, lines in row_blocks(_sheet_rows(sheet), budget):
            pages.append(normalize_page("\n\n".join(lines)))
            infos.append(PageInfo(sheet_label(name, first, last), kind="sheet"))
    return Loaded(pages, infos, "")


def _sheet_rows(sheet: Element) -> Iterator[tuple[int, list[str]]]:
    """(row number, cell texts) of a sheet; repeated rows and cells counted, not expanded."""
    number = 0
    for row in sheet.iter(TABLE + "table-row"):
        if _owner_table(row) is not sheet:
            continue
        repeat = int(row.get(TABLE + "number-rows-repeated", "1") or 1)
        cells: list[str] = []
        pending = 0  # empty cells not yet written (only written before a non-empty one)
        for cell in row:
            if cell.tag not in (TABLE + "table-cell", TABLE + "covered-table-cell"):
                continue
            span = int(cell.get(TABLE + "number-columns-repeated", "1") or 1)
            text = " ".join(" ".join(_text(p) for p in cell.iter(TEXT + "p")).split())
            if not text:
                pending += span
                continue
            cells.extend([""] * min(pending, MAX_REPEAT))
            pending = 0
            cells.extend([text] * min(span, MAX_REPEAT))
        if any(cells):
            for offset in range(min(repeat, MAX_REPEAT)):
                yield number + offset + 1, cells
        number += repeat
