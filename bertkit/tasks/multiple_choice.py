"""Multiple choice (SWAG): a context and N candidate endings; the model scores each (context, ending).

Files: the SWAG CSV layout (`sent1`, `sent2`, `ending0`..`ending3`, `label`) or JSONL with the same
keys, or JSONL with `context`, `endings: [...]` and `label`. As in the SWAG reference
(run_swag.py), choice i is the pair (sent1, sent2 + " " + ending_i). A feature holds one encoded
pair per choice; the batch is (batch, choices, length) and `BertForMultipleChoice` scores each
choice from its pooled [CLS], a softmax over the choices giving the answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bertkit import metrics
from bertkit.errors import DataError
from bertkit.tasks.base import Task, feature_groups, label_accuracy, softmax
from bertkit.tasks.features import Feature
from bertkit.tasks.readers import Columns, Example, read_rows

if TYPE_CHECKING:
    from bertkit.tasks.spec import TaskSpec

_ENDING = re.compile(r"ending(\d+)$")


def _choices(source: str, row: dict[str, Any]) -> tuple[str, list[str]]:
    """(context, the full text of each choice) of one SWAG row or {context, endings} object."""
    if "endings" in row:
        context, lead, endings = row.get("context"), "", row["endings"]
    else:
        keys = sorted((int(m.group(1)), k) for k in row if (m := _ENDING.match(k)))
        if not keys:
            raise DataError(f"{source}: no endings (columns ending0, ending1, ... or an 'endings' list)")
        if [i for i, _ in keys] != list(range(len(keys))):
            raise DataError(f"{source}: ending columns {[k for _, k in keys]} are not "
                            f"ending0..ending{len(keys) - 1}")
        context, lead, endings = row.get("sent1"), row.get("sent2") or "", [row[k] for _, k in keys]
    if not isinstance(context, str) or not context.strip():
        raise DataError(f"{source}: empty context (sent1)")
    if not isinstance(endings, list) or len(endings) < 2:
        raise DataError(f"{source}: at least two endings are needed, got {endings!r}")
    for i, e in enumerate(endings):
        if not isinstance(e, str) or not e.strip():
            raise DataError(f"{source}: ending {i} is missing or empty")
    return context, [f"{lead} {e}".strip() for e in endings]


def read_choices(path: str | Path, require_labels: bool = True) -> list[Example]:
    """Examples whose `pair` is the list of choice texts and `label` the right choice's index."""
    path = Path(path)
    examples = []
    for n, row in read_rows(path):
        source = f"{path}:{n}"
        context, choices = _choices(source, row)
        label = row.get("label")
        if label is None or (isinstance(label, str) and not label.strip()):
            if require_labels:
                raise DataError(f"{source}: no label (the index of the right ending)")
            label = None
        else:
            try:
                label = int(label)
            except ValueError:
                raise DataError(f"{source}: label {label!r} is not an ending index") from None
            if not 0 <= label < len(choices):
                raise DataError(f"{source}: label {label} is outside 0..{len(choices) - 1}")
        examples.append(Example(context, choices, label, source, row=dict(row)))
    return examples


class MultipleChoice(Task):
    name = "multiple-choice"
    description = "the right ending among N (SWAG)"
    head = "BertForMultipleChoice"

    def read(self, path: str | Path, columns: Columns, require_labels: bool = True) -> list[Example]:
        examples = read_choices(path, require_labels)
        counts = {len(ex.pair) for ex in examples}
        if len(counts) > 1:
            raise DataError(f"{path}: every row needs the same number of endings, found {sorted(counts)}")
        return examples

    def label_names(self, examples: Sequence[Example], columns: Columns) -> list[str]:
        """The choice indices, "0".."N-1"."""
        return [str(i) for i in range(len(examples[0].pair))] if examples else []

    def label_values(self, label: Any) -> list[str]:
        return [str(label)]

    def class_weights(self, examples: Sequence[Example], labels: Sequence[str]) -> None:
        return None

    def model_config(self, spec: TaskSpec) -> dict[str, Any]:
        return {}        # the head has one output per choice whatever N is

    def features(self, tokenizer: Any, examples: Sequence[Example], spec: TaskSpec) -> list[Feature]:
        """One feature per example: N (context, choice) pairs, each cut to max_length from the longer."""
        contexts = [ex.text for ex in examples for _ in ex.pair]
        choices = [c for ex in examples for c in ex.pair]
        encs = tokenizer.encode_texts(contexts, choices, max_length=spec.max_length, truncation=True)
        features, k = [], 0
        for i, ex in enumerate(examples):
            rows = encs[k: k + len(ex.pair)]
            k += len(ex.pair)
            features.append(Feature([list(e.ids) for e in rows], [list(e.type_ids) for e in rows], i,
                                    ex.label))
        return features

    def combine(self, spec: TaskSpec, features: Sequence[Feature], logits: Sequence[np.ndarray],
                examples: Sequence[Example]) -> list[np.ndarray]:
        return [logits[g[0]] for g in feature_groups(features, len(examples))]

    def decode(self, spec: TaskSpec, outputs: Sequence[np.ndarray]) -> list[dict[str, Any]]:
        preds = []
        for x in outputs:
            p = softmax(np.asarray(x, dtype=np.float64))
            preds.append({"label": int(p.argmax()), "probabilities": [round(float(v), 6) for v in p]})
        return preds

    def score(self, spec: TaskSpec, examples: Sequence[Example], preds: Sequence[dict[str, Any]]
              ) -> dict[str, Any]:
        return {"accuracy": metrics.accuracy([ex.label for ex in examples], [p["label"] for p in preds])}

    def metrics_fn(self, out: Any, batch: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
        return label_accuracy(out, batch)

    def read_unlabelled(self, path: str | Path, columns: Columns, tokenizer: Any) -> list[Example]:
        return read_choices(path, require_labels=False)
