"""What a distillation run is configured by (imports no torch): `DistillConfig` (task-specific:
soft targets, or TinyBERT's layer-wise stage first) and `GeneralDistillConfig` (DistilBERT's
general distillation on pretraining shards).

The flags of `bertkit distill` are generated from these fields and the nested `TrainConfig`, so
`--lr`, `--epochs`, `--batch-size`, `--resume` mean what they mean for `bertkit finetune`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bertkit.errors import ConfigError
from bertkit.options import check_options, option
from bertkit.train.config import TrainConfig

METHODS = ("kd", "tinybert")


def _distill_defaults() -> TrainConfig:
    """A student starts from the teacher's layers and learns from soft targets: fine-tuning's recipe
    (10% warmup, 3 epochs) at a higher peak lr, since fewer layers have more to move."""
    return TrainConfig(lr=1e-4, warmup_ratio=0.1, epochs=3)


def _general_defaults() -> TrainConfig:
    """Pretraining's defaults (BERT's Adam epsilon, 6% warmup) at its peak lr."""
    return TrainConfig(lr=5e-4, eps=1e-6, warmup_ratio=0.06)


@dataclass
class StudentShape:
    """The student's size: its layers (and where they start), its widths, how it is initialised.
    Mixed into both configs so the flags mean the same in both."""

    layers: str | None = option(None, "student layers: a count K (every (L/K)-th teacher layer from the "
                                      "bottom; default half the teacher's, DistilBERT's every other layer) "
                                      "or the teacher layers to copy, e.g. 0,2,5")
    student_hidden: int | None = option(None, "student hidden size (default: the teacher's); a narrower "
                                              "student learns through a projection", low=1)
    student_heads: int | None = option(None, "student attention heads (default: the teacher's); must "
                                             "divide the hidden size", low=1)
    student_ffn: int | None = option(None, "student FFN (intermediate) size (default: the teacher's)", low=1)
    student_init: str = option("truncate", "weights of another shape than the teacher's: truncate (the "
                                           "first rows/columns of the teacher's) or random",
                               choices=("truncate", "random"))

    def width(self) -> dict[str, int | None]:
        return {"hidden_size": self.student_hidden, "num_attention_heads": self.student_heads,
                "intermediate_size": self.student_ffn}

    def check_width(self) -> None:
        """Heads that do not divide the hidden size fail here, before any model is loaded."""
        if self.student_heads and self.student_hidden and self.student_hidden % self.student_heads:
            raise ConfigError(f"--student-heads {self.student_heads} does not divide --student-hidden "
                              f"{self.student_hidden}: every head gets hidden / heads dimensions")


@dataclass(kw_only=True)
class DistillConfig(StudentShape):
    """A task distillation run: the fine-tuned teacher, the task data, the student, the loss."""

    teacher: str = option(help="RUN directory of a fine-tuned teacher (bertkit finetune)", metavar="RUN")
    out: str = option(help="RUN directory to write the student to", metavar="RUN")
    train_file: str | None = option(None, "training file in the teacher's format (its task.json columns)",
                                    flag="--train", metavar="FILE")
    dev_file: str | None = option(None, "dev file: best checkpoint and the final metrics", flag="--dev",
                                  metavar="FILE")
    method: str = option("kd", "kd: soft targets + labels; tinybert: layer-wise (embeddings, hidden "
                               "states, attention maps) for --layer-epochs, then the soft targets",
                         choices=METHODS)
    layer_map: str | None = option(None, "tinybert: the teacher layer each student layer learns, e.g. 1,3 "
                                         "(default uniform: student layer m <- teacher layer m*N/M)")
    layer_epochs: int = option(1, "tinybert: epochs of layer-wise distillation before the prediction "
                                  "layer's (the rest of --epochs)", low=1)
    student: str | None = option(None, "start the student from this model directory (e.g. a general-"
                                       "distilled student; it must use the teacher's vocabulary) instead of "
                                       "cutting it from the teacher", metavar="DIR")
    temperature: float = option(2.0, "softmax temperature T of the soft targets (the loss is scaled by T²)",
                                low=0.0, low_open=True)
    alpha: float = option(0.5, "weight of the soft-target loss; 1 - alpha weighs the hard labels",
                          low=0.0, high=1.0)
    train: TrainConfig = option(factory=_distill_defaults)

    def __post_init__(self) -> None:
        check_options(self)
        self.check_width()
        if not self.teacher or not self.out:
            raise ConfigError("distill needs --teacher RUN and --out RUN")
        if not self.train_file:
            raise ConfigError("distill needs --train FILE (the task data the teacher was fine-tuned on, "
                              "or more)")
        epochs_left = self.train.max_steps is not None or self.layer_epochs < self.train.epochs
        if self.method == "tinybert" and not epochs_left:
            raise ConfigError(f"--layer-epochs {self.layer_epochs} leaves no epoch of --epochs "
                              f"{self.train.epochs} for the prediction layer; raise --epochs")


@dataclass(kw_only=True)
class GeneralDistillConfig(StudentShape):
    """DistilBERT's general distillation: a teacher with an MLM head -> a smaller MLM student, on
    pretraining shards (`bertkit data prepare`), before any task."""

    teacher: str = option(help="model directory of a BERT with an MLM head (e.g. a bertkit pretrain RUN)",
                          metavar="DIR")
    shards: str = option(help="pretraining shards (bertkit data prepare) made with the teacher's tokenizer",
                         metavar="SHARDS")
    out: str = option(help="RUN directory to write the student to", metavar="RUN")
    temperature: float = option(2.0, "temperature T of the MLM soft targets (scaled by T²)", low=0.0,
                                low_open=True)
    alpha_ce: float = option(5.0, "weight of the soft-target KL at the masked positions", low=0.0)
    alpha_mlm: float = option(2.0, "weight of the student's own MLM loss", low=0.0)
    alpha_cos: float = option(1.0, "weight of the cosine loss between last hidden states", low=0.0)
    method: str = option("distilbert", "distilbert: soft MLM targets + MLM + cosine; tinybert: TinyBERT's "
                                       "general stage, MSE of embeddings, hidden states and attention maps",
                         choices=("distilbert", "tinybert"))
    layer_map: str | None = option(None, "tinybert: the teacher layer each student layer learns, e.g. 1,3 "
                                         "(default uniform)")
    recipe: str = option("roberta", "examples: roberta (packed full sentences; DistilBERT has no NSP) or "
                                    "bert (sentence pairs)", choices=("bert", "roberta"))
    seq_len: int = option(128, "tokens per sequence", low=8)
    mask_rate: float = option(0.15, "fraction of tokens to mask, in (0, 1)", low=0.0, low_open=True,
                              high=1.0, high_open=True)
    eval_data: str | None = option(None, "held-out shards: the student's MLM loss every --eval-every steps",
                                   metavar="SHARDS")
    eval_examples: int = option(256, "held-out examples per evaluation", low=1)
    train: TrainConfig = option(factory=_general_defaults)

    def __post_init__(self) -> None:
        check_options(self)
        self.check_width()
        if self.layer_map and self.method != "tinybert":
            raise ConfigError("--layer-map maps layers for --method tinybert; DistilBERT's loss has no map")
        if self.method == "distilbert" and self.alpha_ce + self.alpha_mlm + self.alpha_cos <= 0:
            raise ConfigError("--alpha-ce, --alpha-mlm and --alpha-cos are all 0: nothing to learn")
