"""A student cut from its teacher: fewer encoder layers, each initialised from a chosen teacher layer.

DistilBERT (Sanh et al. 2019, §3) initialises its 6-layer student from every other layer of the
12-layer BERT-base; `teacher_layers(12, 6)` gives that choice, [0, 2, 4, 6, 8, 10]. The embeddings,
the pooler and the task head are copied whole, so before any training the student already maps
inputs into the teacher's space and its head already reads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from bertkit.errors import ConfigError


def teacher_layers(num_teacher_layers: int, student: int | str | Sequence[int]) -> list[int]:
    """The teacher layer each student layer starts from.

    An int K takes every (L/K)-th layer from the bottom: `teacher_layers(12, 6) -> [0, 2, 4, 6, 8, 10]`
    (every other layer, DistilBERT's choice), `teacher_layers(6, 3) -> [0, 2, 4]`. A list (or a
    string "0,2,5") names the layers themselves; they must exist and be increasing.
    """
    if isinstance(student, str):
        text = student.strip()
        try:
            student = int(text) if "," not in text else [int(x) for x in text.split(",") if x.strip()]
        except ValueError:
            raise ConfigError(f"--layers must be a count K or a comma-separated list of teacher layers "
                              f"(e.g. 0,2,5), got {text!r}") from None
    L = num_teacher_layers
    if isinstance(student, int):
        if not 1 <= student <= L:
            raise ConfigError(f"--layers {student}: the student needs 1 to {L} layers (the teacher has {L})")
        return [i * L // student for i in range(student)]
    chosen = list(student)
    bad = [i for i in chosen if not 0 <= i < L]
    if bad:
        raise ConfigError(f"--layers names teacher layer(s) {bad}, but the teacher has layers 0 to {L - 1}")
    if not chosen or any(a >= b for a, b in zip(chosen, chosen[1:], strict=False)):
        raise ConfigError(f"--layers must list teacher layers in increasing order, got {chosen}")
    return chosen


def make_student(teacher: Any, layers: Sequence[int]) -> Any:
    """A model of the teacher's class with `len(layers)` layers; student layer i = teacher layer
    layers[i], everything else (embeddings, pooler, head) copied. The teacher is left untouched."""
    config = teacher.config.replace(num_hidden_layers=len(layers))
    student = type(teacher)(config)
    source = teacher.state_dict()
    state = {}
    for name in student.state_dict():
        state[name] = source[_teacher_name(name, layers)].detach().clone()
    student.load_state_dict(state)
    student.class_weights = getattr(teacher, "class_weights", None)
    return student


def _teacher_name(name: str, layers: Sequence[int]) -> str:
    """`bert.layers.1.attn.q.weight` -> `bert.layers.{layers[1]}.attn.q.weight`; other names unchanged."""
    parts = name.split(".")
    for k in range(len(parts) - 1):
        if parts[k] == "layers" and parts[k + 1].isdigit():
            parts[k + 1] = str(layers[int(parts[k + 1])])
            break
    return ".".join(parts)


@torch.no_grad()
def layers_equal(student: Any, teacher: Any, layers: Sequence[int]) -> bool:
    """Whether every student weight equals the teacher weight it was copied from (a check for tests
    and for users who edit a student by hand)."""
    source = teacher.state_dict()
    return all(torch.equal(t, source[_teacher_name(n, layers)]) for n, t in student.state_dict().items())
