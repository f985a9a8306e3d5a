"""TinyBERT's layer-wise distillation (Jiao et al. 2020, §3.1): the student learns the teacher's
embeddings, hidden states and attention maps, layer by layer, then its predictions.

    L_layer = MSE(E_s W_e, E_t) + Σ_m [ MSE(H_s^m W_h, H_t^g(m)) + MSE(A_s^m, A_t^g(m)) ]

over the real tokens, with g the layer map: student layer m (of M) learns teacher layer g(m)
(of N), uniform by default, g(m) = m · N / M counting layers from 1 (TinyBERT's choice; 0 is the
embeddings). W_e, W_h are learned (student hidden -> teacher hidden) projections, the identity
when the widths agree; they are trained with the student and not saved in its RUN. A are the
attention probabilities (the paper matches the scores before the softmax; bertkit's encoder returns
the probabilities, which are the same information without the masked entries' -inf). After the
layer-wise stage the prediction layer is distilled with the task's soft targets (`Distiller`).
The teacher runs alongside the student in the layer-wise stage (its hidden states are not cached).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from bertkit.distill.losses import attention_mse, hidden_mse
from bertkit.distill.objective import CLASSIFICATION, Distiller, DistillOutput
from bertkit.distill.targets import SoftTargets
from bertkit.errors import ConfigError


def uniform_layer_map(num_teacher_layers: int, num_student_layers: int) -> list[int]:
    """TinyBERT's uniform map, 0-based: student layer m learns teacher layer (m + 1) · N / M - 1.

    `uniform_layer_map(12, 4) -> [2, 5, 8, 11]`, `uniform_layer_map(4, 2) -> [1, 3]`: the student's
    last layer always learns the teacher's last."""
    n, m = num_teacher_layers, num_student_layers
    return [(i + 1) * n // m - 1 for i in range(m)]


def layer_map(num_teacher_layers: int, num_student_layers: int,
              spec: str | Sequence[int] | None) -> list[int]:
    """The teacher layer each student layer learns: `spec` "1,3" (0-based, one per student layer)
    or None for the uniform map. A layer the teacher lacks, or a list of the wrong length, is an error."""
    if spec is None or spec == "":
        return uniform_layer_map(num_teacher_layers, num_student_layers)
    if isinstance(spec, str):
        try:
            spec = [int(x) for x in spec.split(",") if x.strip()]
        except ValueError:
            raise ConfigError(f"--layer-map must be comma-separated teacher layers, one per student "
                              f"layer (e.g. 1,3), got {spec!r}") from None
    chosen = list(spec)
    if len(chosen) != num_student_layers:
        raise ConfigError(f"--layer-map lists {len(chosen)} teacher layer(s) {chosen} for a student of "
                          f"{num_student_layers} layers: give one per student layer")
    bad = [i for i in chosen if not 0 <= i < num_teacher_layers]
    if bad:
        raise ConfigError(f"--layer-map names teacher layer(s) {bad}, but the teacher has layers 0 to "
                          f"{num_teacher_layers - 1}")
    return chosen


def projection(student_width: int, teacher_width: int) -> nn.Module:
    """A learned linear map from the student's hidden size to the teacher's; identity when equal."""
    return nn.Identity() if student_width == teacher_width else nn.Linear(student_width, teacher_width)


class LayerwiseLoss(nn.Module):
    """L_layer above; `forward(student_out, teacher_out, mask)` with both outputs holding
    `hidden_states` (embeddings first) and `attentions`. Returns (total, {embeddings, hidden, attention})."""

    def __init__(self, student_hidden: int, teacher_hidden: int, layers: Sequence[int]) -> None:
        super().__init__()
        self.layers = list(layers)
        self.embed_proj = projection(student_hidden, teacher_hidden)    # W_e
        self.hidden_proj = projection(student_hidden, teacher_hidden)   # W_h, shared by the layers

    def forward(self, s: Any, t: Any, mask: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        emb = hidden_mse(self.embed_proj(s.hidden_states[0]), t.hidden_states[0], mask)
        hid = sum(hidden_mse(self.hidden_proj(s.hidden_states[m + 1]), t.hidden_states[g + 1], mask)
                  for m, g in enumerate(self.layers))
        att = sum(attention_mse(s.attentions[m], t.attentions[g], mask) for m, g in enumerate(self.layers))
        return emb + hid + att, {"embedding_mse": emb.detach(), "hidden_mse": hid.detach(),
                                 "attention_mse": att.detach()}


class LayerwiseDistiller(Distiller):
    """TinyBERT's two stages on one loop: batches marked `layerwise` train L_layer against the
    teacher (run alongside, without gradients); the others train the prediction layer on the cached
    teacher logits, as `Distiller` does. The teacher is kept out of the module's parameters and
    state (it is neither trained nor checkpointed); the projections are in both."""

    def __init__(self, student: nn.Module, teacher: nn.Module, layers: Sequence[int],
                 temperature: float = 1.0, alpha: float = 1.0, targets: SoftTargets = CLASSIFICATION) -> None:
        super().__init__(student, temperature, alpha, targets)
        self.__dict__["teacher"] = teacher.eval()          # not a submodule: no parameters, no state
        self.layerwise = LayerwiseLoss(student.config.hidden_size, teacher.config.hidden_size, layers)

    def forward(self, teacher_logits: Tensor, labels: Tensor | None = None, layerwise: bool = False,
                **inputs: Any) -> DistillOutput:
        if not layerwise:
            return super().forward(teacher_logits, labels, **inputs)
        s = self.student(**inputs, output_hidden_states=True, output_attentions=True)
        with torch.no_grad():
            t = self.teacher(**inputs, output_hidden_states=True, output_attentions=True)
        loss, parts = self.layerwise(s, t, inputs["attention_mask"])
        return DistillOutput(loss, s.logits, loss.detach(), None, parts)
