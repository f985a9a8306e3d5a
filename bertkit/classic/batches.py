"""word2vec's sampling, done in numpy for a chunk of the corpus at a time: which occurrences are
kept (subsampling), each position's dynamic window, the (input, output) examples, the noise words.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def keep_probability(counts: np.ndarray, sample: float) -> np.ndarray:
    """The probability of keeping an occurrence of each word, sqrt(t/f) + t/f capped at 1, where f is
    the word's share of the corpus and t = `sample` (0 keeps everything).

    Mikolov et al. (2013), "Distributed Representations of Words and Phrases and their
    Compositionality", eq. 5, discards with probability 1 − sqrt(t/f); word2vec.c (and gensim)
    keep with probability sqrt(t/f) + t/f, i.e. discard 1 − sqrt(t/f) − t/f. We follow the code:
    its default t = 1e-3 was chosen with that formula.
    """
    if sample == 0:
        return np.ones(len(counts))
    f = counts / counts.sum()
    return np.minimum(1.0, np.sqrt(sample / f) + sample / f)


def noise_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """P(noise word) ∝ count^0.75 (Mikolov et al. 2013, section 2.2: the unigram distribution raised
    to 3/4 "outperformed significantly the unigram and the uniform distributions")."""
    p = counts.astype(np.float64) ** power
    return p / p.sum()


class NoiseTable:
    """Draws noise words from P(w) ∝ count^0.75 by Walker's alias method (Vose's construction): V
    slots, slot i holding word i with probability prob[i] and word alias[i] otherwise, so a draw is
    one uniform slot and one coin, and P is met exactly (to float rounding).

    word2vec.c draws from a "unigram table" instead: 1e8 slots, word i filling a share P(i) of them,
    so P is met to 1/1e8. Same distribution; the alias tables have V entries and stay in cache, where
    a random slot of a 1e8 (or even 1e7) table is a memory access of its own per noise word.
    """

    def __init__(self, counts: np.ndarray) -> None:
        n = len(counts)
        scaled = (noise_distribution(counts) * n).tolist()  # P * V: 1 is a slot's worth
        prob, alias = [1.0] * n, list(range(n))
        small = [i for i, x in enumerate(scaled) if x < 1.0]
        large = [i for i, x in enumerate(scaled) if x >= 1.0]
        while small and large:  # fill the slot of a word short of one with the rest from a word over
            s, big = small.pop(), large[-1]
            prob[s], alias[s] = scaled[s], big
            scaled[big] -= 1.0 - scaled[s]
            if scaled[big] < 1.0:
                small.append(large.pop())
        self.prob = np.array(prob)  # what is left in either list is a full slot (up to rounding)
        self.alias = np.array(alias, dtype=np.int32)

    def draw(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        slot = rng.integers(0, len(self.prob), size=shape, dtype=np.int32)
        return np.where(rng.random(shape) < self.prob[slot], slot, self.alias[slot])


@dataclass
class Examples:
    """A chunk's training examples as tensors, one row per positive example.

    skip-gram: inputs (B,) center words. CBOW: inputs (C,) context words of all examples, example
    `segment[j]` holding context j, and `offsets` (B+1,) where each example's contexts start.
    Skip-gram with negatives shared across the window: inputs (B, 2*window) the context words of
    each position (padded), `mask` (B, 2*window) 1 on the real ones. outputs (B, 1+K): the true
    word, then K noise words; keep (B, 1+K): 0 where a noise word is the true word (word2vec.c
    skips those).
    """

    inputs: torch.Tensor
    outputs: torch.Tensor
    keep: torch.Tensor
    segment: torch.Tensor | None = None
    offsets: torch.Tensor | None = None
    mask: torch.Tensor | None = None


def window_positions(sentence: np.ndarray, window: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(positions (N, 2*window) of each position's neighbours, mask of those inside its window).

    Each position draws its window b uniformly from 1..window (word2vec.c: `b = next_random %
    window` words off a window of `window`); a neighbour counts when it is at most b away and in
    the same sentence. Offsets run -window..-1, 1..window, so flattening keeps corpus order:
    sentence=[0, 0, 0], window=1 -> positions [[0, 1], [0, 2], [1, 2]] (clipped), mask
    [[F, T], [T, T], [T, F]].
    """
    n = len(sentence)
    b = rng.integers(1, window + 1, size=n)                    # the dynamic window of each position
    offsets = np.concatenate([np.arange(-window, 0), np.arange(1, window + 1)])
    pos = np.arange(n)[:, None] + offsets                      # (N, 2w)
    inside = (pos >= 0) & (pos < n) & (np.abs(offsets) <= b[:, None])
    np.clip(pos, 0, n - 1, out=pos)
    return pos, inside & (sentence[pos] == sentence[:, None])


