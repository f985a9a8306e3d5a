"""AdamW with BERT's parameter groups, and the learning-rate schedules.

No weight decay on biases and LayerNorm weights (as in BERT and every recipe since); only
parameters with `requires_grad` are optimised, so frozen layers simply drop out. Optional layer-wise
learning-rate decay (LLRD) for fine-tuning: the head trains at `lr`, encoder layer i (of L) at
`lr * decay**(L - i)` and the embeddings at `lr * decay**(L + 1)`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import torch
from torch import nn

from bertkit.errors import ConfigError
from bertkit.train.config import SCHEDULES

_LAYER = re.compile(r"(?:^|\.)(?:layer|layers|blocks|h)\.(\d+)\.")


def _no_decay(name: str, param: nn.Parameter) -> bool:
    lowered = name.lower()
    return param.ndim < 2 or name.endswith(".bias") or "layernorm" in lowered or "layer_norm" in lowered


def _depth_scale(name: str, num_layers: int, decay: float) -> float:
    """LLRD multiplier of one parameter: embeddings lowest, head (anything else) 1."""
    match = _LAYER.search(name)
    if match:
        return decay ** (num_layers - int(match.group(1)))
    if "embeddings" in name:
        return decay ** (num_layers + 1)
    return 1.0


def param_groups(
    model: nn.Module, lr: float, weight_decay: float, layerwise_lr_decay: float | None = None
) -> list[dict]:
    """Parameter groups for AdamW: (decay, no decay) x (one lr per depth when LLRD is on)."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ConfigError("the model has no trainable parameters (every parameter is frozen)")
    num_layers = 1 + max((int(m.group(1)) for n, _ in named if (m := _LAYER.search(n))), default=-1)
    groups: dict[tuple[float, float], list[nn.Parameter]] = {}
    for name, param in named:
        scale = 1.0 if layerwise_lr_decay is None else _depth_scale(name, num_layers, layerwise_lr_decay)
        wd = 0.0 if _no_decay(name, param) else weight_decay
        groups.setdefault((lr * scale, wd), []).append(param)
    return [{"params": ps, "lr": g_lr, "weight_decay": wd} for (g_lr, wd), ps in groups.items()]


def make_optimizer(
    model: nn.Module,
    lr: float,
    weight_decay: float,
    betas: tuple[float, float],
    eps: float,
    layerwise_lr_decay: float | None = None,
) -> torch.optim.AdamW:
    """torch's AdamW, the fused kernel where this build has it (CPU and CUDA in torch >= 2.4)."""
    groups = param_groups(model, lr, weight_decay, layerwise_lr_decay)
    try:
        return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), eps=eps, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), eps=eps, foreach=True)


def lr_lambda(schedule: str, warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """The multiplier of the base lr after `step` optimizer steps (Hugging Face's conventions).

    inverse_sqrt is the schedule of "Attention Is All You Need" (§5.3, as transformers'
    get_inverse_sqrt_schedule): linear warmup, then sqrt(warmup / step); with base lr
    d_model^-0.5 · warmup^-0.5 it is the paper's d_model^-0.5 · min(step^-0.5, step · warmup^-1.5).
    """
    if schedule not in SCHEDULES:
        raise ConfigError(f"schedule: unknown {schedule!r}; choose from {', '.join(SCHEDULES)}")

    def f(step: int) -> float:
        if step < warmup_steps:
            return step / max(1, warmup_steps)
        if schedule == "constant":
            return 1.0
        if schedule == "inverse_sqrt":
            return math.sqrt(max(1, warmup_steps) / max(1, step))
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        if schedule == "linear":
            return max(0.0, 1.0 - progress)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))))

    return f


def make_scheduler(
    optimizer: torch.optim.Optimizer, schedule: str, warmup_steps: int, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(schedule, warmup_steps, total_steps))
