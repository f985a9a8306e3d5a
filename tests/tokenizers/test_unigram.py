"""Unigram LM: Viterbi is the most probable segmentation, sampling, training, runtime parity."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit.tokenizers.normalizers import NormalizerOptions
from bertkit.tokenizers.reference import reference_encode, reference_model
from bertkit.tokenizers.trainers import count_words, train_runtime
from bertkit.tokenizers.unigram import UnigramModel

PIECES = [("[UNK]", 0.0), ("▁", -2.0), ("a", -3.0), ("b", -3.5), ("c", -4.0), ("ab", -4.0),
          ("bc", -5.5), ("abc", -9.5), ("▁a", -3.0), ("ca", -6.0)]


def segmentations(text: str):
    for cuts in itertools.product([0, 1], repeat=len(text) - 1):
        parts, start = [], 0
        for i, cut in enumerate(cuts, 1):
            if cut:
                parts.append(text[start:i])
                start = i
        yield parts + [text[start:]]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="▁abc", min_size=1, max_size=9))
def test_viterbi_is_the_best_segmentation(text):
    model = UnigramModel(pieces=PIECES, unk_id=0)
    scores = dict(PIECES)
    best = max(sum(scores[p] for p in seg) for seg in segmentations(text) if all(p in scores for p in seg))
    got = model.tokenize(text)
    assert "".join(got) == text
    assert math.isclose(sum(scores[p] for p in got), best)


def test_sampling_gives_valid_and_varied_segmentations():
    model = UnigramModel(pieces=PIECES, unk_id=0)
    rng = random.Random(0)
    samples = [tuple(model.sample("▁abcabc", alpha=0.5, rng=rng)) for _ in range(200)]
    assert all("".join(s) == "▁abcabc" for s in samples)
    assert len(set(samples)) > 3
    sharp = [tuple(model.sample("▁abcabc", alpha=50.0, rng=rng)) for _ in range(20)]
    assert set(sharp) == {tuple(model.tokenize("▁abcabc"))}  # large alpha -> the Viterbi path


def test_unknown_runs_fuse_into_one_unk():
    model = UnigramModel(pieces=PIECES, unk_id=0)
    assert model.tokenize("a☃☃b") == ["a", "[UNK]", "b"]


@pytest.fixture(scope="module")
def unigram_tok(corpus_pt):
    lines = corpus_pt.read_text(encoding="utf-8").splitlines()[:1500]
    return train_runtime(lines, algorithm="unigram", vocab_size=500, show_progress=False)


def test_training_exact_size_and_word_starts(unigram_tok):
    assert unigram_tok.get_vocab_size() == 500
    tokens = unigram_tok.encode("a empresa tem licença", add_special_tokens=False).tokens
    assert tokens[0].startswith("▁") and sum(t.startswith("▁") for t in tokens) == 4
    model = reference_model(unigram_tok)
    assert all(len(p) == 1 for p, _ in model.pieces if len(p) == 1)  # every character kept
    assert unigram_tok.decode(unigram_tok.encode("a empresa tem licença").ids) == "a empresa tem licença"


def test_runtime_parity(unigram_tok, corpus_pt):
    for text in corpus_pt.read_text(encoding="utf-8").splitlines()[1500:1600]:
        assert reference_encode(unigram_tok, text) == unigram_tok.encode(text, add_special_tokens=False).ids


def test_vectorised_e_step_equals_the_readable_one(corpus_pt):
    """The numpy lattice gives the same expected counts and log-likelihood as the pure-Python
    forward-backward, also after pruning (pruned pieces get log-probability -inf)."""
    import numpy as np

    from bertkit.tokenizers.unigram import _expected_counts, _Lattice

    lines = corpus_pt.read_text(encoding="utf-8").splitlines()[:200]
    words = dict(count_words(lines, NormalizerOptions(), "metaspace"))
    words["▁xyzq"] = 3  # "q" is not a piece: a word with no segmentation
    spans = {w[j:i] for w in words for j in range(len(w)) for i in range(j + 1, min(len(w), j + 6) + 1)}
    pieces = sorted(spans - {"q"})
    rng = np.random.default_rng(0)
    log_probs = np.log(rng.dirichlet(np.ones(len(pieces))))
    log_probs[rng.random(len(pieces)) < 0.3] = -np.inf
    for i, p in enumerate(pieces):
        if len(p) == 1:
            log_probs[i] = -5.0
    lattice = _Lattice(words, {p: i for i, p in enumerate(pieces)}, 6)
    expected, loglik = lattice.expected_counts(log_probs)
    logp = {p: float(lp) for p, lp in zip(pieces, log_probs, strict=True) if lp > -np.inf}
    want, want_loglik = _expected_counts(words, logp, 6)
    assert math.isclose(loglik, want_loglik, rel_tol=1e-9)
    assert np.allclose(expected, [want.get(p, 0.0) for p in pieces], rtol=1e-9, atol=1e-9)


def _seed_all_at_once(word_counts, chars, size, max_piece_length):
    """The seed as first written: every substring counted at once (~1 GB on a 25 MB corpus), the
    most frequent kept, ties in first-seen order (word, start, length)."""
    from collections import Counter

    allowed = set(chars)
    substrings: Counter[str] = Counter()
    for word, count in word_counts.items():
        for j in range(len(word)):
            for i in range(j + 2, min(len(word), j + max_piece_length) + 1):
                substrings[word[j:i]] += count
    substrings = Counter({s: c for s, c in substrings.items() if allowed.issuperset(s)})
    seed = dict.fromkeys(chars, 0)
    for word, count in word_counts.items():
        for ch in word:
            if ch in allowed:
                seed[ch] += count
    for s, c in substrings.most_common(size - len(chars)):
        seed[s] = c
    return seed


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(alphabet="▁abcé", min_size=1, max_size=12), st.integers(1, 4),
                       min_size=1, max_size=25),
       st.integers(0, 40), st.integers(2, 6), st.sampled_from([None, 2, 3]))
def test_seed_counted_per_length_equals_all_at_once(word_counts, extra, max_len, limit):
    """The per-length seed keeps exactly the pieces, counts and order of counting everything at once
    (small counts make many ties, so the first-seen order is exercised)."""
    from bertkit.tokenizers.unigram import _seed
    from bertkit.tokenizers.vocab import alphabet_of

    chars = alphabet_of(word_counts, limit)
    size = len(chars) + extra
    got = _seed(word_counts, chars, size, max_len)
    want = _seed_all_at_once(word_counts, chars, size, max_len)
    assert list(got.items()) == list(want.items())