def _outputs(true: np.ndarray, noise: NoiseTable, negative: int,
             rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """outputs (B, 1+K) = [true word, K noise words] and their keep mask."""
    outputs = np.empty((len(true), 1 + negative), dtype=np.int64)
    outputs[:, 0] = true
    outputs[:, 1:] = noise.draw((len(true), negative), rng)
    keep = (outputs != true[:, None]).astype(np.float32)
    keep[:, 0] = 1.0
    return torch.from_numpy(outputs), torch.from_numpy(keep)


def skipgram_examples(ids: np.ndarray, sentence: np.ndarray, window: int, noise: NoiseTable,
                      negative: int, rng: np.random.Generator) -> Examples:
    """Every (center, context) pair within each position's window, in corpus order: the center is
    the input, the context word the output to predict.

    ids=[7, 8, 9], one sentence, windows b=[1, 2, 1] -> centers [7, 8, 8, 9], contexts [8, 7, 9, 8].
    """
    pos, valid = window_positions(sentence, window, rng)
    centers = np.broadcast_to(ids[:, None], pos.shape)[valid]
    outputs, keep = _outputs(ids[pos][valid], noise, negative, rng)
    return Examples(torch.from_numpy(np.ascontiguousarray(centers)), outputs, keep)


def cbow_examples(ids: np.ndarray, sentence: np.ndarray, window: int, noise: NoiseTable,
                  negative: int, rng: np.random.Generator) -> Examples:
    """One example per position with any context: the mean of its context words predicts it."""
    pos, valid = window_positions(sentence, window, rng)
    count = valid.sum(axis=1)
    has = count > 0
    pos, valid, count, centers = pos[has], valid[has], count[has], ids[has]
    segment = np.repeat(np.arange(len(centers)), count)
    outputs, keep = _outputs(centers, noise, negative, rng)
    return Examples(torch.from_numpy(ids[pos][valid]), outputs, keep, torch.from_numpy(segment),
                    torch.from_numpy(np.concatenate([[0], np.cumsum(count)])))


def skipgram_window_examples(ids: np.ndarray, sentence: np.ndarray, window: int, noise: NoiseTable,
                             negative: int, rng: np.random.Generator) -> Examples:
    """Skip-gram with the K noise words shared by a window (Ji et al. 2016, "Parallelizing Word2Vec
    in Shared and Distributed Memory"): one example per position with any context, word2vec.c's
    way round -- each context word predicts the center -- all against the same K noise words.

    The same pairs as `skipgram_examples` (each context word predicts the center as the center
    predicts it: the pair set is symmetric), but K noise words per window instead of per pair, so a
    step gathers 2*window + 1 + K rows per position instead of (2 + K) per pair.
    ids=[7, 8, 9], window 1 -> inputs [[_, 8], [7, 9], [8, _]] (mask [[0, 1], [1, 1], [1, 0]]),
    outputs[:, 0] = [7, 8, 9].
    """
    pos, valid = window_positions(sentence, window, rng)
    has = valid.any(axis=1)
    pos, valid, centers = pos[has], valid[has], ids[has]
    outputs, keep = _outputs(centers, noise, negative, rng)
    contexts = np.where(valid, ids[pos], 0)  # padding points at word 0 with mask 0: it learns nothing
    return Examples(torch.from_numpy(contexts), outputs, keep,
                    mask=torch.from_numpy(valid.astype(np.float32)))
