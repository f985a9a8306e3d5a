"""`FinetuneConfig`: what a fine-tuning run is configured by, and fine-tuning's training defaults.

Each field declares its default, help text and range once (`bertkit.options.option`); the
`bertkit finetune` flags are generated from these fields and from the nested `Columns` and
`TrainConfig` (so `--lr`, `--epochs`, `--llrd`, `--early-stopping` are TrainConfig's fields).
This module imports no torch, so `bertkit --help` stays fast.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from bertkit.options import check_options, option
from bertkit.tasks.readers import Columns
from bertkit.tasks.registry import TASKS, get_task
from bertkit.tasks.spec import AGGREGATES, TRUNCATIONS
from bertkit.train.config import TrainConfig

# Options whose default a task may change (`Task.defaults`, e.g. QA's 384/128 from run_squad.py):
# the field is None until the task is known, then takes its task's value, else the one here.
# lr and epochs are fields of the nested FinetuneTrainConfig; the general ones are Devlin et al.
# 2019, A.3 (lr in {2, 3, 5}e-5, 2-4 epochs).
TASK_DEPENDENT: dict[str, float] = {"max_length": 128, "stride": 32, "lr": 5e-5, "epochs": 3}
_TRAIN_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def _task_help(text: str, name: str) -> str:
    """Help text stating the default and each task's own, e.g. "(default: 128; qa: 384)"."""
    own = "".join(f"; {task.name}: {task.defaults[name]}" for task in TASKS.values() if name in task.defaults)
    return f"{text} (default: {TASK_DEPENDENT[name]}{own})"


def _train_option(name: str, default: Any, help: str | None = None) -> Any:
    """TrainConfig's field `name` (its help and range) with fine-tuning's default."""
    meta = dict(_TRAIN_FIELDS[name].metadata)
    if help is not None:
        meta["help"] = help
    return dataclasses.field(default=default, metadata=meta)


@dataclass
class FinetuneTrainConfig(TrainConfig):
    """The training loop of a fine-tuning run: TrainConfig with fine-tuning's defaults (10% warmup).

    lr and epochs stay None until FinetuneConfig knows the task: then the task's own default
    (`Task.defaults`), else TASK_DEPENDENT's. A value the caller gives always wins; so does a plain
    TrainConfig passed as `train`.
    """

    lr: float | None = _train_option("lr", None, _task_help("peak learning rate", "lr"))
    epochs: float | None = _train_option(
        "epochs", None, _task_help("passes over the training data (fractions allowed)", "epochs"))
    warmup_ratio: float = _train_option("warmup_ratio", 0.1)


@dataclass
class FinetuneConfig:
    """A fine-tuning run: the model, the task and its data, how inputs are cut, and the training."""

    model: str = option(help="model directory (Hugging Face layout or a bertkit RUN)", metavar="DIR")
    out: str = option(help="RUN directory to write", metavar="RUN")
    task: str = option("classification", "the task", choices=tuple(TASKS))
    train_file: str | None = option(None, "training file (.csv .tsv .jsonl, or .conll for ner)",
                                    flag="--train", metavar="FILE")
    dev_file: str | None = option(None, "dev file: best checkpoint, early stopping, thresholds",
                                  flag="--dev", metavar="FILE")
    columns: Columns = option(factory=Columns)
    tokenizer: str | None = option(None, "tokenizer directory (default: the model directory)", metavar="DIR")
    freeze: str | None = option(None, "embeddings | layers:K | encoder (feature extraction)")
    max_length: int | None = option(None, _task_help("tokens per model input", "max_length"), low=8)
    truncation: str = option("head", "how a longer text is cut: keep its head, tail, both, or slide "
                                     "windows over all of it", choices=TRUNCATIONS)
    stride: int | None = option(None, _task_help("tokens shared by consecutive windows", "stride"), low=0)
    aggregate: str = option("mean", "how window logits combine into the document's", choices=AGGREGATES)
    class_weights: bool = option(False, "balanced class weights in the loss")
    scale_targets: bool = option(False, "standardise regression targets")
    group_by_length: bool = option(True, "batch texts of similar length together, for less padding "
                                  "(--no-group-by-length: plain random batches)")
    glue_task: str | None = option(None, "cola sst2 mrpc stsb qqp mnli qnli rte wnli (with --data-dir)")
    data_dir: str | None = option(None, "folder with the GLUE task's TSV files", metavar="DIR")
    train: TrainConfig = option(factory=FinetuneTrainConfig)

    def __post_init__(self) -> None:
        check_options(self)
        defaults = get_task(self.task).defaults
        unset = [name for name in TASK_DEPENDENT if name not in _TRAIN_FIELDS and getattr(self, name) is None]
        for name in unset:
            setattr(self, name, defaults.get(name, TASK_DEPENDENT[name]))
        train_unset = {name: defaults.get(name, TASK_DEPENDENT[name]) for name in TASK_DEPENDENT
                       if name in _TRAIN_FIELDS and getattr(self.train, name) is None}
        if train_unset:                                  # a copy: the caller's config stays as given
            self.train = dataclasses.replace(self.train, **train_unset)
