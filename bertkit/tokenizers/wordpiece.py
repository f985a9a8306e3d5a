"""WordPiece (Schuster & Nakajima, 2012; BERT): merge the pair that most raises the likelihood.

The merge score is   score(a, b) = freq(ab) / (freq(a) * freq(b)),
so a pair of rare symbols that almost always occur together beats a pair of common symbols that
happen to be frequent together. (Hugging Face's WordPiece trainer actually learns BPE merges by
raw frequency; this one does not.) A symbol inside a word carries the "##" prefix.

Training uses BPE's incremental tables (pair counts, pair -> words index) plus symbol frequencies.
Scores change in both directions, so the max-heap is kept correct like this:
- a pair's count only falls (its words got merged) -> its score falls; the stale (too high) heap
  entry is re-scored when popped and pushed back;
- a merge of (a, b) lowers freq(a) and freq(b) -> the scores of every pair containing a or b rise;
  those pairs are re-pushed at once (found through `partners[symbol]`).

Encoding is greedy longest-match-first, `[UNK]` for a word that cannot be split or that is longer
than `max_input_chars_per_word` characters.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from bertkit.tokenizers.bpe import _merge_word, alphabet_of, build_table, check_room, corpus_exhausted

PREFIX = "##"


def symbols_of(word: str) -> list[str]:
    """A word's initial symbols: "abc" -> ["a", "##b", "##c"]."""
    return [ch if i == 0 else PREFIX + ch for i, ch in enumerate(word)]


def join(left: str, right: str) -> str:
    return left + right[len(PREFIX):]


def learn_wordpiece_merges(
    words: list[list[int]], counts: list[int], tokens: list[str], token_ids: dict[str, int],
    n_new: int, *, min_frequency: int = 2, verbose: bool = False, show_progress: bool = False,
) -> list[tuple[str, str]]:
    """Merge by likelihood score until `tokens` has grown by `n_new` entries (mutates the table)."""
    from tqdm.auto import tqdm

    freq: list[int] = [0] * len(tokens)
    pair_counts: dict[tuple[int, int], int] = defaultdict(int)
    where: dict[tuple[int, int], set[int]] = defaultdict(set)
    partners: dict[int, set[tuple[int, int]]] = defaultdict(set)
    for wi, (syms, c) in enumerate(zip(words, counts, strict=True)):
        for s in syms:
            freq[s] += c
        for pair in pairwise(syms):
            pair_counts[pair] += c
            where[pair].add(wi)
    for pair in pair_counts:
        partners[pair[0]].add(pair)
        partners[pair[1]].add(pair)

    def score(pair: tuple[int, int]) -> float:
        return pair_counts[pair] / (freq[pair[0]] * freq[pair[1]])

    heap = [(-score(p), p) for p, c in pair_counts.items() if c >= min_frequency]
    heapq.heapify(heap)
    merges: list[tuple[str, str]] = []
    added = 0
    bar = tqdm(total=n_new, desc="wordpiece merges", unit="tok", disable=not show_progress)
    while added < n_new and heap:
        neg, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) < min_frequency:
            continue  # counts only fall: this pair can never qualify again
        current = score(pair)
        if current != -neg:  # stale entry: re-score and put back
            heapq.heappush(heap, (-current, pair))
            continue
        a, b = pair
        count = pair_counts[pair]
        merged = join(tokens[a], tokens[b])
        merges.append((tokens[a], tokens[b]))
        if merged in token_ids:
            ab = token_ids[merged]
        else:
            ab = token_ids[merged] = len(tokens)
            tokens.append(merged)
            freq.append(0)
            added += 1
            bar.update(1)
        if verbose:
            print(f"merge {len(merges)}: {tokens[a]!r} + {tokens[b]!r} -> {merged!r} "
                  f"(score {current:.3g} = {count} / ({freq[a]} * {freq[b]}))")
        touched: set[tuple[int, int]] = set()
        for wi in where.pop(pair):
            syms = words[wi]
            new = _merge_word(syms, a, b, ab)
            if new is None:
                continue
            c = counts[wi]
            for s in syms:
                freq[s] -= c
            for s in new:
                freq[s] += c
            for p in pairwise(syms):
                pair_counts[p] -= c
            for p in pairwise(new):
                pair_counts[p] += c
                if p[0] == ab or p[1] == ab:
                    where[p].add(wi)
                    if p not in touched:
                        touched.add(p)
                        partners[p[0]].add(p)
                        partners[p[1]].add(p)
            words[wi] = new
        del pair_counts[pair]
        # freq(a), freq(b) fell, so every pair with a or b scores higher now: re-push them.
        for s in {a, b}:
            live = {p for p in partners[s] if pair_counts.get(p, 0) >= min_frequency}
            partners[s] = live
            touched |= live
        for p in touched:
            if pair_counts.get(p, 0) >= min_frequency:
                heapq.heappush(heap, (-score(p), p))
    bar.close()
    return merges


@dataclass
class WordPieceModel:
    """A WordPiece vocabulary with BERT's greedy longest-match-first encoder."""

    vocab: dict[str, int]
    unk_token: str = "[UNK]"
    max_input_chars_per_word: int = 100
    prefix: str = PREFIX

    def tokenize(self, word: str) -> list[str]:
        """Longest vocabulary entry first, then "##"-prefixed entries; [UNK] if any part fails."""
        if len(word) > self.max_input_chars_per_word:
            return [self.unk_token]
        pieces: list[str] = []
        start = 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else self.prefix + word[start:end]
                if piece in self.vocab:
                    break
                end -= 1
            if end == start:
                return [self.unk_token]
            pieces.append(piece)
            start = end
        return pieces

    def to_runtime(self):
        from tokenizers import models

        return models.WordPiece(vocab=dict(self.vocab), unk_token=self.unk_token,
                                max_input_chars_per_word=self.max_input_chars_per_word)


def train_wordpiece(
    word_counts: Mapping[str, int], *, vocab_size: int, special_tokens: Sequence[str],
    unk_token: str = "[UNK]", min_frequency: int = 2, limit_alphabet: int | None = None,
    max_input_chars_per_word: int = 100, verbose: bool = False, show_progress: bool = False,
) -> WordPieceModel:
    """Learn a WordPiece vocabulary of exactly `vocab_size` entries from word counts: specials,
    the alphabet (each character alone and "##"-prefixed, as it occurs), then merges."""
    alphabet = set(alphabet_of(word_counts, limit_alphabet))
    initial: set[str] = set()
    for word in word_counts:
        for sym in symbols_of(word):
            if sym[-1] in alphabet:
                initial.add(sym)
    tokens = list(special_tokens)
    token_ids = {t: i for i, t in enumerate(tokens)}
    for sym in sorted(initial):
        if sym not in token_ids:
            token_ids[sym] = len(tokens)
            tokens.append(sym)
    check_room(vocab_size, len(special_tokens), len(tokens) - len(special_tokens))
    words, counts = build_table(word_counts, token_ids, symbols_of)
    learn_wordpiece_merges(words, counts, tokens, token_ids, vocab_size - len(tokens),
                           min_frequency=min_frequency, verbose=verbose, show_progress=show_progress)
    if len(tokens) < vocab_size:
        raise corpus_exhausted(vocab_size, len(tokens), min_frequency)
    return WordPieceModel(vocab=token_ids, unk_token=unk_token,
                          max_input_chars_per_word=max_input_chars_per_word)
