"""Choosing the embedder's precision: 'auto' is bf16 only where the CPU computes it natively and fast, and
the choice is the same in every process on one machine."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rag.encoders import embedders
from rag.errors import SettingsError
from tests.conftest import ROOT


@pytest.mark.parametrize("avx512_bf16, amx, vendor, expected", [
    (True, False, "AuthenticAMD", True),    # Zen 4 / Zen 5: measured 1.9x / 2.8x faster
    (False, False, "AuthenticAMD", False),  # Zen 3 and older: no native bf16
    (True, False, "GenuineIntel", False),   # AVX-512 BF16 without AMX: measured 1.5x slower
    (True, True, "GenuineIntel", True),     # AMX
    (False, False, "", False),              # unknown (another architecture, /proc unreadable)
])
def test_auto_uses_bf16_only_where_it_was_measured_faster(avx512_bf16, amx, vendor, expected):
    assert embedders._fast_bf16(avx512_bf16=avx512_bf16, amx=amx, vendor=vendor) is expected


def test_explicit_precisions_are_kept_and_others_refused():
    assert embedders.pick_precision("fp32") == "fp32"
    assert embedders.pick_precision("bf16") == "bf16"
    assert embedders.pick_precision("auto") in {"bf16", "fp32"}
    with pytest.raises(SettingsError, match="RAG_EMBED_PRECISION"):
        embedders.pick_precision("int4")


def test_processes_started_together_choose_alike():
    """Two processes starting at once on a busy machine (an ingest and the web app) must not choose
    differently: a clock-based choice did, here."""
    code = ("from rag.encoders.embedders import make_embedder; from rag.settings import Settings; "
            "e = make_embedder(Settings()); e.embed(['una pregunta']); print(e.precision)")
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT)
             for _ in range(3)]
    chosen = {proc.communicate(timeout=300)[0].strip() for proc in procs}
    assert len(chosen) == 1 and chosen <= {"bf16", "fp32"}
    assert chosen == {embedders.pick_precision("auto")}


def test_the_loaded_model_has_a_decided_precision(embedder):
    embedder.embed(["una pregunta"])
    assert embedder.precision in {"bf16", "fp32"}


def test_overlapping_thread_settings_restore_what_was_there_before_the_first():
    """Two questions embedded at once set torch's (process-wide) threads for one question at the same
    time; whatever order they end in, the value from before is what remains."""
    import threading

    import torch

    from rag.encoders.embedders import torch_threads

    before = torch.get_num_threads()
    first_in, second_done = threading.Event(), threading.Event()

    def other() -> None:
        first_in.wait()
        with torch_threads(1):
            pass  # ends while the first block is still open
        second_done.set()

    thread = threading.Thread(target=other)
    thread.start()
    with torch_threads(1):
        first_in.set()
        second_done.wait(5)
        assert torch.get_num_threads() == 1
    thread.join()
    assert torch.get_num_threads() == before
    with torch_threads(0):  # 0: left alone
        assert torch.get_num_threads() == before


def test_questions_take_the_lean_forward_and_get_the_library_vectors():
    """A BERT model's questions (the former default, all-MiniLM-L6-v2) run through ``rag.encoders.bert`` (the
    library's Python between its matrix products held the GIL and autocast re-cast its weights each call);
    the vectors must stay those of sentence-transformers, as passages get them, for short and long texts,
    alone or batched."""
    import numpy as np

    from rag.settings import LEGACY_EMBEDDER

    embedder = embedders.SentenceTransformerEmbedder(LEGACY_EMBEDDER)

    embedder.embed(["warm"], query=True)
    assert embedder._questions is not None  # the bundled model is one the lean forward computes
    texts = ["¿Cuál es la nota mínima de aprobación?", "  How are type-unstable loops handled?  ",
             "Reglamento " * 400, "a"]  # with spaces around, past the 256-token window, one letter
    library = embedder._encode(embedder._load(), texts)
    together = embedder.embed(texts, query=True)
    alone = np.stack([embedder.embed([t], query=True)[0] for t in texts])
    assert together.shape == alone.shape == library.shape
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-4)
    assert (together * library).sum(1).min() > 0.9999
    assert (alone * library).sum(1).min() > 0.9999


def test_models_the_lean_forward_does_not_compute_alike_keep_the_library_path():
    from types import SimpleNamespace

    from rag.encoders import bert

    class Module:
        def __init__(self, name: str, **attrs: object) -> None:
            self.__class__ = type(name, (), {})
            self.__dict__.update(attrs)

    bert_model = SimpleNamespace(config=SimpleNamespace(position_embedding_type="absolute", hidden_act="gelu",
                                                        hidden_size=384, num_attention_heads=12))

    class Model(list):
        device = SimpleNamespace(type="cpu")
        default_prompt_name = None

    cls_pooling = Model([Module("Transformer", auto_model=bert_model), Module("Pooling", pooling_mode="cls"),
                         Module("Normalize")])
    assert embedders._question_encoder(cls_pooling, "fp32") is None
    no_normalize = Model([Module("Transformer", auto_model=bert_model), Module("Pooling", pooling_mode="mean")])
    assert embedders._question_encoder(no_normalize, "fp32") is None
    assert bert.from_bert(bert_model) is None  # not a transformers BertModel
