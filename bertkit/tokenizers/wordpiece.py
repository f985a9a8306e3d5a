"""WordPiece (Schuster & Nakajima, 2012; BERT): merge the pair that most raises the likelihood.

A symbol inside a word carries the "##" prefix. Two scores, both exact at every step (the chosen
merge is the true argmax, ties going to the smallest pair of ids; `reference.wordpiece_merges`
recounts everything and is tested equal):
- "log_likelihood_gain" (default): the gain in unigram-LM log-likelihood that Schuster &
  Nakajima's criterion maximises, to first order:
      score(a, b) = count(ab) * log(count(ab) * N / (freq(a) * freq(b))),   N = number of symbols.
  Weighting by the count makes frequent merges win, so it compresses about as well as BPE.
- "likelihood_ratio" (the Hugging Face course's formula, the teaching version):
      score(a, b) = freq(ab) / (freq(a) * freq(b)).
  It is scale-free: a pair of rare symbols that almost always occur together beats a pair of
  common symbols that are often together, so it first merges rare pairs (years, digits, names)
  and needs ~3x the tokens per character of held-out text (docs/tokenizers.md has the figures).
Hugging Face's WordPieceTrainer uses neither: it trains BPE merges by raw count with the "##"
prefix and keeps the vocabulary (tokenizers/src/models/wordpiece/trainer.rs: `WordPiece::from_bpe`).

Training uses the pair table shared with BPE (pairs.py) plus symbol frequencies. A score falls
when a pair's count falls, but RISES for every pair containing a or b after a merge of (a, b),
since freq(a) and freq(b) fall; `_ScoreQueue` keeps the argmax exact without re-scoring all those
pairs on each merge.

Encoding is greedy longest-match-first, `[UNK]` for a word that cannot be split or that is longer
than `max_input_chars_per_word` characters.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from tokenizers import models
from tqdm.auto import tqdm

from bertkit.errors import ConfigError
from bertkit.tokenizers.config import WORDPIECE_SCORES as SCORES
from bertkit.tokenizers.pairs import ID_BITS, PAIR_BITS, PairTable, weighted_counts
from bertkit.tokenizers.vocab import (
    corpus_exhausted,
    initial_vocab,
    record_merge,
)

PREFIX = "##"
ID_MASK = (1 << ID_BITS) - 1
PAIR_MASK = (1 << PAIR_BITS) - 1
SCALE = 1 << 16  # the bound heaps round bounds up to 1/SCALE (see _ScoreQueue)
# Re-score all pairs of a symbol each time its frequency falls by this factor (see _ScoreQueue).
THETA = {"likelihood_ratio": 1.05, "log_likelihood_gain": 1.3}


def symbols_of(word: str) -> list[str]:
    """A word's initial symbols: "abc" -> ["a", "##b", "##c"]."""
    return [ch if i == 0 else PREFIX + ch for i, ch in enumerate(word)]


def join(left: str, right: str) -> str:
    return left + right[len(PREFIX):]


class _Table(PairTable):
    """The pair table (pairs.py) plus the statistics the score needs, kept in step with every
    merge: each symbol's frequency and their total N."""

    def __init__(self, words: list[list[int]] | list[str], counts: list[int]) -> None:
        super().__init__(words, counts)
        self.freq = weighted_counts(self.text, counts)  # how often each symbol occurs
        # symbol -> its loose pairs (_ScoreQueue lists them; a touched pair is listed when placed)
        self.partners: dict[str, set[str]] = defaultdict(set)
        self.total = sum(self.freq.values())  # N, the number of symbols in the corpus

    def merge(self, pair: str, ab: str) -> tuple[set[str], int]:
        """PairTable.merge, moving the merged occurrences' frequency from a and b to ab."""
        touched, k = super().merge(pair, ab)
        freq = self.freq
        freq[pair[0]] -= k  # twice when a == b: each "a a" takes two a's
        freq[pair[1]] -= k
        freq[ab] += k
        self.total -= k
        return touched, k


