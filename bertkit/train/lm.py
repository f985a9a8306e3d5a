"""Pretraining a GPT language model on prepared shards, through the one loop.

The shards' documents are joined into one token stream (the tokenizer's separator between
documents, GPT-2's <|endoftext|> role), cut into windows of `seq_len` tokens, and each window is
one example of next-token prediction. Evaluation reports the held-out loss and its perplexity,
exp(mean negative log-likelihood per predicted token).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bertkit.data.shards import ShardSet, vocab_hash
from bertkit.errors import DataError
from bertkit.io import reading_locks
from bertkit.model.gpt import GPTConfig, GPTLanguageModel
from bertkit.tokenizers import Tokenizer
from bertkit.train.config import LMPretrainConfig, TrainConfig
from bertkit.train.loop import Trainer, TrainResult
from bertkit.train.pretrain import data_fingerprint


def token_stream(shards: ShardSet, separator: int | None) -> np.ndarray:
    """Every document's tokens in order, `separator` after each one (int64)."""
    parts: list[np.ndarray] = []
    for s, bounds in shards.documents():
        parts.append(np.asarray(shards.tokens[s][bounds[0]:bounds[-1]], dtype=np.int64))
        if separator is not None:
            parts.append(np.array([separator], dtype=np.int64))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


class PackedWindows:
    """A batch source of `seq_len`-token windows of one stream, shuffled per (seed, epoch).

    Each batch is {"input_ids", "labels"} (the same tensor: the model shifts the labels).
    """

    def __init__(self, stream: np.ndarray, seq_len: int, batch_size: int, seed: int) -> None:
        n = len(stream) // seq_len
        if n < batch_size:
            raise DataError(f"{len(stream)} tokens make {n} windows of {seq_len}, fewer than one batch of "
                            f"{batch_size}; use more text, a smaller --seq-len or --batch-size")
        self.windows = torch.from_numpy(stream[: n * seq_len].reshape(n, seq_len))
        self.batch_size, self.seed = batch_size, seed

    def __len__(self) -> int:
        return len(self.windows) // self.batch_size

    def __call__(self, epoch: int) -> Sequence[dict[str, torch.Tensor]]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(len(self.windows), generator=gen)[: len(self) * self.batch_size]
        return _Batches(self.windows, order.view(len(self), self.batch_size))


class _Batches(Sequence):
    """One epoch's batches, built when read (slicing is free, for resume and DDP)."""

    def __init__(self, windows: torch.Tensor, rows: torch.Tensor) -> None:
        self.windows, self.rows = windows, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return _Batches(self.windows, self.rows[i])
        ids = self.windows[self.rows[i]]                                     # (batch, seq_len)
        return {"input_ids": ids, "labels": ids}


def lm_metrics(out: Any, batch: dict[str, torch.Tensor]) -> dict[str, tuple[torch.Tensor, Any]]:
    """The loop's metrics_fn: the tokens trained on (logged as tokens/s)."""
    return {"tokens": (torch.tensor(batch["input_ids"].numel()), 1)}


@torch.no_grad()
def perplexity(model: nn.Module, windows: torch.Tensor, batch_size: int = 16) -> dict[str, float]:
    """Mean next-token loss over `windows` (n, seq) and its perplexity, exp(loss)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total = count = 0.0
    for start in range(0, len(windows), batch_size):
        ids = windows[start:start + batch_size].to(device)
        loss = model(ids, labels=ids).loss
        n = ids.shape[0] * (ids.shape[1] - 1)
        total, count = total + float(loss) * n, count + n
    model.train(was_training)
    loss = total / max(count, 1)
    return {"loss": loss, "perplexity": math.exp(min(loss, 50.0))}


def _separator(shards: ShardSet) -> int | None:
    """The id written between documents: the tokenizer's separator ("</s>" of byte-level BPE)."""
    ids = shards.special_ids
    return ids.get("sep", ids.get("eos"))


def pretrain_gpt(data_dir: str | os.PathLike, out_dir: str | os.PathLike, cfg: LMPretrainConfig,
                 train: TrainConfig | None = None) -> tuple[GPTLanguageModel, TrainResult]:
    """Train a GPT of `cfg.preset` size on the shards in `data_dir`; the RUN ends up a GPT-2
    directory (config.json, model.safetensors, tokenizer.json) that transformers loads. The shards
    are held with a shared reading lock while the run reads them (as `pretrain`)."""
    with reading_locks((data_dir, cfg.eval_data), what="pretrain-gpt"):
        return _pretrain_gpt(data_dir, out_dir, cfg, train)


def _pretrain_gpt(data_dir: str | os.PathLike, out_dir: str | os.PathLike, cfg: LMPretrainConfig,
                  train: TrainConfig | None) -> tuple[GPTLanguageModel, TrainResult]:
    train = train if train is not None else cfg.train
    tokenizer = Tokenizer.from_pretrained(data_dir)
    shards = ShardSet(data_dir, tokenizer_hash=vocab_hash(tokenizer.runtime))
    separator = _separator(shards)
    torch.manual_seed(train.seed)
    p = cfg.dropout
    model = GPTLanguageModel(GPTConfig.preset(
        cfg.preset, vocab_size=shards.vocab_size, n_positions=cfg.seq_len, resid_pdrop=p, embd_pdrop=p,
        attn_pdrop=p, bos_token_id=separator, eos_token_id=separator))
    source = PackedWindows(token_stream(shards, separator), cfg.seq_len, train.batch_size, train.seed)
    eval_fn = None
    if cfg.eval_data:
        held_out = ShardSet(cfg.eval_data, tokenizer_hash=vocab_hash(tokenizer.runtime))
        stream = token_stream(held_out, separator)
        n = min(cfg.eval_windows, len(stream) // cfg.seq_len)
        windows = torch.from_numpy(stream[: n * cfg.seq_len].reshape(n, cfg.seq_len))
        eval_fn = lambda m: perplexity(m, windows, train.batch_size)   # noqa: E731

    def save(m: nn.Module, directory: Path) -> None:
        m.save_pretrained(directory)
        tokenizer.save(directory)

    print(f"pretraining a {cfg.preset} GPT ({model.num_parameters() / 1e6:.1f}M parameters) on "
          f"{len(source.windows):,} windows of {cfg.seq_len} tokens from {data_dir}", flush=True)
    setup = {"lm": {k: v for k, v in asdict(cfg).items() if k != "train"}, "model": model.config.to_dict(),
             "data": data_fingerprint(shards)}
    trainer = Trainer(model, train, source, out_dir, eval_fn=eval_fn, metrics_fn=lm_metrics, save_model=save,
                      setup=setup)
    return model, trainer.fit()
