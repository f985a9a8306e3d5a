"""One explanation report: word attributions (when the model has a classification head), head
patterns, the head view and the model view, in one offline HTML page. For GPT and encoder-decoder
models: a head view and model view per kind of attention (decoder.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bertkit.errors import ConfigError
from bertkit.explain.attention import AttentionMap, extract_attention
from bertkit.explain.attributions import Attribution, integrated_gradients
from bertkit.explain.decoder import AttentionView, architecture, decoder_attention
from bertkit.explain.html import iframe, render_page
from bertkit.explain.inputs import load, model_dims
from bertkit.explain.patterns import HeadScores
from bertkit.io import atomic_write_text


@dataclass
class Report:
    title: str
    attention: AttentionMap | list[AttentionView]    # a list: a decoder model's views
    heads: HeadScores | None
    attribution: Attribution | None = None

    def to_html(self) -> str:
        return render_page(self.title, attention=self.attention, attribution=self.attribution,
                           heads=self.heads)

    def save(self, path: str | Path) -> Path:
        atomic_write_text(path, self.to_html())
        return Path(path)

    def _repr_html_(self) -> str:
        return iframe(self.to_html(), height=900)


def _kind(model: Any) -> str | None:
    name = type(model).__name__
    if name.endswith("ForSequenceClassification"):
        return "sequence"
    if name.endswith("ForTokenClassification"):
        return "token"
    return None


def explain_text(model: Any, text: str, tokenizer: Any = None, pair: str | None = None,
                 title: str | None = None, target_text: str | None = None, **ig: Any) -> Report:
    """Attention for any model; integrated gradients too when it has a classification head.

    `model` is a directory or a loaded model (then give `tokenizer`); `ig` goes to
    `integrated_gradients` (target, n_steps, baseline, token_index, layer, ...). GPT and
    encoder-decoder models give their attention views only (`target_text`: the decoder's text of
    an encoder-decoder model; default its greedy output).
    """
    if isinstance(model, (str, Path)):
        model, tokenizer = load(model)
    if architecture(model) != "bert":
        if pair is not None:
            raise ConfigError("--pair is for BERT models; a decoder reads one text (and --target-text)")
        views = decoder_attention(model, tokenizer, text, target_text).views
        return Report(title or "bertkit explanation", views, None)
    if target_text is not None:
        raise ConfigError("--target-text is for encoder-decoder models")
    attention = extract_attention(model, tokenizer, text, pair)
    attribution = None
    kind = _kind(model)
    if kind is not None:
        if kind == "token" and ig.get("token_index") is None:
            ig["token_index"] = _most_confident_entity(model, attention)
        attribution = integrated_gradients(model, tokenizer, text, pair, **ig)
    return Report(title or "bertkit explanation", attention, attention.patterns(), attribution)


def _most_confident_entity(model: Any, attention: AttentionMap) -> int:
    """For token classification without a chosen token: the token most confidently not "O"."""
    enc = attention.encoded
    ids = enc.ids[:model_dims(model)[2]]
    with torch.no_grad():
        probs = model(input_ids=torch.tensor([ids])).logits[0].softmax(-1)
    id2label = model.config.id2label or {}
    outside = [i for i, lab in id2label.items() if str(lab) == "O"]
    if outside:
        probs[:, outside] = 0
    best = probs.max(-1).values
    for i, s in enumerate(enc.special[:len(ids)]):
        if s:
            best[i] = -1
    return int(best.argmax())
