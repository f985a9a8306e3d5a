"""The learning view: one encoder layer's self-attention for one head, recomputed step by step from the
weights, each step checked against the model's own forward pass: forward hooks on the layer, its
attention, LayerNorms and FFN, and the model's q, k, v and A·V recorded inside `attend` (the fast
inference path fuses the q/k/v projections, so they are not separate module calls).

X -> W_Q, W_K, W_V -> Q, K, V -> QKᵀ -> / √d -> softmax -> A·V -> concat heads -> output projection ->
residual + LayerNorm -> FFN (up, GELU, down) -> residual + LayerNorm. For pre-LN models the
LayerNorms come first, as the model computes them. `toy_model()` gives the course's tiny setting:
hidden size 8, 2 heads (head dimension 4), so a 3-word sentence gives 3 x 8 matrices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from bertkit.explain.inputs import base_model, check_layer_head, encode, encoder_layers
from bertkit.explain.terminal import format_trace
from bertkit.model.bert import BertModel
from bertkit.model.config import BertConfig


@dataclass
class Step:
    name: str
    formula: str
    value: np.ndarray
    model_diff: float | None = None      # max |recomputed - model's own value|, where the model exposes it

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.value.shape)


@dataclass
class Trace:
    tokens: list[str]
    layer: int
    head: int
    head_dim: int
    steps: list[Step] = field(default_factory=list)

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    def add(self, name: str, formula: str, value: torch.Tensor, ref: torch.Tensor | None = None
            ) -> torch.Tensor:
        """Record one step (and how far it is from the model's own value `ref`); return `value`."""
        diff = None if ref is None else float((value - ref).abs().max())
        self.steps.append(Step(name, formula, value.numpy(), diff))
        return value

    def max_model_diff(self) -> float:
        return max(s.model_diff for s in self.steps if s.model_diff is not None)

    def format(self, fmt: str = "terminal", max_cols: int = 8, max_rows: int = 12) -> str:
        return format_trace(self, fmt, max_cols, max_rows)

    def to_html(self) -> str:
        return self.format("html")

    def _repr_html_(self) -> str:
        return self.format("html")


def toy_config(**overrides: Any):
    """The course's walk-through size: hidden 8, 2 heads of dimension 4, one layer, no dropout, and
    weights large enough (std 0.5) that the attention is not uniform."""
    kw = dict(vocab_size=128, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
              intermediate_size=32, max_position_embeddings=32, hidden_dropout_prob=0.0,
              attention_probs_dropout_prob=0.0, initializer_range=0.5)
    kw.update(overrides)
    return BertConfig(**kw)


class ToyTokenizer:
    """Whitespace words -> stable ids below 128, no [CLS]/[SEP]: the course's bare 3-token example."""

    def encode(self, text: str, pair: str | None = None, **_: Any):
        words = text.lower().split()
        ids = [5 + sum(map(ord, w)) % 123 for w in words]
        n = len(words)
        return SimpleNamespace(ids=ids, tokens=words, type_ids=[0] * n, attention_mask=[1] * n,
                               special_tokens_mask=[0] * n, word_ids=list(range(n)))


def toy_model(seed: int = 0) -> tuple[Any, ToyTokenizer]:
    """A tiny random BertModel of `toy_config()` and its whitespace tokenizer."""
    torch.manual_seed(seed)
    model = BertModel(toy_config(), add_pooling_layer=False)
    model.eval()
    return model, ToyTokenizer()


class _Recorder:
    """Forward hooks that keep the inputs/outputs of named submodules of one layer."""

    def __init__(self, modules: dict[str, Any]):
        self.values: dict[str, Any] = {}
        self.handles = [m.register_forward_hook(self._hook(name)) for name, m in modules.items()]

    def _hook(self, name: str):
        def hook(module, inputs, output):
            self.values[name + ".in"] = inputs[0].detach()
            self.values[name] = (output[0] if isinstance(output, tuple) else output).detach()
        return hook

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def trace_attention(model: Any, tokenizer: Any, text: str, layer: int = 0, head: int = 0) -> Trace:
    """Every intermediate of `layer`'s self-attention for `head` on `text`, checked against the model."""
    check_layer_head(model, layer, head)
    enc = encode(tokenizer, text)
    block = encoder_layers(model)[layer]
    m, attentions = _record(model, block, enc)
    t = Trace(enc.tokens, layer, head, block.attn.head_dim)
    with torch.no_grad():
        x = t.add("X", f"input of layer {layer}: one row per token", m["layer.in"], m["layer.in"])
        a_in = x
        if getattr(block, "pre_norm", False):
            a_in = t.add("LayerNorm(X)", "pre-LN: normalise before attention",
                         _layer_norm(x, block.attn_norm), m["attn_norm"])
        proj = _attention_steps(t, block.attn, a_in, m, attentions[layer][0].double())
        _ffn_steps(t, block, x, proj, m)
    return t


def _record(model: Any, block: Any, enc: Any) -> tuple[dict[str, torch.Tensor], tuple]:
    """One forward pass that keeps the block's intermediates (float64, batch dropped) and the
    model's attention weights. The q, k, v and A·V of every head come from the model's own
    `attend`, wrapped for the pass."""
    attn = block.attn
    rec = _Recorder({"layer": block, "attn": attn, "attn_norm": block.attn_norm, "ffn.up": block.ffn.up,
                     "ffn": block.ffn, "ffn_norm": block.ffn_norm})
    inner: dict[str, Any] = {}
    attend = attn.attend

    def recording_attend(q, k, v, *args, **kwargs):     # the model's own q, k, v and A·V, per head
        context, weights = attend(q, k, v, *args, **kwargs)
        inner.update(q=q, k=k, v=v, context=context)
        return context, weights

    attn.attend = recording_attend                     # instance attribute: shadows the method
    try:
        with torch.no_grad():
            out = base_model(model)(input_ids=torch.tensor([enc.ids]),
                                    token_type_ids=torch.tensor([enc.type_ids]), output_attentions=True)
    finally:
        rec.remove()
        del attn.attend
    m = {k: v[0].double() for k, v in rec.values.items()}
    m.update({k: v[0].double() for k, v in inner.items()})       # (heads, seq, d)
    return m, out.attentions


def _lin(module: Any) -> tuple[torch.Tensor, torch.Tensor]:
    return module.weight.detach().double(), module.bias.detach().double()


def _attention_steps(t: Trace, attn: Any, a_in: torch.Tensor, m: dict[str, torch.Tensor],
                     probs: torch.Tensor) -> torch.Tensor:
    """Q, K, V, the scaled scores, softmax and A·V of head `t.head`, then every head and the output
    projection; `probs` is the model's own (heads, seq, seq) attention. Returns the projection."""
    head, d = t.head, t.head_dim
    sl = slice(head * d, (head + 1) * d)
    (wq, bq), (wk, bk), (wv, bv) = _lin(attn.q), _lin(attn.k), _lin(attn.v)
    t.add("W_Q", f"query weights of head {head} (hidden x d, d = {d})", wq[sl].T)
    t.add("W_K", f"key weights of head {head}", wk[sl].T)
    t.add("W_V", f"value weights of head {head}", wv[sl].T)
    q = t.add("Q", "X W_Q + b_Q", a_in @ wq[sl].T + bq[sl], m["q"][head])
    k = t.add("K", "X W_K + b_K", a_in @ wk[sl].T + bk[sl], m["k"][head])
    v = t.add("V", "X W_V + b_V", a_in @ wv[sl].T + bv[sl], m["v"][head])
    scores = t.add("QKᵀ", "similarity of every query with every key", q @ k.T)
    scaled = t.add("QKᵀ/√d", f"divided by √d = √{d} = {math.sqrt(d):.3f}", scores / math.sqrt(d))
    weights = t.add("softmax", "each row sums to 1: the attention weights", scaled.softmax(-1), probs[head])
    t.add("A·V", f"head {head}'s output: attention-weighted sum of V", weights @ v, m["context"][head])
    all_q = (a_in @ wq.T + bq).unflatten(-1, (-1, d)).transpose(0, 1)   # (heads, seq, d)
    all_k = (a_in @ wk.T + bk).unflatten(-1, (-1, d)).transpose(0, 1)
    all_v = (a_in @ wv.T + bv).unflatten(-1, (-1, d)).transpose(0, 1)
    all_w = (all_q @ all_k.transpose(-2, -1) / math.sqrt(d)).softmax(-1)
    heads_out = (all_w @ all_v).transpose(0, 1).flatten(1)              # (seq, hidden)
    concat = t.add("concat(heads)", "every head's A·V side by side", heads_out,
                   m["context"].transpose(0, 1).flatten(1))
    wo, bo = _lin(attn.out)
    t.add("W_O", "output projection weights (hidden x hidden)", wo.T)
    return t.add("output projection", "concat W_O + b_O", concat @ wo.T + bo, m["attn"])


def _ffn_steps(t: Trace, block: Any, x: torch.Tensor, proj: torch.Tensor, m: dict[str, torch.Tensor]) -> None:
    """The residual, LayerNorms (post-LN or pre-LN, as the block has them) and the FFN."""
    if getattr(block, "pre_norm", False):
        h = t.add("X + attention", "residual (pre-LN: no norm here)", x + proj)
        f_in = t.add("LayerNorm(h)", "pre-LN before the FFN", _layer_norm(h, block.ffn_norm), m["ffn_norm"])
    else:
        h = t.add("LayerNorm(X + attention)", "residual, then LayerNorm",
                  _layer_norm(x + proj, block.attn_norm), m["attn_norm"])
        f_in = h
    (wu, bu), (wd, bd) = _lin(block.ffn.up), _lin(block.ffn.down)
    up = t.add("FFN up", f"h W_1 + b_1 ({wu.shape[0]} units)", f_in @ wu.T + bu, m.get("ffn.up"))
    act = t.add("GELU", "the non-linearity", block.ffn.act(up))
    ffn = t.add("FFN down", "GELU(...) W_2 + b_2", act @ wd.T + bd, m["ffn"])
    if getattr(block, "pre_norm", False):
        t.add("layer output", "h + FFN (pre-LN)", h + ffn, m["layer"])
    else:
        t.add("layer output", "LayerNorm(h + FFN)", _layer_norm(h + ffn, block.ffn_norm), m["layer"])


def _layer_norm(x: Any, norm: Any) -> Any:
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / (var + norm.eps).sqrt() * norm.weight.double() + norm.bias.double()
