"""Byte-pair encoding (Sennrich et al., 2016): repeatedly merge the most frequent adjacent pair.

Training works on a table of distinct words with their counts, each word a list of integer symbol
ids (held as a string, one character chr(id) per symbol, while merging, so that finding and
replacing a pair runs in C). Three structures make it fast enough for tens of MB of text:
- `pair_counts[(a, b)]`: how often the pair occurs, weighted by word counts, kept incrementally;
  a merge only moves counts between the pairs next to each merge site;
- `where[(a, b)]`: the words that contain the pair, so a merge only touches those words;
- a max-heap of (count, pair) with lazy invalidation: when a popped entry's count is stale, the
  pair is pushed back with its current count instead of re-sorting anything.

The classic BPE here has no continuation prefix ("au", not "##au"); word boundaries come from the
BERT pre-tokenizer. Byte-level BPE (bytelevel.py) uses the same learner on byte symbols.
`reference.bpe_merges` is the same algorithm recounting everything at every step (tested equal).
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from tokenizers import models
from tqdm.auto import tqdm

from bertkit.tokenizers.vocab import alphabet_of, build_table, corpus_exhausted, initial_vocab, record_merge


def _merge_and_count(word: str, pair: str, ab: str, c: int, pair_counts: dict[str, int],
                     born: list[str]) -> str | None:
    """Merge each non-overlapping `pair` left to right into `ab` in `word` (symbols are one
    character each, see `learn_merges`), moving the word's count `c` from the pairs around each
    merge site to the new pairs (left, ab) and (ab, right), which are appended to `born`. None if
    the pair is absent. Only neighbours change, so a merge costs O(sites), not O(word length);
    the count of `pair` itself is left alone: the caller deletes it."""
    j = word.find(pair)
    if j < 0:
        return None
    a, b = pair
    n, end = len(word), -1  # end: where the previous merge site ended
    while j >= 0:
        if j == end:  # "a b a b": undo the (ab, a) the previous site added, make (ab, ab)
            pair_counts[ab + a] -= c
            pair_counts[ab + ab] += c
            born.append(ab + ab)
        elif j > 0:
            left = word[j - 1]
            pair_counts[left + a] -= c
            pair_counts[left + ab] += c
            born.append(left + ab)
        if j + 2 < n:
            right = word[j + 2]
            pair_counts[b + right] -= c
            pair_counts[ab + right] += c
            born.append(ab + right)
        end = j + 2
        j = word.find(pair, end)
    return word.replace(pair, ab)  # str.replace is left-to-right, non-overlapping: BPE's rule


def _count_pairs(text: list[str], counts: list[int]) -> tuple[dict[str, int], dict[str, set[int]]]:
    """How often each pair occurs (weighted by word counts), and which words hold it."""
    pair_counts: dict[str, int] = defaultdict(int)
    where: dict[str, set[int]] = defaultdict(set)
    for wi, (word, c) in enumerate(zip(text, counts, strict=True)):
        for i in range(len(word) - 1):
            pair = word[i:i + 2]
            pair_counts[pair] += c
            where[pair].add(wi)
    return pair_counts, where


def learn_merges(
    words: list[list[int]], counts: list[int], tokens: list[str], token_ids: dict[str, int],
    n_merges_target: int, *, min_frequency: int = 2, join=lambda a, b: a + b,
    verbose: bool = False, show_progress: bool = False,
) -> list[tuple[str, str]]:
    """Learn merges until `tokens` has grown by `n_merges_target` new entries (mutates the table).

    `join(left, right)` builds the merged token string (WordPiece-style prefixes use it).
    Returns the merges in order; stops early only when no pair reaches `min_frequency`.

    For speed each word is held as a string with one character per symbol (chr(id)), so finding
    and replacing a pair runs in C (`str.find`, `str.replace`) and a pair is a 2-character string.
    Strings compare by code point, so ties break exactly as on (id, id) tuples.
    """
    min_frequency = max(1, min_frequency)  # a pair whose count fell to 0 is never merged
    text = ["".join(map(chr, syms)) for syms in words]
    words.clear()  # refilled from `text` at the end; holding both would double the table's memory
    pair_counts, where = _count_pairs(text, counts)
    heap = [(-c, pair) for pair, c in pair_counts.items()]
    heapq.heapify(heap)

    merges: list[tuple[str, str]] = []
    added = 0
    bar = tqdm(total=n_merges_target, desc="bpe merges", unit="tok", disable=not show_progress)
    while added < n_merges_target and heap:
        neg, pair = heapq.heappop(heap)
        current = pair_counts.get(pair, 0)
        if current != -neg:  # stale entry: re-push with the current count (lazy invalidation)
            if current > 0:
                heapq.heappush(heap, (-current, pair))
            continue
        if current < min_frequency:
            break
        a, b = ord(pair[0]), ord(pair[1])
        ab, new = record_merge(tokens, token_ids, merges, a, b, join)
        if new:
            added += 1
            bar.update(1)
        if verbose:
            print(f"merge {len(merges)}: {tokens[a]!r} + {tokens[b]!r} -> {tokens[ab]!r} (count {current})")
        abc = chr(ab)
        touched: set[str] = set()
        for wi in where.pop(pair):
            if pair not in text[wi]:  # `where` may list words that lost the pair since (half of them)
                continue
            born: list[str] = []
            new = _merge_and_count(text[wi], pair, abc, counts[wi], pair_counts, born)
            for p in born:
                where[p].add(wi)
            touched.update(born)
            text[wi] = new
        del pair_counts[pair]
        for p in touched:
            heapq.heappush(heap, (-pair_counts[p], p))
    bar.close()
    words[:] = [list(map(ord, word)) for word in text]
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
