"""What a training run is configured by: `TrainConfig` (the loop) and `PretrainConfig` (pretraining).

Each field declares its default, help text and valid range once (`bertkit.options.option`); the
CLI flags are generated from these fields, so Python callers and the command line share names,
defaults and checks. This module imports no torch, so `bertkit --help` stays fast.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

from bertkit.errors import ConfigError
from bertkit.model.config import PRESETS
from bertkit.options import check_options, option

SCHEDULES = ("linear", "cosine", "constant", "inverse_sqrt")


@dataclass
class TrainConfig:
    """The optimizer, schedule, length, logging and checkpointing of one run of the loop."""

    lr: float = option(1e-4, "peak learning rate", low=0.0, low_open=True)
    weight_decay: float = option(0.01, "AdamW weight decay (none on biases and LayerNorm)", low=0.0)
    betas: tuple[float, float] = option((0.9, 0.999), "Adam betas, each in [0, 1)")
    eps: float = option(1e-8, "Adam epsilon", low=0.0, low_open=True)
    warmup_steps: int = option(0, "linear warmup steps (wins over --warmup-ratio when > 0)", low=0)
    warmup_ratio: float = option(0.0, "warmup as a fraction of all optimizer steps, in [0, 1)", low=0.0,
                                high=1.0, high_open=True)
    schedule: str = option("linear", "learning-rate schedule after warmup", choices=SCHEDULES)
    max_steps: int | None = option(None, "stop after N optimizer steps (wins over --epochs)", low=1)
    epochs: float = option(1.0, "passes over the training data (fractions allowed)", low=0.0, low_open=True)
    batch_size: int = option(32, "examples per micro-batch, per process", low=1)
    grad_accum: int = option(1, "micro-batches per optimizer step (gradient accumulation)", low=1)
    max_grad_norm: float | None = option(1.0, "clip the global gradient norm to this (None: no clipping)",
                                         low=0.0, low_open=True)
    seed: int = option(0, "random seed: data order, masking, dropout, initialisation", low=0)
    log_every: int = option(10, "log training metrics every N optimizer steps", low=1)
    eval_every: int | None = option(None, "evaluate every N optimizer steps (and at the end)", low=1)
    save_every: int | None = option(None, "checkpoint every N optimizer steps (and always at the end)",
                                    low=1)
    keep_last: int = option(2, "checkpoints to keep", low=1)
    metric_for_best: str | None = option(None, "eval metric that picks the best checkpoint", cli=False)
    greater_is_better: bool = option(True, "whether a larger metric_for_best is better", cli=False)
    early_stopping_patience: int | None = option(
        None, "stop after N evaluations without improvement", low=1, aliases=("--early-stopping",))
    layerwise_lr_decay: float | None = option(
        None, "layer-wise lr decay: layer i of L trains at lr * decay**(L - i)", low=0.0, low_open=True,
        high=1.0, aliases=("--llrd",))
    num_workers: int = option(0, "DataLoader worker processes (map-style datasets)", low=0)
    resume: bool = option(False, "continue from the last checkpoint in the RUN directory")
    overwrite: bool = option(False, "start afresh in a RUN directory that holds an earlier run, "
                                    "deleting its checkpoints and metrics")

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas)
        check_options(self)
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError(f"betas must be two numbers in [0, 1); got {self.betas}")
        if self.resume and self.overwrite:
            raise ConfigError("resume and overwrite exclude each other: continue the run, or start afresh")


def _pretrain_defaults() -> TrainConfig:
    """Pretraining's own defaults: a higher peak lr, BERT's Adam epsilon, 6% warmup."""
    return TrainConfig(lr=5e-4, eps=1e-6, warmup_ratio=0.06)


@dataclass(frozen=True)
class Recipe:
    """A pretraining recipe: a preset of choices, declared once here and nowhere else.

    examples: "bert" (sentence pairs) or "roberta" (packed full sentences, data/examples.py);
    objective: "mlm+nsp", "mlm", or "electra" (replaced-token detection, train/electra.py);
    norm_position / dropout: the model built from scratch (None: the preset's); train: TrainConfig
    fields the recipe sets where the caller left pretraining's defaults.
    """

    examples: str
    objective: str = "mlm"
    norm_position: str | None = None
    dropout: float | None = None
    train: tuple[tuple[str, object], ...] = ()
    from_scratch_only: bool = False


# Cramming (Geiping & Goldstein 2022, "Cramming: Training a Language Model on a Single GPU in One
# Day"): pre-LN, no NSP, no dropout while pretraining, a short one-cycle schedule (linear up, linear
# down) with a high peak lr, packed sequences. ELECTRA (Clark et al. 2020): the same, with
# replaced-token detection learning from every token, not only the masked 15%.
_CRAMMING_TRAIN = (("lr", 1e-3), ("warmup_ratio", 0.1))
RECIPES: dict[str, Recipe] = {
    "bert": Recipe("bert", "mlm+nsp"),
    "albert": Recipe("albert", "mlm+sop"),       # ALBERT (Lan et al. 2020): sentence-order prediction
    "roberta": Recipe("roberta"),
    "cramming": Recipe("roberta", norm_position="pre", dropout=0.0, train=_CRAMMING_TRAIN,
                       from_scratch_only=True),
    "electra": Recipe("roberta", "electra", norm_position="pre", dropout=0.0, train=_CRAMMING_TRAIN,
                      from_scratch_only=True),
}


@dataclass
class PretrainConfig:
    """What pretraining adds to TrainConfig: model size, recipe and masking."""

    preset: str = option("mini", "model size (Google's BERT sizes)", choices=tuple(PRESETS))
    recipe: str = option("bert", "bert: sentence pairs + NSP; albert: an ALBERT, pairs + sentence-order "
                                 "prediction; roberta: packed full sentences, MLM only; "
                                 "cramming: roberta + pre-LN, no dropout, one-cycle lr 1e-3; electra: "
                                 "cramming's choices + replaced-token detection (from scratch)",
                         choices=tuple(RECIPES))
    seq_len: int = option(128, "tokens per sequence", low=8)
    mask_rate: float = option(0.15, "fraction of tokens to mask, in (0, 1)", low=0.0, low_open=True,
                              high=1.0, high_open=True)
    whole_word: bool = option(False, "whole-word masking")
    dynamic_masking: bool = option(
        True, "the same masks every epoch, as BERT (default: new masks every epoch)",
        flag="--static-masking")
    dupe_factor: int = option(1, "copies of the data with different masks", low=1)
    max_predictions: int | None = option(
        None, "at most N masked tokens per sequence (BERT's max_predictions_per_seq)", low=1)
    dropout: float | None = option(None, "hidden and attention dropout in [0, 1) (default: the model's)",
                                   low=0.0, high=1.0, high_open=True)
    init_from: str | None = option(None, "continue pretraining from a (Hugging Face) BERT directory",
                                   metavar="DIR")
    add_tokens: str | None = option(None, "with --init-from: add these domain tokens (one per line); "
                                          "prepare the data with the same --add-tokens", metavar="FILE")
    init_embeddings: str | None = option(
        None, "from scratch: start the token embeddings from word vectors: 'word2vec' (skip-gram on "
              "the shards' own tokens first, saved in OUT/word2vec/), or a word2vec file or `bertkit "
              "word2vec train --tokenizer` directory whose words are this tokenizer's tokens",
        metavar="word2vec|VECTORS")
    init_embeddings_std: float = option(0.1, "--init-embeddings: rescale the vectors to this standard "
                                             "deviation (a random start has 0.02)", low=0.0, low_open=True)
    head_warmup_steps: int | None = option(
        None, "with --init-from: N steps that train only the MLM head (encoder frozen) before the "
              "run (default: a fifth of the run's steps, at most 100, when the checkpoint has no MLM "
              "head, else 0)",
        low=0)
    head_lr: float = option(1e-3, "the head-only steps' learning rate (constant)", low=0.0, low_open=True)
    rtd_weight: float = option(50.0, "electra: loss = MLM + this x replaced-token detection", low=0.0,
                               low_open=True)
    eval_data: str | None = option(None, "shards of a held-out split, evaluated every --eval-every steps",
                                   metavar="SHARDS")
    eval_examples: int = option(512, "held-out examples per evaluation", low=1)
    train: TrainConfig = option(factory=_pretrain_defaults)

    def __post_init__(self) -> None:
        check_options(self)
        recipe = RECIPES[self.recipe]
        if self.init_from and recipe.from_scratch_only:
            raise ConfigError(f"recipe {self.recipe!r} builds a new (pre-LN) model from scratch; with "
                              f"--init-from use --recipe roberta (or bert)")
        if self.init_embeddings and self.init_from:
            raise ConfigError("init_embeddings starts a new model's token embeddings; a model from "
                              "--init-from has its own (drop one of the two)")
        if self.head_warmup_steps and not self.init_from:
            raise ConfigError("head_warmup_steps is for --init-from (a checkpoint whose head is new)")
        defaults, generic = _pretrain_defaults(), TrainConfig()
        changes = {k: v for k, v in recipe.train if getattr(self.train, k) == getattr(defaults, k)}
        if changes:
            self.train = dataclasses.replace(self.train, **changes)
        # A plain TrainConfig() carries fine-tuning's defaults, which look like the caller's choice.
        kept = [f"{k}={getattr(self.train, k)!r} (the recipe's: {v!r})" for k, v in recipe.train
                if getattr(self.train, k) == getattr(generic, k) != v]
        if kept:
            warnings.warn(f"recipe {self.recipe!r}: train keeps {', '.join(kept)}, TrainConfig()'s "
                          f"fine-tuning defaults; for the recipe's, start from PretrainConfig(recipe="
                          f"{self.recipe!r}).train and dataclasses.replace what you change",
                          UserWarning, stacklevel=3)


def _lm_defaults() -> TrainConfig:
    """GPT pretraining's defaults: nanoGPT's peak lr for small models, cosine decay, 5% warmup."""
    return TrainConfig(lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1, warmup_ratio=0.05, schedule="cosine")


@dataclass
class LMPretrainConfig:
    """`bertkit pretrain-gpt`: a GPT language model on packed shards (next-token prediction)."""

    preset: str = option("tiny", "model size: tiny, mini, small (GPT-2 124M), medium, large, xl")
    seq_len: int = option(128, "tokens per training window (also the model's context window)", low=8)
    dropout: float = option(0.0, "residual, embedding and attention dropout in [0, 1)", low=0.0, high=1.0,
                            high_open=True)
    eval_data: str | None = option(None, "shards of held-out text: loss and perplexity every --eval-every "
                                         "steps and at the end", metavar="SHARDS")
    eval_windows: int = option(64, "held-out windows per evaluation", low=1)
    train: TrainConfig = option(factory=_lm_defaults)

    def __post_init__(self) -> None:
        check_options(self)
