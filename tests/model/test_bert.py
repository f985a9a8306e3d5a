"""BERT heads, losses, sparse MLM prediction, bad input, and unpadded == padded execution."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit.errors import DataError
from bertkit.model import (
    BertConfig,
    BertForMaskedLM,
    BertForPreTraining,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
)

V = 80


def cfg(**kw):
    return BertConfig.preset("tiny", vocab_size=V, **kw)


def batch(lengths, seq=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    seq = seq or max(lengths)
    ids = torch.randint(1, V, (len(lengths), seq), generator=g)
    mask = torch.zeros(len(lengths), seq, dtype=torch.long)
    types = torch.zeros(len(lengths), seq, dtype=torch.long)
    for b, n in enumerate(lengths):
        mask[b, :n] = 1
        types[b, n // 2:n] = 1
    return ids * mask, mask, types


def test_mlm_sparse_logits_and_loss():
    torch.manual_seed(0)
    model = BertForMaskedLM(cfg()).eval()
    ids, mask, types = batch([10, 6, 8])
    labels = torch.full_like(ids, -100)
    labels[0, 2], labels[1, 4], labels[2, 0] = 5, 7, 9
    out = model(ids, mask, types, labels=labels)
    dense = model(ids, mask, types).logits
    assert dense.shape == (3, 10, V)
    assert out.logits.shape == (3, V) and out.masked_positions.sum() == 3
    assert torch.allclose(out.logits, dense[out.masked_positions], atol=1e-6)
    keep = labels != -100
    assert out.loss.item() == pytest.approx(F.cross_entropy(dense[keep], labels[keep]).item(), abs=1e-6)
    assert out["loss"] is out.loss


def test_mlm_decoder_is_tied():
    model = BertForMaskedLM(cfg())
    ids = torch.randint(1, V, (2, 5))
    labels = ids.clone()
    model(ids, labels=labels).loss.backward()
    assert model.get_input_embeddings().weight.grad is not None
    assert not any(p.shape == (V, 128) for n, p in model.named_parameters() if n.startswith("mlm"))


def test_mlm_nothing_masked_gives_zero_loss():
    model = BertForMaskedLM(cfg())
    ids = torch.randint(1, V, (2, 5))
    out = model(ids, labels=torch.full_like(ids, -100))
    assert out.loss.item() == 0.0 and out.logits.shape == (0, V)


def test_pretraining_loss_is_sum_of_means():
    torch.manual_seed(0)
    model = BertForPreTraining(cfg()).eval()
    ids, mask, types = batch([9, 9])
    labels = torch.full_like(ids, -100)
    labels[:, 3] = 4
    nsp = torch.tensor([0, 1])
    out = model(ids, mask, types, labels=labels, next_sentence_label=nsp)
    assert out.nsp_logits.shape == (2, 2)
    assert out.nsp_loss.item() == pytest.approx(F.cross_entropy(out.nsp_logits, nsp).item(), abs=1e-6)
    assert out.loss.item() == pytest.approx(out.mlm_loss.item() + out.nsp_loss.item(), abs=1e-6)
    assert model(ids, mask, types, next_sentence_label=nsp).loss.item() == pytest.approx(out.nsp_loss.item())


def test_sequence_classification_problem_types():
    torch.manual_seed(0)
    ids, mask, types = batch([7, 4, 6])
    single = BertForSequenceClassification(cfg(num_labels=3)).eval()
    y = torch.tensor([0, 2, 1])
    out = single(ids, mask, types, labels=y)
    assert out.logits.shape == (3, 3)
    assert out.loss.item() == pytest.approx(F.cross_entropy(out.logits, y).item(), abs=1e-6)
    w = torch.tensor([1.0, 2.0, 0.5])
    single.class_weights = w
    assert single(ids, mask, types, labels=y).loss.item() == pytest.approx(
        F.cross_entropy(out.logits, y, weight=w).item(), abs=1e-6)
    assert single(ids, mask, types, labels=y, loss_weights=torch.ones(3)).loss.item() == pytest.approx(
        out.loss.item(), abs=1e-6)

    multi = BertForSequenceClassification(cfg(num_labels=3)).eval()
    yf = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    out = multi(ids, mask, types, labels=yf)        # float labels: inferred multi-label
    expected = F.binary_cross_entropy_with_logits(out.logits, yf).item()
    assert out.loss.item() == pytest.approx(expected, abs=1e-6)

    reg = BertForSequenceClassification(cfg(num_labels=1)).eval()
    yr = torch.tensor([0.5, -1.0, 2.0])
    out = reg(ids, mask, types, labels=yr)
    assert out.loss.item() == pytest.approx(F.mse_loss(out.logits.squeeze(-1), yr).item(), abs=1e-6)

    multi_reg = BertForSequenceClassification(cfg(num_labels=2, problem_type="regression")).eval()
    y2 = torch.randn(3, 2)
    out = multi_reg(ids, mask, types, labels=y2)
    assert out.loss.item() == pytest.approx(F.mse_loss(out.logits, y2).item(), abs=1e-6)


def test_token_classification_ignores_minus_100():
    torch.manual_seed(0)
    model = BertForTokenClassification(cfg(num_labels=4)).eval()
    ids, mask, types = batch([5, 3])
    labels = torch.randint(0, 4, ids.shape).masked_fill(mask == 0, -100)
    out = model(ids, mask, types, labels=labels)
    assert out.logits.shape == (2, 5, 4)
    keep = labels != -100
    assert out.loss.item() == pytest.approx(F.cross_entropy(out.logits[keep], labels[keep]).item(), abs=1e-6)


ONES = torch.ones(2, 5, dtype=torch.long)


@pytest.mark.parametrize("call,match", [
    (lambda m: m(torch.tensor([[1, 2, V + 5]])), f"token id {V + 5} is out of range for .* vocab_size {V}"),
    (lambda m: m(torch.tensor([[1, -1]])), "token id -1"),
    (lambda m: m(torch.ones(1, 600, dtype=torch.long)), "length 600 exceeds max_position_embeddings 512"),
    (lambda m: m(ONES, attention_mask=torch.ones(2, 4)), r"attention_mask has shape"),
    (lambda m: m(ONES, token_type_ids=torch.full((2, 5), 2)), "token_type_id 2"),
    (lambda m: m(torch.ones(5, dtype=torch.long)), r"shape \(batch, seq\)"),
    (lambda m: m(), "exactly one of"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises(DataError, match=match):
        call(BertModel(cfg()))


def test_long_input_error_points_to_truncation():
    with pytest.raises(DataError, match="truncat.*sliding window"):
        BertModel(cfg())(torch.ones(1, 513, dtype=torch.long))


@pytest.mark.parametrize("norm_position", ["post", "pre"])
def test_unpadded_equals_padded_inference(norm_position):
    torch.manual_seed(0)
    model = BertModel(cfg(norm_position=norm_position)).eval()
    ids, mask, types = batch([16, 3, 9, 1, 12, 16, 5], seq=16)
    fast = model(ids, mask, types)
    model.unpad = False
    ref = model(ids, mask, types)
    real = mask.bool()
    assert (fast.last_hidden_state[real] - ref.last_hidden_state[real]).abs().max() <= 1e-5
    assert fast.last_hidden_state[~real].abs().max() == 0
    assert (fast.pooler_output - ref.pooler_output).abs().max() <= 1e-5


def test_all_padding_row_does_not_break_unpadding():
    model = BertModel(cfg()).eval()
    ids, mask, types = batch([6, 0, 3], seq=6)
    out = model(ids, mask, types)
    model.unpad = False
    ref = model(ids, mask, types)
    real = mask.bool()
    assert torch.isfinite(out.last_hidden_state).all()
    assert (out.last_hidden_state[real] - ref.last_hidden_state[real]).abs().max() <= 1e-5


def test_unpadded_equals_padded_in_training():
    """Same loss and same gradients with and without unpadding (dropout off to compare)."""
    torch.manual_seed(0)
    model = BertForPreTraining(cfg(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)).train()
    ids, mask, types = batch([12, 4, 9, 7], seq=12)
    labels = torch.full_like(ids, -100)
    labels[:, 1] = 3
    nsp = torch.tensor([0, 1, 1, 0])
    grads = []
    for unpad in (True, False):
        model.zero_grad()
        model.bert.unpad = unpad
        out = model(ids, mask, types, labels=labels, next_sentence_label=nsp)
        out.loss.backward()
        grads.append((out.loss.item(), [p.grad.clone() for p in model.parameters()]))
    (l1, g1), (l2, g2) = grads
    assert l1 == pytest.approx(l2, abs=1e-5)
    assert max((a - b).abs().max().item() for a, b in zip(g1, g2, strict=True)) <= 1e-5


@functools.lru_cache(maxsize=1)
def _shared_model() -> BertModel:
    torch.manual_seed(2)
    return BertModel(cfg()).eval()


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 20), min_size=1, max_size=9), st.integers(0, 3))
def test_unpadded_property(lengths, extra_pad):
    model = _shared_model()
    ids, mask, types = batch(lengths, seq=max(lengths) + extra_pad, seed=len(lengths))
    model.unpad = True
    fast = model(ids, mask, types).last_hidden_state
    model.unpad = False
    ref = model(ids, mask, types).last_hidden_state
    real = mask.bool()
    assert (fast[real] - ref[real]).abs().max() <= 1e-5



@pytest.mark.parametrize("padded", [True, False])
def test_forward_reads_back_from_the_device_once(padded, monkeypatch):
    """Input checks and unpadding share one device-to-host copy (a sync on an accelerator)."""
    model = BertForPreTraining(cfg())
    ids, mask, types = batch([8, 3, 5] if padded else [8, 8, 8], seq=8)
    labels = torch.where(mask.bool(), ids, -100)
    reads = []

    def counted(name):
        original = getattr(torch.Tensor, name)
        return lambda t, *args: reads.append(name) or original(t, *args)

    for name in ("tolist", "item", "__bool__", "__int__", "__float__"):
        monkeypatch.setattr(torch.Tensor, name, counted(name))
    model(ids, mask, types, position_ids=torch.arange(8).expand(3, 8), labels=labels,
          next_sentence_label=torch.tensor([0, 1, 0]))
    assert reads == ["tolist"]
