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
from bertkit.tokenizers.pairs import ID_BITS, PAIR_BITS, PairTable
from bertkit.tokenizers.vocab import (
    alphabet_of,
    build_table,
    corpus_exhausted,
    initial_vocab,
    record_merge,
)

PREFIX = "##"
ID_MASK = (1 << ID_BITS) - 1
SCALE = 1 << 16  # the bound heaps round bounds up to 1/SCALE (see _ScoreQueue)
# Re-score all pairs of a symbol each time its frequency falls by this factor (see _ScoreQueue).
THETA = {"likelihood_ratio": 1.05, "log_likelihood_gain": 1.3}


def symbols_of(word: str) -> list[str]:
    """A word's initial symbols: "abc" -> ["a", "##b", "##c"]."""
    return [ch if i == 0 else PREFIX + ch for i, ch in enumerate(word)]


def join(left: str, right: str) -> str:
    return left + right[len(PREFIX):]


class _ScoreQueue:
    """The live pairs, able to give the exact argmax of a score that can RISE without notice.

    Three lazy max-heaps:
    - `exact`: (-key, pair) for pairs scored since either of their symbols last lost frequency,
      keyed by that score. Counts only fall, so a key is >= the true score, and a top key that
      equals the true score is the best of this heap.
    - `loose`: pairs keyed by `bound_of(pair)`: an upper bound on the score for as long as each
      symbol's frequency stays within a factor `theta` of its value at that symbol's last full
      re-scoring (its "epoch"; `dropped` starts a new one when the factor is reached).
    - `parked`: pairs keyed by `static_of(pair)`, a bound that needs no epoch: the log-likelihood
      gain is at most count * log(N / count) (as freq(a), freq(b) >= count), which only falls
      until the count rises (then the pair is pushed again). Pairs whose static bound is below
      `floor` (the last merge's score) wait here, so the many rare pairs of a frequent symbol are
      not re-scored at each of its epochs; they leave `partners` until they are pushed again.
    The bound heaps hold one int per entry (the bound rounded UP to 1/SCALE, packed with the
    pair as `pairs.pack` packs a count), a third of a tuple's memory and faster to compare;
    rounding up keeps a bound a bound, and which pair wins is decided on exact scores only.
    `best()` moves loose or parked pairs whose bound reaches the exact top into `exact`, then
    returns it. When a symbol's frequency falls, its pairs in `exact` (few: those near the top)
    are re-scored at once (those whose bound is below `floor` go back to `loose`); its other pairs
    are re-scored once per factor `theta` of decline.
    """

    def __init__(self, score_of, bound_of, static_of, pair_counts, partners, freq, epoch_freq,
                 min_frequency: int, theta: float):
        self.score_of, self.bound_of, self.static_of = score_of, bound_of, static_of
        self.pair_counts, self.partners, self.freq = pair_counts, partners, freq
        self.min_frequency, self.theta = min_frequency, theta
        self.epoch_freq = epoch_freq  # each symbol's frequency when its epoch began (or more)
        self.exact: list[tuple[float, str]] = []
        self.key: dict[str, float] = {}  # pair -> its current key in `exact`
        self.exact_of: dict[str, set[str]] = defaultdict(set)
        self.floor = -math.inf  # pairs whose static bound is below this are parked
        self.loose: list[int] = []
        self.parked: list[int] = []
        self.is_parked: set[str] = set()
        self.compact()

    def compact(self) -> None:
        """Rebuild the bound heaps from the live pairs, dropping superseded entries."""
        self.loose.clear()
        self.parked.clear()
        self.is_parked.clear()
        for p, c in self.pair_counts.items():
            if c >= self.min_frequency and p not in self.key:
                self._place(p, heapq_push=list.append)
        heapq.heapify(self.loose)
        heapq.heapify(self.parked)

    def tidy(self) -> None:
        """Drop superseded entries once they are most of a heap (each rebuild is O(its size))."""
        if len(self.exact) > 4 * len(self.key) + 4096:
            self.exact[:] = [(-score, p) for p, score in self.key.items()]
            heapq.heapify(self.exact)
        if len(self.loose) + len(self.parked) > 3 * len(self.pair_counts):
            self.compact()

    def _place(self, pair: str, heapq_push=heapq.heappush) -> None:
        """Give a live pair a valid bound: parked if its static bound is below `floor`, else
        loose (and then listed in `partners`, to be re-scored at its symbols' epochs)."""
        if pair in self.is_parked:  # its parked key is still valid
            return
        a, b = pair
        bits = (ord(a) << ID_BITS) | ord(b)  # pairs.pack, inlined: this runs ~20 times a merge
        if self.static_of is not None:
            static = self.static_of(pair)
            if static < self.floor:
                self.is_parked.add(pair)
                heapq_push(self.parked, (-math.ceil(static * SCALE) << PAIR_BITS) | bits)
                return
        heapq_push(self.loose, (-math.ceil(self.bound_of(pair) * SCALE) << PAIR_BITS) | bits)
        self.partners[a].add(pair)
        self.partners[b].add(pair)

    def push(self, pairs: Iterable[str]) -> None:
        """(Re-)score pairs, e.g. new ones, ones whose count rose, or ones leaving `exact`."""
        key, is_parked = self.key, self.is_parked
        pair_counts, min_frequency = self.pair_counts, self.min_frequency
        for pair in pairs:
            if pair in key:
                self._forget(pair)
            is_parked.discard(pair)  # its parked key may be too low now
            if pair_counts.get(pair, 0) >= min_frequency:
                self._place(pair)

    def _forget(self, pair: str) -> None:
        del self.key[pair]
        self.exact_of[pair[0]].discard(pair)
        self.exact_of[pair[1]].discard(pair)

    def best(self) -> tuple[str, float] | None:
        """The pair with the highest true score (ties: the smallest pair) and its score."""
        exact, loose, parked, key = self.exact, self.loose, self.parked, self.key
        pair_counts, min_frequency, score_of = self.pair_counts, self.min_frequency, self.score_of
        heappop, heappush = heapq.heappop, heapq.heappush
        while True:
            while exact:  # clean the exact top until its key is the true score
                neg, pair = exact[0]
                if key.get(pair) != -neg:
                    heappop(exact)  # superseded
                elif pair_counts.get(pair, 0) < min_frequency:
                    heappop(exact)
                    self._forget(pair)
                else:
                    current = score_of(pair)
                    if current == -neg:
                        break
                    key[pair] = current  # count fell since: lower the key
                    heapq.heapreplace(exact, (-current, pair))
            top = -exact[0][0] if exact else -math.inf
            # the higher-bounded of the loose and parked tops, if its bound reaches the exact top
            heap = loose if not parked or (loose and loose[0] < parked[0]) else parked
            if heap and (not exact or -(heap[0] >> PAIR_BITS) >= top * SCALE):
                entry = heappop(heap)
                pair = chr((entry >> ID_BITS) & ID_MASK) + chr(entry & ID_MASK)  # pairs.unpack, inlined
                if heap is parked:
                    self.is_parked.discard(pair)
                if pair not in key and pair_counts.get(pair, 0) >= min_frequency:
                    score = score_of(pair)
                    key[pair] = score
                    heappush(exact, (-score, pair))
                    self.exact_of[pair[0]].add(pair)
                    self.exact_of[pair[1]].add(pair)
                continue
            return (exact[0][1], top) if exact else None

    def dropped(self, symbol: str) -> None:
        """`symbol` lost frequency, so the score of each pair containing it rose."""
        exact, key, floor, exact_of = self.exact, self.key, self.floor, self.exact_of
        pair_counts, min_frequency = self.pair_counts, self.min_frequency
        f = self.freq[symbol]
        if f > 0 and self.epoch_freq[symbol] > self.theta * f:  # new epoch: re-bound its pairs
            self.epoch_freq[symbol] = f
            pairs, self.partners[symbol] = self.partners[symbol], set()
            for pair in pairs:
                if pair in key:
                    self.partners[symbol].add(pair)  # exact: `exact_of` covers it until it leaves
                elif pair_counts.get(pair, 0) >= min_frequency:
                    self._place(pair)  # lists it in partners again unless parked
        leaving = []
        for pair in exact_of.pop(symbol, ()):  # a fresh set: emptied ones iterate slowly
            if pair_counts.get(pair, 0) >= min_frequency and self.bound_of(pair) >= floor:
                # its bound would bring it straight back to `exact`: re-key it there instead
                score = self.score_of(pair)
                key[pair] = score
                heapq.heappush(exact, (-score, pair))
                exact_of[pair[0]].add(pair)
                exact_of[pair[1]].add(pair)
            else:
                leaving.append(pair)
        self.push(leaving)  # back to a bound, re-scored when it could reach the top

    def grown(self, symbol: str) -> None:
        """`symbol` is new or gained frequency: its epoch starts (or stays) at the maximum."""
        self.epoch_freq[symbol] = max(self.epoch_freq.get(symbol, 0), self.freq[symbol])


