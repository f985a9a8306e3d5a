"""Masking rates (binomial bounds), special tokens, whole words, determinism."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit.data.masking import continuation_table, mask_tokens, word_ids_from_tokens

MASK, CLS, SEP, VOCAB = 4, 2, 3, 1000


def _sequence(rng, n=126):
    ids = np.concatenate([[CLS], rng.integers(10, VOCAB, n), [SEP]])
    return ids, (ids == CLS) | (ids == SEP)


def test_rates_80_10_10_on_100k_tokens():
    # BERT (Devlin et al. 2019, sec. 3.1): 15% of tokens, of which 80% [MASK], 10% random, 10% unchanged.
    rng = np.random.default_rng(0)
    chosen = masked = unchanged = candidates = 0
    for _ in range(800):
        ids, special = _sequence(rng)
        out, labels = mask_tokens(ids, special, rng, mask_id=MASK, vocab_size=VOCAB)
        picked = labels != -100
        assert not picked[special].any() and (out[special] == ids[special]).all()
        assert (labels[picked] == ids[picked]).all() and (out[~picked] == ids[~picked]).all()
        candidates += (~special).sum()
        chosen += picked.sum()
        masked += (out[picked] == MASK).sum()
        unchanged += (out[picked] == ids[picked]).sum()
    assert candidates > 100_000
    assert chosen == 800 * round(126 * 0.15)       # an exact count per sequence, as in BERT
    # 5-sigma binomial bounds on the split of the ~15k chosen tokens
    for count, p in ((masked, 0.8), (unchanged, 0.1 + 0.1 / VOCAB)):
        sigma = np.sqrt(chosen * p * (1 - p))
        assert abs(count - chosen * p) < 5 * sigma, (count, chosen * p)


def test_whole_word_masks_whole_words_only():
    vocab = {"[PAD]": 0, "[CLS]": CLS, "[SEP]": SEP, "[MASK]": MASK, "un": 5, "##believ": 6, "##able": 7,
             "cat": 8, "dog": 9, "##s": 10}
    table = continuation_table(vocab, [0, CLS, SEP, MASK])
    ids = np.array([CLS] + [5, 6, 7, 8, 9, 10] * 20 + [SEP])
    special = (ids == CLS) | (ids == SEP)
    words = word_ids_from_tokens(ids, special, table)
    rng = np.random.default_rng(1)
    for _ in range(50):
        _, labels = mask_tokens(ids, special, rng, mask_id=MASK, vocab_size=11, word_ids=words)
        picked = labels != -100
        for w in np.unique(words[words >= 0]):
            in_word = picked[words == w]
            assert in_word.all() or not in_word.any()   # all pieces of a word or none


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 200), st.floats(0.05, 0.5))
def test_deterministic_and_budget(seed, n, rate):
    ids = np.random.default_rng(seed).integers(10, VOCAB, n)
    special = np.zeros(n, dtype=bool)
    a = mask_tokens(ids, special, np.random.default_rng(seed), mask_id=MASK, vocab_size=VOCAB, rate=rate)
    b = mask_tokens(ids, special, np.random.default_rng(seed), mask_id=MASK, vocab_size=VOCAB, rate=rate)
    assert (a[0] == b[0]).all() and (a[1] == b[1]).all()
    assert (a[1] != -100).sum() == max(1, round(n * rate))
