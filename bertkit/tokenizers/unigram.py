"""Unigram language model tokenization (Kudo, 2018; SentencePiece).

A word is segmented into the pieces x1..xk that maximise sum log p(xi) (Viterbi). Training:
1. seed: all substrings (up to `max_piece_length`) of the distinct words, the most frequent kept;
2. EM: the E-step runs forward-backward over each word's lattice to get each piece's expected
   count; the M-step sets log p(x) = log(count(x) / total). `_expected_counts` is the readable
   E-step; training runs `_Lattice`, the same computation vectorised over all words (tested equal);
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
from array import array
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from tokenizers import models
from tqdm.auto import tqdm

from bertkit.tokenizers.vocab import alphabet_of, check_room, corpus_exhausted

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
    """E-step, one word at a time: expected piece counts over all segmentations, and the corpus
    log-likelihood (the readable version of `_Lattice.expected_counts`)."""
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


class _Lattice:
    """Every word's segmentation lattice at once, as numpy arrays, for a vectorised E-step.

    Nodes are the positions 0..len(word) of each word, laid end to end; an edge (src, dst, piece)
    is a seed piece spanning word[j:i]. Built once from the seed vocabulary: a pruned piece just
    gets log-probability -inf, so its edges carry no mass. The forward pass visits edges grouped
    by end position (1, 2, ...), the backward pass by start position (longest word first); within
    a group each node's log-sum-exp is a segmented reduction over contiguous edges.
    """

    def __init__(self, word_counts: Mapping[str, int], piece_ids: Mapping[str, int], max_len: int):
        # typed buffers, not lists of Python ints (~36 bytes an edge each): the lattice of a 25 MB
        # corpus has tens of millions of edges
        src, dst, pid = array("q"), array("q"), array("q")
        starts, ends, counts = array("q"), array("q"), array("d")
        node = 0
        for word, count in word_counts.items():
            n = len(word)
            for j in range(n):
                for i in range(j + 1, min(n, j + max_len) + 1):
                    k = piece_ids.get(word[j:i])
                    if k is not None:
                        src.append(node + j)
                        dst.append(node + i)
                        pid.append(k)
            starts.append(node)
            ends.append(node + n)
            counts.append(count)
            node += n + 1
        index = np.int32 if node < 2**31 else np.int64  # halves every per-edge index array

        def as_index(buffer: array) -> np.ndarray:
            return np.frombuffer(buffer, dtype=np.int64).astype(index)

        self.n_nodes, self.n_pieces = node, len(piece_ids)
        self.src, self.dst, self.pid = as_index(src), as_index(dst), as_index(pid)
        del src, dst, pid
        self.starts, self.ends = as_index(starts), as_index(ends)
        self.counts = np.frombuffer(counts, dtype=np.float64).copy()
        word_of_node = np.repeat(np.arange(len(self.starts), dtype=index), self.ends - self.starts + 1)
        self.edge_word = word_of_node[self.src]
        del word_of_node
        self.edge_count = self.counts[self.edge_word]
        word_start = self.starts[self.edge_word]
        self.forward_plan = self._plan(self.dst - word_start, self.dst)
        self.backward_plan = self._plan(word_start - self.src, self.src)

    @staticmethod
    def _plan(level: np.ndarray, target: np.ndarray):
        """Edge order and, per level, the segments of edges that share a target node."""
        order = np.lexsort((target, level)).astype(target.dtype)
        level, target = level[order], target[order]
        plan = []
        bounds = np.flatnonzero(np.diff(level)) + 1
        for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(order)], strict=True):
            t = target[lo:hi]
            seg = np.r_[0, np.flatnonzero(np.diff(t)) + 1]
            plan.append((order[lo:hi], seg, t[seg], np.diff(np.r_[seg, hi - lo])))
        return plan

    @staticmethod
    def _sweep(scores: np.ndarray, plan, edge_from: np.ndarray, edge_lp: np.ndarray) -> None:
        """scores[target] = logsumexp over its edges of scores[edge_from] + edge_lp, level by level."""
        for edges, seg, targets, lengths in plan:
            vals = scores[edge_from[edges]] + edge_lp[edges]
            top = np.maximum.reduceat(vals, seg)
            top = np.where(np.isfinite(top), top, 0.0)
            total = np.add.reduceat(np.exp(vals - np.repeat(top, lengths)), seg)
            scores[targets] = top + np.log(total)

    def expected_counts(self, logp: np.ndarray) -> tuple[np.ndarray, float]:
        """E-step: each piece's expected count over all segmentations, and the log-likelihood."""
        edge_lp = logp[self.pid]
        with np.errstate(divide="ignore", invalid="ignore"):
            fwd = np.full(self.n_nodes, -np.inf)
            fwd[self.starts] = 0.0
            self._sweep(fwd, self.forward_plan, self.src, edge_lp)
            bwd = np.full(self.n_nodes, -np.inf)
            bwd[self.ends] = 0.0
            self._sweep(bwd, self.backward_plan, self.dst, edge_lp)
            z = fwd[self.ends]
            ok = np.isfinite(z)
            post = np.exp(fwd[self.src] + edge_lp + bwd[self.dst] - z[self.edge_word])
        keep = ok[self.edge_word] & np.isfinite(post)
        expected = np.bincount(self.pid[keep], weights=self.edge_count[keep] * post[keep],
                               minlength=self.n_pieces)
        return expected, float(self.counts[ok] @ z[ok])


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


