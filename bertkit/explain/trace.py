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

from bertkit.errors import ConfigError
from bertkit.explain.hooks import Recorder, record_attention
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
    rows: list[str] | None = None        # a label per row (tokens), when not the trace's own tokens

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
    title: str | None = None                   # default: "Self-attention of layer L, head H ..."
    source_tokens: list[str] | None = None     # encoder-decoder: the source, whose rows cross-attention reads

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    def add(self, name: str, formula: str, value: torch.Tensor, ref: torch.Tensor | None = None,
            rows: list[str] | None = None) -> torch.Tensor:
        """Record one step (and how far it is from the model's own value `ref`); return `value`."""
        diff = None if ref is None else float((value - ref).abs().max())
        self.steps.append(Step(name, formula, value.numpy(), diff, rows))
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

    def id_to_token(self, i: int) -> str | None:
        """The decoder models' start and end tokens (ids 1 and 2); words do not map back."""
        return {1: "<s>", 2: "</s>"}.get(i)


def toy_model(seed: int = 0) -> tuple[Any, ToyTokenizer]:
    """A tiny random BertModel of `toy_config()` and its whitespace tokenizer."""
    torch.manual_seed(seed)
    model = BertModel(toy_config(), add_pooling_layer=False)
    model.eval()
    return model, ToyTokenizer()


def trace_attention(model: Any, tokenizer: Any, text: str, layer: int = 0, head: int = 0,
                    target: str | None = None) -> Trace:
    """Every intermediate of `layer`'s attention for `head` on `text`, checked against the model.

    BERT-like encoders: the layer's self-attention and FFN. GPT and the encoder-decoder model
    (detected from the model): the masked self-attention, and cross-attention over the source
    `text` with `target` as the decoder's input (see trace_decoder.py).
    """
    from bertkit.explain.decoder import architecture

    if architecture(model) != "bert":
        from bertkit.explain.trace_decoder import trace_decoder

        return trace_decoder(model, tokenizer, text, layer, head, target)
    if target is not None:
        raise ConfigError("--target-text is for encoder-decoder models; an encoder reads one text")
    check_layer_head(model, layer, head)
    enc = encode(tokenizer, text)
    block = encoder_layers(model)[layer]
    m, attention = _record(model, block, enc)
    t = Trace(enc.tokens, layer, head, block.attn.head_dim)
    pre_norm = getattr(block, "pre_norm", False)
    with torch.no_grad():
        x = t.add("X", f"input of layer {layer}: one row per token", m["layer.in"], m["layer.in"])
        a_in = x
        if pre_norm:
            a_in = t.add("LayerNorm(X)", "pre-LN: normalise before attention",
                         layer_norm(x, block.attn_norm), m["attn_norm"])
        proj = attention_steps(t, block.attn, a_in, attention, m["attn"])
        if pre_norm:
            h = t.add("X + attention", "residual (pre-LN: no norm here)", x + proj)
            f_in = t.add("LayerNorm(h)", "pre-LN before the FFN", layer_norm(h, block.ffn_norm),
                         m["ffn_norm"])
            t.add("layer output", "h + FFN (pre-LN)", h + ffn_steps(t, block.ffn, f_in, m), m["layer"])
        else:
            h = t.add("LayerNorm(X + attention)", "residual, then LayerNorm",
                      layer_norm(x + proj, block.attn_norm), m["attn_norm"])
            t.add("layer output", "LayerNorm(h + FFN)",
                  layer_norm(h + ffn_steps(t, block.ffn, h, m), block.ffn_norm), m["layer"])
    return t


def _record(model: Any, block: Any, enc: Any) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """One forward pass that keeps the block's intermediates and its attention's q, k, v, A·V and
    weights (the model's own `attend`, hooks.record_attention), float64 with the batch dropped."""
    rec = Recorder({"layer": block, "attn": block.attn, "attn_norm": block.attn_norm,
                    "ffn.up": block.ffn.up, "ffn": block.ffn, "ffn_norm": block.ffn_norm})
    try:
        with record_attention({"attn": block.attn}) as seen, torch.no_grad():
            base_model(model)(input_ids=torch.tensor([enc.ids]), token_type_ids=torch.tensor([enc.type_ids]))
    finally:
        rec.remove()
    return batch_dropped(rec.values), batch_dropped(seen["attn"])