class _ScoreQueue:
    """The live pairs, able to give the exact argmax of a score that can RISE without notice.

    Two lazy min-heaps (of negated keys):
    - `exact`: (-key, pair) for pairs scored since either of their symbols last lost frequency,
      keyed by that score. Counts only fall (a pair whose count rises is re-scored), so a key is
      >= the true score, and a top key that equals the true score is the best of this heap.
    - `bounds`: every other live pair, keyed by an upper bound on its score, of one of two kinds:
      * loose: a bound (`_place`) that holds for as long as each symbol's frequency stays within
        a factor `theta` of its value at that symbol's last full re-scoring (its "epoch";
        `dropped` starts a new one when the factor is reached). A loose pair is listed in
        `partners` under both symbols, to be re-bounded at their epochs.
      * parked (the log-likelihood gain only): a static bound that needs no epoch: the gain is
        at most count * log(N / count) (as freq(a), freq(b) >= count), which only falls until the
        count rises (then the pair is pushed again). A pair whose static bound is below `floor`
        (the last merge's score) is parked, not listed in `partners`, so the many rare pairs of a
        frequent symbol are not re-bounded at each of its epochs; it leaves `partners` at the next
        epoch of each symbol.
    The bound heap holds one int per entry (the bound rounded UP to 1/SCALE, packed with the pair as
    `pairs.pack` packs a count), a third of a tuple's memory and faster to compare; rounding up
    keeps a bound a bound, and which pair wins is decided on exact scores only. A pair may have
    stale entries in either heap: an exact entry is live only while it equals `key[pair]`, and a
    popped bound entry of a pair already in `exact` (or dead) is dropped.
    `best()` moves pairs whose bound reaches the exact top into `exact`, then returns the top.
    When a symbol's frequency falls, its pairs in `exact` (few: those near the top) are re-scored
    at once (those whose bound is below `floor` go back to `bounds`); its other pairs are
    re-bounded once per factor `theta` of decline.
    """

    def __init__(self, table: _Table, score: str, epoch_freq: dict[str, int], min_frequency: int,
                 theta: float) -> None:
        self.table, self.gain = table, score == "log_likelihood_gain"
        self.pair_counts, self.freq, self.partners = table.pair_counts, table.freq, table.partners
        self.epoch_freq = epoch_freq  # each symbol's frequency when its epoch began (or more)
        self.min_frequency, self.theta = min_frequency, theta
        # the bounds' margins: THETA**2 for the epoch, and float rounding (see `_place`)
        self.slack = 2 * math.log(theta) + 1e-9
        self.inflation = theta * theta * (1 + 1e-9)
        self.exact: list[tuple[float, str]] = []
        self.key: dict[str, float] = {}  # pair -> its current key in `exact`
        self.exact_of: dict[str, set[str]] = defaultdict(set)  # symbol -> its pairs in `exact`
        self.floor = -math.inf  # pairs whose static bound is below this are parked
        self.bounds: list[int] = []
        self.compact()

    def score_of(self, pair: str) -> float:
        """The exact score now (the hot loops inline this very expression)."""
        c = self.pair_counts[pair]
        fab = self.freq[pair[0]] * self.freq[pair[1]]
        return c * math.log(c * self.table.total / fab) if self.gain else c / fab

    def _place(self, pairs: Iterable[str]) -> None:
        """Give each live pair not in `exact` a valid bound: parked if its static bound is below
        `floor`, else loose (and listed in `partners` under both symbols).

        The loose bound holds while each symbol's frequency f stays above E/THETA, E its epoch
        frequency (>= f now): counts and N only fall, so ratio <= c/(Ea*Eb) * THETA**2 and
        log(c*N/(fa*fb)) <= log(c*N/(Ea*Eb)) + 2*log(THETA) (a count is >= 1, so a negative log
        bounds the gain too); the static one is c * log(N / c), which falls with c and N. The
        small margins cover float rounding. `dropped` inlines the same loose bound.
        """
        key, pair_counts, min_frequency = self.key, self.pair_counts, self.min_frequency
        bounds, partners, epoch, floor = self.bounds, self.partners, self.epoch_freq, self.floor
        total, slack, inflation, gain = self.table.total, self.slack, self.inflation, self.gain
        log, ceil, heappush, scale = math.log, math.ceil, heapq.heappush, SCALE
        for pair in pairs:
            c = pair_counts.get(pair, 0)
            if c < min_frequency or pair in key:
                continue
            a, b = pair
            bits = (ord(a) << ID_BITS) | ord(b)  # pairs.pack, inlined: this runs ~15 times a merge
            if gain:
                static = c * log(total / c) * (1 + 1e-9) + 1e-9
                if static < floor:
                    heappush(bounds, (-ceil(static * scale) << PAIR_BITS) | bits)
                    continue
                log_ratio = log(c * total / (epoch[a] * epoch[b])) + slack
                bound = c * log_ratio if log_ratio >= 0 else log_ratio
            else:
                bound = c / (epoch[a] * epoch[b]) * inflation
            heappush(bounds, (-ceil(bound * scale) << PAIR_BITS) | bits)
            partners[a].add(pair)
            partners[b].add(pair)

    def compact(self) -> None:
        """Rebuild the bound heap from the live pairs, dropping superseded entries."""
        self.bounds.clear()
        self._place(self.pair_counts)

    def tidy(self) -> None:
        """Drop superseded entries once they are most of a heap (each rebuild is O(its size))."""
        if len(self.exact) > 4 * len(self.key) + 4096:
            self.exact[:] = [(-score, p) for p, score in self.key.items()]
            heapq.heapify(self.exact)
        if len(self.bounds) > 3 * len(self.pair_counts):
            self.compact()

    def push(self, pairs: Iterable[str]) -> None:
        """Pairs whose count rose: re-score those in `exact`, re-bound the others."""
        key, exact, pair_counts, freq = self.key, self.exact, self.pair_counts, self.freq
        gain, total = self.gain, self.table.total
        for pair in pairs:
            if pair in key:  # its key is too low now
                c = pair_counts[pair]
                fab = freq[pair[0]] * freq[pair[1]]
                score = c * math.log(c * total / fab) if gain else c / fab
                key[pair] = score
                heapq.heappush(exact, (-score, pair))
        self._place(pairs)

    def _forget(self, pair: str) -> None:
        del self.key[pair]
        self.exact_of[pair[0]].discard(pair)
        self.exact_of[pair[1]].discard(pair)

    def best(self) -> tuple[str, float] | None:
        """The pair with the highest true score (ties: the smallest pair) and its score."""
        exact, bounds, key, exact_of = self.exact, self.bounds, self.key, self.exact_of
        pair_counts, freq, min_frequency = self.pair_counts, self.freq, self.min_frequency
        gain, total, log = self.gain, self.table.total, math.log
        heappop, heappush = heapq.heappop, heapq.heappush
        while exact:  # clean the exact top until its key is the true score
            neg, pair = exact[0]
            if key.get(pair) != -neg:
                heappop(exact)  # superseded
                continue
            c = pair_counts.get(pair, 0)
            if c < min_frequency:
                heappop(exact)
                self._forget(pair)
                continue
            fab = freq[pair[0]] * freq[pair[1]]
            score = c * log(c * total / fab) if gain else c / fab
            if score == -neg:
                break
            key[pair] = score  # count fell since: lower the key
            heapq.heapreplace(exact, (-score, pair))
        # Move every pair whose bound reaches the exact top into `exact`. The top stays exact: a
        # pair moved in is scored now, so the new top is it or the old one. An entry reaches the
        # top when ceil(bound * SCALE) >= top * SCALE, i.e. when it is below `limit`.
        scale, ceil = SCALE, math.ceil
        epoch, partners, slack, inflation = self.epoch_freq, self.partners, self.slack, self.inflation
        top = -exact[0][0] if exact else -math.inf
        limit = (1 - ceil(top * scale)) << PAIR_BITS if exact else math.inf
        while bounds and bounds[0] < limit:
            entry = heappop(bounds)
            pair = chr((entry >> ID_BITS) & ID_MASK) + chr(entry & ID_MASK)  # pairs.unpack, inlined
            if pair in key:
                continue
            c = pair_counts.get(pair, 0)
            if c < min_frequency:
                continue
            a, b = pair
            if gain:  # the loose bound (`_place`)
                log_ratio = log(c * total / (epoch[a] * epoch[b])) + slack
                bound = c * log_ratio if log_ratio >= 0 else log_ratio
            else:
                bound = c / (epoch[a] * epoch[b]) * inflation
            loose = (-ceil(bound * scale) << PAIR_BITS) | (entry & PAIR_MASK)
            if loose >= limit:  # a parked pair whose loose bound cannot reach the top: loose now
                heappush(bounds, loose)
                partners[a].add(pair)
                partners[b].add(pair)
                continue
            fab = freq[a] * freq[b]
            score = c * log(c * total / fab) if gain else c / fab
            key[pair] = score
            heappush(exact, (-score, pair))
            exact_of[a].add(pair)
            exact_of[b].add(pair)
            if score > top:  # the new top
                top = score
                limit = (1 - ceil(top * scale)) << PAIR_BITS
        return (exact[0][1], top) if exact else None

    def dropped(self, symbol: str) -> None:
        """`symbol` lost frequency, so the score of each pair containing it rose."""
        key, pair_counts, min_frequency = self.key, self.pair_counts, self.min_frequency
        epoch, f = self.epoch_freq, self.freq[symbol]
        if f > 0 and epoch[symbol] > self.theta * f:  # new epoch: re-bound its pairs
            epoch[symbol] = f
            pairs = self.partners[symbol]
            # `_place` lists the loose ones here again; `exact_of` covers exact ones until they leave
            self.partners[symbol] = {pair for pair in pairs if pair in key}
            self._place(pairs)
        pairs = self.exact_of.pop(symbol, None)  # a fresh set: emptied ones iterate slowly
        if not pairs:
            return
        exact, exact_of, freq, floor = self.exact, self.exact_of, self.freq, self.floor
        gain, total, slack, inflation, log = self.gain, self.table.total, self.slack, self.inflation, math.log
        staying, leaving = set(), []
        for pair in pairs:
            c = pair_counts.get(pair, 0)
            a, b = pair
            if c >= min_frequency:
                if gain:  # the loose bound (`_place`)
                    log_ratio = log(c * total / (epoch[a] * epoch[b])) + slack
                    bound = c * log_ratio if log_ratio >= 0 else log_ratio
                else:
                    bound = c / (epoch[a] * epoch[b]) * inflation
                if bound >= floor:
                    # its bound would bring it straight back to `exact`: re-key it there instead
                    fab = freq[a] * freq[b]
                    score = c * log(c * total / fab) if gain else c / fab
                    key[pair] = score
                    heapq.heappush(exact, (-score, pair))
                    staying.add(pair)
                    continue
            del key[pair]  # back to a bound, re-scored when it could reach the top
            if a != b:
                exact_of[b if a == symbol else a].discard(pair)
            leaving.append(pair)
        if staying:
            exact_of[symbol] = staying
        self._place(leaving)

    def grown(self, symbol: str) -> None:
        """`symbol` is new or gained frequency: its epoch starts (or stays) at the maximum."""
        self.epoch_freq[symbol] = max(self.epoch_freq.get(symbol, 0), self.freq[symbol])


