"""Load a fine-tuned RUN directory and predict: labels with probabilities, values, or entity spans.

    model = FineTuned.load("run/")
    model.predict(["a wonderful film"])   # [{"label": "positive", "probabilities": {...}}]

`predict_file` writes one row per input row: every input column as it was, then the prediction
in columns prefixed `pred_` (`pred_label`, `pred_probabilities` or `pred_p_<label>` in CSV,
`pred_values`, `pred_tags`, `pred_entities`...), so a gold `label` column is never overwritten.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertkit.errors import ConfigError, DataError
from bertkit.io import atomic_write_text
from bertkit.tasks.evaluate import run
from bertkit.tasks.readers import Example
from bertkit.tasks.spec import TaskSpec
from bertkit.tokenizers import Tokenizer


@dataclass
class FineTuned:
    """A RUN directory in memory: model, tokenizer and task spec."""

    model: Any
    tokenizer: Any
    spec: TaskSpec
    path: Path

    @classmethod
    def load(cls, run_dir: str | Path, task: str | None = None) -> FineTuned:
        """Load RUN; with `task`, refuse a RUN fine-tuned for another task.

        RUN may also be a directory written by `bertkit export` (its model.onnx runs in onnxruntime)
        or one of its .onnx files (model_int8.onnx); `path` is then the export directory.
        """
        from bertkit.deploy.export import EXPORT_FILE, load_onnx

        given = Path(run_dir)
        run_dir = given.parent if given.suffix == ".onnx" else given
        spec = TaskSpec.load(run_dir)
        if task is not None and task != spec.task:
            raise DataError(f"{run_dir} was fine-tuned for {spec.task}, not {task}")
        if given.suffix == ".onnx" or (run_dir / EXPORT_FILE).is_file():
            model = load_onnx(given, spec.kind.head)
        else:
            model = spec.kind.model_class().from_pretrained(run_dir)
        model.eval()
        expected = spec.kind.model_config(spec).get("num_labels", model.config.num_labels)
        if model.config.num_labels != expected:
            raise DataError(f"{run_dir}: config.json has {model.config.num_labels} labels but task.json "
                            f"lists {spec.num_labels}; the directory mixes two runs")
        return cls(model, Tokenizer.from_pretrained(run_dir), spec, run_dir)

    def predict_examples(self, examples: Sequence[Example], batch_size: int = 32,
                         progress: bool = False) -> list[dict[str, Any]]:
        preds, _, _ = run(self.model, self.tokenizer, self.spec, examples, batch_size, progress)
        return [self.spec.kind.annotate(ex, p) for ex, p in zip(examples, preds, strict=True)]

    def predict(self, texts: Sequence[str], pairs: Sequence[str] | None = None,
                batch_size: int = 32) -> list[dict[str, Any]]:
        """Predictions for raw texts; for NER each has `entities` with character spans in the text."""
        return self.predict_examples(self.spec.kind.examples_from_texts(texts, pairs, self.tokenizer),
                                     batch_size)


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    """One CSV row: probabilities and values become one column each, other lists and dicts JSON."""
    out = {}
    for key, value in row.items():
        if key == "pred_probabilities":
            out.update({f"pred_p_{k}": v for k, v in value.items()})
        elif key == "pred_values":
            out.update({f"pred_{k}": v for k, v in value.items()})
        elif isinstance(value, list | dict):
            out[key] = json.dumps(value, ensure_ascii=False)
        else:
            out[key] = value
    return out


def _check_output(input_path: Path, output: Path | None) -> None:
    if output is None:
        return
    if output.is_dir():
        raise DataError(f"--output {output} is a directory; give a .jsonl or .csv file name")
    if output.exists() and output.resolve() == input_path.resolve():
        raise DataError(f"--output {output} is the input file; write the predictions to another file")


def predict_file(run_dir: str | Path, input_path: str | Path, output: str | Path | None = None,
                 batch_size: int = 32, html: str | Path | None = None) -> list[dict[str, Any]]:
    """Predict every row of a CSV/TSV/JSONL (or CoNLL for NER) file; write JSONL or CSV (by suffix).

    Without `output`, JSONL goes to stdout. Each row keeps the input's columns and adds `pred_*`.
    `html`: also write the task's offline page of the predictions (QA: answers in their context).
    """
    input_path = Path(input_path)
    output = None if output is None else Path(output)
    _check_output(input_path, output)
    ft = FineTuned.load(run_dir)
    kind = ft.spec.kind
    if html is not None and kind.html_view([], []) is None:
        raise ConfigError(f"--html: {kind.name} predictions have no HTML view (question answering has one)")
    examples = kind.read_unlabelled(input_path, ft.spec.columns, ft.tokenizer)
    preds = ft.predict_examples(examples, batch_size, progress=True)
    if html is not None:
        atomic_write_text(Path(html), kind.html_view(examples, preds))
    rows = [{**ex.row, **{f"pred_{k}": v for k, v in p.items()}}
            for ex, p in zip(examples, preds, strict=True)]
    if output is None:
        for row in rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
    elif output.suffix.lower() == ".csv":
        flat = [_flat(r) for r in rows]
        fields = list(dict.fromkeys(k for r in flat for k in r))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(flat)
        atomic_write_text(output, buf.getvalue())
    else:
        atomic_write_text(output, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return rows
