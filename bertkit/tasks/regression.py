"""Regression: one or several numeric targets per text (a rating, a similarity score).

With target scaling the model learns standardised targets (y - mean) / std, fitted on the
training data and saved in task.json; predictions are put back in the original units.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from bertkit import metrics
from bertkit.errors import DataError
from bertkit.tasks.base import Task
from bertkit.tasks.readers import Columns, Example, is_number

if TYPE_CHECKING:
    from bertkit.tasks.spec import TaskSpec


class Regression(Task):
    name = "regression"
    description = "numeric target(s) per text"
    problem_type = "regression"
    main_metric = "pearson"
    min_labels = 1

    def parse_label(self, source: str, values: list[Any], columns: Columns) -> list[float]:
        out = []
        for name, v in zip(columns.label, values, strict=True):
            if not is_number(v) or v == "":
                raise DataError(f"{source}: regression target {name!r} must be a number, got {v!r}")
            if not math.isfinite(float(v)):
                raise DataError(f"{source}: regression target {name!r} must be finite, got {v!r}")
            out.append(float(v))
        return out

    def model_config(self, spec: TaskSpec) -> dict[str, Any]:
        """One output per target; the target names are in task.json, not config.json's label maps."""
        return {"num_labels": spec.num_labels, "problem_type": self.problem_type}

    def label_names(self, examples: Sequence[Example], columns: Columns) -> list[str]:
        """The target names: the label columns."""
        return list(columns.label)

    def check_labels(self, examples: Sequence[Example], labels: Sequence[str], source: str = "") -> None:
        """Any finite number is a valid target."""

    def class_weights(self, examples: Sequence[Example], labels: Sequence[str]) -> None:
        return None

    def prepare(self, spec: TaskSpec, train: Sequence[Example], scale_targets: bool) -> None:
        if scale_targets:
            y = np.asarray([ex.label for ex in train], dtype=np.float64)
            spec.target_mean = y.mean(axis=0).tolist()
            spec.target_std = np.where(y.std(axis=0) > 0, y.std(axis=0), 1.0).tolist()

    def encode_label(self, label: list[float], spec: TaskSpec) -> list[float]:
        values = np.asarray(label, dtype=np.float64)
        if spec.target_mean is not None:
            values = (values - np.asarray(spec.target_mean)) / np.asarray(spec.target_std)
        return values.tolist()

    def decode(self, spec: TaskSpec, outputs: Sequence[np.ndarray]) -> list[dict[str, Any]]:
        preds = []
        for x in outputs:
            values = np.asarray(x, dtype=np.float64)
            if spec.target_mean is not None:
                values = values * np.asarray(spec.target_std) + np.asarray(spec.target_mean)
            preds.append({"values": {name: float(v) for name, v in zip(spec.labels, values, strict=True)}})
        return preds

    def score(self, spec: TaskSpec, examples: Sequence[Example], preds: Sequence[dict[str, Any]]
              ) -> dict[str, Any]:
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
