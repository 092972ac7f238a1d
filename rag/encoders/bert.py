"""A BERT-style encoder's forward pass in a few torch calls, for the models a question runs through.

Post-norm BERT with mean pooling (all-MiniLM-L6-v2, multilingual-e5-small: ``rag.encoders.e5``), with the
linear weights kept in bf16 once (prepacked for oneDNN where torch can) and the query, key and value
projections fused: about half the time of the library's forward, with the same vectors to a cosine of 0.99999
(figures in docs/decisions/retrieval.md and ingestion.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Pair = tuple[Any, Any]  # (weight, bias) or (scale, shift) tensors


def _plain_linear(x: Any, pair: Pair) -> Any:
    import torch.nn.functional as F  # noqa: N812 - torch's own convention

    return F.linear(x, *pair)


def _packed_linear(x: Any, pair: Pair) -> Any:
    """A linear layer whose bf16 weight is in oneDNN's own layout (``_prepack``): the product F.linear
    computes, without reordering the weight on every call."""
    import torch

    return torch.ops.mkldnn._linear_pointwise(x.to(torch.bfloat16), pair[0], pair[1], "none", [], "")


def _prepack(weight: Any) -> Any | None:
    """A bf16 weight reordered once into oneDNN's layout (what torch.compile does to a linear layer), or None
    where this torch has no oneDNN or refuses: a probe call fails here, not in the middle of an ingest."""
    import torch

    try:
        packed = torch.ops.mkldnn._reorder_linear_weight(weight, None)
        _packed_linear(torch.zeros(1, weight.shape[1]), (packed, None))
    except (AttributeError, RuntimeError, NotImplementedError):
        return None
    return packed


@dataclass
class Layer:
    """One encoder layer's tensors."""

    qkv: Pair  # query, key and value projections stacked: (3 * hidden, hidden), (3 * hidden,)
    out: Pair  # attention output projection
    norm1: Pair  # layer norm after attention
    up: Pair  # feed-forward, hidden -> intermediate (then GELU)
    down: Pair  # feed-forward, intermediate -> hidden
    norm2: Pair  # layer norm after the feed-forward


