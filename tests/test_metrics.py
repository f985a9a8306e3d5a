"""Metrics: hand-computed examples, and seqeval/scikit-learn/scipy as references."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit import metrics


def test_accuracy_and_f1_by_hand():
    y_true = ["a", "a", "b", "b", "c"]
    y_pred = ["a", "b", "b", "b", "a"]
    assert metrics.accuracy(y_true, y_pred) == pytest.approx(3 / 5)
    r = metrics.precision_recall_f1(y_true, y_pred)
    # a: P=1/2 R=1/2 F=1/2; b: P=2/3 R=1 F=0.8; c: P=0 R=0 F=0
    assert r["per_class"]["a"]["f1"] == pytest.approx(0.5)
    assert r["per_class"]["b"]["f1"] == pytest.approx(0.8)
    assert r["per_class"]["c"]["f1"] == 0.0
    assert r["f1_macro"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert r["f1_micro"] == pytest.approx(3 / 5)  # single-label micro F1 = accuracy
    assert r["per_class"]["b"]["support"] == 2


def test_mcc_by_hand():
    # TP=2 TN=1 FP=1 FN=1: (2*1 - 1*1) / sqrt(3*3*2*2) = 1/6
    assert metrics.mcc([1, 1, 1, 0, 0], [1, 1, 0, 1, 0]) == pytest.approx(1 / 6)


def test_pearson_spearman_against_closed_form():
    x = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert metrics.pearson(x, [2 * v + 1 for v in x]) == pytest.approx(1.0)
    assert metrics.spearman(x, [v**3 for v in x]) == pytest.approx(1.0)
    # Spearman with d = [0,0,0,1,-1]: 1 - 6*2/(5*24) = 0.9
    assert metrics.spearman(x, [1, 2, 3, 5, 4]) == pytest.approx(0.9)
    assert metrics.pearson([1, 1, 1], [1, 2, 3]) == 0.0  # constant input: defined as 0, no NaN


def test_get_entities_bio_and_bioes():
    assert metrics.get_entities(["B-PER", "I-PER", "O", "B-LOC"]) == [("PER", 0, 1), ("LOC", 3, 3)]
    assert metrics.get_entities(["S-PER", "B-LOC", "I-LOC", "E-LOC", "O"]) == [("PER", 0, 0), ("LOC", 1, 3)]
    # I- after O starts an entity (seqeval/conlleval lenient mode), a type change splits
    assert metrics.get_entities(["O", "I-ORG", "I-PER"]) == [("ORG", 1, 1), ("PER", 2, 2)]
    assert metrics.get_entities(["B-geo-loc", "I-geo-loc"]) == [("geo-loc", 0, 1)]


def test_entity_scores_by_hand():
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "O"], ["B-ORG", "B-LOC"]]
    r = metrics.entity_scores(true, pred)
    # true: PER(0,1) LOC(3) ORG; pred: PER(0,1) ORG LOC(1) -> tp=2, P=2/3, R=2/3
    assert r["precision"] == pytest.approx(2 / 3)
    assert r["recall"] == pytest.approx(2 / 3)
    assert r["f1"] == pytest.approx(2 / 3)
    assert r["per_class"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


TAGS = st.sampled_from(["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.lists(TAGS, min_size=1, max_size=8), st.lists(TAGS, min_size=8, max_size=8)),
                min_size=1, max_size=4))
def test_entity_f1_matches_seqeval(pairs):
    seqeval = pytest.importorskip("seqeval.metrics")
    true = [t for t, _ in pairs]
    pred = [p[: len(t)] for t, p in pairs]
    ours = metrics.entity_scores(true, pred)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert ours["f1"] == pytest.approx(seqeval.f1_score(true, pred))
        assert ours["precision"] == pytest.approx(seqeval.precision_score(true, pred))
        assert ours["recall"] == pytest.approx(seqeval.recall_score(true, pred))
    from seqeval.metrics.sequence_labeling import get_entities as ref

    for t in true:
        assert metrics.get_entities(t) == ref(t)


def test_multilabel_scores_and_thresholds():
    y = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
    probs = np.array([[0.3, 0.1], [0.35, 0.9], [0.1, 0.8], [0.05, 0.2]])
    # label 0 is only separable below 0.3; label 1 at 0.5 already
    th = metrics.tune_thresholds(y, probs)
    assert th[0] <= 0.3 and th[0] > 0.1
    assert th[1] == 0.5
    pred = (probs >= np.array(th)).astype(int)
    r = metrics.multilabel_scores(y, pred, ["x", "y"])
    assert r["f1_micro"] == 1.0 and r["subset_accuracy"] == 1.0


def test_mrr_at_k_by_hand():
    ranked = [["a", "b", "c"], ["c", "a", "b"], ["b", "c", "x"]]
    relevant = ["a", "a", "a"]
    assert metrics.mrr_at_k(ranked, relevant, k=3) == pytest.approx((1 + 1 / 2 + 0) / 3)
    assert metrics.mrr_at_k(ranked, relevant, k=1) == pytest.approx(1 / 3)
    assert metrics.mrr_at_k([["q", "r"]], [{"r", "s"}], k=5) == pytest.approx(0.5)


def test_confusion_matrix_orientation():
    m = metrics.confusion_matrix(["a", "a", "b"], ["a", "b", "b"], labels=["a", "b"])
    assert m.tolist() == [[1, 1], [0, 1]]  # rows true, columns predicted
    assert math.isclose(metrics.binary_f1([1, 0, 1], [1, 1, 1]), 0.8)


def test_squad_exact_and_f1_worked_by_hand():
    from bertkit.metrics import squad

    preds = {"a": "The Eiffel Tower!", "b": "in Paris France", "c": "London", "d": ""}
    golds = {"a": ["eiffel tower"], "b": ["Paris", "Paris, France"], "c": ["Berlin"], "d": []}
    out = squad(preds, golds)
    # a: exact after dropping "the" and "!"; b: "in paris france" vs "paris france": P 2/3, R 1 -> F1 0.8;
    # c: wrong; d: no answer predicted for an unanswerable question -> right (v2.0)
    assert out["exact"] == pytest.approx(100 * 2 / 4)
    assert out["f1"] == pytest.approx(100 * (1 + 0.8 + 0 + 1) / 4)
    assert out["HasAns_total"] == 3 and out["NoAns_exact"] == 100.0
    assert out["HasAns_f1"] == pytest.approx(100 * 1.8 / 3)


def test_squad_best_threshold_is_the_official_search():
    from bertkit.metrics import squad

    # best non-null answers and their no-answer odds; "n" is unanswerable
    preds = {"a": "x", "b": "wrong", "n": "y"}
    golds = {"a": ["x"], "b": ["z"], "n": []}
    odds = {"a": -1.0, "b": 2.0, "n": 3.0}
    out = squad(preds, golds, odds)
    # start: every question null -> 1 right (n). Rising odds: a (+1) -> 2 at -1.0; b (+0); n (-1).
    assert out["best_exact"] == pytest.approx(100 * 2 / 3)
    assert out["best_exact_thresh"] == -1.0
