"""Run a fine-tuned model over examples, put windows back together, decode, and score.

One path serves the dev evaluation during training, `bertkit evaluate` and `bertkit predict`;
what differs between tasks is asked of the spec's task object (`spec.kind`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from bertkit import metrics
from bertkit.io import save_figure
from bertkit.tasks import glue
from bertkit.tasks.base import Task
from bertkit.tasks.batches import inference_batches
from bertkit.tasks.features import Feature
from bertkit.tasks.readers import Example
from bertkit.tasks.spec import TaskSpec


def main_metric(spec: TaskSpec) -> str:
    """The metric that picks the best checkpoint and drives early stopping (GLUE: the paper's first)."""
    return glue.preset(spec.glue_task).metrics[0] if spec.glue_task else spec.kind.main_metric


@torch.no_grad()
def feature_logits(model: torch.nn.Module, task: Task, features: Sequence[Feature], batch_size: int = 64,
                   pad_id: int = 0, progress: bool = False) -> tuple[list[np.ndarray], float | None]:
    """Logits of every feature (in order; per-token logits cut to the feature's length) and the mean
    loss when the features carry labels."""
    was_training = model.training
    if was_training:        # switching modes drops the model's packed inference weights: only if needed
        model.eval()
    out: list[np.ndarray | None] = [None] * len(features)
    losses, weights = 0.0, 0
    bar = tqdm(total=len(features), desc="predict", unit="input", disable=not progress, dynamic_ncols=True)
    for idx, batch in inference_batches(features, batch_size, pad_id):
        bar.update(len(idx))
        result = model(**batch)
        logits = task.logits(result).float().numpy()
        if result.loss is not None:
            losses += float(result.loss) * len(idx)
            weights += len(idx)
        for row, k in enumerate(idx):
            n = len(features[k].input_ids)
            out[k] = logits[row, :n] if logits.ndim == 3 else logits[row]
    bar.close()
    if was_training:
        model.train()
    return out, (losses / weights if weights else None)


def run(model: torch.nn.Module, tokenizer: Any, spec: TaskSpec, examples: Sequence[Example],
        batch_size: int = 64, progress: bool = False
        ) -> tuple[list[dict[str, Any]], list[np.ndarray], float | None]:
    """Predictions, per-example outputs (logits) and (with labels) the mean loss of `examples`."""
    task = spec.kind
    features = task.features(tokenizer, examples, spec)
    logits, loss = feature_logits(model, task, features, batch_size, tokenizer.pad_token_id or 0, progress)
    outputs = task.combine(spec, features, logits, examples)
    return task.decode(spec, outputs), outputs, loss


def evaluate(model: torch.nn.Module, tokenizer: Any, spec: TaskSpec, examples: Sequence[Example],
             batch_size: int = 64, calibrate: bool = False) -> dict[str, Any]:
    """Metrics of the model on labelled examples (plus `loss`); see `evaluate_predictions`."""
    return evaluate_predictions(model, tokenizer, spec, examples, batch_size, calibrate)[0]


def evaluate_predictions(model: torch.nn.Module, tokenizer: Any, spec: TaskSpec, examples: Sequence[Example],
                         batch_size: int = 64, calibrate: bool = False, progress: bool = False
                         ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(metrics plus `loss`, predictions) of the model on labelled examples: one pass over them.

    calibrate: first tune the task's decision rule on these examples (the multi-label thresholds,
    saved in the spec), then decode and score with it.
    """
    task = spec.kind
    preds, outputs, loss = run(model, tokenizer, spec, examples, batch_size, progress)
    if calibrate and task.calibrate(spec, examples, outputs):
        preds = task.decode(spec, outputs)
    out = task.score(spec, examples, preds)
    if loss is not None:
        out["loss"] = loss
    return out, preds


def plot_confusion(gold: Sequence[str], guess: Sequence[str], labels: Sequence[str], path: Path) -> None:
    """Confusion-matrix PNG: rows true labels, columns predictions, counts in the cells."""
    import matplotlib  # imported here: half a second, and only plotting needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = metrics.confusion_matrix(gold, guess, labels)
    size = max(4.0, 0.6 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, str(m[i, j]), ha="center", va="center",
                    color="white" if m[i, j] > m.max() / 2 else "black")
    fig.tight_layout()
    save_figure(fig, path)
