"""Training the encoder-decoder Transformer on a sequence-to-sequence task, through the one loop;
translating and scoring with the trained RUN.

A RUN is `Seq2SeqTransformer.save_pretrained`'s directory (config.json with model_type
"bertkit-transformer", model.safetensors: `load_model` reads it) plus `task.json` (the task, its
range and vocabulary), the loop's checkpoints and metrics.jsonl.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from bertkit.errors import CheckpointError
from bertkit.io import PathLike, atomic_write_json, decode_utf8
from bertkit.model.seq2seq import Seq2SeqTransformer, TransformerConfig
from bertkit.seq2seq.config import Seq2SeqTrainConfig
from bertkit.seq2seq.task import Num2WordsTask, check_number, number_words
from bertkit.train.loop import Trainer, TrainResult

TASK_FILE = "task.json"
BATCHES_PER_EPOCH = 1000      # an "epoch" of this endless task: 1000 batches drawn afresh


def collate(task: Num2WordsTask, numbers: Sequence[int], with_labels: bool = True) -> dict[str, Tensor]:
    """Sources (digits) and targets (words + end token), each padded with 0 to its longest row."""
    sources = [task.source_ids(n) for n in numbers]
    batch = {"input_ids": _pad(sources), "attention_mask": _pad([[1] * len(s) for s in sources])}
    if with_labels:
        batch["labels"] = _pad([task.target_ids(number_words(n)) for n in numbers])
    return batch


def _pad(rows: list[list[int]]) -> Tensor:
    out = torch.zeros(len(rows), max(map(len, rows)), dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, :len(row)] = torch.tensor(row)
    return out


class NumberBatches:
    """The batch source: batch i of epoch e holds numbers drawn by a generator seeded (seed, e, i),
    so any batch is rebuilt alone (a resume skips to it without drawing the ones before)."""

    def __init__(self, task: Num2WordsTask, batch_size: int, seed: int, per_epoch: int = BATCHES_PER_EPOCH):
        self.task, self.batch_size, self.seed, self.per_epoch = task, batch_size, seed, per_epoch

    def __len__(self) -> int:
        return self.per_epoch

    def __call__(self, epoch: int) -> _EpochBatches:
        return _EpochBatches(self, epoch, range(self.per_epoch))

    def batch(self, epoch: int, i: int) -> dict[str, Tensor]:
        rng = np.random.default_rng([self.seed, epoch, i])
        return collate(self.task, self.task.sample("train", self.batch_size, rng))


class _EpochBatches(Sequence):
    def __init__(self, source: NumberBatches, epoch: int, index: range) -> None:
        self.source, self.epoch, self.index = source, epoch, index

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return _EpochBatches(self.source, self.epoch, self.index[i])
        return self.source.batch(self.epoch, self.index[i])


def seq2seq_metrics(out: Any, batch: dict[str, Tensor]) -> dict[str, tuple[Tensor, Any]]:
    """The loop's metrics_fn: tokens/s (source + target tokens) and teacher-forced token accuracy."""
    labels = batch["labels"]
    real = labels != 0
    correct = (out.logits.argmax(-1) == labels) & real
    return {"tokens": (batch["attention_mask"].sum() + real.sum(), 1),
            "token_accuracy": (correct.sum(), real.sum())}


@torch.no_grad()
def translate(model: Seq2SeqTransformer, task: Num2WordsTask, numbers: Sequence[int], batch_size: int = 500,
              num_beams: int = 1) -> list[str]:
    """The model's words for each number (greedy, or beam search with `num_beams`)."""
    device = next(model.parameters()).device
    max_new = 4 * task.max_digits + 4           # the longest target of 9 digits is 20 tokens with the end
    out: list[str] = []
    for start in range(0, len(numbers), batch_size):
        batch = collate(task, numbers[start:start + batch_size], with_labels=False)
        ids = model.generate(batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device),
                             max_new_tokens=max_new, num_beams=num_beams)
        out += [task.decode(row[1:]) for row in ids.tolist()]
    return out


