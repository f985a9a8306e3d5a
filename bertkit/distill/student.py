"""A student cut from its teacher: fewer encoder layers, each initialised from a chosen teacher layer,
and optionally narrower (another hidden size, head count or FFN size).

DistilBERT (Sanh et al. 2019, §3) initialises its 6-layer student from every other layer of the
12-layer BERT-base; `teacher_layers(12, 6)` gives that choice, [0, 2, 4, 6, 8, 10]. The embeddings,
the pooler and the task head are copied whole, so before any training the student already maps
inputs into the teacher's space and its head already reads it.

A narrower student (`width={"hidden_size": 128, ...}`) is initialised by truncation: each weight is
the top-left corner of the teacher weight it maps to (`w_student = w_teacher[:rows, :cols]`, a
vector its first entries), or fresh (`init="random"`, BERT's initialisation). Truncation keeps the
first hidden dimensions, the first FFN units and, when the head size is unchanged, the first heads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from bertkit.errors import ConfigError

WIDTH_FIELDS = ("hidden_size", "num_attention_heads", "intermediate_size")
INITS = ("truncate", "random")


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


def student_config(teacher_config: Any, n_layers: int, width: Mapping[str, int | None] | None = None) -> Any:
    """The teacher's config with `n_layers` layers and the given widths (None keeps the teacher's).

    A head count that does not divide the hidden size is a ConfigError naming both flags."""
    changes = {k: v for k, v in (width or {}).items() if v is not None}
    unknown = set(changes) - set(WIDTH_FIELDS)
    if unknown:
        raise ConfigError(f"student width: unknown field(s) {sorted(unknown)}; choose from {WIDTH_FIELDS}")
    hidden = changes.get("hidden_size", teacher_config.hidden_size)
    heads = changes.get("num_attention_heads", teacher_config.num_attention_heads)
    if hidden % heads:
        raise ConfigError(f"--student-heads {heads} does not divide --student-hidden {hidden}: every head "
                          f"gets hidden / heads dimensions (e.g. {hidden} hidden: heads in "
                          f"{[h for h in range(1, min(hidden, 64) + 1) if hidden % h == 0]})")
    return teacher_config.replace(num_hidden_layers=n_layers, **changes)


def make_student(teacher: Any, layers: Sequence[int], width: Mapping[str, int | None] | None = None,
                 init: str = "truncate") -> Any:
    """A model of the teacher's class with `len(layers)` layers; student layer i starts from teacher
    layer layers[i], everything else (embeddings, pooler, head) from the teacher's. Weights of
    another shape (a narrower student) are truncated (see the module docstring); `init="random"`
    keeps BERT's fresh initialisation instead. The teacher is left untouched."""
    if init not in INITS:
        raise ConfigError(f"--student-init must be one of {', '.join(INITS)}, got {init!r}")
    student = type(teacher)(student_config(teacher.config, len(layers), width))
    student.class_weights = getattr(teacher, "class_weights", None)
    if init == "random":
        return student
    source = teacher.state_dict()
    state = {}
    for name, target in student.state_dict().items():
        weight = source[_teacher_name(name, layers)]
        state[name] = weight[tuple(slice(0, n) for n in target.shape)].detach().clone()
    student.load_state_dict(state)
    return student


def load_student(directory: str | Path, teacher: Any, teacher_vocab: Mapping[str, int] | None,
                 overrides: Mapping[str, Any]) -> Any:
    """A student initialised from a model directory (e.g. a general-distilled student) as the
    teacher's class; it must read the teacher's token ids, or it is a ConfigError that says so."""
    from bertkit.model import BertConfig
    from bertkit.tokenizers import Tokenizer

    directory = Path(directory)
    config = BertConfig.from_pretrained(directory)
    theirs = None
    if (directory / "tokenizer.json").is_file() or (directory / "vocab.txt").is_file():
        theirs = Tokenizer.from_pretrained(directory).get_vocab()
    differ = config.vocab_size != teacher.config.vocab_size or (
        theirs is not None and teacher_vocab is not None and theirs != teacher_vocab)
    if differ:
        raise ConfigError(
            f"--student {directory} has a {config.vocab_size}-token vocabulary that is not the teacher's "
            f"({teacher.config.vocab_size} tokens): the student must read the teacher's token ids. Use a "
            f"student made with the teacher's tokenizer (its tokenizer.json), e.g. `bertkit distill general "
            f"--teacher ...` on shards prepared with it, or cut the student from the teacher (no --student)")
    return type(teacher).from_pretrained(directory, **overrides)


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