def _seed(word_counts: Mapping[str, int], chars: Sequence[str], size: int, max_piece_length: int
          ) -> dict[str, int]:
    """The seed vocabulary with counts: every character of `chars`, then the `size - len(chars)` most
    frequent longer substrings made of those characters (ties: first seen first, in the order
    word, start, length).

    Counted one length at a time, keeping only the best `size - len(chars)` so far between lengths:
    holding the counts of every substring at once peaked at 283 MB (traced) on the 12.5 MB English
    corpus, this at 83 MB."""
    allowed = set(chars)
    need = size - len(chars)
    seed = dict.fromkeys(chars, 0)
    for word, count in word_counts.items():
        for ch in word:
            if ch in allowed:
                seed[ch] += count
    best: list[tuple[int, int, int, str]] = []  # (-count, where first seen, length, piece)
    words = list(word_counts.items())
    longest = max((len(word) for word, _ in words), default=0)
    for length in range(2, min(max_piece_length, longest) + 1):
        counts: dict[str, int] = {}
        first: list[int] = []  # where each piece of `counts` was first seen, in the dict's order
        for w, (word, count) in enumerate(words):
            for j in range(len(word) - length + 1):
                piece = word[j:j + length]
                seen = counts.get(piece)
                if seen is None:
                    first.append(w * longest + j)
                    counts[piece] = count
                else:
                    counts[piece] = seen + count
        best.extend((-c, at, length, p) for (p, c), at in zip(counts.items(), first, strict=True)
                    if allowed.issuperset(p))
        best.sort()
        del best[need:]
    for negative_count, _, _, piece in best:
        seed[piece] = -negative_count
    return seed


def train_unigram(
    word_counts: Mapping[str, int], *, vocab_size: int, special_tokens: Sequence[str],
    unk_token: str = "[UNK]", limit_alphabet: int | None = None, max_piece_length: int = 16,
    seed_size_factor: int = 4, shrink: float = 0.75, em_iterations: int = 2,
    verbose: bool = False, show_progress: bool = False,
) -> UnigramModel:
    """Learn a Unigram vocabulary of exactly `vocab_size` entries (specials first, score 0)."""
    chars = alphabet_of(word_counts, limit_alphabet)
    target = vocab_size - len(special_tokens)
    check_room(vocab_size, len(special_tokens), len(chars))
    allowed = set(chars)
    seed = _seed(word_counts, chars, max(target * seed_size_factor, target), max_piece_length)
    if len(seed) < target:
        raise corpus_exhausted(vocab_size, len(seed) + len(special_tokens), 1)
    pieces = list(seed)
    index = {p: i for i, p in enumerate(pieces)}
    lattice = _Lattice(word_counts, index, max_piece_length)
    seed_counts = np.array([seed[p] for p in pieces], dtype=np.float64)
    log_probs = np.log(seed_counts / seed_counts.sum())
    alive = np.ones(len(pieces), dtype=bool)
    char_ids = np.array([index[ch] for ch in chars], dtype=int)

    bar = tqdm(desc="unigram EM", unit="round", disable=not show_progress)
    while True:
        for _ in range(em_iterations):
            expected, loglik = lattice.expected_counts(log_probs)
            expected[char_ids] = np.maximum(expected[char_ids], 1e-3)  # characters never vanish
            expected[~alive] = 0.0
            alive &= expected > 0
            with np.errstate(divide="ignore"):
                log_probs = np.where(alive, np.log(expected / expected.sum()), -np.inf)
        logp = {pieces[i]: float(log_probs[i]) for i in np.flatnonzero(alive)}
        if verbose:
            print(f"unigram: {len(logp)} pieces, log-likelihood {loglik:.1f}")
        bar.update(1)
        if len(logp) <= target:
            break
        keep_n = max(target, int(len(logp) * shrink))
        loss = {p: expected[index[p]] * (lp - _viterbi_score(p, logp, max_piece_length, exclude=p))
                for p, lp in logp.items() if p not in allowed}
        drop = sorted(loss, key=lambda p: (loss[p], p))[: len(logp) - keep_n]
        for p in drop:
            alive[index[p]] = False
            log_probs[index[p]] = -np.inf
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
        return models.Unigram(vocab=list(self.pieces), unk_id=self.unk_id, byte_fallback=False)
