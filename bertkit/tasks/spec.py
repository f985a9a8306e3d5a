"""`task.json`: what a fine-tuned RUN directory is for, saved beside config.json.

transformers ignores it; bertkit's evaluate and predict read it to know the task, the input columns,
the label names, the long-document strategy, the multi-label thresholds and the target scaling.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

from bertkit.errors import ConfigError, DataError
from bertkit.io import atomic_write_json
from bertkit.tasks.base import Task
from bertkit.tasks.readers import Columns
from bertkit.tasks.registry import TASKS, get_task

TRUNCATIONS = ("head", "tail", "head+tail", "window")
AGGREGATES = ("mean", "max")
TASK_FILE = "task.json"


@dataclass
class TaskSpec:
    task: str
    labels: list[str] = field(default_factory=list)   # class/tag names; regression: target column names
    columns: Columns = field(default_factory=Columns)
    max_length: int = 128
    truncation: str = "head"       # head | tail | head+tail | window (sliding windows)
    stride: int = 32               # tokens shared by consecutive windows
    aggregate: str = "mean"        # how window logits combine for sequence tasks: mean | max
    thresholds: list[float] | None = None      # multi-label: one decision threshold per label
    target_mean: list[float] | None = None     # regression: standardised targets (y - mean) / std
    target_std: list[float] | None = None
    glue_task: str | None = None

    def __post_init__(self) -> None:
        get_task(self.task)
        if self.truncation not in TRUNCATIONS:
            raise ConfigError(f"truncation must be one of {', '.join(TRUNCATIONS)}, got {self.truncation!r}")
        if self.aggregate not in AGGREGATES:
            raise ConfigError(f"aggregate must be one of {', '.join(AGGREGATES)}, got {self.aggregate!r}")
        if self.max_length < 8:
            raise ConfigError(f"max_length must be at least 8, got {self.max_length}")
        if self.truncation == "window" and not 0 <= self.stride < self.max_length // 2:
            raise ConfigError(f"stride ({self.stride}) must be below half of max_length ({self.max_length})")

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    @property
    def kind(self) -> Task:
        """The task object that reads, encodes, decodes and scores for this spec."""
        return get_task(self.task)

    @cached_property
    def label2id(self) -> dict[str, int]:
        return {lab: i for i, lab in enumerate(self.labels)}

    def save(self, run_dir: str | Path) -> None:
        d = asdict(self)
        d["columns"] = self.columns.to_dict()
        atomic_write_json(Path(run_dir) / TASK_FILE, {"format": "bertkit-task/1", **d})

    @classmethod
    def load(cls, run_dir: str | Path) -> TaskSpec:
        """Read RUN/task.json; a directory without one is a model with no task head (or not bertkit's)."""
        run_dir = Path(run_dir)
        path = run_dir / TASK_FILE
        if not path.is_file():
            arch = _architecture(run_dir)
            if arch and arch not in {task.head for task in TASKS.values()}:
                raise DataError(f"{run_dir}: a {arch} has no task head; fine-tune it first "
                                f"(bertkit finetune --model {run_dir} ...)")
            raise DataError(f"{run_dir}: no {TASK_FILE}; is it a RUN directory written by bertkit finetune?")
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            d.pop("format", None)
            d["columns"] = Columns.from_dict(d.get("columns") or {})
            return cls(**d)
        except (json.JSONDecodeError, TypeError) as e:
            raise DataError(f"{path}: not a valid task file ({e})") from None


def _architecture(run_dir: Path) -> str | None:
    try:
        arch = json.loads((run_dir / "config.json").read_text(encoding="utf-8")).get("architectures")
    except (OSError, json.JSONDecodeError):
        return None
    return arch[0] if arch else None

