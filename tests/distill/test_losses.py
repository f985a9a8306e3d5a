"""Each distillation loss against a hand computation, padding excluded where it should be."""

from __future__ import annotations

import math

import pytest
import torch

from bertkit.distill.losses import (
    attention_mse,
    cosine_loss,
    hidden_mse,
    regression_soft_loss,
    sigmoid_soft_loss,
    token_soft_loss,
)
from bertkit.distill.targets import SOFT_TARGETS, soft_targets
from bertkit.errors import ConfigError


def _softmax(row, t):
    e = [math.exp(x / t) for x in row]
    return [x / sum(e) for x in e]


def test_sigmoid_soft_loss_is_t_squared_bernoulli_kl_by_hand():
    student = torch.tensor([[1.0, -2.0, 0.5]])
    teacher = torch.tensor([[2.0, 0.0, -1.0]])
    t = 2.0
    sig = lambda x: 1 / (1 + math.exp(-x))            # noqa: E731
    by_hand = 0.0
    for s, z in zip(student[0].tolist(), teacher[0].tolist(), strict=True):
        p, q = sig(z / t), sig(s / t)
        by_hand += p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))
    by_hand = by_hand / 3 * t * t
    assert sigmoid_soft_loss(student, teacher, t).item() == pytest.approx(by_hand, rel=1e-5)
    assert sigmoid_soft_loss(teacher, teacher, t).item() == pytest.approx(0.0, abs=1e-7)
    # its gradient is binary cross-entropy's against the soft targets (they differ by a constant)
    s = student.clone().requires_grad_(True)
    sigmoid_soft_loss(s, teacher, t).backward()
    s2 = student.clone().requires_grad_(True)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(s2 / t, torch.sigmoid(teacher / t)) * t * t
    bce.backward()
    torch.testing.assert_close(s.grad, s2.grad)


def test_regression_soft_loss_is_mse_to_the_teachers_outputs():
    s, t = torch.tensor([[1.0, 2.0], [0.0, 1.0]]), torch.tensor([[0.0, 2.0], [2.0, 1.0]])
    assert regression_soft_loss(s, t).item() == pytest.approx((1 + 0 + 4 + 0) / 4)


def test_token_soft_loss_counts_real_tokens_only():
    t = 2.0
    student = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [9.0, -9.0]]])     # the last position is padding
    teacher = torch.tensor([[[0.0, 1.0], [0.0, 2.0], [-9.0, 9.0]]])
    mask = torch.tensor([[1, 1, 0]])
    kl = [sum(p * math.log(p / q) for p, q in zip(_softmax(tr, t), _softmax(sr, t), strict=True))
          for sr, tr in zip(student[0].tolist()[:2], teacher[0].tolist()[:2], strict=True)]
    assert token_soft_loss(student, teacher, t, mask).item() == pytest.approx(sum(kl) / 2 * t * t, rel=1e-5)


def test_cosine_and_hidden_mse_by_hand():
    s = torch.tensor([[[1.0, 0.0], [1.0, 1.0], [5.0, 5.0]]])
    t = torch.tensor([[[0.0, 1.0], [2.0, 2.0], [-5.0, 0.0]]])
    mask = torch.tensor([[1, 1, 0]])
    # DistilBERT's cosine embedding loss, target 1: mean of 1 - cos over real tokens: (1 - 0) and (1 - 1)
    assert cosine_loss(s, t, mask).item() == pytest.approx(0.5)
    # per token: mean over dims of the squared difference, then mean over real tokens
    assert hidden_mse(s, t, mask).item() == pytest.approx(((1 + 1) / 2 + (1 + 1) / 2) / 2)


def test_attention_mse_over_real_query_key_pairs():
    torch.manual_seed(0)
    s, t = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    diffs = [(s[0] - t[0]).pow(2).flatten(), (s[1, :, :2, :2] - t[1, :, :2, :2]).pow(2).flatten()]
    by_hand = torch.cat(diffs).mean()
    assert attention_mse(s, t, mask).item() == pytest.approx(by_hand.item(), rel=1e-6)
    assert attention_mse(t, t, mask).item() == 0.0
    # fewer student heads: the heads' mean maps are compared
    one = attention_mse(s[:, :1], t, mask)
    assert one.item() == pytest.approx(attention_mse(s[:, :1], t.mean(1, keepdim=True), mask).item())


def test_soft_targets_come_from_the_task_objects():
    from bertkit.tasks.registry import TASKS

    assert soft_targets(TASKS["classification"]).name == "softmax KL"
    assert soft_targets(TASKS["pair"]).name == "softmax KL"
    assert soft_targets(TASKS["multilabel"]).name == "sigmoid KL"
    assert soft_targets(TASKS["regression"]).name == "MSE"
    assert soft_targets(TASKS["ner"]).per_token
    assert len(SOFT_TARGETS) == 4
    with pytest.raises(ConfigError, match="no soft targets for a qa model.*classification, pair"):
        soft_targets(TASKS["qa"])
