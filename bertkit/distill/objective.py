"""The task-distillation objective (Hinton et al. 2015; DistilBERT, Sanh et al. 2019) as the one
training loop sees it: a model that takes a batch and returns a loss.

    loss = alpha * T² * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE(student, labels)

The T² keeps the soft term's gradients the same size as T changes (Hinton et al. 2015, §2). The
teacher's logits are computed once per training input and ride along in each batch as
`teacher_logits`, so a step costs only the student's forward and backward pass.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from bertkit.tasks.base import label_accuracy
from bertkit.tasks.batches import LengthGroupedBatches


def soft_target_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
    """T² · KL(p_teacher || p_student) at temperature T, averaged over the batch."""
    t = temperature
    log_p_student = F.log_softmax(student_logits.float() / t, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits.float() / t, dim=-1)
    return F.kl_div(log_p_student, log_p_teacher, log_target=True, reduction="batchmean") * (t * t)


@dataclass
class DistillOutput:
    loss: Tensor
    logits: Tensor
    soft_loss: Tensor
    hard_loss: Tensor | None


class Distiller(nn.Module):
    """The student under the distillation loss; the loop trains this, the RUN keeps `student`.

    `alpha` weighs the soft term (1 - alpha the hard labels); with alpha = 1 the labels are unused.
    """

    def __init__(self, student: nn.Module, temperature: float = 2.0, alpha: float = 0.5) -> None:
        super().__init__()
        self.student = student
        self.temperature = temperature
        self.alpha = alpha

    def forward(self, teacher_logits: Tensor, labels: Tensor | None = None, **inputs: Any) -> DistillOutput:
        hard = labels is not None and self.alpha < 1.0
        out = self.student(**inputs, labels=labels if hard else None)
        soft = soft_target_loss(out.logits, teacher_logits, self.temperature)
        loss = self.alpha * soft + ((1.0 - self.alpha) * out.loss if hard else 0.0)
        return DistillOutput(loss, out.logits, soft, out.loss if hard else None)


def distill_metrics(out: DistillOutput, batch: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Training accuracy, the soft and hard losses, agreement with the teacher's top class, and the
    real (unpadded) tokens, which the loop turns into tokens/s."""
    metrics = dict(label_accuracy(out, batch)) if "labels" in batch else {}
    metrics["tokens"] = (batch["attention_mask"].sum(), 1)
    metrics["soft_loss"] = (out.soft_loss, 1)
    if out.hard_loss is not None:
        metrics["hard_loss"] = (out.hard_loss, 1)
    agree = out.logits.argmax(-1) == batch["teacher_logits"].argmax(-1)
    metrics["teacher_agreement"] = (agree.sum(), agree.numel())
    return metrics


class TeacherLogitBatches(LengthGroupedBatches):
    """LengthGroupedBatches whose batches also carry the cached `teacher_logits` of their inputs.

    `teacher_logits` is a (features, labels) tensor in feature order, computed once before
    training: every epoch re-uses it, and the order of batches is the plain fine-tuning order.
    """

    def __init__(self, features: Sequence[Any], teacher_logits: Tensor, batch_size: int, seed: int = 0,
                 pad_id: int = 0, by_length: bool = True) -> None:
        super().__init__(features, batch_size, seed, pad_id, by_length=by_length)
        if len(teacher_logits) != len(self.features):
            raise ValueError(f"{len(teacher_logits)} teacher logits for {len(self.features)} inputs")
        self.teacher_logits = teacher_logits

    def __call__(self, epoch: int) -> Iterator[dict[str, Tensor]]:
        for idx, batch in zip(self.order(epoch), super().__call__(epoch), strict=True):
            batch["teacher_logits"] = self.teacher_logits[idx]
            yield batch