class _Table(PairTable):
    """The pair table (pairs.py) plus the statistics the score needs, kept in step with every
    merge: each symbol's frequency and their total N."""

    def __init__(self, words: list[list[int]], counts: list[int]) -> None:
        super().__init__(words, counts)
        self.freq: dict[str, int] = defaultdict(int)  # how often each symbol occurs
        for word, c in zip(self.text, counts, strict=True):
            for s in word:
                self.freq[s] += c
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


def _scorers(score: str, table: _Table, epoch_freq: dict[str, int]):
    """(score_of, bound_of, static_of) for `score`: the exact score of a pair now; an upper bound
    on it that holds while each symbol's frequency stays above 1/THETA of its epoch frequency
    E (`epoch_freq`, >= its frequency now); and one that holds until the pair's count rises
    (None for the ratio, which has none).

    Counts and N only fall, so while fa >= Ea/THETA and fb >= Eb/THETA, ratio <= c/(Ea*Eb) *
    THETA**2 and log(c*N/(fa*fb)) <= log(c*N/(Ea*Eb)) + 2*log(THETA); and as fa, fb >= c, the
    gain is <= c*log(N/c), which falls with c and N. The small margins cover float rounding.
    """
    pair_counts, freq, theta = table.pair_counts, table.freq, THETA[score]
    if score == "likelihood_ratio":
        inflation = theta * theta * (1 + 1e-9)

        def score_of(pair: str) -> float:
            return pair_counts[pair] / (freq[pair[0]] * freq[pair[1]])

        def bound_of(pair: str) -> float:
            return pair_counts[pair] / (epoch_freq[pair[0]] * epoch_freq[pair[1]]) * inflation

        return score_of, bound_of, None
    slack = 2 * math.log(theta) + 1e-9

    def score_of(pair: str) -> float:
        c = pair_counts[pair]
        return c * math.log(c * table.total / (freq[pair[0]] * freq[pair[1]]))

    def bound_of(pair: str) -> float:
        c = pair_counts[pair]
        log_ratio = math.log(c * table.total / (epoch_freq[pair[0]] * epoch_freq[pair[1]])) + slack
        return c * log_ratio if log_ratio >= 0 else log_ratio  # a count is >= 1

    def static_of(pair: str) -> float:
        c = pair_counts[pair]
        return c * math.log(table.total / c) * (1 + 1e-9) + 1e-9

    return score_of, bound_of, static_of


