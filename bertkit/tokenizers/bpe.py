"""Byte-pair encoding (Sennrich et al., 2016): repeatedly merge the most frequent adjacent pair.

Training works on a table of distinct words with their counts (pairs.py: each word a string of
one-character symbols, pair counts and a pair -> words index kept incrementally, so a merge only
touches the words holding the pair), and a max-heap of packed (count, pair) keys with lazy
invalidation: when a popped entry's count is stale, the pair is pushed back with its current count
instead of re-sorting anything.

The classic BPE here has no continuation prefix ("au", not "##au"); word boundaries come from the
BERT pre-tokenizer. Byte-level BPE (bytelevel.py) uses the same learner on byte symbols.
`reference.bpe_merges` is the same algorithm recounting everything at every step (tested equal).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from tokenizers import models
from tqdm.auto import tqdm

from bertkit.tokenizers.pairs import PairTable, pack, unpack
from bertkit.tokenizers.vocab import alphabet_of, build_table, corpus_exhausted, initial_vocab, record_merge


def learn_merges(
    words: list[list[int]], counts: list[int], tokens: list[str], token_ids: dict[str, int],
    n_merges_target: int, *, min_frequency: int = 2, join=lambda a, b: a + b,
    verbose: bool = False, show_progress: bool = False,
) -> list[tuple[str, str]]:
    """Learn merges until `tokens` has grown by `n_merges_target` new entries.

    `words` (lists of symbol ids) is consumed: the table holds them as strings from then on.
    `join(left, right)` builds the merged token string (WordPiece-style prefixes use it).
    Returns the merges in order; stops early only when no pair reaches `min_frequency`.
    """
    min_frequency = max(1, min_frequency)  # a pair whose count fell to 0 is never merged
    table = PairTable(words, counts)
    pair_counts = table.pair_counts
    heap = [pack(c, pair) for pair, c in pair_counts.items()]
    heapq.heapify(heap)

    merges: list[tuple[str, str]] = []
    added = 0
    bar = tqdm(total=n_merges_target, desc="bpe merges", unit="tok", disable=not show_progress)
    while added < n_merges_target and heap:
        # find the pair with the highest count (ties: the smallest pair)
        count, pair = unpack(heapq.heappop(heap))
        current = pair_counts.get(pair, 0)
        if current != count:  # stale entry: re-push with the current count (lazy invalidation)
            if current > 0:
                heapq.heappush(heap, pack(current, pair))
            continue
        if current < min_frequency:
            break
        # mint the merged token, then replace the pair by it in every word holding it
        a, b = ord(pair[0]), ord(pair[1])
        ab, new = record_merge(tokens, token_ids, merges, a, b, join)
        if new:
            added += 1
            bar.update(1)
        if verbose:
            print(f"merge {len(merges)}: {tokens[a]!r} + {tokens[b]!r} -> {tokens[ab]!r} (count {current})")
        touched, _ = table.merge(pair, chr(ab))
        for p in touched:  # their counts rose: their heap entries are too low
            heapq.heappush(heap, pack(pair_counts[p], p))
    bar.close()
    return merges


@dataclass
class BPEModel:
    """A trained BPE model: vocabulary (token -> id) and merges in the order they were learned."""

    vocab: dict[str, int]
    merges: list[tuple[str, str]]
    unk_token: str | None = "[UNK]"
    ranks: dict[tuple[str, str], int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.ranks = {pair: i for i, pair in enumerate(self.merges)}

    def tokenize(self, word: str) -> list[str]:
        """Segment one pre-tokenized word: start from characters, apply the earliest-learned merge
        present (leftmost first) until none applies. Characters outside the vocabulary become
        `unk_token` (or are dropped when there is none)."""
        parts = list(word)
        while len(parts) > 1:
            best = min(
                ((self.ranks.get(pair, len(self.ranks)), i) for i, pair in enumerate(pairwise(parts))),
            )
            rank, i = best
            if rank == len(self.ranks):
                break
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        out = []
        for p in parts:
            if p in self.vocab:
                out.append(p)
            elif self.unk_token is not None:
                out.append(self.unk_token)
        return out

    def to_runtime(self):
        """The equivalent `tokenizers.models.BPE`."""
        return models.BPE(vocab=dict(self.vocab), merges=list(self.merges), unk_token=self.unk_token)


def train_bpe(
    word_counts: Mapping[str, int], *, vocab_size: int, special_tokens: Sequence[str],
    unk_token: str | None = "[UNK]", min_frequency: int = 2, limit_alphabet: int | None = None,
    initial_alphabet: Sequence[str] = (), verbose: bool = False, show_progress: bool = False,
) -> BPEModel:
    """Learn a BPE vocabulary of exactly `vocab_size` tokens (specials first, then the alphabet,
    then one token per merge) from word counts."""
    alphabet = alphabet_of(word_counts, limit_alphabet, initial_alphabet)
    tokens, token_ids = initial_vocab(special_tokens, alphabet, vocab_size)
    words, counts = build_table(word_counts, token_ids)
    if verbose:
        print(f"alphabet ({len(alphabet)}): {' '.join(alphabet)}")
    merges = learn_merges(words, counts, tokens, token_ids, vocab_size - len(tokens),
                          min_frequency=min_frequency, verbose=verbose, show_progress=show_progress)
    if len(tokens) < vocab_size:
        raise corpus_exhausted(vocab_size, len(tokens), min_frequency)
    return BPEModel(vocab=token_ids, merges=merges, unk_token=unk_token)
