"""The Compound File (OLE2) adapter: the only module that imports olefile and msoffcrypto-tool.

An OLE2 file is either a legacy binary (.doc, .xls, .ppt: not read, with a one-line reason saying how to
save it) or an encrypted OOXML package, which ``decrypt`` opens with the user's ``--password`` into the
plain .docx/.xlsx/.pptx bytes that the router then reads like any other.

Example: decrypt(open("acta.docx", "rb").read(), "tika") -> b"PK\\x03\\x04..."
"""

from __future__ import annotations

import io
import zipfile

import msoffcrypto
import olefile
from msoffcrypto import exceptions as crypto_errors

from rag.errors import LoadError

# The stream each legacy binary keeps its content in, and what to tell the user.
_LEGACY = (
    ("worddocument", "legacy Word format: save it as .docx"),
    ("workbook", "legacy Excel format: save it as .xlsx"),
    ("book", "legacy Excel format: save it as .xlsx"),
    ("powerpoint document", "legacy PowerPoint format: save it as .pptx"),
)
ENCRYPTED = "encrypted: pass --password"
WRONG_PASSWORD = "wrong password"
_MAX_DECRYPTED = 512 * 1024 * 1024


def decrypt(data: bytes, password: str | None) -> bytes:
    """The decrypted OOXML package inside an encrypted one; LoadError for a legacy binary (which format,
    and what to save it as), a missing or wrong password, or a damaged container."""
    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
    except (OSError, ValueError, IndexError) as exc:
        raise LoadError(f"damaged: not a readable Compound File ({type(exc).__name__})") from exc
    with ole:
        streams = {"/".join(parts).lower() for parts in ole.listdir()}
    if "encryptioninfo" not in streams or "encryptedpackage" not in streams:
        for stream, reason in _LEGACY:
            if stream in streams:
                raise LoadError(reason)
        raise LoadError("unsupported file type: a Compound File that is no Office document")
    if not password:
        raise LoadError(ENCRYPTED)
    out = io.BytesIO()
    try:
        office = msoffcrypto.OfficeFile(io.BytesIO(data))
        # msoffcrypto's verifier rejects some correct Agile passwords ("VelvetSweatshop"): a wrong key is
        # known instead by what it decrypts to, which is then no zip archive
        office.load_key(password=password)
        office.decrypt(out)
    except crypto_errors.InvalidKeyError as exc:
        raise LoadError(WRONG_PASSWORD) from exc
    except (crypto_errors.DecryptionError, crypto_errors.ParseError, crypto_errors.FileFormatError) as exc:
        raise LoadError(f"damaged: cannot decrypt ({_short(exc)})") from exc
    except MemoryError:
        raise
    except Exception as exc:  # msoffcrypto raises plain exceptions on unexpected structures
        raise LoadError(f"damaged: cannot decrypt ({type(exc).__name__})") from exc
    decrypted = out.getvalue()
    if not decrypted.startswith(b"PK") or not zipfile.is_zipfile(io.BytesIO(decrypted)):
        raise LoadError(WRONG_PASSWORD)
    if len(decrypted) > _MAX_DECRYPTED:
        raise LoadError("too large: the decrypted package is over 512 MB")
    return decrypted


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 60 else text[:59] + "…"
