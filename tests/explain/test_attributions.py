"""Integrated gradients: completeness (Sundararajan et al. 2017, Prop. 1), targets, tasks, windows."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bertkit.errors import ConfigError, DataError
from bertkit.explain.attributions import integrated_gradients, quadrature

TEXT = "A wonderful film, although the ending felt rushed."


def test_quadrature_integrates_polynomials():
    for method, n, tol in (("gausslegendre", 5, 1e-12), ("trapezoid", 201, 1e-4)):
        a, w = quadrature(n, method)
        assert w.sum() == pytest.approx(1.0)
        assert (w * a**3).sum() == pytest.approx(0.25, abs=tol)


@pytest.mark.parametrize("baseline", ["pad", "zeros"])
def test_completeness_within_reported_delta(tiny_classifier, baseline):
    model, tok = tiny_classifier
    a = integrated_gradients(model, tok, TEXT, n_steps=50, baseline=baseline, internal_batch_size=16)
    gap = a.logit_input - a.logit_baseline
    assert abs(a.total - gap) == pytest.approx(a.delta, abs=1e-9)
    assert a.delta < 1e-2 * max(abs(gap), 1e-3)


def test_delta_shrinks_with_steps(tiny_classifier):
    # measured: 300 Gauss-Legendre steps give relative deltas near 1e-7 (trapezoid: ~1e-6)
    model, tok = tiny_classifier
    coarse = integrated_gradients(model, tok, TEXT, n_steps=4, method="trapezoid")
    fine = integrated_gradients(model, tok, TEXT, n_steps=300, method="trapezoid", internal_batch_size=100)
    gap = abs(fine.logit_input - fine.logit_baseline)
    assert fine.delta < coarse.delta
    assert fine.delta < 1e-2 * gap


def test_every_target_class_and_label_names(tiny_classifier):
    model, tok = tiny_classifier
    sums = []
    for target in (0, "neutral", 2):
        a = integrated_gradients(model, tok, TEXT, target=target, n_steps=30)
        assert a.delta < 1e-2 * max(abs(a.logit_input - a.logit_baseline), 1e-3)
        sums.append(a.total)
    assert integrated_gradients(model, tok, TEXT, target="neutral", n_steps=4).target == 1
    assert len(set(np.round(sums, 6))) == 3
    default = integrated_gradients(model, tok, TEXT, n_steps=4)
    assert default.target == default.predicted
    assert abs(sum(default.probs) - 1) < 1e-6


def test_pad_baseline_gives_specials_zero_and_words_aggregate(tiny_classifier):
    model, tok = tiny_classifier
    a = integrated_gradients(model, tok, "Tokenization matters", n_steps=20)
    assert a.scores[0] == 0.0 and a.scores[-1] == 0.0       # [CLS]/[SEP] kept in the baseline
    words = dict(a.word_scores())
    assert set(words) == {"tokenization", "matters"}
    pieces = [i for i, t in enumerate(a.encoded.tokens) if t in ("token", "##ization")]
    assert words["tokenization"] == pytest.approx(a.scores[pieces].sum())
    data = json.loads(a.to_json())
    assert data["tokens"][0][0] == "[CLS]" and data["predicted_label"] in ("negative", "neutral", "positive")


def test_pair_task(tiny_classifier):
    model, tok = tiny_classifier
    a = integrated_gradients(model, tok, "The cat sleeps.", pair="A cat is asleep.", n_steps=30)
    assert 1 in a.encoded.type_ids
    assert a.delta < 1e-2 * max(abs(a.logit_input - a.logit_baseline), 1e-3)


def test_token_classification(tiny_tagger):
    model, tok = tiny_tagger
    text = "Ada Lovelace lived in London"
    a = integrated_gradients(model, tok, text, token_index=5, target="ENT", n_steps=30)
    assert a.token_index == 5 and a.target_label == "ENT"
    assert a.delta < 1e-2 * max(abs(a.logit_input - a.logit_baseline), 1e-3)
    with pytest.raises(DataError, match="token index 99 out of range"):
        integrated_gradients(model, tok, "Ada", token_index=99)


def test_layer_integrated_gradients(tiny_classifier):
    model, tok = tiny_classifier
    a = integrated_gradients(model, tok, TEXT, layer=1, n_steps=30)
    assert a.layer_name == "output of encoder layer 1"
    assert a.delta < 1e-2 * max(abs(a.logit_input - a.logit_baseline), 1e-3)
    with pytest.raises(ConfigError, match=r"layers 0\.\.1"):
        integrated_gradients(model, tok, TEXT, layer=2)


def test_long_input_by_windows(tiny_classifier):
    model, tok = tiny_classifier
    text = " ".join(["a fine and moving story"] * 30)          # > 64 positions of the tiny model
    a = integrated_gradients(model, tok, text, n_steps=10)
    assert len(a.encoded) > 64 and len(a.window_results) > 1
    assert np.count_nonzero(a.scores) > 100
    assert all(w.delta < 1e-2 * max(abs(w.logit_input - w.logit_baseline), 1e-3) for w in a.window_results)


def test_bad_input(tiny_classifier, minilm):
    model, tok = tiny_classifier
    with pytest.raises(ConfigError, match="labels are"):
        integrated_gradients(model, tok, TEXT, target="joyful")
    with pytest.raises(ConfigError, match=r"classes 0\.\.2"):
        integrated_gradients(model, tok, TEXT, target=7)
    with pytest.raises(DataError, match="empty text"):
        integrated_gradients(model, tok, "")
    with pytest.raises(ConfigError, match="no sequence-classification head"):
        integrated_gradients(minilm[0], minilm[1], TEXT)
    with pytest.raises(ConfigError, match="baseline"):
        integrated_gradients(model, tok, TEXT, baseline="mask")


def test_renderings(tiny_classifier):
    model, tok = tiny_classifier
    a = integrated_gradients(model, tok, TEXT, n_steps=10)
    term = a.to_terminal(colour=True)
    assert "\033[48;2;" in term and "predicted:" in term
    page = a.to_html()
    assert "bk-word" in page and a.predicted_label in page
    assert "<iframe srcdoc=" in a._repr_html_()


def test_endpoint_rows_equal_plain_forward_passes(tiny_classifier):
    # F(x), F(x') and the prediction come from rows of the first IG batch: they must equal the
    # model's own single-sequence outputs on the input and on the [PAD] baseline
    import torch

    model, tok = tiny_classifier
    a = integrated_gradients(model, tok, TEXT, n_steps=8)
    ids = torch.tensor([a.encoded.ids])
    pad = torch.tensor([[i if s else 0 for i, s in zip(a.encoded.ids, a.encoded.special, strict=True)]])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0]
        base = model(input_ids=pad).logits[0]
    assert a.target == int(logits.argmax())
    assert a.logit_input == pytest.approx(float(logits[a.target]), abs=1e-5)
    assert a.logit_baseline == pytest.approx(float(base[a.target]), abs=1e-5)
    assert np.allclose(a.probs, logits.softmax(-1).numpy(), atol=1e-6)


@pytest.mark.parametrize("layer", [None, 0])
def test_internal_batch_size_does_not_change_scores(tiny_classifier, layer):
    model, tok = tiny_classifier
    one = integrated_gradients(model, tok, TEXT, n_steps=12, internal_batch_size=12, layer=layer)
    many = integrated_gradients(model, tok, TEXT, n_steps=12, internal_batch_size=5, layer=layer)
    assert np.allclose(one.scores, many.scores, atol=1e-5)
    assert one.delta == pytest.approx(many.delta, abs=1e-5)


def test_parameters_keep_requires_grad_and_mode(tiny_classifier):
    model, tok = tiny_classifier
    model.train()
    flags = [p.requires_grad for p in model.parameters()]
    try:
        integrated_gradients(model, tok, TEXT, n_steps=4)
        assert model.training
        assert [p.requires_grad for p in model.parameters()] == flags
    finally:
        model.eval()


@pytest.mark.parametrize("layer", [None, 1])
def test_same_scores_on_the_transformers_model(tiny_classifier, tmp_path, layer):
    # the same weights loaded by transformers: IG (hooks, batch grown at the hooked module) agrees
    from transformers import BertForSequenceClassification as HFBert

    model, tok = tiny_classifier
    model.save_pretrained(tmp_path)
    hf = HFBert.from_pretrained(tmp_path).eval()
    ours = integrated_gradients(model, tok, TEXT, n_steps=16, layer=layer)
    theirs = integrated_gradients(hf, tok, TEXT, n_steps=16, layer=layer)
    assert np.abs(ours.scores - theirs.scores).max() < 1e-5
    assert theirs.delta < 1e-2 * max(abs(theirs.logit_input - theirs.logit_baseline), 1e-3)
