"""The task-distillation objective (Hinton et al. 2015; DistilBERT, Sanh et al. 2019) as the one
training loop sees it: a model that takes a batch and returns a loss.

    loss = alpha * soft(student, teacher) + (1 - alpha) * hard(student, labels)

`soft` is the task's soft-target loss (`targets.py`: T² · KL at temperature T for classification,
per token for NER, sigmoid KL for multi-label, MSE for regression); `hard` is the student's own
loss on the labels. The T² keeps the soft term's gradients the same size as T changes (Hinton et
al. 2015, §2). The teacher's logits are computed once per training input and ride along in each
batch as `teacher_logits`, so a step costs only the student's forward and backward pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from bertkit.distill.losses import soft_target_loss
from bertkit.distill.targets import SOFT_TARGETS, SoftTargets
from bertkit.tasks.batches import LengthGroupedBatches

__all__ = ["DistillOutput", "Distiller", "TeacherLogitBatches", "distill_metrics", "soft_target_loss",
           "stack_logits"]

CLASSIFICATION = SOFT_TARGETS[("BertForSequenceClassification", "single_label_classification")]


@dataclass
class DistillOutput:
    loss: Tensor
    logits: Tensor
    soft_loss: Tensor
    hard_loss: Tensor | None
    parts: dict[str, Tensor] | None = None     # named terms of a composite loss (layer-wise)


class Distiller(nn.Module):
    """The student under the distillation loss; the loop trains this, the RUN keeps `student`.

    `alpha` weighs the soft term (1 - alpha the hard labels); with alpha = 1 the labels are unused.
    `targets` says how outputs are compared (default: softmax KL, for classification).
    """

    def __init__(self, student: nn.Module, temperature: float = 2.0, alpha: float = 0.5,
                 targets: SoftTargets = CLASSIFICATION) -> None:
        super().__init__()
        self.student = student
        self.temperature = temperature
        self.alpha = alpha
        self.targets = targets

    def forward(self, teacher_logits: Tensor, labels: Tensor | None = None, **inputs: Any) -> DistillOutput:
        hard = labels is not None and self.alpha < 1.0
        out = self.student(**inputs, labels=labels if hard else None)
        soft = self.targets.loss(out.logits, teacher_logits, self.temperature, inputs.get("attention_mask"))
        loss = self.alpha * soft + ((1.0 - self.alpha) * out.loss if hard else 0.0)
        return DistillOutput(loss, out.logits, soft, out.loss if hard else None)


def distill_metrics(task_metrics: Callable[[Any, dict[str, Any]], Any] | None = None,
                    targets: SoftTargets = CLASSIFICATION) -> Callable[[DistillOutput, dict[str, Any]], dict]:
    """The loop's metrics_fn: the task's own training metrics (accuracy...), the soft and hard losses,
    agreement with the teacher (same class, same tags, same sign per label), and the real (unpadded)
    tokens, which the loop turns into tokens/s."""

    def metrics_fn(out: DistillOutput, batch: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
        metrics = dict(task_metrics(out, batch)) if task_metrics and "labels" in batch else {}
        metrics["tokens"] = (batch["attention_mask"].sum(), 1)
        metrics["soft_loss"] = (out.soft_loss, 1)
        if out.hard_loss is not None:
            metrics["hard_loss"] = (out.hard_loss, 1)
        for name, value in (out.parts or {}).items():
            metrics[name] = (value, 1)
        if targets.agreement is not None:
            metrics["teacher_agreement"] = targets.agreement(out.logits, batch["teacher_logits"],
                                                             batch["attention_mask"])
        return metrics

    return metrics_fn


def stack_logits(logits: Sequence[np.ndarray]) -> Tensor:
    """Per-input teacher logits as one tensor: (inputs, labels), or (inputs, longest, labels) for
    per-token logits of different lengths (zeros past each input's end)."""
    if logits[0].ndim == 1:
        return torch.from_numpy(np.stack(logits)).float()
    out = torch.zeros(len(logits), max(len(x) for x in logits), logits[0].shape[-1])
    for i, x in enumerate(logits):
        out[i, : len(x)] = torch.from_numpy(np.asarray(x, dtype=np.float32))
    return out


class TeacherLogitBatches(LengthGroupedBatches):
    """LengthGroupedBatches whose batches also carry the cached `teacher_logits` of their inputs.

    `teacher_logits` (`stack_logits`) is in feature order, computed once before training: every
    epoch re-uses it, and the order of batches is the plain fine-tuning order. `layerwise_epochs`
    marks the batches of the first epochs `layerwise` (TinyBERT's intermediate-layer stage).
    """

    def __init__(self, features: Sequence[Any], teacher_logits: Tensor, batch_size: int, seed: int = 0,
                 pad_id: int = 0, by_length: bool = True, layerwise_epochs: int = 0) -> None:
        super().__init__(features, batch_size, seed, pad_id, by_length=by_length)
        if len(teacher_logits) != len(self.features):
            raise ValueError(f"{len(teacher_logits)} teacher logits for {len(self.features)} inputs")
        self.teacher_logits = teacher_logits
        self.layerwise_epochs = layerwise_epochs

    def __call__(self, epoch: int) -> Iterator[dict[str, Any]]:
        for idx, batch in zip(self.order(epoch), super().__call__(epoch), strict=True):
            cached = self.teacher_logits[idx]
            if cached.dim() == 3:                       # per token: cut to this batch's width
                cached = cached[:, : batch["input_ids"].shape[1]]
            batch["teacher_logits"] = cached
            if self.layerwise_epochs:
                batch["layerwise"] = epoch < self.layerwise_epochs
            yield batch
