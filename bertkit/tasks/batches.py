"""Features -> padded batches: dynamic padding and length-grouped batches for training, length-sorted
batches for inference.

Padding each batch only to its longest member, and batching texts of similar length together,
is most of the speed of fine-tuning on a CPU (the model also skips padding inside: unpadding).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

from bertkit.errors import ConfigError
from bertkit.tasks.features import Feature


def _pad(rows: Sequence[Sequence[int]], types: Sequence[Sequence[int]], pad_id: int
         ) -> dict[str, torch.Tensor]:
    """input_ids, attention_mask and token_type_ids of `rows`, padded to the longest."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    type_ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, (row, t) in enumerate(zip(rows, types, strict=True)):
        ids[r, : len(row)] = torch.tensor(row)
        type_ids[r, : len(row)] = torch.tensor(t)
        mask[r, : len(row)] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": type_ids}


def collate(features: Sequence[Feature], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Pad a batch to its longest member; labels padded with -100 for token classification.

    A feature whose input_ids is a list of rows (multiple choice: one per choice) gives
    (batch, choices, length) tensors, every choice padded to the longest in the batch.
    """
    n = len(features)
    if features[0].input_ids and isinstance(features[0].input_ids[0], list):
        choices = len(features[0].input_ids)
        flat = _pad([r for f in features for r in f.input_ids],
                    [t for f in features for t in f.token_type_ids], pad_id)
        batch = {k: v.view(n, choices, -1) for k, v in flat.items()}
    else:
        batch = _pad([f.input_ids for f in features], [f.token_type_ids for f in features], pad_id)
    width = batch["input_ids"].shape[-1]
    first = features[0].label
    if isinstance(first, dict):  # several named targets, e.g. start_positions and end_positions
        for key in first:
            batch[key] = _labels([f.label[key] for f in features], width)
    elif first is not None:
        batch["labels"] = _labels([f.label for f in features], width)
    return batch


def _labels(values: list[Any], width: int) -> torch.Tensor:
    """int -> class ids; list of int -> per-token ids padded with -100; list of float -> targets."""
    if isinstance(values[0], int):
        return torch.tensor(values, dtype=torch.long)
    if values[0] and isinstance(values[0][0], int):
        labels = torch.full((len(values), width), -100, dtype=torch.long)
        for r, row in enumerate(values):
            labels[r, : len(row)] = torch.tensor(row)
        return labels
    return torch.tensor(values, dtype=torch.float32)


class LengthGroupedBatches:
    """Training batches for the Trainer: a callable `epoch -> batches`, a pure function of (seed, epoch).

    Shuffle, cut into mega-batches of `group` batches, sort each by length, split into batches and
    shuffle the batches (like Hugging Face's `group_by_length`), so padding stays small while the
    order stays random. The last incomplete batch is dropped.
    """

    def __init__(self, features: Sequence[Feature], batch_size: int, seed: int = 0, pad_id: int = 0,
                 group: int = 50, by_length: bool = True) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch size must be positive, got {batch_size}")
        self.features, self.batch_size, self.seed = list(features), batch_size, seed
        self.pad_id, self.group, self.by_length = pad_id, group, by_length

    def __len__(self) -> int:
        return len(self.features) // self.batch_size

    def order(self, epoch: int) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, epoch])
        perm = rng.permutation(len(self.features))
        bs = self.batch_size
        if self.by_length:
            mega = bs * self.group
            chunks = [perm[i: i + mega] for i in range(0, len(perm), mega)]
            perm = np.concatenate([sorted(c, key=lambda k: -len(self.features[k].input_ids)) for c in chunks])
        batches = [perm[i: i + bs].tolist() for i in range(0, len(self)*bs, bs)]
        if self.by_length:
            batches = [batches[k] for k in rng.permutation(len(batches))]
        return batches

    def __call__(self, epoch: int) -> Iterator[dict[str, torch.Tensor]]:
        for idx in self.order(epoch):
            yield collate([self.features[k] for k in idx], self.pad_id)


def inference_batches(features: Sequence[Feature], batch_size: int, pad_id: int = 0
                      ) -> Iterator[tuple[list[int], dict[str, torch.Tensor]]]:
    """(feature indices, batch) sorted by length, so evaluation pads as little as possible."""
    order = sorted(range(len(features)), key=lambda k: len(features[k].input_ids))
    for i in range(0, len(order), batch_size):
        idx = order[i: i + batch_size]
        yield idx, collate([features[k] for k in idx], pad_id)