def batch_dropped(values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The recorded tensors of a batch of one, without the batch, in float64."""
    return {k: v[0].double() for k, v in values.items()}


def _lin(module: Any) -> tuple[torch.Tensor, torch.Tensor]:
    return module.weight.detach().double(), module.bias.detach().double()


def causal_mask(n: int) -> torch.Tensor:
    """The (n, n) additive mask of the course: 0 on and below the diagonal, −∞ above it."""
    return torch.full((n, n), float("-inf"), dtype=torch.float64).triu(1)


def attention_steps(t: Trace, attn: Any, x: torch.Tensor, seen: dict[str, torch.Tensor], out: torch.Tensor,
                    memory: torch.Tensor | None = None, causal: bool = False, tag: str = "") -> torch.Tensor:
    """Q, K, V, the scaled scores (masked when `causal`), softmax and A·V of head `t.head`, then
    every head and the output projection; returns the projection.

    `seen` is the model's own q, k, v, context and probs of this attention (heads first), `out` its
    output. Cross-attention (`memory` given): queries from `x` (the decoder), keys and values from
    `memory` (the encoder's output), so the weights are (target x source). `tag` names the steps
    ("Q (cross)") when one trace has two attentions.
    """
    head, d = t.head, t.head_dim
    name = (lambda s: f"{s} ({tag})") if tag else (lambda s: s)
    kv = x if memory is None else memory
    src = "M" if memory is not None else "X"
    keys = t.source_tokens if memory is not None else None
    sl = slice(head * d, (head + 1) * d)
    (wq, bq), (wk, bk), (wv, bv) = _lin(attn.q), _lin(attn.k), _lin(attn.v)
    t.add(name("W_Q"), f"query weights of head {head} (hidden x d, d = {d})", wq[sl].T)
    t.add(name("W_K"), f"key weights of head {head}", wk[sl].T)
    t.add(name("W_V"), f"value weights of head {head}", wv[sl].T)
    where = {"q": "", "k": "", "v": ""} if memory is None else {
        "q": ": queries from the decoder", "k": ": keys from the encoder output M",
        "v": ": values from the encoder output M"}
    q = t.add(name("Q"), "X W_Q + b_Q" + where["q"], x @ wq[sl].T + bq[sl], seen["q"][head])
    k = t.add(name("K"), f"{src} W_K + b_K" + where["k"], kv @ wk[sl].T + bk[sl], seen["k"][head], keys)
    v = t.add(name("V"), f"{src} W_V + b_V" + where["v"], kv @ wv[sl].T + bv[sl], seen["v"][head], keys)
    shape = "(target x source)" if memory is not None else "(query x key)"
    scores = t.add(name("QKᵀ"), f"similarity of every query with every key {shape}", q @ k.T)
    scaled = t.add(name("QKᵀ/√d"), f"divided by √d = √{d} = {math.sqrt(d):.3f}", scores / math.sqrt(d))
    mask = causal_mask(q.shape[0]) if causal else None
    if mask is not None:
        t.add(name("causal mask"), "−∞ above the diagonal: no token may look at the tokens after it", mask)
        scaled = t.add(name("QKᵀ/√d + mask"), "the future scores become −∞ before the softmax", scaled + mask)
    rows = "each row sums to 1" + ("; masked entries are exactly 0" if causal else "")
    weights = t.add(name("softmax"), f"{rows}: the attention weights", scaled.softmax(-1),
                    seen["probs"][head])
    t.add(name("A·V"), f"head {head}'s output: attention-weighted sum of V", weights @ v,
          seen["context"][head])
    all_q = (x @ wq.T + bq).unflatten(-1, (-1, d)).transpose(0, 1)      # (heads, seq, d)
    all_k = (kv @ wk.T + bk).unflatten(-1, (-1, d)).transpose(0, 1)
    all_v = (kv @ wv.T + bv).unflatten(-1, (-1, d)).transpose(0, 1)
    all_s = all_q @ all_k.transpose(-2, -1) / math.sqrt(d)
    all_w = (all_s if mask is None else all_s + mask).softmax(-1)
    heads_out = (all_w @ all_v).transpose(0, 1).flatten(1)              # (seq, hidden)
    concat = t.add(name("concat(heads)"), "every head's A·V side by side", heads_out,
                   seen["context"].transpose(0, 1).flatten(1))
    wo, bo = _lin(attn.out)
    t.add(name("W_O"), "output projection weights (hidden x hidden)", wo.T)
    return t.add(name("output projection"), "concat W_O + b_O", concat @ wo.T + bo, out)


def ffn_steps(t: Trace, ffn: Any, x: torch.Tensor, m: dict[str, torch.Tensor]) -> torch.Tensor:
    """The position-wise FFN (up, activation, down) on `x`; returns its output."""
    (wu, bu), (wd, bd) = _lin(ffn.up), _lin(ffn.down)
    up = t.add("FFN up", f"h W_1 + b_1 ({wu.shape[0]} units)", x @ wu.T + bu, m.get("ffn.up"))
    act = t.add(_act_name(ffn.act), "the non-linearity", ffn.act(up))
    return t.add("FFN down", f"{_act_name(ffn.act)}(...) W_2 + b_2", act @ wd.T + bd, m["ffn"])


def _act_name(act: Any) -> str:
    return "ReLU" if isinstance(act, torch.nn.ReLU) or getattr(act, "__name__", "") == "relu" else "GELU"


def layer_norm(x: Any, norm: Any) -> Any:
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / (var + norm.eps).sqrt() * norm.weight.double() + norm.bias.double()
