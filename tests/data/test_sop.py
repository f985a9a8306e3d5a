"""ALBERT's sentence-order prediction pairs (Lan et al. 2020, 4.1): two consecutive segments of one
document, in order (label 0) or swapped (label 1), never a segment of another document."""

from __future__ import annotations

import numpy as np
import pytest

from bertkit.data.examples import PretrainingDataset, bert_pairs
from bertkit.data.shards import ShardSet, prepare


@pytest.fixture(scope="module")
def shards(tmp_path_factory, corpus_pt, minilm_dir):
    docs = corpus_pt.read_text(encoding="utf-8").split("\n\n")[:120]
    root = tmp_path_factory.mktemp("sop")
    (root / "pt.txt").write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    prepare([root / "pt.txt"], minilm_dir, root / "shards", workers=1, shard_tokens=5000, chunk_bytes=4096,
            progress=False)
    return ShardSet(root / "shards")


def _document_of(shards: ShardSet) -> dict[tuple[int, int], int]:
    """(shard, token) -> document number, for every token."""
    where = {}
    for d, (s, bounds) in enumerate(shards.documents()):
        for t in range(int(bounds[0]), int(bounds[-1])):
            where[(s, t)] = d
    return where


def test_sop_labels_are_exactly_the_swapped_pairs(shards):
    seq_len = 4096                               # longer than any document here: nothing is truncated
    rows = bert_pairs(shards, seq_len, 0.1, np.random.default_rng(0), sentence_order=True)
    doc = _document_of(shards)
    assert len(rows) > 50
    for s, a0, a1, sb, b0, b1, label in rows.tolist():
        assert s == sb and a0 < a1 and b0 < b1
        assert doc[(s, a0)] == doc[(s, a1 - 1)] == doc[(s, b0)] == doc[(s, b1 - 1)]   # one document
        if label == 0:
            assert a1 == b0                      # B is the text right after A
        else:
            assert b1 == a0                      # the same two segments, swapped
    assert 0.4 < rows[:, 6].mean() < 0.6


def test_truncated_sop_pairs_keep_their_order(shards):
    rows = bert_pairs(shards, 64, 0.1, np.random.default_rng(1), sentence_order=True)
    for _, a0, a1, _, b0, b1, label in rows.tolist():
        assert (a1 - a0) + (b1 - b0) <= 64 - 3
        assert (a1 <= b0) if label == 0 else (b1 <= a0)


def test_bert_pairs_are_unchanged_by_the_sop_option(shards):
    a = bert_pairs(shards, 64, 0.1, np.random.default_rng(2))
    b = bert_pairs(shards, 64, 0.1, np.random.default_rng(2), sentence_order=False)
    assert np.array_equal(a, b) and a[:, 6].max() == 1


def test_albert_examples_carry_the_order_label(shards):
    ds = PretrainingDataset(shards, "albert", 64, seed=0)
    ids = shards.special_ids
    labels = []
    for i in range(len(ds)):
        tokens, types, label = ds._tokens(i)
        s, a0, a1, sb, b0, b1, row_label = ds.rows[i].tolist()
        a, b = shards.tokens[s][a0:a1], shards.tokens[sb][b0:b1]
        assert tokens.tolist() == [ids["cls"], *a.tolist(), ids["sep"], *b.tolist(), ids["sep"]]
        assert label == row_label and int(ds[i]["next_sentence_label"]) == label
        assert types.tolist() == [0] * (len(a) + 2) + [1] * (len(b) + 1)
        labels.append(label)
    assert 0.4 < np.mean(labels) < 0.6
