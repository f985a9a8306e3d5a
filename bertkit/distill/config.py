"""`DistillConfig`: what a task-distillation run is configured by (imports no torch).

The flags of `bertkit distill` are generated from these fields and the nested `TrainConfig`, so
`--lr`, `--epochs`, `--batch-size`, `--resume` mean what they mean for `bertkit finetune`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bertkit.errors import ConfigError
from bertkit.options import check_options, option
from bertkit.train.config import TrainConfig


def _distill_defaults() -> TrainConfig:
    """A student starts from the teacher's layers and learns from soft targets: fine-tuning's recipe
    (10% warmup, 3 epochs) at a higher peak lr, since fewer layers have more to move."""
    return TrainConfig(lr=1e-4, warmup_ratio=0.1, epochs=3)


@dataclass
class DistillConfig:
    """A distillation run: the fine-tuned teacher, the task data, the student's layers, the loss."""

    teacher: str = option(help="RUN directory of a fine-tuned teacher (bertkit finetune)", metavar="RUN")
    out: str = option(help="RUN directory to write the student to", metavar="RUN")
    train_file: str | None = option(None, "training file in the teacher's format (its task.json columns)",
                                    flag="--train", metavar="FILE")
    dev_file: str | None = option(None, "dev file: best checkpoint and the final metrics", flag="--dev",
                                  metavar="FILE")
    layers: str | None = option(None, "student layers: a count K (every (L/K)-th teacher layer from the "
                                      "bottom; default half the teacher's, DistilBERT's every other layer) "
                                      "or the teacher layers to copy, e.g. 0,2,5")
    temperature: float = option(2.0, "softmax temperature T of the soft targets (the loss is scaled by T²)",
                                low=0.0, low_open=True)
    alpha: float = option(0.5, "weight of the soft-target loss; 1 - alpha weighs the hard labels",
                          low=0.0, high=1.0)
    train: TrainConfig = option(factory=_distill_defaults)

    def __post_init__(self) -> None:
        check_options(self)
        if not self.train_file:
            raise ConfigError("distill needs --train FILE (the task data the teacher was fine-tuned on, "
                              "or more)")
