"""Masked-language-model masking: the one function every recipe uses.

As in google-research/bert `create_pretraining_data.py`: of the non-special tokens, 15% (rate) are
chosen — a whole word at a time with whole-word masking — and of those 80% become [MASK], 10% a
random token of the vocabulary and 10% stay unchanged. The number chosen per sequence is
`max(1, round(n_candidates * rate))`, so every sequence of one length carries the same count.
Masks come from a numpy Generator the caller seeds: seeded by (seed, example) the masks are static
(the same every epoch); seeded by (seed, epoch, example) they are dynamic, and still reproducible.
"""

from __future__ import annotations

import numpy as np

IGNORE_INDEX = -100


def continuation_table(vocab: dict[str, int], special_ids: list[int] | set[int]) -> np.ndarray:
    """`table[id]` is True when token `id` continues the previous word (for whole-word masking).

    WordPiece marks continuations with a `##` prefix; SentencePiece/byte-level BPE mark word
    *starts* with `▁` or `Ġ`, so there a token without the marker continues its word.
    """
    table = np.zeros(max(vocab.values()) + 1, dtype=bool)
    tokens = list(vocab)
    if sum(t.startswith("##") for t in tokens) >= sum(t[:1] in ("▁", "Ġ") for t in tokens):
        for token, i in vocab.items():
            table[i] = token.startswith("##")
    else:
        for token, i in vocab.items():
            table[i] = token[:1] not in ("▁", "Ġ")
    table[list(special_ids)] = False
    return table


def word_ids_from_tokens(ids: np.ndarray, special: np.ndarray, continuation: np.ndarray) -> np.ndarray:
    """A word number per position (-1 at special tokens): a continuation joins the word before it."""
    starts = ~continuation[ids] | special
    starts[1:] |= special[:-1]                 # a word never reaches back over a special token
    word = np.cumsum(starts) - 1
    return np.where(special, -1, word)


def mask_tokens(
    ids: np.ndarray,
    special: np.ndarray,
    rng: np.random.Generator,
    *,
    mask_id: int,
    vocab_size: int,
    rate: float = 0.15,
    word_ids: np.ndarray | None = None,
    max_predictions: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mask one sequence. Returns (input ids, labels) with labels -100 where nothing is predicted.

    ids: (seq,) token ids; special: (seq,) bool, never masked (CLS, SEP, PAD...); word_ids: (seq,)
    word numbers for whole-word masking (-1 at specials), or None to mask token by token.
    """
    ids = np.asarray(ids)
    labels = np.full(ids.shape, IGNORE_INDEX, dtype=np.int64)
    candidates = np.flatnonzero(~special)
    if candidates.size == 0 or rate <= 0:
        return ids.copy(), labels
    budget = max(1, int(round(candidates.size * rate)))
    if max_predictions is not None:
        budget = min(budget, max_predictions)
    if word_ids is None:
        chosen = rng.permutation(candidates)[:budget]
    else:
        words = word_ids[candidates]
        bounds = np.flatnonzero(np.diff(words)) + 1
        groups = np.split(candidates, bounds)     # positions of each word, in order
        picked: list[np.ndarray] = []
        count = 0
        for g in rng.permutation(len(groups)):
            if count >= budget:
                break
            if count + len(groups[g]) > budget:  # as in BERT: skip words that would overshoot
                continue
            picked.append(groups[g])
            count += len(groups[g])
        chosen = np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)
    chosen = np.sort(chosen)
    out = ids.copy()
    labels[chosen] = ids[chosen]
    roll = rng.random(chosen.size)
    out[chosen[roll < 0.8]] = mask_id
    swap = chosen[roll >= 0.9]
    out[swap] = rng.integers(0, vocab_size, swap.size)
    return out, labels
