"""Attention of the decoder models: GPT's causal self-attention, and the encoder-decoder
Transformer's encoder self-attention, decoder (causal) self-attention and cross-attention.

The weights come from the models' own `attend` (hooks.record_attention) during one forward pass:
GPT reads `text`; the encoder-decoder model reads `text` as the source and `target` as the
decoder's input behind the start token (teacher forcing), or, without `target`, its own greedy
output. Tokens are the tokenizer's pieces without special tokens, as `bertkit generate` feeds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from bertkit.errors import ConfigError, DataError
from bertkit.explain.attention import select_head
from bertkit.explain.hooks import record_attention
from bertkit.io import atomic_write_text

# kind -> the label its views carry
KINDS: dict[str, str] = {
    "encoder": "Encoder self-attention",
    "decoder": "Decoder self-attention (causal: each token sees itself and earlier tokens)",
    "cross": "Cross-attention (target tokens attend over the source tokens)",
}


def architecture(model: Any) -> str:
    """"gpt", "seq2seq" or "bert" (every encoder-only model) for a loaded model."""
    from bertkit.model.gpt import GPTLanguageModel
    from bertkit.model.seq2seq import Seq2SeqTransformer

    if isinstance(model, GPTLanguageModel):
        return "gpt"
    if isinstance(model, Seq2SeqTransformer):
        return "seq2seq"
    return "bert"


@dataclass
class AttentionView:
    """One kind of attention of one input: `weights[layer, head, query, key]`, rows summing to 1.

    Queries are `tokens` (rows); keys are `key_tokens` (columns): the same tokens for
    self-attention, the source's for cross-attention.
    """

    kind: str                      # a key of KINDS
    weights: np.ndarray            # (layers, heads, queries, keys) float32
    tokens: list[str]
    key_tokens: list[str]
    n_windows: int = 1

    @property
    def label(self) -> str:
        return KINDS[self.kind]

    @property
    def shape(self) -> tuple[int, ...]:
        return self.weights.shape

    def head(self, layer: int, head: int) -> np.ndarray:
        """The (queries, keys) map of one head; a clear error names the valid range."""
        return select_head(self.weights, layer, head)

    def save_png(self, path: str | Path, layer: int | None = None, head: int | None = None) -> Path:
        from bertkit.explain.plots import save_heatmaps

        return save_heatmaps(self, path, layer, head)


@dataclass
class DecoderInput:
    """What one decoder forward pass reads: the decoder's ids and tokens, and the source's
    (encoder-decoder models only; empty for GPT)."""

    ids: list[int]
    tokens: list[str]
    source_ids: list[int] = field(default_factory=list)
    source_tokens: list[str] = field(default_factory=list)


@dataclass
class DecoderAttention:
    """Every attention view of one input, in the order the model computes them."""

    views: list[AttentionView]
    inputs: DecoderInput

    def view(self, kind: str) -> AttentionView:
        for v in self.views:
            if v.kind == kind:
                return v
        raise ConfigError(f"no {kind} attention here; this model has {', '.join(v.kind for v in self.views)}")

    def to_html(self, title: str = "Attention") -> str:
        from bertkit.explain.html import render_page

        return render_page(title, attention=self.views)

    def save_html(self, path: str | Path, title: str = "Attention") -> Path:
        atomic_write_text(path, self.to_html(title))
        return Path(path)

    def _repr_html_(self) -> str:
        from bertkit.explain.html import iframe

        return iframe(self.to_html(), height=900)


class TaskTokenizer:
    """The vocabulary of a `bertkit seq2seq train` task as a tokenizer: the task's own split of the
    words (`words_to_tokens`: the comma a token of its own), a number's digits one token each."""

    def __init__(self, task: Any):
        self.task = task

    def encode(self, text: str, **_: Any) -> Any:
        from bertkit.seq2seq.task import words_to_tokens

        tokens = [p for w in words_to_tokens(text) for p in (list(w) if w.isdigit() else [w])]
        unknown = [t for t in tokens if t not in self.task.ids]
        if unknown:
            raise DataError(f"{unknown[0]!r} (in {text!r}) is not in the task's vocabulary of "
                            f"{self.task.vocab_size} tokens")
        return SimpleNamespace(ids=[self.task.ids[t] for t in tokens], tokens=tokens)

    def id_to_token(self, i: int) -> str:
        return self.task.tokens[i]