@dataclass
class Encoder:
    """Embeddings, layers and what is needed to run them; ``words(ids)`` gives the word embedding rows of
    an (n, width) int64 array as an (n, width, hidden) float32 tensor (a table lookup, or rows
    dequantised on the fly)."""

    hidden: int
    heads: int
    eps: float
    pad: int  # the padding token's id
    words: Callable[[np.ndarray], Any]
    positions: Any  # (max positions, hidden): the rows for positions 0, 1, ...
    token_type: Any  # (hidden,): type 0, the only one used
    embedding_norm: Pair
    layers: list[Layer]
    linear: Callable[[Any, Pair], Any] = _plain_linear  # how a layer's (weight, bias) is applied

    def to_bf16(self) -> None:
        """The linear layers' weights and biases kept in bf16: autocast would otherwise convert them on
        every call (~4 ms of a 12-layer question's 10 here) and they take half the memory. Where oneDNN
        takes them, the weights are also prepacked: F.linear reorders a weight on every call, 10-20% of an
        ingest's model time on AMX (docs/decisions/ingestion.md), for the same products to a bf16 rounding."""
        import torch

        pairs = [(layer, key, getattr(layer, key)) for layer in self.layers for key in ("qkv", "out", "up", "down")]
        weights = [weight.to(torch.bfloat16) for _, _, (weight, _) in pairs]
        packed = [_prepack(weight) for weight in weights]
        prepacked = all(p is not None for p in packed)
        for (layer, key, (_, bias)), weight, p in zip(pairs, weights, packed, strict=True):
            setattr(layer, key, (p if prepacked else weight, bias.to(torch.bfloat16)))
        if prepacked:
            self.linear = _packed_linear

    def forward(self, batch: Sequence[list[int]], bf16: bool) -> np.ndarray:
        """Mean-pooled, unit-length float32 vectors of token id sequences (padding is masked out)."""
        import torch
        import torch.nn.functional as F  # noqa: N812 - torch's own convention

        n, width = len(batch), max(map(len, batch))
        ids = np.full((n, width), self.pad, dtype=np.int64)
        mask = np.zeros((n, width), dtype=bool)
        for i, seq in enumerate(batch):
            ids[i, :len(seq)] = seq
            mask[i, :len(seq)] = True
        h, heads = self.hidden, self.heads
        with torch.inference_mode():
            x = self.words(ids) + self.positions[:width] + self.token_type
            x = F.layer_norm(x, (h,), *self.embedding_norm, self.eps)
            keep = torch.from_numpy(mask)
            attend = None if mask.all() else keep[:, None, None, :]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                for layer in self.layers:
                    q, k, v = self.linear(x, layer.qkv).view(n, width, 3, heads, h // heads).permute(2, 0, 3, 1, 4)
                    attention = F.scaled_dot_product_attention(q, k, v, attn_mask=attend)
                    attention = attention.transpose(1, 2).reshape(n, width, h)
                    x = F.layer_norm(x + self.linear(attention, layer.out), (h,), *layer.norm1, self.eps)
                    up = F.gelu(self.linear(x, layer.up))
                    x = F.layer_norm(x + self.linear(up, layer.down), (h,), *layer.norm2, self.eps)
            weights = keep[..., None].float()
            pooled = (x.float() * weights).sum(1) / weights.sum(1)
            return np.asarray(F.normalize(pooled, dim=-1).numpy(), dtype=np.float32)


def embed_sequences(encoder: Encoder, seqs: Sequence[list[int]], bf16: bool, batch: int) -> np.ndarray:
    """One vector per token id sequence, run longest first in batches of similar length (less padding)."""
    order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
    out = np.zeros((len(seqs), encoder.hidden), dtype=np.float32)
    for start in range(0, len(order), batch):
        part = order[start:start + batch]
        out[part] = encoder.forward([seqs[i] for i in part], bf16)
    return out


def from_bert(model: Any) -> Encoder | None:
    """The ``Encoder`` of a transformers ``BertModel`` (its tensors shared, not copied), or None for a
    model this forward does not compute alike: another architecture, relative positions, another
    activation than exact GELU."""
    config = getattr(model, "config", None)
    if (type(model).__name__ != "BertModel" or config is None
            or getattr(config, "position_embedding_type", "absolute") != "absolute"
            or config.hidden_act != "gelu" or config.hidden_size % config.num_attention_heads):
        return None
    import torch

    tensors: Mapping[str, Any] = {k: v.detach() for k, v in model.state_dict().items()}
    table = tensors["embeddings.word_embeddings.weight"]

    def pair(prefix: str, a: str = "weight", b: str = "bias") -> Pair:
        return tensors[f"{prefix}.{a}"], tensors[f"{prefix}.{b}"]

    layers = []
    for i in range(config.num_hidden_layers):
        p = f"encoder.layer.{i}"
        projections = [pair(f"{p}.attention.self.{x}") for x in ("query", "key", "value")]
        layers.append(Layer(
            qkv=(torch.cat([w for w, _ in projections]), torch.cat([b for _, b in projections])),
            out=pair(f"{p}.attention.output.dense"), norm1=pair(f"{p}.attention.output.LayerNorm"),
            up=pair(f"{p}.intermediate.dense"), down=pair(f"{p}.output.dense"),
            norm2=pair(f"{p}.output.LayerNorm")))
    return Encoder(
        hidden=config.hidden_size, heads=config.num_attention_heads, eps=config.layer_norm_eps,
        pad=config.pad_token_id or 0, words=lambda ids: table[torch.from_numpy(ids)],
        positions=tensors["embeddings.position_embeddings.weight"],
        token_type=tensors["embeddings.token_type_embeddings.weight"][0],
        embedding_norm=pair("embeddings.LayerNorm"), layers=layers)
