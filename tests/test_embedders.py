"""Choosing the embedder's precision: 'auto' is bf16 only where the CPU computes it natively and fast, and
the choice is the same in every process on one machine."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rag import embedders
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
    code = ("from rag.embedders import SentenceTransformerEmbedder as E; e = E('bundled'); "
            "e.embed(['una pregunta']); print(e.precision)")
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT)
             for _ in range(3)]
    chosen = {proc.communicate(timeout=300)[0].strip() for proc in procs}
    assert len(chosen) == 1 and chosen <= {"bf16", "fp32"}
    assert chosen == {embedders.pick_precision("auto")}


def test_the_loaded_model_has_a_decided_precision(embedder):
    embedder.embed(["una pregunta"])
    assert embedder.precision in {"bf16", "fp32"}


def test_overlapping_thread_settings_restore_what_was_there_before_the_first():
    """The bundled embedder and the e5 encoder set torch's (process-wide) threads for one question at
    the same time; whatever order they end in, the value from before is what remains."""
    import threading

    import torch

    from rag.embedders import torch_threads

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