def score(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """exact_match (% of outputs equal to the reference) and sacrebleu's corpus BLEU (when installed)."""
    exact = 100.0 * sum(h == r for h, r in zip(hypotheses, references, strict=True)) / max(len(references), 1)
    result = {"exact_match": exact}
    try:
        import sacrebleu
    except ImportError:
        warnings.warn("BLEU needs sacrebleu: pip install 'bertkit[seq2seq]'", stacklevel=2)
        return result
    result["bleu"] = sacrebleu.corpus_bleu(list(hypotheses), [list(references)]).score
    return result


def evaluate(model: Seq2SeqTransformer, task: Num2WordsTask, numbers: Sequence[int],
             num_beams: int = 1) -> dict[str, Any]:
    """Exact match and BLEU over `numbers`, and exact match per digit count."""
    hyps = translate(model, task, numbers, num_beams=num_beams)
    refs = [number_words(n) for n in numbers]
    result: dict[str, Any] = {**score(hyps, refs), "examples": len(numbers)}
    by_digits: dict[int, list[bool]] = {}
    for n, h, r in zip(numbers, hyps, refs, strict=True):
        by_digits.setdefault(len(str(n)), []).append(h == r)
    result["exact_match_by_digits"] = {d: 100.0 * sum(v) / len(v) for d, v in sorted(by_digits.items())}
    result["errors"] = [(n, h, r) for n, h, r in zip(numbers, hyps, refs, strict=True) if h != r][:10]
    return result


def build_model(cfg: Seq2SeqTrainConfig, task: Num2WordsTask) -> Seq2SeqTransformer:
    return Seq2SeqTransformer(TransformerConfig.preset(
        cfg.preset, vocab_size=task.vocab_size, max_positions=64, dropout=cfg.dropout,
        label_smoothing=cfg.label_smoothing, share_embeddings=cfg.share_embeddings,
        warmup_steps=cfg.train.warmup_steps, pad_token_id=0, bos_token_id=1, eos_token_id=2))


def train_seq2seq(out_dir: PathLike, cfg: Seq2SeqTrainConfig) -> tuple[Seq2SeqTransformer, TrainResult]:
    """Train a Transformer on `cfg.task`; the final RUN holds the weights best on the dev numbers."""
    train = cfg.train
    task = Num2WordsTask(cfg.max_digits)
    torch.manual_seed(train.seed)
    model = build_model(cfg, task)
    dev = task.eval_numbers("dev", cfg.eval_per_magnitude)

    def eval_fn(m: nn.Module) -> dict[str, float]:
        result = evaluate(m, task, dev)
        return {k: v for k, v in result.items() if isinstance(v, float)}

    def save(m: nn.Module, directory: Path) -> None:
        m.save_pretrained(directory)
        atomic_write_json(directory / TASK_FILE, task.to_dict())

    print(f"training a {cfg.preset} Transformer ({model.num_parameters() / 1e6:.2f}M parameters) on "
          f"{cfg.task}: numbers below {10 ** cfg.max_digits:,}, {len(dev)} dev numbers", flush=True)
    setup = {"seq2seq": {k: v for k, v in asdict(cfg).items() if k != "train"}, "task": task.to_dict(),
             "model": model.config.to_dict()}
    source = NumberBatches(task, train.batch_size, train.seed)
    trainer = Trainer(model, train, source, out_dir, eval_fn=eval_fn, metrics_fn=seq2seq_metrics,
                      save_model=save, setup=setup)
    return model, trainer.fit()


def load_run(directory: PathLike) -> tuple[Seq2SeqTransformer, Num2WordsTask]:
    """The model and task of a `bertkit seq2seq train` RUN; anything else is a CheckpointError."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: no such RUN directory")
    path = directory / TASK_FILE
    if not path.is_file():
        raise CheckpointError(f"{directory}: no {TASK_FILE}, so not a `bertkit seq2seq train` RUN "
                              f"(a sequence-to-sequence model with its task)")
    try:
        task = Num2WordsTask.from_dict(json.loads(decode_utf8(path.read_bytes(), path)), str(path))
    except ValueError as e:
        raise CheckpointError(f"{path}: {e}") from None
    from bertkit.model.auto import load_model

    model = load_model(directory)
    if not isinstance(model, Seq2SeqTransformer):
        raise CheckpointError(f"{directory}: holds a {type(model).__name__}, not a sequence-to-sequence "
                              f"Transformer (model_type bertkit-transformer)")
    if model.config.vocab_size != task.vocab_size:
        raise CheckpointError(f"{directory}: config.json's vocab_size {model.config.vocab_size} does not "
                              f"match {TASK_FILE}'s {task.vocab_size} tokens")
    return model.eval(), task


def parse_numbers(texts: Sequence[str], task: Num2WordsTask) -> list[int]:
    """Command-line sources -> numbers, each checked (digits only, in the trained range)."""
    return [check_number(t, task.max_digits, where=f"argument {i}") for i, t in enumerate(texts, 1)]

