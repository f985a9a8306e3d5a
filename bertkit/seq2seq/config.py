"""`Seq2SeqTrainConfig`: what `bertkit seq2seq train` is configured by (imports no torch).

The flags are generated from these fields and the nested `TrainConfig`, so `--lr`, `--max-steps`,
`--batch-size`, `--resume` mean what they mean everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

from bertkit.options import check_options, option
from bertkit.train.config import TrainConfig

TASKS = ("num2words",)


def _seq2seq_defaults() -> TrainConfig:
    """The paper's optimiser (§5.3: Adam, β2 0.98, ε 1e-9, inverse-sqrt schedule after warmup, no
    weight decay), a peak lr for a small model, and a run that fits in minutes on a laptop CPU."""
    return TrainConfig(lr=2e-3, betas=(0.9, 0.98), eps=1e-9, weight_decay=0.0, schedule="inverse_sqrt",
                       warmup_steps=300, max_steps=1500, batch_size=64, log_every=50, eval_every=250,
                       save_every=250, metric_for_best="exact_match")


@dataclass
class Seq2SeqTrainConfig:
    """A sequence-to-sequence run: the task, the Transformer's size and regularisation."""

    task: str = option("num2words", "digits -> Portuguese number words (num2words, pt_BR)", choices=TASKS)
    max_digits: int = option(6, "train on the numbers 0 .. 10^N - 1 (3 to 9 digits)", low=3, high=9)
    preset: str = option("mini", "Transformer size: mini (2+2 layers, d_model 128), tiny, small, base, big")
    dropout: float = option(0.1, "dropout (P_drop, §5.4), in [0, 1)", low=0.0, high=1.0, high_open=True)
    label_smoothing: float = option(0.1, "label smoothing ε_ls (§5.4), in [0, 1)", low=0.0, high=1.0,
                                    high_open=True)
    share_embeddings: bool = option(True, "separate source, target and output embeddings (default: one "
                                          "matrix, §3.4)", flag="--no-share-embeddings")
    eval_per_magnitude: int = option(100, "dev numbers per digit count at each evaluation", low=1)
    train: TrainConfig = option(factory=_seq2seq_defaults)

    def __post_init__(self) -> None:
        check_options(self)
