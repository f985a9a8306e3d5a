"""Attention extraction: every layer x head x token for any bertkit (or Hugging Face) BERT model.

Inputs longer than the model's positions run as overlapping windows (see inputs.py). Stitching:
row i of the full map is the mean, over the windows that contain token i, of that window's row i
scattered to global positions (zeros where a window does not reach). Each window row sums to 1, so
every stitched row still sums to 1; two tokens that never share a window get 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bertkit.errors import ConfigError
from bertkit.explain.html import iframe, render_page
from bertkit.explain.inputs import Encoded, base_model, check_layer_head, encode, model_dims, windows
from bertkit.explain.patterns import HeadScores, score_heads
from bertkit.explain.plots import save_heatmaps
from bertkit.io import atomic_write_text


def select_head(weights: np.ndarray, layer: int, head: int) -> np.ndarray:
    """weights[layer, head] of a (layers, heads, queries, keys) array; a clear error names the valid range."""
    n_layers, n_heads = weights.shape[:2]
    if not 0 <= layer < n_layers:
        raise ConfigError(f"layer {layer} out of range: valid layers are 0..{n_layers - 1}")
    if not 0 <= head < n_heads:
        raise ConfigError(f"head {head} out of range: valid heads are 0..{n_heads - 1}")
    return weights[layer, head]


@dataclass
class AttentionMap:
    """Attention weights of one input: `weights[layer, head, query, key]`, rows summing to 1."""

    weights: np.ndarray          # (layers, heads, seq, seq) float32
    encoded: Encoded
    n_windows: int = 1

    @property
    def tokens(self) -> list[str]:
        return self.encoded.tokens

    @property
    def shape(self) -> tuple[int, ...]:
        return self.weights.shape

    def head(self, layer: int, head: int) -> np.ndarray:
        """The (seq, seq) map of one head; a clear error names the valid range."""
        return select_head(self.weights, layer, head)

    def patterns(self) -> HeadScores:
        """Score every head for the patterns in patterns.py."""
        s = score_heads(self.weights, self.tokens, self.encoded.special, self.encoded.words())
        return HeadScores(s, 1, [" ".join(self.tokens)])

    def to_html(self, title: str = "Attention") -> str:
        """A self-contained page with the head view and the model view."""
        return render_page(title, attention=self)

    def save_html(self, path: str | Path, title: str = "Attention") -> Path:
        atomic_write_text(path, self.to_html(title))
        return Path(path)

    def save_png(self, path: str | Path, layer: int | None = None, head: int | None = None) -> Path:
        """Heatmap of one head, or of all heads of `layer`, or the whole grid (matplotlib, Agg)."""
        return save_heatmaps(self, path, layer, head)

    def _repr_html_(self) -> str:
        return iframe(self.to_html())


def forward_attentions(model: Any, ids: list[int], type_ids: list[int]) -> np.ndarray:
    """Run one sequence through the model and return (layers, heads, seq, seq) attention."""
    with torch.inference_mode():
        out = base_model(model)(
            input_ids=torch.tensor([ids]),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            token_type_ids=torch.tensor([type_ids]),
            output_attentions=True,
        )
    if not out.attentions:
        raise RuntimeError(f"{type(model).__name__} returned no attentions with output_attentions=True")
    return torch.cat(out.attentions, 0).float().numpy()   # per layer (1, heads, seq, seq)


def extract_attention(
    model: Any,
    tokenizer: Any,
    text: str,
    pair: str | None = None,
    overlap: int | None = None,
    max_positions: int | None = None,
) -> AttentionMap:
    """Attention of every layer and head for `text` (and `pair`), windows for long inputs."""
    enc = encode(tokenizer, text, pair)
    n_layers, n_heads, max_pos = model_dims(model)
    wins = windows(enc, max_positions or max_pos, overlap)
    n = len(enc)
    total = np.zeros((n_layers, n_heads, n, n), dtype=np.float64)
    count = np.zeros(n)
    for w in wins:
        a = forward_attentions(model, w.ids, w.type_ids)
        pos = np.array(w.positions)
        total[:, :, pos[:, None], pos[None, :]] += a
        count[pos] += 1
    weights = (total / count[None, None, :, None]).astype(np.float32)
    return AttentionMap(weights, enc, len(wins))


def attention_head(model: Any, tokenizer: Any, text: str, layer: int, head: int) -> np.ndarray:
    """One head's (seq, seq) map, with a clear error for a layer or head that does not exist."""
    check_layer_head(model, layer, head)
    return extract_attention(model, tokenizer, text).head(layer, head)
