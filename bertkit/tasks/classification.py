"""Single-label classification of one text (sentiment, topic) or of a sentence pair (paraphrase, NLI)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bertkit import metrics
from bertkit.errors import ConfigError, DataError
from bertkit.tasks.base import Task, label_accuracy, named, softmax
from bertkit.tasks.readers import Columns, Example, check_label_types, label_sort_key

if TYPE_CHECKING:
    from bertkit.tasks.spec import TaskSpec


class Classification(Task):
    name = "classification"
    description = "one label per text"
    problem_type = "single_label_classification"

    def read(self, path: str | Path, columns: Columns, require_labels: bool = True) -> list[Example]:
        examples = super().read(path, columns, require_labels)
        check_label_types(Path(path), [ex for ex in examples if ex.label is not None])
        return examples

    def parse_label(self, source: str, values: list[Any], columns: Columns) -> str:
        v = super().parse_label(source, values, columns)
        if v is None or (isinstance(v, str) and not v.strip()):
            raise DataError(f"{source}: empty label in column {columns.label[0]!r}")
        if isinstance(v, list):
            raise DataError(f"{source}: label {v!r} is a list; use --task multilabel for several "
                            "labels per row")
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        return str(v).strip()

    def label_names(self, examples: Sequence[Example], columns: Columns) -> list[str]:
        return sorted({ex.label for ex in examples}, key=label_sort_key)

    def encode_label(self, label: str, spec: TaskSpec) -> int:
        return spec.label2id[label]

    def decode(self, spec: TaskSpec, outputs: Sequence[np.ndarray]) -> list[dict[str, Any]]:
        preds = []
        for x in outputs:
            p = softmax(np.asarray(x, dtype=np.float64))
            preds.append({"label": spec.labels[int(p.argmax())], "probabilities": named(spec.labels, p)})
        return preds

    def score(self, spec: TaskSpec, examples: Sequence[Example], preds: Sequence[dict[str, Any]]
              ) -> dict[str, Any]:
        gold, guess = self.confusion(examples, preds)
        out = {"accuracy": metrics.accuracy(gold, guess), "mcc": metrics.mcc(gold, guess)}
        out.update(metrics.precision_recall_f1(gold, guess, spec.labels))
        if spec.num_labels == 2:  # F1 of the second label ("1", "positive", "entailment"...)
            out["f1"] = metrics.binary_f1(gold, guess, positive=spec.labels[1])
        return out

    def metrics_fn(self, out: Any, batch: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
        return label_accuracy(out, batch)

    def confusion(self, examples: Sequence[Example], preds: Sequence[dict[str, Any]]
                  ) -> tuple[list[str], list[str]]:
        return [ex.label for ex in examples], [p["label"] for p in preds]


class Pair(Classification):
    name = "pair"
    description = "one label per sentence pair"

    def check_columns(self, columns: Columns) -> None:
        if not columns.text_pair:
            raise ConfigError("the pair task needs --text-pair-column (the second sentence)")

    def examples_from_texts(self, texts: Sequence[str], pairs: Sequence[str] | None,
                            tokenizer: Any) -> list[Example]:
        if pairs is None:
            raise DataError("this model classifies sentence pairs: give pairs as well")
        return super().examples_from_texts(texts, pairs, tokenizer)
