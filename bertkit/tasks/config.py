"""`FinetuneConfig`: what a fine-tuning run is configured by, and fine-tuning's training defaults.

Each field declares its default, help text and range once (`bertkit.options.option`); the
`bertkit finetune` flags are generated from these fields and from the nested `Columns` and
`TrainConfig` (so `--lr`, `--epochs`, `--llrd`, `--early-stopping` are TrainConfig's fields).
This module imports no torch, so `bertkit --help` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass

from bertkit.options import check_options, option
from bertkit.tasks.readers import Columns
from bertkit.tasks.registry import TASKS, get_task
from bertkit.tasks.spec import AGGREGATES, TRUNCATIONS
from bertkit.train.config import TrainConfig

# Options whose default a task may change (`Task.defaults`, e.g. QA's 384/128 from run_squad.py):
# the field is None until the task is known, then takes its task's value, else the one here.
TASK_DEPENDENT: dict[str, int] = {"max_length": 128, "stride": 32}


def _task_help(text: str, name: str) -> str:
    """Help text stating the default and each task's own, e.g. "(default: 128; qa: 384)"."""
    own = "".join(f"; {task.name}: {task.defaults[name]}" for task in TASKS.values() if name in task.defaults)
    return f"{text} (default: {TASK_DEPENDENT[name]}{own})"


def _finetune_defaults() -> TrainConfig:
    """Fine-tuning's defaults (Devlin et al. 2019, A.3: lr in {2, 3, 5}e-5, 2-4 epochs; 10% warmup)."""
    return TrainConfig(lr=5e-5, warmup_ratio=0.1, epochs=3)


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
    train: TrainConfig = option(factory=_finetune_defaults)

    def __post_init__(self) -> None:
        check_options(self)
        defaults = get_task(self.task).defaults
        for name, general in TASK_DEPENDENT.items():
            if getattr(self, name) is None:
                setattr(self, name, defaults.get(name, general))
