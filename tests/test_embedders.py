"""Choosing the embedder's precision: 'auto' keeps whichever of bf16 and fp32 is faster on this machine."""

from __future__ import annotations

import time

import pytest

from rag import embedders
from rag.errors import SettingsError


@pytest.mark.parametrize("slow, expected", [("bf16", "fp32"), ("fp32", "bf16")])
def test_the_probe_keeps_the_faster_precision(slow, expected):
    calls = []

    def encode(model, texts, precision):
        calls.append(precision)
        time.sleep(0.02 if precision == slow else 0.001)

    assert embedders._faster_precision(object(), encode) == expected
    assert sorted(set(calls)) == ["bf16", "fp32"] and len(calls) >= 4  # each tried more than once


def test_the_probe_keeps_fp32_when_bf16_is_only_a_little_faster():
    """Within noise of each other, two processes must not choose differently: fp32 unless bf16 is
    clearly faster."""
    def encode(model, texts, precision):
        time.sleep(0.010 if precision == "bf16" else 0.011)

    assert embedders._faster_precision(object(), encode) == "fp32"


def test_explicit_precisions_are_kept_and_others_refused():
    assert embedders._pick_precision("fp32") == "fp32"
    assert embedders._pick_precision("bf16") == "bf16"
    assert embedders._pick_precision("auto") in {"probe", "fp32"}
    with pytest.raises(SettingsError, match="RAG_EMBED_PRECISION"):
        embedders._pick_precision("int4")


def test_the_loaded_model_has_a_decided_precision(embedder):
    embedder.embed(["una pregunta"])
    assert embedder.precision in {"bf16", "fp32"}
