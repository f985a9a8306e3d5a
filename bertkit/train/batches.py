"""What the training loop reads: a batch source, `epoch -> iterable of batches`.

A batch is a dict passed to the model as `model(**batch)`. A source is any callable that, given the
epoch number, returns that epoch's micro-batches in order, as a pure function of (seed, epoch)
so that a resumed run sees the same data. It may have `__len__`: the micro-batches of one epoch
(without it, `max_steps` must be set and an epoch ends when the source runs out).

Under DDP every process calls the source and keeps every `world`-th batch of the stream
(process r takes batches r, r + world, ...). A source that returns a `Sequence` (a list, or the
map-style adapter's epochs) is sliced instead of iterated, so neither sharding nor skipping to
the resume position loads a batch it does not use.

`DatasetBatches` adapts a torch `Dataset`: a (seed, epoch) permutation cut into micro-batches of
`batch_size`, loaded by a DataLoader. Objects with `set_epoch(epoch)` (the dataset, the collate
function) are told the epoch first, so dynamic masking can be seeded by (seed, epoch, example).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, default_collate

Batch = dict[str, Any]


class BatchSource(Protocol):
    """`source(epoch)` -> that epoch's micro-batches; optional `len(source)`: how many."""

    def __call__(self, epoch: int) -> Iterable[Batch]: ...


class _EpochBatches(Sequence):
    """One epoch of a map-style dataset as index lists: slicing is free, iterating loads."""

    def __init__(self, dataset: Dataset, index_batches: list[list[int]], collate: Callable,
                 num_workers: int, generator: torch.Generator) -> None:
        self.dataset, self.index_batches, self.collate = dataset, index_batches, collate
        self.num_workers, self.generator = num_workers, generator

    def __len__(self) -> int:
        return len(self.index_batches)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return _EpochBatches(self.dataset, self.index_batches[i], self.collate, self.num_workers,
                                 self.generator)
        return self.collate([self.dataset[k] for k in self.index_batches[i]])

    def __iter__(self) -> Iterator[Batch]:
        # the generator keeps DataLoader from drawing its worker seed from the global RNG
        return iter(DataLoader(self.dataset, batch_sampler=self.index_batches, collate_fn=self.collate,
                               num_workers=self.num_workers, generator=self.generator))


class DatasetBatches:
    """A torch Dataset as a batch source: shuffled per (seed, epoch), `batch_size` per micro-batch.

    An IterableDataset is batched in its own order; its length (if any) gives the epoch's length.
    The last incomplete micro-batch of an epoch is dropped.
    """

    def __init__(self, dataset: Dataset, batch_size: int, seed: int = 0,
                 collate: Callable[[list], Batch] | None = None, num_workers: int = 0) -> None:
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.collate = collate or default_collate
        self.num_workers = num_workers

    def __len__(self) -> int:
        return len(self.dataset) // self.batch_size  # TypeError for an IterableDataset without length

    def __call__(self, epoch: int) -> Iterable[Batch]:
        for obj in (self.dataset, self.collate):
            if hasattr(obj, "set_epoch"):
                obj.set_epoch(epoch)
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        if isinstance(self.dataset, IterableDataset):
            return DataLoader(self.dataset, batch_size=self.batch_size, collate_fn=self.collate,
                              generator=gen)
        perm = torch.randperm(len(self.dataset), generator=gen).tolist()
        bs = self.batch_size
        return _EpochBatches(self.dataset, [perm[i * bs: (i + 1) * bs] for i in range(len(self))],
                             self.collate, self.num_workers, gen)


def batches_per_epoch(source: BatchSource) -> int | None:
    """`len(source)`, or None when the source has no length."""
    try:
        return len(source)  # type: ignore[arg-type]
    except TypeError:
        return None


def shard(batches: Iterable[Batch], rank: int, world: int, start: int) -> Iterator[Batch]:
    """Process `rank`'s batches of one epoch's stream, from its `start`-th on.

    The skipped batches are consumed here, eagerly, so a source that draws random numbers does so
    before the loop restores the checkpoint's RNG state.
    """
    first = start * world + rank
    if isinstance(batches, Sequence):
        return iter(batches[first::world])
    it = iter(batches)
    for _ in range(first):
        next(it, None)
    return itertools.islice(it, 0, None, world)
