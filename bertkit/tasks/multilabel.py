"""Multi-label classification: any number of labels per text (tags, topics), one sigmoid per label.

A label is predicted when its probability reaches the label's threshold; the thresholds are tuned
on the dev set at the end of fine-tuning (per label, for the best F1) and saved in task.json.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from bertkit import metrics
from bertkit.errors import DataError
from bertkit.tasks.base import Task, named
from bertkit.tasks.readers import Columns, Example, label_sort_key

if TYPE_CHECKING:
    from bertkit.tasks.spec import TaskSpec


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class MultiLabel(Task):
    name = "multilabel"
    description = "any number of labels per text"
    problem_type = "multi_label_classification"
    main_metric = "f1_micro"
    min_labels = 1

    def parse_label(self, source: str, values: list[Any], columns: Columns) -> list[str]:
        """A JSON list, or one string of labels joined by the separator (`a|b`); empty: no label."""
        v = super().parse_label(source, values, columns)
        if isinstance(v, str) and v.strip().startswith("["):
            try:
                v = json.loads(v)
            except json.JSONDecodeError as e:
                raise DataError(f"{source}: label cell {v!r} starts like a JSON list but is not one "
                                f"({e.msg})") from None
        if isinstance(v, list):
            return sorted({str(x) for x in v})
        if v is None:
            return []
        return sorted({p.strip() for p in str(v).split(columns.label_sep) if p.strip()})

    def label_names(self, examples: Sequence[Example], columns: Columns) -> list[str]:
        return sorted({lab for ex in examples for lab in ex.label or []}, key=label_sort_key)

    def label_values(self, label: list[str]) -> list[str]:
        return list(label)

    def class_weights(self, examples: Sequence[Example], labels: Sequence[str]) -> list[float]:
        """neg/pos per label (the pos_weight of BCEWithLogitsLoss)."""
        pos = np.array([sum(name in ex.label for ex in examples) for name in labels], dtype=float)
        return (np.maximum(len(examples) - pos, 1) / np.maximum(pos, 1)).tolist()

    def encode_label(self, label: list[str], spec: TaskSpec) -> list[float]:
        row = [0.0] * spec.num_labels
        for lab in label:
            row[spec.label2id[lab]] = 1.0
        return row

    def calibrate(self, spec: TaskSpec, examples: Sequence[Example], outputs: Sequence[np.ndarray]) -> bool:
        y = np.array([self.encode_label(ex.label, spec) for ex in examples], dtype=int)
        spec.thresholds = metrics.tune_thresholds(y, sigmoid(np.stack(outputs)))
        return True

    def decode(self, spec: TaskSpec, outputs: Sequence[np.ndarray]) -> list[dict[str, Any]]:
        th = spec.thresholds or [0.5] * spec.num_labels
        preds = []
        for x in outputs:
            p = sigmoid(np.asarray(x, dtype=np.float64))
            preds.append({"labels": [lab for lab, v, t in zip(spec.labels, p, th, strict=True) if v >= t],
                          "probabilities": named(spec.labels, p)})
        return preds

    def score(self, spec: TaskSpec, examples: Sequence[Example], preds: Sequence[dict[str, Any]]
              ) -> dict[str, Any]:
        y = np.array([self.encode_label(ex.label, spec) for ex in examples], dtype=int)
        yhat = np.array([self.encode_label(p["labels"], spec) for p in preds], dtype=int)
        return metrics.multilabel_scores(y, yhat, spec.labels)