def plain_tokens(tokenizer: Any, text: str, what: str = "text") -> tuple[list[int], list[str]]:
    """(ids, tokens) of `text` without special tokens; empty text is an error naming `what`."""
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"empty {what}: give at least one word")
    enc = tokenizer.encode(text, add_special_tokens=False)
    if not enc.ids:
        raise DataError(f"the {what} {text!r} gives no tokens")
    return list(enc.ids), list(enc.tokens)


def _token(tokenizer: Any, i: int) -> str:
    token = tokenizer.id_to_token(i) if hasattr(tokenizer, "id_to_token") else None
    return token if token is not None else f"<{i}>"


def decoder_inputs(model: Any, tokenizer: Any, text: str, target: str | None = None,
                   max_new_tokens: int = 24) -> DecoderInput:
    """The ids a decoder model reads for `text` (and `target`), checked against its sizes."""
    ids, tokens = plain_tokens(tokenizer, text)
    vocab = model.config.vocab_size
    if max(ids) >= vocab:
        raise DataError(f"token id {max(ids)} of {text!r} is outside the model's vocabulary of {vocab}: "
                        "the tokenizer and the model do not belong together")
    if architecture(model) == "gpt":
        if target is not None:
            raise ConfigError("a GPT model reads one text: --target-text is for encoder-decoder models")
        _check_fits(len(ids), model.context_window, "text")
        return DecoderInput(ids, tokens)
    _check_fits(len(ids), model.context_window, "source text")
    bos = model.config.bos_token_id
    if target is None:                             # the model's own greedy output
        with torch.no_grad():
            out = model.generate(torch.tensor([ids]), max_new_tokens=max_new_tokens)[0].tolist()
        eos = model.config.eos_token_id
        out = out[1:]
        if eos in out:
            out = out[:out.index(eos)]
        target_ids, target_tokens = out, [_token(tokenizer, i) for i in out]
    else:
        target_ids, target_tokens = plain_tokens(tokenizer, target, "target text")
    dec = [bos, *target_ids]
    _check_fits(len(dec), model.context_window, "target text")
    return DecoderInput(dec, [_token(tokenizer, bos), *target_tokens], ids, tokens)


def _check_fits(n: int, window: int, what: str) -> None:
    if n > window:
        raise DataError(f"the {what} is {n} tokens; the model has {window} positions: give a shorter one")


def attention_modules(model: Any) -> dict[tuple[str, int], Any]:
    """(kind, layer) -> the attention module, for GPT and the encoder-decoder model."""
    if architecture(model) == "gpt":
        return {("decoder", i): block.attn for i, block in enumerate(model.layers)}
    modules = {("encoder", i): layer.attn for i, layer in enumerate(model.encoder)}
    for i, layer in enumerate(model.decoder):
        modules[("decoder", i)] = layer.attn
        modules[("cross", i)] = layer.cross
    return modules


def run(model: Any, inp: DecoderInput) -> None:
    """One teacher-forced forward pass over `inp`."""
    with torch.no_grad():
        if architecture(model) == "gpt":
            model(torch.tensor([inp.ids]))
        else:
            model(torch.tensor([inp.source_ids]), decoder_input_ids=torch.tensor([inp.ids]))


def decoder_attention(model: Any, tokenizer: Any, text: str, target: str | None = None) -> DecoderAttention:
    """Every layer's and head's attention of a GPT or encoder-decoder model on `text` (`target`)."""
    inp = decoder_inputs(model, tokenizer, text, target)
    modules = attention_modules(model)
    names = {f"{kind}.{i}": m for (kind, i), m in modules.items()}
    with record_attention(names) as seen:
        run(model, inp)
    views = []
    for kind in ("encoder", "decoder", "cross"):
        layers = sorted(i for k, i in modules if k == kind)
        if not layers:
            continue
        weights = torch.cat([seen[f"{kind}.{i}"]["probs"] for i in layers]).float().numpy()
        queries = inp.source_tokens if kind == "encoder" else inp.tokens
        keys = inp.tokens if kind == "decoder" else inp.source_tokens
        views.append(AttentionView(kind, weights, queries, keys))
    return DecoderAttention(views, inp)
