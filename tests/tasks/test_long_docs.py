"""Truncation strategies, window aggregation and stitching, length-grouped batches, collation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from bertkit.tasks.batches import LengthGroupedBatches, collate
from bertkit.tasks.features import Feature
from bertkit.tasks.long_docs import aggregate_logits, stitch_words, truncate


def test_truncate_keeps_specials_and_the_right_content():
    ids = [101, *range(1, 21), 102]  # [CLS] 1..20 [SEP]
    special = [1] + [0] * 20 + [1]
    pick = lambda s, n: [ids[i] for i in truncate(ids, special, n, s)]  # noqa: E731
    assert pick("head", 7) == [101, 1, 2, 3, 4, 5, 102]
    assert pick("tail", 7) == [101, 16, 17, 18, 19, 20, 102]
    # Sun et al. 2019: a quarter head, the rest tail (128 + 382 of 510)
    assert pick("head+tail", 10) == [101, 1, 2, 15, 16, 17, 18, 19, 20, 102]
    assert pick("head+tail", 30) == ids
    assert len(truncate([0] * 600, [1] + [0] * 598 + [1], 512, "head+tail")) == 512
    kept = truncate(list(range(600)), [1] + [0] * 598 + [1], 512, "head+tail")
    assert kept[1:129] == list(range(1, 129)) and kept[129] == 600 - 1 - 382


@given(st.integers(3, 60), st.integers(3, 40), st.sampled_from(["head", "tail", "head+tail"]))
def test_truncate_properties(n, max_length, strategy):
    ids = list(range(n))
    special = [1] + [0] * (n - 2) + [1]
    kept = truncate(ids, special, max_length, strategy)
    assert len(kept) == min(n, max_length)
    assert kept == sorted(set(kept)) and kept[0] == 0 and kept[-1] == n - 1


def test_aggregate_and_stitch():
    windows = [np.array([1.0, 3.0]), np.array([3.0, -1.0])]
    np.testing.assert_allclose(aggregate_logits(windows, "mean"), [2.0, 1.0])
    np.testing.assert_allclose(aggregate_logits(windows, "max"), [3.0, 3.0])
    # word 2 is at the edge of window A and in the middle of window B: B's logits win
    a = ([None, 0, 1, 2, None], np.array([[0, 0], [1, 0], [1, 0], [1, 0], [0, 0]], dtype=float))
    b = ([None, 1, 2, 3, None], np.array([[0, 0], [0, 1], [0, 1], [0, 1], [0, 0]], dtype=float))
    out = stitch_words(5, [a, b], 2)
    assert out.argmax(1).tolist()[:4] == [0, 0, 1, 1]
    assert out[4].tolist() == [0.0, 0.0]  # no window saw word 4


def test_collate_pads_dynamically_and_masks_token_labels():
    feats = [Feature([101, 5, 102], [0, 0, 0], 0, [-100, 2, -100], [None, 0, None]),
             Feature([101, 102], [0, 0], 1, [-100, -100], [None, None])]
    batch = collate(feats, pad_id=0)
    assert batch["input_ids"].tolist() == [[101, 5, 102], [101, 102, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [[-100, 2, -100], [-100, -100, -100]]
    reg = collate([Feature([1], [0], 0, [0.5, 2.0])])
    assert reg["labels"].dtype == torch.float32 and reg["labels"].shape == (1, 2)


def test_length_grouped_batches_are_deterministic_and_cover_the_data():
    rng = np.random.default_rng(0)
    feats = [Feature([1] * int(n), [0] * int(n), i, 0) for i, n in enumerate(rng.integers(2, 100, 1000))]
    batches = LengthGroupedBatches(feats, batch_size=10, seed=3, group=20)
    order = batches.order(0)
    assert order == batches.order(0) and order != batches.order(1)
    assert sorted(i for b in order for i in b) == list(range(1000))
    padded = sum(max(len(feats[i].input_ids) for i in b) * len(b) for b in order)
    plain = LengthGroupedBatches(feats, batch_size=10, seed=3, by_length=False).order(0)
    padded_plain = sum(max(len(feats[i].input_ids) for i in b) * len(b) for b in plain)
    assert padded < 0.7 * padded_plain  # grouping removes most of the padding
    with pytest.raises(Exception, match="batch size must be positive"):
        LengthGroupedBatches(feats, 0)
