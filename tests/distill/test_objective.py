"""The distillation loss against a hand computation, and the cached teacher logits in each batch."""

from __future__ import annotations

import math

import pytest
import torch

from bertkit.distill.objective import Distiller, TeacherLogitBatches, soft_target_loss
from bertkit.tasks.features import Feature


def test_soft_target_loss_is_t_squared_kl_by_hand():
    student = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    teacher = torch.tensor([[2.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    t = 3.0

    def softmax(row):
        e = [math.exp(x / t) for x in row]
        return [x / sum(e) for x in e]

    # Hinton et al. 2015, §2: T² · Σ p_teacher · log(p_teacher / p_student), averaged over the batch
    by_hand = sum(sum(p * math.log(p / q) for p, q in zip(softmax(tr), softmax(sr), strict=True))
                  for sr, tr in zip(student.tolist(), teacher.tolist(), strict=True)) / 2 * t * t
    assert soft_target_loss(student, teacher, t).item() == pytest.approx(by_hand, rel=1e-6)
    assert soft_target_loss(teacher, teacher, t).item() == pytest.approx(0.0, abs=1e-7)


class _Linear(torch.nn.Module):
    """A stand-in student: logits = input_ids @ W, cross-entropy with labels."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([[1.0, -1.0], [0.5, 0.0]]))

    def forward(self, input_ids, labels=None, **_):
        logits = input_ids.float() @ self.w
        loss = torch.nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return type("Out", (), {"logits": logits, "loss": loss})()


def test_distiller_mixes_soft_and_hard_losses():
    ids, labels = torch.tensor([[1, 2], [0, 1]]), torch.tensor([0, 1])
    teacher = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    logits = ids.float() @ torch.tensor([[1.0, -1.0], [0.5, 0.0]])
    soft = soft_target_loss(logits, teacher, 2.0)
    hard = torch.nn.functional.cross_entropy(logits, labels)
    out = Distiller(_Linear(), temperature=2.0, alpha=0.3)(teacher_logits=teacher, labels=labels,
                                                            input_ids=ids)
    assert out.loss.item() == pytest.approx((0.3 * soft + 0.7 * hard).item(), rel=1e-6)
    only_soft = Distiller(_Linear(), temperature=2.0, alpha=1.0)(teacher_logits=teacher, labels=labels,
                                                                 input_ids=ids)
    assert only_soft.loss.item() == pytest.approx(soft.item(), rel=1e-6) and only_soft.hard_loss is None


def test_batches_carry_each_inputs_own_teacher_logits():
    features = [Feature(input_ids=[101] + [7] * (k % 5) + [102], token_type_ids=[0] * (k % 5 + 2),
                        label=k % 2, example=k) for k in range(20)]
    cached = torch.arange(40, dtype=torch.float32).view(20, 2)
    source = TeacherLogitBatches(features, cached, batch_size=4, seed=1)
    seen = 0
    for idx, batch in zip(source.order(0), source(0), strict=True):
        assert torch.equal(batch["teacher_logits"], cached[idx])
        assert batch["labels"].tolist() == [k % 2 for k in idx]
        seen += len(idx)
    assert seen == 20
