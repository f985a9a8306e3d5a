"""Unigram language model tokenization (Kudo, 2018; SentencePiece).

A word is segmented into the pieces x1..xk that maximise sum log p(xi) (Viterbi). Training:
1. seed: all substrings (up to `max_piece_length`) of the distinct words, the most frequent kept;
2. EM: the E-step runs forward-backward over each word's lattice to get each piece's expected
   count; the M-step sets log p(x) = log(count(x) / total);
3. prune: drop the pieces whose removal costs the least likelihood (count x the log-prob lost by
   segmenting the piece with the others), `shrink` (25%) per round, down to the vocabulary size.
   Single characters are always kept so every known character stays encodable.
Words come from the Metaspace pre-tokenizer, so "▁" marks a word start ("▁the", "re").

`sample(text, alpha)` draws a segmentation with probability proportional to p(x)^alpha (forward
filtering, backward sampling): subword regularisation.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bertkit.tokenizers.bpe import alphabet_of, check_room, corpus_exhausted

UNK_PENALTY = 10.0  # an unknown character scores (lowest piece score - 10), as in SentencePiece


def _logaddexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    hi, lo = (a, b) if a > b else (b, a)
    return hi + math.log1p(math.exp(lo - hi))


def _forward_backward(word: str, logp: Mapping[str, float], max_len: int):
    """Log forward/backward scores of every prefix/suffix of `word` over all segmentations."""
    n = len(word)
    fwd = [-math.inf] * (n + 1)
    fwd[0] = 0.0
    for i in range(1, n + 1):
        for j in range(max(0, i - max_len), i):
            lp = logp.get(word[j:i])
            if lp is not None and fwd[j] != -math.inf:
                fwd[i] = _logaddexp(fwd[i], fwd[j] + lp)
    bwd = [-math.inf] * (n + 1)
    bwd[n] = 0.0
    for j in range(n - 1, -1, -1):
        for i in range(j + 1, min(n, j + max_len) + 1):
            lp = logp.get(word[j:i])
            if lp is not None and bwd[i] != -math.inf:
                bwd[j] = _logaddexp(bwd[j], lp + bwd[i])
    return fwd, bwd


def _expected_counts(word_counts: Mapping[str, int], logp: dict[str, float], max_len: int):
    """E-step: expected piece counts over all segmentations, and the corpus log-likelihood."""
    expected: Counter[str] = Counter()
    loglik = 0.0
    for word, count in word_counts.items():
        fwd, bwd = _forward_backward(word, logp, max_len)
        z = fwd[-1]
        if z == -math.inf:
            continue
        loglik += count * z
        n = len(word)
        for j in range(n):
            if fwd[j] == -math.inf:
                continue
            for i in range(j + 1, min(n, j + max_len) + 1):
                lp = logp.get(word[j:i])
                if lp is not None:
                    expected[word[j:i]] += count * math.exp(fwd[j] + lp + bwd[i] - z)
    return expected, loglik


def _viterbi_score(word: str, logp: Mapping[str, float], max_len: int, exclude: str) -> float:
    """Best log-prob of `word` segmented without the piece `exclude` (-inf if impossible)."""
    n = len(word)
    best = [-math.inf] * (n + 1)
    best[0] = 0.0
    for i in range(1, n + 1):
        for j in range(max(0, i - max_len), i):
            piece = word[j:i]
            lp = logp.get(piece)
            if lp is not None and piece != exclude and best[j] + lp > best[i]:
                best[i] = best[j] + lp
    return best[n]


def train_unigram(
    word_counts: Mapping[str, int], *, vocab_size: int, special_tokens: Sequence[str],
    unk_token: str = "[UNK]", limit_alphabet: int | None = None, max_piece_length: int = 16,
    seed_size_factor: int = 4, shrink: float = 0.75, em_iterations: int = 2,
    verbose: bool = False, show_progress: bool = False,
) -> UnigramModel:
    """Learn a Unigram vocabulary of exactly `vocab_size` entries (specials first, score 0)."""
    from tqdm.auto import tqdm

    chars = alphabet_of(word_counts, limit_alphabet)
    target = vocab_size - len(special_tokens)
    check_room(vocab_size, len(special_tokens), len(chars))
    allowed = set(chars)
    substrings: Counter[str] = Counter()
    for word, count in word_counts.items():
        for j in range(len(word)):
            for i in range(j + 2, min(len(word), j + max_piece_length) + 1):
                substrings[word[j:i]] += count
    substrings = Counter({s: c for s, c in substrings.items() if allowed.issuperset(s)})
    char_counts = Counter({ch: 0 for ch in chars})
    for word, count in word_counts.items():
        for ch in word:
            if ch in allowed:
                char_counts[ch] += count
    seed = dict(char_counts)
    for s, c in substrings.most_common(max(target * seed_size_factor, target) - len(chars)):
        seed[s] = c
    if len(seed) < target:
        raise corpus_exhausted(vocab_size, len(seed) + len(special_tokens), 1)
    total = sum(seed.values())
    logp = {p: math.log(c / total) for p, c in seed.items()}

    bar = tqdm(desc="unigram EM", unit="round", disable=not show_progress)
    while True:
        for _ in range(em_iterations):
            expected, loglik = _expected_counts(word_counts, logp, max_piece_length)
            for ch in chars:  # characters never vanish
                expected[ch] = max(expected[ch], 1e-3)
            total = sum(expected[p] for p in logp)
            logp = {p: math.log(expected[p] / total) for p in logp if expected[p] > 0}
        if verbose:
            print(f"unigram: {len(logp)} pieces, log-likelihood {loglik:.1f}")
        bar.update(1)
        if len(logp) <= target:
            break
        keep_n = max(target, int(len(logp) * shrink))
        loss = {p: expected[p] * (lp - _viterbi_score(p, logp, max_piece_length, exclude=p))
                for p, lp in logp.items() if p not in allowed}
        drop = sorted(loss, key=lambda p: (loss[p], p))[: len(logp) - keep_n]
        for p in drop:
            del logp[p]
    bar.close()
    if len(logp) < target:
        raise corpus_exhausted(vocab_size, len(logp) + len(special_tokens), 1)
    pieces = [(t, 0.0) for t in special_tokens]
    pieces += sorted(logp.items(), key=lambda kv: (-kv[1], kv[0]))
    return UnigramModel(pieces=pieces, unk_id=list(special_tokens).index(unk_token))


@dataclass
class UnigramModel:
    """Pieces with log-probabilities; Viterbi segmentation like the `tokenizers` runtime."""

    pieces: list[tuple[str, float]]
    unk_id: int = 0
    scores: dict[str, float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.pieces = [(p, float(s)) for p, s in self.pieces]
        self.scores = {}
        for piece, score in self.pieces:
            self.scores.setdefault(piece, score)
        self.max_len = max(len(p) for p, _ in self.pieces)
        self.unk_score = min(s for _, s in self.pieces) - UNK_PENALTY

    def _candidates(self, text: str, i: int):
        """Pieces ending at position i: (start, piece or None for unknown, score), longest first."""
        out = []
        for j in range(max(0, i - self.max_len), i):
            score = self.scores.get(text[j:i])
            if score is not None:
                out.append((j, text[j:i], score))
        if i - 1 >= 0 and text[i - 1] not in self.scores:
            out.append((i - 1, None, self.unk_score))  # no piece covers this character
        return out

    def tokenize(self, text: str) -> list[str]:
        """The most probable segmentation; runs of unknown characters become one unk piece."""
        n = len(text)
        best = [-math.inf] * (n + 1)
        back: list[tuple[int, str | None]] = [(0, None)] * (n + 1)
        best[0] = 0.0
        for i in range(1, n + 1):
            for j, piece, score in sorted(self._candidates(text, i), key=lambda c: c[0]):
                if best[j] == -math.inf:
                    continue
                if best[i] == -math.inf or score + best[j] > best[i]:
                    best[i], back[i] = score + best[j], (j, piece)
        return self._backtrack(back, n)

    def _backtrack(self, back, n: int) -> list[str]:
        unk = self.pieces[self.unk_id][0]
        out: list[str] = []
        i = n
        while i > 0:
            j, piece = back[i]
            is_unk = piece is None or piece == unk
            if not (is_unk and out and out[-1] == unk):  # fuse a run of unknowns into one
                out.append(unk if is_unk else piece)
            i = j
        return out[::-1]

    def sample(self, text: str, alpha: float = 0.1, rng: random.Random | None = None) -> list[str]:
        """Sample a segmentation with probability proportional to prod p(x)^alpha."""
        rng = rng or random.Random()
        n = len(text)
        fwd = [-math.inf] * (n + 1)
        fwd[0] = 0.0
        cands = [[]] + [self._candidates(text, i) for i in range(1, n + 1)]
        for i in range(1, n + 1):
            for j, _, score in cands[i]:
                fwd[i] = _logaddexp(fwd[i], fwd[j] + alpha * score)
        out: list[str] = []
        i = n
        while i > 0:
            weights = [math.exp(fwd[j] + alpha * score - fwd[i]) for j, _, score in cands[i]]
            j, piece, _ = rng.choices(cands[i], weights=weights)[0]
            out.append(piece if piece is not None else self.pieces[self.unk_id][0])
            i = j
        return out[::-1]

    def to_runtime(self):
        from tokenizers import models

        return models.Unigram(vocab=list(self.pieces), unk_id=self.unk_id, byte_fallback=False)