def learn_wordpiece_merges(
    words: list[list[int]] | list[str], counts: list[int], tokens: list[str], token_ids: dict[str, int],
    n_new: int, *, min_frequency: int = 2, score: str = "log_likelihood_gain", verbose: bool = False,
    show_progress: bool = False,
) -> list[tuple[str, str]]:
    """Merge the best-scoring pair until `tokens` has grown by `n_new` entries.

    `words` (lists of symbol ids, or strings of chr(id) as `_initial_table` makes them) is
    consumed, as in `bpe.learn_merges`. Each step takes the exact argmax of the score (ties: the
    smallest pair of ids)."""
    if score not in SCORES:
        raise ConfigError(f"unknown WordPiece score {score!r}; choose one of {', '.join(SCORES)}")
    table = _Table(words, counts)
    freq, pair_counts = table.freq, table.pair_counts
    epoch_freq = dict(freq)
    queue = _ScoreQueue(table, score, epoch_freq, max(1, min_frequency), THETA[score])
    merges: list[tuple[str, str]] = []
    added = 0
    bar = tqdm(total=n_new, desc="wordpiece merges", unit="tok", disable=not show_progress)
    while added < n_new:
        found = queue.best()
        if found is None:
            break
        pair, current = found
        count, a, b = pair_counts[pair], ord(pair[0]), ord(pair[1])
        ab, new = record_merge(tokens, token_ids, merges, a, b, join)
        if new:
            added += 1
            bar.update(1)
        if verbose:
            fa, fb = freq[pair[0]], freq[pair[1]]
            formula = (f"{count} / ({fa} * {fb})" if score == "likelihood_ratio" else
                       f"{count} * log({count} * {table.total} / ({fa} * {fb}))")
            print(f"merge {len(merges)}: {tokens[a]!r} + {tokens[b]!r} -> {tokens[ab]!r} "
                  f"(score {current:.3g} = {formula})")
        touched, _ = table.merge(pair, chr(ab))
        queue.grown(chr(ab))
        queue.push(touched)
        for s in set(pair):
            queue.dropped(s)
        queue.floor = current  # scores mostly fall: a pair that cannot reach this waits, parked
        queue.tidy()
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
        return models.WordPiece(vocab=dict(self.vocab), unk_token=self.unk_token,
                                max_input_chars_per_word=self.max_input_chars_per_word)


