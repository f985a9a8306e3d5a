"""Pretraining examples from token shards: the two recipes, and the dataset the loop consumes.

(a) "bert": sentence pairs `[CLS] A [SEP] B [SEP]` with next-sentence prediction, following
    google-research/bert `create_pretraining_data.py`: per document a target length (the maximum,
    or with probability `short_seq_prob` a random shorter one), sentences gathered until it is
    reached, A = a random number of them, B = the rest (label 0) or, half the time, a span from a
    random other document (label 1, unused sentences put back); the longer side is then trimmed,
    a token at a time from a random end, until the pair fits.
(b) "albert": the same pairs with sentence-order prediction (Lan et al. 2020, 4.1) instead of NSP:
    B is always the segment that follows A in the document; half the time the two are swapped
    (label 1), else kept in order (label 0). A chunk of a single sentence is cut in two at its
    middle token, so every pair is two consecutive segments.
(c) "roberta": FULL-SENTENCES of RoBERTa: whole sentences packed up to the maximum length, across
    document boundaries (an extra [SEP] between documents), no NSP.

An example is a few integers (shard, token ranges); tokens are read from the memmap and masked
when the example is fetched, with a generator seeded by (seed, example) — static masks, the same
every epoch (dupe_factor copies get different ones, as in BERT) — or (seed, epoch, example) for
dynamic masking. Either way a resumed run sees exactly the masks it would have seen.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from bertkit.data.masking import mask_tokens, word_ids_from_tokens
from bertkit.data.shards import ShardSet
from bertkit.errors import ConfigError, DataError

RECIPES = ("bert", "albert", "roberta")


def bert_pairs(shards: ShardSet, seq_len: int, short_seq_prob: float, rng: np.random.Generator,
               sentence_order: bool = False) -> np.ndarray:
    """NSP instances as rows (shard_a, a0, a1, shard_b, b0, b1, is_random) of token offsets; with
    `sentence_order`, SOP instances (..., is_swapped): B follows A in the text, swapped half the time."""
    docs = list(shards.documents())
    max_tokens = seq_len - 3
    rows: list[tuple[int, ...]] = []
    for d, (s, bounds) in enumerate(docs):
        n_sent = len(bounds) - 1
        target = max_tokens
        if rng.random() < short_seq_prob:
            target = int(rng.integers(2, max_tokens + 1))
        chunk: list[int] = []
        length = 0
        i = 0
        while i < n_sent:
            chunk.append(i)
            length += int(bounds[i + 1] - bounds[i])
            if i == n_sent - 1 or length >= target:
                a_end = 1 if len(chunk) < 2 else int(rng.integers(1, len(chunk)))
                a0, a1 = int(bounds[chunk[0]]), int(bounds[chunk[a_end - 1] + 1])
                if sentence_order:
                    is_random, sb = 0, s
                    b0, b1 = a1, int(bounds[chunk[-1] + 1])
                    if len(chunk) == 1:                   # one sentence: its two halves
                        a1 = b0 = (a0 + b1) // 2
                    if a1 - a0 == 0 or b1 - b0 == 0:
                        chunk, length = [], 0
                        i += 1
                        continue
                elif len(chunk) == 1 or rng.random() < 0.5:
                    is_random, sb = 1, s
                    for _ in range(10):
                        r = int(rng.integers(0, len(docs)))
                        if r != d:
                            break
                    sb, rb = docs[r]
                    j = int(rng.integers(0, len(rb) - 1))
                    b0 = int(rb[j])
                    target_b = target - (a1 - a0)
                    while j < len(rb) - 1:
                        j += 1
                        if rb[j] - b0 >= target_b:
                            break
                    b1 = int(rb[j])
                    i -= len(chunk) - a_end          # put the unused sentences back
                else:
                    is_random, sb = 0, s
                    b0, b1 = int(bounds[chunk[a_end]]), int(bounds[chunk[-1] + 1])
                while (a1 - a0) + (b1 - b0) > max_tokens:   # truncate_seq_pair
                    front = rng.random() < 0.5
                    if a1 - a0 > b1 - b0:
                        a0, a1 = (a0 + 1, a1) if front else (a0, a1 - 1)
                    else:
                        b0, b1 = (b0 + 1, b1) if front else (b0, b1 - 1)
                if sentence_order and rng.random() < 0.5:
                    (a0, a1), (b0, b1), is_random = (b0, b1), (a0, a1), 1   # swapped: label 1
                rows.append((s, a0, a1, sb, b0, b1, is_random))
                chunk, length = [], 0
            i += 1
    return np.asarray(rows, dtype=np.int64).reshape(-1, 7)


def full_sentences(shards: ShardSet, seq_len: int) -> np.ndarray:
    """RoBERTa FULL-SENTENCES instances as rows (shard, t0, t1); a [SEP] goes in at each inner
    document end. Sentences longer than the space are cut into pieces."""
    cap = seq_len - 2
    rows: list[tuple[int, int, int]] = []
    for s, (sent, doc) in enumerate(zip(shards.sent_ends, shards.doc_ends, strict=True)):
        doc_starts = set(np.concatenate([[0], sent[doc[:-1] - 1]]).tolist())
        t0, used, start = 0, 0, 0
        for end in sent.tolist():
            extra = 1 if start in doc_starts and start > t0 else 0
            if used and used + extra + (end - start) > cap:
                rows.append((s, t0, start))
                t0, used, extra = start, 0, 0
            while end - t0 > cap:                     # one sentence longer than a sequence
                rows.append((s, t0, t0 + cap))
                t0, used, extra = t0 + cap, 0, 0
            used += extra + end - start
            start = end
        if used:
            rows.append((s, t0, start))
    return np.asarray(rows, dtype=np.int64).reshape(-1, 3)


class PretrainingDataset(Dataset):
    """Masked (and for "bert"/"albert", NSP/SOP-labelled) examples of fixed length `seq_len` from `shards`."""

    def __init__(
        self,
        shards: ShardSet,
        recipe: str = "bert",
        seq_len: int = 128,
        *,
        mask_rate: float = 0.15,
        whole_word: bool = False,
        continuation: np.ndarray | None = None,
        dynamic: bool = True,
        dupe_factor: int = 1,
        short_seq_prob: float = 0.1,
        max_predictions: int | None = None,
        seed: int = 0,
    ) -> None:
        if recipe not in RECIPES:
            raise ConfigError(f"recipe: unknown {recipe!r}; choose from {', '.join(RECIPES)}")
        if seq_len < 8:
            raise ConfigError(f"seq_len must be at least 8, got {seq_len}")
        if whole_word and continuation is None:
            raise ConfigError("whole_word masking needs the tokenizer's continuation table")
        self.shards, self.recipe, self.seq_len = shards, recipe, seq_len
        self.mask_rate, self.whole_word, self.continuation = mask_rate, whole_word, continuation
        self.dynamic, self.max_predictions, self.seed = dynamic, max_predictions, seed
        ids = shards.special_ids
        self.cls, self.sep, self.mask = ids["cls"], ids["sep"], ids["mask"]
        self.pad = ids.get("pad", 0)
        self.epoch = 0
        copies = []
        for dup in range(max(1, dupe_factor)):
            if recipe in ("bert", "albert"):
                copies.append(bert_pairs(shards, seq_len, short_seq_prob, np.random.default_rng([seed, dup]),
                                         sentence_order=recipe == "albert"))
            else:
                copies.append(full_sentences(shards, seq_len))
        self.rows = np.concatenate(copies)
        if len(self.rows) == 0:
            raise DataError(f"{shards.dir}: no pretraining examples could be built (empty shards)")
        self.doc_token_ends = [sent[doc - 1]
                               for sent, doc in zip(shards.sent_ends, shards.doc_ends, strict=True)]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.rows)

    def _tokens(self, i: int) -> tuple[np.ndarray, np.ndarray, int | None]:
        """(ids, token types, NSP/SOP label) of example i, without padding."""
        row = self.rows[i]
        if self.recipe in ("bert", "albert"):
            s, a0, a1, sb, b0, b1, is_random = row.tolist()
            a = self.shards.tokens[s][a0:a1].astype(np.int64)
            b = self.shards.tokens[sb][b0:b1].astype(np.int64)
            ids = np.concatenate([[self.cls], a, [self.sep], b, [self.sep]])
            types = np.zeros(ids.size, dtype=np.int64)
            types[a.size + 2:] = 1
            return ids, types, is_random
        s, t0, t1 = row.tolist()
        body = self.shards.tokens[s][t0:t1].astype(np.int64)
        ends = self.doc_token_ends[s]
        inner = ends[(ends > t0) & (ends < t1)] - t0
        body = np.insert(body, inner, self.sep)
        ids = np.concatenate([[self.cls], body, [self.sep]])
        return ids, np.zeros(ids.size, dtype=np.int64), None

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        ids, types, nsp = self._tokens(i)
        special = (ids == self.cls) | (ids == self.sep)
        rng = np.random.default_rng([self.seed, self.epoch if self.dynamic else 0, i, 7])
        words = word_ids_from_tokens(ids, special, self.continuation) if self.whole_word else None
        masked, labels = mask_tokens(ids, special, rng, mask_id=self.mask,
                                     vocab_size=self.shards.vocab_size, rate=self.mask_rate,
                                     word_ids=words, max_predictions=self.max_predictions)
        n, pad = ids.size, self.seq_len - ids.size
        out = {
            "input_ids": torch.from_numpy(np.pad(masked, (0, pad), constant_values=self.pad)),
            "attention_mask": torch.from_numpy(np.pad(np.ones(n, dtype=np.int64), (0, pad))),
            "token_type_ids": torch.from_numpy(np.pad(types, (0, pad))),
            "labels": torch.from_numpy(np.pad(labels, (0, pad), constant_values=-100)),
        }
        if nsp is not None:
            out["next_sentence_label"] = torch.tensor(nsp, dtype=torch.long)
        return out
