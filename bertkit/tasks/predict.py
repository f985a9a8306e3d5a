"""Load a fine-tuned RUN directory and predict: labels with probabilities, values, or entity spans.

    model = FineTuned.load("run/")
    model.predict(["a wonderful film"])   # [{"label": "positive", "probabilities": {...}}]
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

from bertkit.errors import DataError
from bertkit.io import atomic_write_text
from bertkit.metrics import get_entities
from bertkit.tasks.readers import Example, file_format, read_examples
from bertkit.tasks.spec import TaskSpec, model_class


@dataclass
class FineTuned:
    """A RUN directory in memory: model, tokenizer and task spec."""

    model: Any
    tokenizer: Any
    spec: TaskSpec
    path: Path

    @classmethod
    def load(cls, run_dir: str | Path, task: str | None = None) -> FineTuned:
        """Load RUN; with `task`, refuse a RUN fine-tuned for another task."""
        from bertkit.tokenizers import Tokenizer

        run_dir = Path(run_dir)
        spec = TaskSpec.load(run_dir)
        if task is not None and task != spec.task:
            raise DataError(f"{run_dir} was fine-tuned for {spec.task}, not {task}")
        model = model_class(spec.task).from_pretrained(run_dir)
        model.eval()
        if model.config.num_labels != max(1, spec.num_labels):
            raise DataError(f"{run_dir}: config.json has {model.config.num_labels} labels but task.json "
                            f"lists {spec.num_labels}; the directory mixes two runs")
        return cls(model, Tokenizer.from_pretrained(run_dir), spec, run_dir)

    def words(self, text: str) -> tuple[list[str], list[tuple[int, int]]]:
        """The tokenizer's words (its pre-tokenizer's split) and their character spans in `text`."""
        pre = getattr(getattr(self.tokenizer, "runtime", None), "pre_tokenizer", None)
        if pre is not None:
            pieces = pre.pre_tokenize_str(text)
            return [w for w, _ in pieces], [tuple(s) for _, s in pieces]
        import re

        found = [(m.group(), m.span()) for m in re.finditer(r"\S+", text)]
        return [w for w, _ in found], [s for _, s in found]

    def predict_examples(self, examples: Sequence[Example], batch_size: int = 32,
                         progress: bool = False) -> list[dict[str, Any]]:
        from bertkit.tasks.evaluate import run

        preds, _, _ = run(self.model, self.tokenizer, self.spec, examples, batch_size, progress)
        return preds

    def predict(self, texts: Sequence[str], pairs: Sequence[str] | None = None,
                batch_size: int = 32) -> list[dict[str, Any]]:
        """Predictions for raw texts; for NER each has `entities` with character spans in the text."""
        if self.spec.task == "pair" and pairs is None:
            raise DataError("this model classifies sentence pairs: give pairs as well")
        if self.spec.task != "ner":
            examples = [Example(t, None if pairs is None else pairs[i]) for i, t in enumerate(texts)]
            return self.predict_examples(examples, batch_size)
        split = [self.words(t) for t in texts]
        preds = self.predict_examples([Example(w) for w, _ in split], batch_size)
        for text, (words, spans), p in zip(texts, split, preds, strict=True):
            p["entities"] = entity_spans(text, words, spans, p["tags"])
        return preds


def entity_spans(text: str, words: Sequence[str], spans: Sequence[tuple[int, int]],
                 tags: Sequence[str]) -> list[dict[str, Any]]:
    """Entities as {type, text, start, end} (character offsets, end exclusive) from word tags."""
    out = []
    for typ, first, last in get_entities(tags):
        start, end = spans[first][0], spans[last][1]
        out.append({"type": typ, "text": text[start:end], "start": start, "end": end})
    return out


def _rows(ft: FineTuned, examples: Sequence[Example], preds: Sequence[dict[str, Any]]
          ) -> list[dict[str, Any]]:
    rows = []
    for ex, p in zip(examples, preds, strict=True):
        row: dict[str, Any] = dict(ex.extra)
        if ft.spec.task == "ner":
            from bertkit.tasks.features import word_spans

            text, spans = word_spans(ex.text)
            entities = entity_spans(text, ex.text, spans, p["tags"])
            row.update({"text": text, "tags": p["tags"], "entities": entities})
        else:
            row["text"] = ex.text
            if ex.pair is not None:
                row["text_pair"] = ex.pair
            row.update(p)
        rows.append(row)
    return rows


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    """One CSV row: probabilities/values become columns, lists become JSON."""
    out = {}
    for key, value in row.items():
        if isinstance(value, dict) and key in ("probabilities", "values"):
            prefix = "p_" if key == "probabilities" else ""
            out.update({f"{prefix}{k}": v for k, v in value.items()})
        elif isinstance(value, list | dict):
            out[key] = json.dumps(value, ensure_ascii=False)
        else:
            out[key] = value
    return out


def predict_file(run_dir: str | Path, input_path: str | Path, output: str | Path | None = None,
                 batch_size: int = 32) -> list[dict[str, Any]]:
    """Predict every row of a CSV/TSV/JSONL (or CoNLL for NER) file; write JSONL or CSV (by suffix).

    Without `output`, JSONL goes to stdout. Rows keep their other columns (e.g. an id).
    """
    ft = FineTuned.load(run_dir)
    input_path = Path(input_path)
    spec = ft.spec
    if spec.task == "ner" and file_format(input_path) in ("csv", "tsv", "jsonl"):
        raw = read_examples(input_path, "classification", _text_only(spec), require_labels=False)
        split = [ft.words(ex.text) for ex in raw]
        preds = ft.predict_examples([Example(w) for w, _ in split], batch_size, progress=True)
        rows = []
        for ex, (words, spans), p in zip(raw, split, preds, strict=True):
            rows.append({**ex.extra, "text": ex.text, "tags": p["tags"],
                         "entities": entity_spans(ex.text, words, spans, p["tags"])})
    else:
        examples = read_examples(input_path, spec.task, spec.columns, require_labels=False)
        rows = _rows(ft, examples, ft.predict_examples(examples, batch_size, progress=True))
    if output is None:
        for row in rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
    elif str(output).lower().endswith(".csv"):
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


def _text_only(spec: TaskSpec) -> Any:
    """Raw-text columns for NER prediction: the text column, no labels."""
    from bertkit.tasks.readers import Columns

    return Columns(text=spec.columns.text, label=["__none__"])