def train_wordpiece(
    word_counts: Mapping[str, int], *, vocab_size: int, special_tokens: Sequence[str],
    unk_token: str = "[UNK]", min_frequency: int = 2, limit_alphabet: int | None = None,
    max_input_chars_per_word: int = 100, score: str = "log_likelihood_gain", verbose: bool = False,
    show_progress: bool = False,
) -> WordPieceModel:
    """Learn a WordPiece vocabulary of exactly `vocab_size` entries from word counts: specials,
    the alphabet (each character alone and "##"-prefixed, as it occurs), then merges."""
    tokens, token_ids, words, counts = _initial_table(word_counts, special_tokens, vocab_size, limit_alphabet)
    learn_wordpiece_merges(words, counts, tokens, token_ids, vocab_size - len(tokens),
                           min_frequency=min_frequency, score=score, verbose=verbose,
                           show_progress=show_progress)
    if len(tokens) < vocab_size:
        raise corpus_exhausted(vocab_size, len(tokens), min_frequency)
    return WordPieceModel(vocab=token_ids, unk_token=unk_token,
                          max_input_chars_per_word=max_input_chars_per_word)


def _initial_table(word_counts: Mapping[str, int], special_tokens: Sequence[str], vocab_size: int,
                   limit_alphabet: int | None) -> tuple[list[str], dict[str, int], list[str], list[int]]:
    """The initial vocabulary and the words as strings of chr(symbol id) with their counts, as
    `initial_vocab` and `build_table(..., symbols_of)` make them (tested equal), but with the
    characters counted in C (`pairs.weighted_counts`) and each word mapped by `str.translate`.

    The alphabet is `vocab.alphabet_of`'s: the characters by falling count, then character, the
    first `limit_alphabet` of them kept. Symbols outside the vocabulary (characters cut from the
    alphabet, unless equal to a special token) are dropped from the words, and a word left empty
    is dropped, as `build_table` does: they will be unknown at encoding time anyway.
    """
    words = [w for w in word_counts if w]
    counts = [word_counts[w] for w in words]
    chars = weighted_counts(words, counts)
    alphabet = set(chars) if limit_alphabet is None else \
        set(sorted(chars, key=lambda ch: (-chars[ch], ch))[:limit_alphabet])
    firsts = {w[0] for w in words}
    rest = set("".join([w[1:] for w in words]))
    symbols = sorted((firsts & alphabet) | {PREFIX + ch for ch in rest & alphabet})
    tokens, token_ids = initial_vocab(special_tokens, symbols, vocab_size)
    # a symbol is kept when it is in the vocabulary: in the alphabet, or equal to a special token
    first = {ch: chr(token_ids[ch]) for ch in firsts if ch in token_ids}
    table = {ord(ch): chr(token_ids[PREFIX + ch]) if PREFIX + ch in token_ids else None for ch in rest}
    text, kept = [], []
    for w, c in zip(words, counts, strict=True):
        t = first.get(w[0], "") + w[1:].translate(table)
        if t:
            text.append(t)
            kept.append(c)
    return tokens, token_ids, text, kept
