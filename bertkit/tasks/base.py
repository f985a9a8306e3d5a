"""What one fine-tuning task is: everything that differs between classification, NER, QA...

A task is a small stateless object. The pipeline around it is the same for every task:

    examples = task.read(path, columns)                      # file -> Example(text, pair, label)
    labels = task.label_names(examples, columns)             # the label set (task.json "labels")
    features = task.features(tokenizer, examples, spec)      # Example -> model inputs (+ encoded label)
    model = task.model_class().from_pretrained(...)          # the head
    trainer = Trainer(..., metrics_fn=task.metrics_fn)       # training metrics (e.g. accuracy)
    outputs = task.combine(spec, features, logits, examples) # per-feature logits -> per example
    task.calibrate(spec, examples, outputs)                  # tune decision thresholds on dev
    preds = task.decode(spec, outputs)                       # what a person reads
    scores = task.score(spec, examples, preds)               # metrics; task.main_metric picks the best

The defaults below serve tasks that label a whole text (or text pair) from the pooled output;
a task overrides what differs. To add a task: one module with a `Task` subclass, and one line in
`bertkit/tasks/registry.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

import bertkit.model
from bertkit.errors import ConfigError, DataError
from bertkit.tasks.features import Feature, encode_sequences
from bertkit.tasks.long_docs import aggregate_logits
from bertkit.tasks.readers import Columns, Example, read_table

if TYPE_CHECKING:
    from bertkit.tasks.spec import TaskSpec


class Task:
    """A sequence-level task; subclasses set the class attributes and override what differs."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    problem_type: ClassVar[str | None] = None      # config.json problem_type (the loss)
    head: ClassVar[str] = "BertForSequenceClassification"   # a model class in bertkit.model
    main_metric: ClassVar[str] = "accuracy"         # picks the best checkpoint, drives early stopping
    min_labels: ClassVar[int] = 2                   # fewer labels in the training data is an error
    baseline: ClassVar[str] = "tfidf"               # `bertkit baseline`: a key of tasks.baseline.BASELINES
    # finetune options this task defaults differently (keys of bertkit.tasks.config.TASK_DEPENDENT:
    # max_length, stride, lr, epochs); applied where the user did not set the option, and shown in
    # `bertkit finetune --help`
    defaults: ClassVar[Mapping[str, float]] = {}

    # --- reading and labels ---------------------------------------------------------------------

    def check_columns(self, columns: Columns) -> None:
        """Raise ConfigError when the columns cannot describe this task's examples."""

    def read(self, path: str | Path, columns: Columns, require_labels: bool = True) -> list[Example]:
        """Examples from a CSV/TSV/JSONL file; labels parsed by `parse_label`."""
        self.check_columns(columns)
        return read_table(path, columns, self.parse_label, require_labels)

    def parse_label(self, source: str, values: list[Any], columns: Columns) -> Any:
        """One example's label from its label cells (`source` is "file:line" for errors)."""
        if len(values) != 1:
            raise ConfigError(f"several label columns ({columns.label}) only make sense for "
                              "multi-output regression")
        return values[0]

    def label_names(self, examples: Sequence[Example], columns: Columns) -> list[str]:
        """The label set, sorted, from the training examples."""
        raise NotImplementedError

    def label_values(self, label: Any) -> list[str]:
        """The label names one example's label mentions (to refuse labels unseen in training)."""
        return [label]

    def check_labels(self, examples: Sequence[Example], labels: Sequence[str], source: str = "") -> None:
        """Raise if evaluation data holds labels the model never saw in training."""
        known = set(labels)
        unseen: dict[str, str] = {}
        for ex in examples:
            for v in self.label_values(ex.label) if ex.label is not None else []:
                if v not in known:
                    unseen.setdefault(v, ex.source)
        if unseen:
            where = ", ".join(f"{v!r} (first at {s})" for v, s in list(unseen.items())[:10])
            raise DataError(f"{source or 'data'}: label(s) not seen in training: {where}. "
                            f"The model knows {sorted(known)}")

    def check_label_count(self, labels: Sequence[str], source: str) -> None:
        if len(labels) < self.min_labels:
            raise DataError(f"{source}: the training data has only the label(s) {list(labels)}; "
                            f"{self.name} needs at least {self.min_labels}")

    def prepare(self, spec: TaskSpec, train: Sequence[Example], scale_targets: bool) -> None:
        """Fit what the spec learns from the training data (e.g. target scaling) before training."""

    def class_weights(self, examples: Sequence[Example], labels: Sequence[str]) -> list[float] | None:
        """scikit-learn's "balanced" weights, n / (k * count) per class; None where weights don't apply."""
        flat = [v for ex in examples for v in self.label_values(ex.label)]
        counts = np.array([flat.count(name) for name in labels], dtype=float)
        return (counts.sum() / (len(labels) * np.maximum(counts, 1))).tolist()

    # --- model inputs and outputs ---------------------------------------------------------------

    def model_class(self) -> Any:
        return getattr(bertkit.model, self.head)

    def model_config(self, spec: TaskSpec) -> dict[str, Any]:
        """config.json entries the head needs: the label count and names, and the problem type."""
        return {"num_labels": max(1, spec.num_labels), "problem_type": self.problem_type,
                "id2label": dict(enumerate(spec.labels)), "label2id": dict(spec.label2id)}

    def encode_label(self, label: Any, spec: TaskSpec) -> Any:
        """The label as the loss takes it (a class id, a multi-hot row, targets...)."""
        raise NotImplementedError

    def features(self, tokenizer: Any, examples: Sequence[Example], spec: TaskSpec) -> list[Feature]:
        """Model inputs of the examples: one per window, each with the encoded label."""
        return encode_sequences(tokenizer, examples, spec, lambda label: self.encode_label(label, spec))

    def logits(self, output: Any) -> Any:
        """The tensor of the model output that predictions are decoded from."""
        return output.logits

    def combine(self, spec: TaskSpec, features: Sequence[Feature], logits: Sequence[np.ndarray],
                examples: Sequence[Example]) -> list[np.ndarray]:
        """One output per example from its features' logits: the windows' logits aggregated."""
        return [aggregate_logits([logits[k] for k in group], spec.aggregate)
                for group in feature_groups(features, len(examples))]

    def calibrate(self, spec: TaskSpec, examples: Sequence[Example], outputs: Sequence[np.ndarray]) -> bool:
        """Tune the spec's decision rule on labelled outputs (dev); True when the spec changed."""
        return False

    def decode(self, spec: TaskSpec, outputs: Sequence[np.ndarray]) -> list[dict[str, Any]]:
        """Predictions a person can read, one dict per example."""
        raise NotImplementedError

    def score(self, spec: TaskSpec, examples: Sequence[Example], preds: Sequence[dict[str, Any]]
              ) -> dict[str, Any]:
        """The task's metrics of `preds` against the examples' labels."""
        raise NotImplementedError

    def metrics_fn(self, out: Any, batch: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
        """Training metrics of one micro-batch as named (sum, count) pairs, for the Trainer's log."""
        return {}

    def write_outputs(self, directory: Path, examples: Sequence[Example], preds: Sequence[dict[str, Any]]
                      ) -> list[Path]:
        """Files `bertkit evaluate` writes beside its metrics (QA: the reference scripts' JSON files)."""
        return []

    def confusion(self, examples: Sequence[Example], preds: Sequence[dict[str, Any]]
                  ) -> tuple[list[str], list[str]] | None:
        """(gold, predicted) class names for a confusion matrix, where the task has one."""
        return None

    # --- prediction -----------------------------------------------------------------------------

    def examples_from_texts(self, texts: Sequence[str], pairs: Sequence[str] | None,
                            tokenizer: Any) -> list[Example]:
        """Unlabelled examples from raw texts (the Python API's `predict`)."""
        return [Example(t, None if pairs is None else pairs[i]) for i, t in enumerate(texts)]

    def read_unlabelled(self, path: str | Path, columns: Columns, tokenizer: Any) -> list[Example]:
        """Examples to predict from a file (`bertkit predict`); label columns may be absent."""
        return self.read(path, columns, require_labels=False)

    def html_view(self, examples: Sequence[Example], preds: Sequence[dict[str, Any]]) -> str | None:
        """An offline HTML page of the predictions (`bertkit predict --html`); None: this task has none."""
        return None

    def annotate(self, example: Example, pred: dict[str, Any]) -> dict[str, Any]:
        """Add what needs the example as well as the output (e.g. entity character spans)."""
        return pred


def feature_groups(features: Sequence[Feature], n_examples: int) -> list[list[int]]:
    """The feature indices of each example, in order."""
    groups: list[list[int]] = [[] for _ in range(n_examples)]
    for k, f in enumerate(features):
        groups[f.example].append(k)
    return groups


def label_accuracy(out: Any, batch: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Accuracy over class labels (per sequence or per token), ignoring positions labelled -100."""
    labels = batch["labels"]
    keep = labels != -100
    hit = (out.logits.argmax(-1) == labels) & keep
    return {"accuracy": (hit.sum(), keep.sum())}


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def named(labels: Sequence[str], p: np.ndarray) -> dict[str, float]:
    """{label: probability} rounded to 6 digits for output files."""
    return {lab: round(float(v), 6) for lab, v in zip(labels, p, strict=True)}
