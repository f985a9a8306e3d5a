"""Texts longer than the model's window: truncate (head, tail, head+tail) or slide windows.

Sun et al. (2019, "How to Fine-Tune BERT for Text Classification") found that keeping the head
and the tail of a long review beats keeping either alone; their best split kept the first 128 and
last 382 tokens of 510, i.e. a quarter head. Sliding windows keep everything: each window is a
separate input, and the predictions are put back together per document (mean or max of the
logits for a label) or per word (for NER, from the window where the word has the most context).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

HEAD_FRACTION = 128 / 510  # Sun et al. 2019: 128 head + 382 tail tokens of 510


def truncate(ids: list[int], special_mask: Sequence[int], max_length: int, strategy: str) -> list[int]:
    """Positions (indices into `ids`) to keep so that at most `max_length` remain.

    The leading and trailing special tokens ([CLS] ... [SEP]) are always kept; the content between
    them is cut from the end (head), from the start (tail), or from the middle (head+tail).
    """
    n = len(ids)
    if n <= max_length:
        return list(range(n))
    lead = 0
    while lead < n and special_mask[lead]:
        lead += 1
    trail = 0
    while trail < n - lead and special_mask[n - 1 - trail]:
        trail += 1
    content = list(range(lead, n - trail))
    budget = max(0, max_length - lead - trail)
    if strategy == "head":
        kept = content[:budget]
    elif strategy == "tail":
        kept = content[len(content) - budget:] if budget else []
    elif strategy == "head+tail":
        head = round(budget * HEAD_FRACTION)
        kept = content[:head] + (content[len(content) - (budget - head):] if budget > head else [])
    else:
        raise ValueError(f"unknown truncation strategy {strategy!r}")
    return list(range(lead)) + kept + list(range(n - trail, n))


def aggregate_logits(logits: Sequence[np.ndarray], how: str = "mean") -> np.ndarray:
    """One document's logits from its windows' logits: mean or element-wise max."""
    stacked = np.stack([np.asarray(x, dtype=np.float64) for x in logits])
    if how == "mean":
        return stacked.mean(axis=0)
    if how == "max":
        return stacked.max(axis=0)
    raise ValueError(f"unknown aggregation {how!r}")


def stitch_words(num_words: int, windows: Sequence[tuple[Sequence[int | None], np.ndarray]],
                 num_labels: int) -> np.ndarray:
    """Per-word logits from overlapping windows of token logits (token classification).

    `windows`: (word index of each token, or None when it is not a word's first token; logits of
    shape (tokens, labels)). A word seen in several windows takes its logits from the window where
    it sits farthest from an edge (the "maximum context" rule of BERT's SQuAD code). Words no window
    saw (dropped by truncation) get all-zero logits.
    """
    out = np.zeros((num_words, num_labels), dtype=np.float64)
    best = np.full(num_words, -1.0)
    for word_index, logits in windows:
        positions = [i for i, w in enumerate(word_index) if w is not None]
        if not positions:
            continue
        lo, hi = positions[0], positions[-1]
        for i in positions:
            w = word_index[i]
            context = min(i - lo, hi - i)
            if context > best[w]:
                best[w] = context
                out[w] = logits[i]
    return out
