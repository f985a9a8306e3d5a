"""Which soft-target loss a task distils with: one row per kind of task output.

Looked up from the Task object's own declarations (its head and its problem_type), so a new task
with an existing kind of output distils without a change here, and one with another kind (QA's
span logits, multiple choice) is refused by name rather than trained with the wrong loss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from bertkit.distill.losses import regression_soft_loss, sigmoid_soft_loss, soft_target_loss, token_soft_loss
from bertkit.errors import ConfigError


def _same_class(student: Tensor, teacher: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    hit = student.argmax(-1) == teacher.argmax(-1)
    return hit.sum(), hit.numel()


def _same_tokens(student: Tensor, teacher: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    real = mask.bool()
    hit = (student.argmax(-1) == teacher.argmax(-1)) & real
    return hit.sum(), real.sum()


def _same_signs(student: Tensor, teacher: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    hit = (student > 0) == (teacher > 0)
    return hit.sum(), hit.numel()


@dataclass(frozen=True)
class SoftTargets:
    """How a student's outputs are compared with its teacher's for one kind of task output."""

    name: str
    loss: Callable[[Tensor, Tensor, float, Tensor | None], Tensor]     # (student, teacher, T, mask)
    agreement: Callable[[Tensor, Tensor, Tensor | None], tuple[Any, Any]] | None  # (sum, count) or None
    per_token: bool = False                # logits (batch, seq, labels): the cache keeps them per token


SOFT_TARGETS: dict[tuple[str, str | None], SoftTargets] = {
    ("BertForSequenceClassification", "single_label_classification"):
        SoftTargets("softmax KL", lambda s, t, T, m: soft_target_loss(s, t, T), _same_class),
    ("BertForSequenceClassification", "multi_label_classification"):
        SoftTargets("sigmoid KL", lambda s, t, T, m: sigmoid_soft_loss(s, t, T), _same_signs),
    ("BertForSequenceClassification", "regression"):
        SoftTargets("MSE", lambda s, t, T, m: regression_soft_loss(s, t), None),
    ("BertForTokenClassification", None):
        SoftTargets("token KL", token_soft_loss, _same_tokens, per_token=True),
}


def soft_targets(task: Any) -> SoftTargets:
    """The soft targets of a Task (bertkit.tasks), or a ConfigError naming the tasks that distil."""
    found = SOFT_TARGETS.get((task.head, task.problem_type))
    if found is None:
        from bertkit.tasks.registry import TASKS

        ok = [name for name, t in TASKS.items() if (t.head, t.problem_type) in SOFT_TARGETS]
        raise ConfigError(f"task distillation has no soft targets for a {task.name} model ({task.head}); "
                          f"it distils {', '.join(ok)}")
    return found
