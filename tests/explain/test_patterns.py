"""Head-pattern scorers on synthetic attention whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit.explain.patterns import HeadScores, average, is_punctuation, score_heads

TOKENS = ["[CLS]", "the", "cat", "saw", "the", "dog", ".", "[SEP]"]
N = len(TOKENS)


def one_hot_rows(targets: list[int]) -> np.ndarray:
    a = np.zeros((N, N))
    a[np.arange(N), targets] = 1.0
    return a


def stack(*heads: np.ndarray) -> np.ndarray:
    return np.stack(heads)[None]          # (1 layer, heads, N, N)


def test_each_synthetic_head_tops_its_own_pattern():
    prev = one_hot_rows([max(i - 1, 0) for i in range(N)])
    nxt = one_hot_rows([min(i + 1, N - 1) for i in range(N)])
    cls = one_hot_rows([0] * N)
    sep = one_hot_rows([N - 1] * N)
    punct = one_hot_rows([6] * N)
    uniform = np.full((N, N), 1.0 / N)
    same = one_hot_rows([0, 4, 2, 3, 1, 5, 6, 7])         # "the" (1) <-> "the" (4)
    s = score_heads(stack(prev, nxt, cls, sep, punct, uniform, same), TOKENS)
    expect = {"previous": 0, "next": 1, "cls": 2, "sep": 3, "punctuation": 4, "broad": 5, "same_word": 6}
    for pattern, head in expect.items():
        assert int(np.nanargmax(s[pattern][0])) == head, pattern
    assert s["previous"][0, 0] == pytest.approx(1.0)
    assert s["next"][0, 1] == pytest.approx(1.0)
    assert s["cls"][0, 2] == pytest.approx(1.0)
    assert s["broad"][0, 5] == pytest.approx(1.0)       # uniform rows: entropy = log(N)
    assert s["same_word"][0, 6] == pytest.approx(1.0)
    assert s["broad"][0, 0] == pytest.approx(0.0, abs=1e-9)


def test_same_word_is_nan_without_repeats_and_top_skips_it():
    tokens = ["[CLS]", "a", "b", "[SEP]"]
    s = score_heads(np.full((2, 2, 4, 4), 0.25), tokens)
    assert np.isnan(s["same_word"]).all()
    assert HeadScores(s).top("same_word") == []


def test_top_orders_by_score_and_names_layer_and_head():
    scores = {"previous": np.array([[0.1, 0.9], [0.5, 0.2]])}
    assert HeadScores(scores).top("previous", 2) == [(0, 1, 0.9), (1, 0, 0.5)]
    with pytest.raises(KeyError, match="unknown pattern"):
        HeadScores(scores).top("sideways")


def test_average_ignores_undefined_inputs():
    a = HeadScores({"same_word": np.array([[np.nan]])})
    b = HeadScores({"same_word": np.array([[0.4]])})
    assert average([a, b]).scores["same_word"][0, 0] == pytest.approx(0.4)


def test_punctuation_detection():
    assert is_punctuation(".") and is_punctuation("##,") and is_punctuation("...")
    assert not is_punctuation("cat") and not is_punctuation("[SEP]")


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="attention must be"):
        score_heads(np.ones((1, 1, 3, 3)) / 3, TOKENS)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_scores_of_any_row_stochastic_attention_lie_in_unit_interval(seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(2, 3, N, N)) * rng.uniform(0.1, 10)
    attn = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    for name, s in score_heads(attn, TOKENS).items():
        assert s.shape == (2, 3), name
        assert np.all((s >= -1e-9) & (s <= 1 + 1e-9)), name
