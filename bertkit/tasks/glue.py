"""GLUE presets: each task's files, columns, labels and metric, so that a user with the GLUE data
(the TSV files of gluebenchmark.com's download script) runs

    bertkit finetune --glue-task sst2 --data-dir glue_data/SST-2 --model DIR --out RUN

Metrics follow the GLUE paper (Wang et al., 2018): CoLA Matthews correlation, STS-B Pearson and
Spearman, MRPC and QQP F1 and accuracy, the others accuracy (MNLI on matched and mismatched dev).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bertkit.errors import ConfigError, DataError
from bertkit.tasks.readers import Columns


@dataclass(frozen=True)
class GluePreset:
    name: str
    folder: str                      # the task's folder in the GLUE download
    task: str                        # classification | pair | regression
    columns: Columns
    labels: tuple[str, ...]          # regression: the target column
    metrics: tuple[str, ...]
    train: str = "train.tsv"
    dev: dict[str, str] = field(default_factory=lambda: {"dev": "dev.tsv"})

    def path(self, data_dir: str | Path, filename: str) -> Path:
        """`data_dir/filename`, or `data_dir/<folder>/filename` when given the GLUE root."""
        data_dir = Path(data_dir)
        for candidate in (data_dir / filename, data_dir / self.folder / filename):
            if candidate.is_file():
                return candidate
        raise DataError(f"{self.name}: no {filename} in {data_dir} or {data_dir / self.folder}")


def _pair(a: str, b: str, label: str) -> Columns:
    return Columns(text=a, text_pair=b, label=[label])


NLI2 = ("entailment", "not_entailment")

PRESETS: dict[str, GluePreset] = {p.name: p for p in (
    GluePreset("cola", "CoLA", "classification",
               Columns(text="sentence", header=["source", "label", "original_label", "sentence"]),
               ("0", "1"), ("mcc", "accuracy")),
    GluePreset("sst2", "SST-2", "classification", Columns(text="sentence"), ("0", "1"), ("accuracy",)),
    GluePreset("mrpc", "MRPC", "pair", _pair("#1 String", "#2 String", "Quality"), ("0", "1"),
               ("f1", "accuracy")),
    GluePreset("stsb", "STS-B", "regression", _pair("sentence1", "sentence2", "score"), ("score",),
               ("pearson", "spearman")),
    GluePreset("qqp", "QQP", "pair", _pair("question1", "question2", "is_duplicate"), ("0", "1"),
               ("f1", "accuracy")),
    GluePreset("mnli", "MNLI", "pair", _pair("sentence1", "sentence2", "gold_label"),
               ("contradiction", "entailment", "neutral"), ("accuracy",),
               dev={"dev_matched": "dev_matched.tsv", "dev_mismatched": "dev_mismatched.tsv"}),
    GluePreset("qnli", "QNLI", "pair", _pair("question", "sentence", "label"), NLI2, ("accuracy",)),
    GluePreset("rte", "RTE", "pair", _pair("sentence1", "sentence2", "label"), NLI2, ("accuracy",)),
    GluePreset("wnli", "WNLI", "pair", _pair("sentence1", "sentence2", "label"), ("0", "1"), ("accuracy",)),
)}


def preset(name: str) -> GluePreset:
    key = name.lower().replace("-", "")
    if key not in PRESETS:
        raise ConfigError(f"unknown GLUE task {name!r}; choose from {', '.join(PRESETS)}")
    return PRESETS[key]
