"""Examples -> model inputs: tokenisation with the task's truncation or windows, label ids,
dynamic padding, and length-grouped batches.

Padding each batch only to its longest member, and batching texts of similar length together,
is most of the speed of fine-tuning on a CPU (the model also skips padding inside: unpadding).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from bertkit.errors import ConfigError
from bertkit.tasks.long_docs import truncate
from bertkit.tasks.readers import Example
from bertkit.tasks.spec import TaskSpec


@dataclass
class Feature:
    """One model input (a document may give several with sliding windows)."""

    input_ids: list[int]
    token_type_ids: list[int]
    example: int                                   # index of the example it came from
    label: Any = None                              # int | list[float] | list[int] (NER, -100 ignored)
    word_index: list[int | None] = field(default_factory=list)   # NER: word of each first sub-token
    offsets: list[tuple[int, int]] = field(default_factory=list)  # NER: character span of each token


def word_spans(words: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """Join pre-split words with spaces; return the text and each word's character span."""
    spans, pos = [], 0
    for w in words:
        spans.append((pos, pos + len(w)))
        pos += len(w) + 1
    return " ".join(words), spans


def _label_value(ex: Example, spec: TaskSpec, label2id: dict[str, int]) -> Any:
    if ex.label is None:
        return None
    if spec.task in ("classification", "pair"):
        return label2id[ex.label]
    if spec.task == "multilabel":
        row = [0.0] * spec.num_labels
        for lab in ex.label:
            row[label2id[lab]] = 1.0
        return row
    if spec.task == "regression":
        values = np.asarray(ex.label, dtype=np.float64)
        if spec.target_mean is not None:
            values = (values - np.asarray(spec.target_mean)) / np.asarray(spec.target_std)
        return values.tolist()
    raise ConfigError(f"no sequence label for task {spec.task}")


def _encode_options(spec: TaskSpec) -> dict[str, Any]:
    if spec.truncation == "window":
        return {"max_length": spec.max_length, "truncation": True, "stride": spec.stride,
                "return_overflowing": True}
    if spec.truncation == "head":
        return {"max_length": spec.max_length, "truncation": True}
    return {}  # tail / head+tail: encode everything, cut below


def encode_examples(tokenizer: Any, examples: Sequence[Example], spec: TaskSpec) -> list[Feature]:
    """Tokenise examples into features (with labels when the examples have them)."""
    label2id = {lab: i for i, lab in enumerate(spec.labels)}
    if spec.task == "ner":
        return _encode_ner(tokenizer, examples, spec, label2id)
    texts = [ex.text for ex in examples]
    has_pairs = spec.task == "pair" or any(ex.pair is not None for ex in examples)  # e.g. STS-B regression
    pairs = [ex.pair or "" for ex in examples] if has_pairs else None
    if pairs is not None and spec.truncation not in ("head",):
        raise ConfigError(f"sentence pairs are truncated from the longer text (head); "
                          f"--truncation {spec.truncation} is for single texts")
    features = []
    encodings = tokenizer.encode_texts(texts, pairs, **_encode_options(spec))
    for i, (ex, enc) in enumerate(zip(examples, encodings, strict=True)):
        label = _label_value(ex, spec, label2id)
        for window in (enc, *enc.overflowing):
            ids, types = window.ids, window.type_ids
            if spec.truncation in ("tail", "head+tail"):
                keep = truncate(ids, window.special_tokens_mask, spec.max_length, spec.truncation)
                ids, types = [ids[k] for k in keep], [types[k] for k in keep]
            features.append(Feature(list(ids), list(types), i, label))
    return features


def _encode_ner(tokenizer: Any, examples: Sequence[Example], spec: TaskSpec,
                label2id: dict[str, int]) -> list[Feature]:
    if spec.truncation not in ("head", "window"):
        raise ConfigError(f"token classification supports --truncation head or window, not {spec.truncation}")
    joined = [word_spans(ex.text) for ex in examples]
    encodings = tokenizer.encode_texts([text for text, _ in joined], **_encode_options(spec))
    features = []
    for i, (ex, (_, spans), enc) in enumerate(zip(examples, joined, encodings, strict=True)):
        starts = [s for s, _ in spans]
        for window in (enc, *enc.overflowing):
            word_index: list[int | None] = []
            labels: list[int] = []
            for (s, e), special in zip(window.offsets, window.special_tokens_mask, strict=True):
                w = bisect.bisect_right(starts, s) - 1
                first = not special and e > s and w >= 0 and starts[w] == s
                word_index.append(w if first else None)
                if ex.label is not None:
                    labels.append(label2id[ex.label[w]] if first else -100)
            features.append(Feature(list(window.ids), list(window.type_ids), i,
                                    labels if ex.label is not None else None, word_index,
                                    [tuple(o) for o in window.offsets]))
    return features


def collate(features: Sequence[Feature], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Pad a batch to its longest member; labels padded with -100 for token classification."""
    width = max(len(f.input_ids) for f in features)
    n = len(features)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    types = torch.zeros((n, width), dtype=torch.long)
    mask = torch.zeros((n, width), dtype=torch.long)
    for r, f in enumerate(features):
        k = len(f.input_ids)
        ids[r, :k] = torch.tensor(f.input_ids)
        types[r, :k] = torch.tensor(f.token_type_ids)
        mask[r, :k] = 1
    batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    first = features[0].label
    if first is None:
        return batch
    if isinstance(first, int):
        batch["labels"] = torch.tensor([f.label for f in features], dtype=torch.long)
    elif features[0].word_index:  # token labels
        labels = torch.full((n, width), -100, dtype=torch.long)
        for r, f in enumerate(features):
            labels[r, : len(f.label)] = torch.tensor(f.label)
        batch["labels"] = labels
    else:
        batch["labels"] = torch.tensor([f.label for f in features], dtype=torch.float32)
    return batch


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