def learn_wordpiece_merges(
    words: list[list[int]], counts: list[int], tokens: list[str], token_ids: dict[str, int],
    n_new: int, *, min_frequency: int = 2, score: str = "log_likelihood_gain", verbose: bool = False,
    show_progress: bool = False,
) -> list[tuple[str, str]]:
    """Merge the best-scoring pair until `tokens` has grown by `n_new` entries.

    `words` (lists of symbol ids) is consumed, as in `bpe.learn_merges`. Each step takes the exact
    argmax of the score (ties: the smallest pair of ids)."""
    if score not in SCORES:
        raise ConfigError(f"unknown WordPiece score {score!r}; choose one of {', '.join(SCORES)}")
    table = _Table(words, counts)
    freq, pair_counts = table.freq, table.pair_counts
    epoch_freq = dict(freq)
    queue = _ScoreQueue(*_scorers(score, table, epoch_freq), pair_counts, table.partners, freq, epoch_freq,
                        max(1, min_frequency), THETA[score])
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
    alphabet = set(alphabet_of(word_counts, limit_alphabet))
    initial = {sym for word in word_counts for sym in symbols_of(word) if sym[-1] in alphabet}
    tokens, token_ids = initial_vocab(special_tokens, sorted(initial), vocab_size)
    words, counts = build_table(word_counts, token_ids, symbols_of)
    learn_wordpiece_merges(words, counts, tokens, token_ids, vocab_size - len(tokens),
                           min_frequency=min_frequency, score=score, verbose=verbose,
                           show_progress=show_progress)
    if len(tokens) < vocab_size:
        raise corpus_exhausted(vocab_size, len(tokens), min_frequency)
    return WordPieceModel(vocab=token_ids, unk_token=unk_token,
                          max_input_chars_per_word=max_input_chars_per_word)
