"""Run a fine-tuned model over examples, put windows back together, decode, and score.

One path serves the dev evaluation during training, `bertkit evaluate` and `bertkit predict`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bertkit import metrics
from bertkit.io import save_figure
from bertkit.tasks.features import Feature, encode_examples, inference_batches
from bertkit.tasks.long_docs import aggregate_logits, stitch_words
from bertkit.tasks.readers import Example
from bertkit.tasks.spec import TaskSpec

GLUE_MAIN = {"cola": "mcc", "stsb": "pearson", "mrpc": "f1", "qqp": "f1"}


def main_metric(spec: TaskSpec) -> str:
    """The metric that picks the best checkpoint and drives early stopping."""
    if spec.glue_task in GLUE_MAIN:
        return GLUE_MAIN[spec.glue_task]
    return {"classification": "accuracy", "pair": "accuracy", "multilabel": "f1_micro",
            "regression": "pearson", "ner": "f1"}[spec.task]


@torch.no_grad()
def feature_logits(model: torch.nn.Module, features: Sequence[Feature], batch_size: int = 64,
                   pad_id: int = 0, progress: bool = False) -> tuple[list[np.ndarray], float | None]:
    """Logits of every feature (in order) and the mean loss when the features carry labels."""
    from tqdm.auto import tqdm

    was_training = model.training
    model.eval()
    out: list[np.ndarray | None] = [None] * len(features)
    losses, weights = 0.0, 0
    bar = tqdm(total=len(features), desc="predict", unit="input", disable=not progress, dynamic_ncols=True)
    for idx, batch in inference_batches(features, batch_size, pad_id):
        bar.update(len(idx))
        result = model(**batch)
        logits = result.logits.float().numpy()
        if result.loss is not None:
            losses += float(result.loss) * len(idx)
            weights += len(idx)
        for row, k in enumerate(idx):
            n = len(features[k].input_ids)
            out[k] = logits[row, :n] if features[k].word_index else logits[row]
    bar.close()
    model.train(was_training)
    return out, (losses / weights if weights else None)


def example_logits(features: Sequence[Feature], logits: Sequence[np.ndarray], examples: Sequence[Example],
                   spec: TaskSpec) -> list[np.ndarray]:
    """One logit vector per example (windows aggregated), or (words, labels) for NER (stitched)."""
    groups: list[list[int]] = [[] for _ in examples]
    for k, f in enumerate(features):
        groups[f.example].append(k)
    if spec.task == "ner":
        return [stitch_words(len(ex.text), [(features[k].word_index, logits[k]) for k in g], spec.num_labels)
                for ex, g in zip(examples, groups, strict=True)]
    return [aggregate_logits([logits[k] for k in g], spec.aggregate) for g in groups]


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _named(labels: Sequence[str], p: np.ndarray) -> dict[str, float]:
    return {lab: round(float(v), 6) for lab, v in zip(labels, p, strict=True)}


def decode(spec: TaskSpec, outputs: Sequence[np.ndarray]) -> list[dict[str, Any]]:
    """Predictions a person can read: label and probabilities, labels, values, or tags."""
    preds = []
    for x in outputs:
        if spec.task in ("classification", "pair"):
            p = _softmax(x)
            preds.append({"label": spec.labels[int(p.argmax())], "probabilities": _named(spec.labels, p)})
        elif spec.task == "multilabel":
            p = 1.0 / (1.0 + np.exp(-x))
            th = spec.thresholds or [0.5] * spec.num_labels
            preds.append({"labels": [lab for lab, v, t in zip(spec.labels, p, th, strict=True) if v >= t],
                          "probabilities": _named(spec.labels, p)})
        elif spec.task == "regression":
            values = np.asarray(x, dtype=np.float64)
            if spec.target_mean is not None:
                values = values * np.asarray(spec.target_std) + np.asarray(spec.target_mean)
            preds.append({"values": {name: float(v) for name, v in zip(spec.labels, values, strict=True)}})
        else:
            preds.append({"tags": [spec.labels[int(i)] for i in np.asarray(x).argmax(axis=-1)]})
    return preds


def probabilities(spec: TaskSpec, outputs: Sequence[np.ndarray]) -> np.ndarray:
    x = np.stack(outputs)
    return 1.0 / (1.0 + np.exp(-x)) if spec.task == "multilabel" else _softmax(x)


def score(spec: TaskSpec, examples: Sequence[Example], preds: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The task's metrics for predictions against the examples' labels."""
    if spec.task in ("classification", "pair"):
        gold = [ex.label for ex in examples]
        guess = [p["label"] for p in preds]
        out = {"accuracy": metrics.accuracy(gold, guess), "mcc": metrics.mcc(gold, guess)}
        out.update(metrics.precision_recall_f1(gold, guess, spec.labels))
        if spec.num_labels == 2:  # F1 of the second label ("1", "positive", "entailment"...)
            out["f1"] = metrics.binary_f1(gold, guess, positive=spec.labels[1])
        return out
    if spec.task == "multilabel":
        index = {lab: i for i, lab in enumerate(spec.labels)}
        y = np.zeros((len(examples), spec.num_labels), dtype=int)
        yhat = np.zeros_like(y)
        for r, (ex, p) in enumerate(zip(examples, preds, strict=True)):
            y[r, [index[lab] for lab in ex.label]] = 1
            yhat[r, [index[lab] for lab in p["labels"]]] = 1
        return metrics.multilabel_scores(y, yhat, spec.labels)
    if spec.task == "regression":
        gold = np.asarray([ex.label for ex in examples], dtype=np.float64)
        guess = np.asarray([[p["values"][n] for n in spec.labels] for p in preds], dtype=np.float64)
        per = {name: {"pearson": metrics.pearson(gold[:, j], guess[:, j]),
                      "spearman": metrics.spearman(gold[:, j], guess[:, j]),
                      "mse": float(((gold[:, j] - guess[:, j]) ** 2).mean()),
                      "mae": float(np.abs(gold[:, j] - guess[:, j]).mean())}
               for j, name in enumerate(spec.labels)}
        out = {k: float(np.mean([v[k] for v in per.values()])) for k in ("pearson", "spearman", "mse", "mae")}
        if len(per) > 1:
            out["per_target"] = per
        return out
    gold = [ex.label for ex in examples]
    guess = [p["tags"] for p in preds]
    out = metrics.entity_scores(gold, guess)
    flat_gold = [t for s in gold for t in s]
    flat_guess = [t for s in guess for t in s]
    out["token_accuracy"] = metrics.accuracy(flat_gold, flat_guess)
    return out


def run(model: torch.nn.Module, tokenizer: Any, spec: TaskSpec, examples: Sequence[Example],
        batch_size: int = 64, progress: bool = False
        ) -> tuple[list[dict[str, Any]], list[np.ndarray], float | None]:
    """Predictions, per-example logits and (with labels) the mean loss of `examples`."""
    features = encode_examples(tokenizer, examples, spec)
    logits, loss = feature_logits(model, features, batch_size, tokenizer.pad_token_id or 0, progress)
    outputs = example_logits(features, logits, examples, spec)
    return decode(spec, outputs), outputs, loss


def evaluate(model: torch.nn.Module, tokenizer: Any, spec: TaskSpec, examples: Sequence[Example],
             batch_size: int = 64) -> dict[str, Any]:
    """Metrics of the model on labelled examples (plus `loss`)."""
    preds, _, loss = run(model, tokenizer, spec, examples, batch_size)
    out = score(spec, examples, preds)
    if loss is not None:
        out["loss"] = loss
    return out


def plot_confusion(gold: Sequence[str], guess: Sequence[str], labels: Sequence[str], path: Path) -> None:
    """Confusion-matrix PNG: rows true labels, columns predictions, counts in the cells."""
    import matplotlib

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
