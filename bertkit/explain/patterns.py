"""Score every attention head for the patterns Clark et al. (2019, "What does BERT look at?") and
BertViz show: attending to the previous / next token, to the same word elsewhere, to [CLS], to [SEP],
to punctuation, or broadly (high entropy).

Pure functions on an attention array of shape (layers, heads, seq, seq) whose rows sum to 1, plus the
tokens. Each score is an average over the "query" rows that are ordinary tokens (not [CLS]/[SEP]),
so a score of 0.9 for `previous` reads "ordinary tokens put 90% of their attention on the token
just before them".
"""

from __future__ import annotations

import string
import warnings
from dataclasses import dataclass, field

import numpy as np

PATTERNS = ("previous", "next", "same_word", "cls", "sep", "punctuation", "broad")

DESCRIPTIONS = {
    "previous": "attends to the previous token",
    "next": "attends to the next token",
    "same_word": "attends to other occurrences of the same word",
    "cls": "attends to [CLS]",
    "sep": "attends to [SEP]",
    "punctuation": "attends to punctuation",
    "broad": "attends broadly (row entropy / log(seq))",
}

_PUNCT = set(string.punctuation) | set("«»“”‘’…–—¿¡")


def is_punctuation(token: str) -> bool:
    t = token[2:] if token.startswith("##") else token
    return bool(t) and all(c in _PUNCT for c in t)


def _content_rows(tokens: list[str], special: list[bool] | None) -> np.ndarray:
    if special is None:
        special = [t in ("[CLS]", "[SEP]", "<s>", "</s>") for t in tokens]
    rows = np.array([not s for s in special])
    return rows if rows.any() else np.ones(len(tokens), dtype=bool)


def _mean_rows(per_row: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Average (layers, heads, seq) over the selected rows -> (layers, heads); NaN if none."""
    if not rows.any():
        return np.full(per_row.shape[:2], np.nan)
    return per_row[..., rows].mean(-1)


def score_heads(
    attn: np.ndarray,
    tokens: list[str],
    special: list[bool] | None = None,
    words: list[tuple[str, list[int]]] | None = None,
) -> dict[str, np.ndarray]:
    """Return {pattern: (layers, heads) scores in [0, 1]} for one input.

    `words` (from `Encoded.words()`) groups sub-tokens into words for the same-word score; without
    it, every token is its own word. `same_word` is NaN when no word occurs twice.
    """
    attn = np.asarray(attn, dtype=np.float64)
    if attn.ndim != 4 or attn.shape[-1] != attn.shape[-2] or attn.shape[-1] != len(tokens):
        raise ValueError(f"attention must be (layers, heads, {len(tokens)}, {len(tokens)}), got {attn.shape}")
    n = len(tokens)
    rows = _content_rows(tokens, special)
    idx = np.arange(n)
    scores: dict[str, np.ndarray] = {}

    prev = np.zeros(attn.shape[:3])
    prev[..., 1:] = attn[..., idx[1:], idx[:-1]]
    scores["previous"] = _mean_rows(prev, rows & (idx >= 1))
    nxt = np.zeros(attn.shape[:3])
    nxt[..., :-1] = attn[..., idx[:-1], idx[1:]]
    scores["next"] = _mean_rows(nxt, rows & (idx < n - 1))

    cls_cols = np.array([t == "[CLS]" for t in tokens])
    sep_cols = np.array([t == "[SEP]" for t in tokens])
    punct_cols = np.array([is_punctuation(t) for t in tokens]) & rows
    scores["cls"] = _mean_rows(attn[..., cls_cols].sum(-1), rows)
    scores["sep"] = _mean_rows(attn[..., sep_cols].sum(-1), rows)
    scores["punctuation"] = _mean_rows(attn[..., punct_cols].sum(-1), rows)

    scores["same_word"] = _same_word(attn, tokens, rows, words)

    p = np.clip(attn, 1e-12, 1.0)
    entropy = -(attn * np.log(p)).sum(-1)
    scores["broad"] = _mean_rows(entropy / np.log(max(n, 2)), rows)
    return scores


def _same_word(attn: np.ndarray, tokens: list[str], rows: np.ndarray, words) -> np.ndarray:
    """Attention from each token of a repeated word to the tokens of its other occurrences."""
    if words is None:
        words = [(t, [i]) for i, t in enumerate(tokens)]
    by_text: dict[str, list[list[int]]] = {}
    for text, pos in words:
        if all(rows[p] for p in pos) and not is_punctuation(text):
            by_text.setdefault(text.lower(), []).append(pos)
    per_row = np.zeros(attn.shape[:3])
    chosen = np.zeros(len(tokens), dtype=bool)
    for occurrences in by_text.values():
        if len(occurrences) < 2:
            continue
        for k, pos in enumerate(occurrences):
            others = [p for j, o in enumerate(occurrences) if j != k for p in o]
            for i in pos:
                per_row[..., i] = attn[..., i, others].sum(-1)
                chosen[i] = True
    return _mean_rows(per_row, chosen)


@dataclass
class HeadScores:
    """Pattern scores for every head, averaged over the inputs they were computed on."""

    scores: dict[str, np.ndarray]               # pattern -> (layers, heads)
    n_inputs: int = 1
    texts: list[str] = field(default_factory=list)

    def top(self, pattern: str, k: int = 3) -> list[tuple[int, int, float]]:
        """The k heads scoring highest for `pattern`, as (layer, head, score)."""
        if pattern not in self.scores:
            raise KeyError(f"unknown pattern {pattern!r}; choose one of {', '.join(PATTERNS)}")
        s = self.scores[pattern]
        if np.isnan(s).all():
            return []
        flat = np.nan_to_num(s, nan=-np.inf).ravel()
        order = np.argsort(-flat, kind="stable")[:k]
        return [(int(i // s.shape[1]), int(i % s.shape[1]), float(flat[i])) for i in order]

    def to_dict(self, k: int = 3) -> dict:
        return {p: [{"layer": l, "head": h, "score": round(v, 4)} for l, h, v in self.top(p, k)]
                for p in self.scores}


def average(results: list[HeadScores]) -> HeadScores:
    """Average per-input scores (ignoring inputs where a pattern is undefined, e.g. no repeated word)."""
    out = {}
    for p in results[0].scores:
        stack = np.stack([r.scores[p] for r in results])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out[p] = np.nanmean(stack, axis=0)
    return HeadScores(out, sum(r.n_inputs for r in results), [t for r in results for t in r.texts])
