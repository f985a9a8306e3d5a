"""word2vec (Mikolov et al., 2013) in PyTorch: skip-gram and CBOW with negative sampling.

The recipe of word2vec.c, step by step:
1. count the words; keep those seen at least `min_count` times, most frequent first;
2. every epoch, drop each occurrence of a frequent word at random (subsampling, `keep_probability`);
3. give each position its own window b, drawn uniformly from 1..window (the dynamic window: near
   words are context more often than far ones);
4. skip-gram: every (center, context) pair within b is a positive example, the center predicting the
   context; CBOW: the mean of the context vectors predicts the center;
5. pair each positive with `negative` noise words drawn from the unigram distribution raised to 3/4;
6. take an SGD step on log σ(v_o·h) + Σ_k log σ(−v_k·h), the learning rate falling linearly to
   `min_alpha` over the whole run.

Only the cut of the work differs from word2vec.c: a chunk of the corpus at a time is turned into
arrays of examples in numpy (`batches.py`), and one SGD step updates `batch_size` examples at once
(the updates of one word within a batch add up, as they would one after another at a small learning
rate). A step touches each example's rows without copying them out: the scores v·h are one sampled
matrix product, the step for h one weighted `embedding_bag` over the output rows, and the row
updates are summed per word before they are added (`_add_rows`). Worker processes train different
chunks on the same two matrices, in shared memory, without locks, as word2vec.c's threads do
("Hogwild"); with one worker a run is exactly reproducible.

One documented departure, off by default: `shared_negatives` (skip-gram) draws the K noise words
once per window rather than once per pair (Ji et al. 2016), so a step is two batched matrix products
per window instead of 1 + K dot products per pair (see `skipgram_window_step`).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import traceback
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.multiprocessing

from bertkit.classic.batches import (
    Examples,
    NoiseTable,
    cbow_examples,
    keep_probability,
    skipgram_examples,
    skipgram_window_examples,
)
from bertkit.classic.config import Word2VecConfig
from bertkit.classic.units import analyzer, read_sentences
from bertkit.classic.vectors import WordVectors
from bertkit.errors import DataError
from bertkit.io import atomic_write_text

CHUNK_WORDS = 50_000  # corpus words turned into examples at a time (one job of a worker)
# how worker processes start: fork (cheap, shares everything already in memory) where the OS has it
START_METHOD = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


@dataclass
class Vocabulary:
    """The kept words, most frequent first, and how often each occurs in the corpus."""

    words: list[str]
    counts: np.ndarray  # (V,) int64

    @classmethod
    def count(cls, sentences: Iterable[Sequence[str]], min_count: int, source: str) -> Vocabulary:
        """Words seen at least `min_count` times, sorted by count (ties: alphabetically)."""
        counter: Counter[str] = Counter()
        for sentence in sentences:
            counter.update(sentence)
        if not counter:
            raise DataError(f"{source}: no words to learn from (the corpus is empty)")
        kept = sorted(((w, c) for w, c in counter.items() if c >= min_count), key=lambda wc: (-wc[1], wc[0]))
        if not kept:
            top, n = counter.most_common(1)[0]
            raise DataError(f"{source}: min_count={min_count} leaves no words (the most frequent word, "
                            f"{top!r}, occurs {n} times in {sum(counter.values())} words)")
        return cls([w for w, _ in kept], np.array([c for _, c in kept], dtype=np.int64))


@dataclass
class Corpus:
    """The corpus as word ids: every in-vocabulary word in order, and the sentence it belongs to."""

    ids: np.ndarray       # (N,) int64
    sentence: np.ndarray  # (N,) int64, non-decreasing; windows never cross sentences

    @classmethod
    def encode(cls, sentences: Sequence[Sequence[str]], vocab: Vocabulary) -> Corpus:
        index = {w: i for i, w in enumerate(vocab.words)}
        lengths = np.fromiter(map(len, sentences), dtype=np.int64, count=len(sentences))
        ids = np.fromiter(map(index.get, itertools.chain.from_iterable(sentences), itertools.repeat(-1)),
                          dtype=np.int64, count=int(lengths.sum()))
        known = ids >= 0  # unknown words are dropped (before windowing, as word2vec.c does)
        return cls(ids[known], np.repeat(np.arange(len(sentences)), lengths)[known])

    def chunks(self, size: int = CHUNK_WORDS) -> list[tuple[int, int]]:
        """(start, end) spans of about `size` words that begin and end at sentence boundaries."""
        starts = np.flatnonzero(np.diff(self.sentence, prepend=-1))
        cuts = [0]
        for target in range(size, len(self.ids), size):
            cut = int(starts[np.searchsorted(starts, target)]) if target <= starts[-1] else len(self.ids)
            if cut > cuts[-1]:
                cuts.append(cut)
        if cuts[-1] != len(self.ids):
            cuts.append(len(self.ids))
        return list(zip(cuts[:-1], cuts[1:], strict=True))


def _check_corpus(corpus: Corpus, config: Word2VecConfig, source: str) -> None:
    """A corpus with no (center, context) pair at all cannot train anything: say so."""
    n = len(corpus.ids)
    if n <= config.window:
        raise DataError(f"{source}: the corpus has {n} words after min_count={config.min_count}, fewer "
                        f"than one window needs (window={config.window} needs at least {config.window + 1})")
    if not np.any(np.diff(corpus.sentence) == 0):
        raise DataError(f"{source}: every sentence (line) has at most one known word, so no word has "
                        f"context; give longer lines or lower min_count")


class Word2Vec:
    """A trained (or training) word2vec model: input vectors `w_in` (the word vectors) and output
    vectors `w_out` (what negative sampling scores against)."""

    def __init__(self, vocab: Vocabulary, config: Word2VecConfig, w_in: torch.Tensor | None = None,
                 w_out: torch.Tensor | None = None) -> None:
        self.vocab, self.config = vocab, config
        v, d = len(vocab.words), config.vector_size
        g = torch.Generator().manual_seed(config.seed)
        # word2vec.c's initialisation: inputs uniform in [-0.5/d, 0.5/d), outputs zero
        self.w_in = w_in if w_in is not None else (torch.rand(v, d, generator=g) - 0.5) / d
        self.w_out = w_out if w_out is not None else torch.zeros(v, d)

    @property
    def wv(self) -> WordVectors:
        """The word vectors (the input matrix, as word2vec.c saves)."""
        return WordVectors(self.vocab.words, self.w_in.numpy().copy())

    @classmethod
    def train_files(cls, files: Sequence[str | Path], config: Word2VecConfig | None = None,
                    tokenizer: Any = None, progress: bool = True) -> Word2Vec:
        """Train on text files, one sentence per line; units are lowercased words, or the tokens of
        `tokenizer` (a bertkit Tokenizer or its directory)."""
        config = config or Word2VecConfig()
        sentences = list(read_sentences(files, analyzer(tokenizer, config.lowercase)))
        return cls.train(sentences, config, progress, source=", ".join(map(str, files)))

    @classmethod
    def train(cls, sentences: Sequence[Sequence[str]], config: Word2VecConfig | None = None,
              progress: bool = True, source: str = "the corpus") -> Word2Vec:
        """Train on tokenized sentences (lists of words); `source` names them in error messages."""
        config = config or Word2VecConfig()
        vocab = Vocabulary.count(sentences, config.min_count, source)
        corpus = Corpus.encode(sentences, vocab)
        _check_corpus(corpus, config, source)
        model = cls(vocab, config)
        _Trainer(model, corpus, config.workers or os.cpu_count() or 1).run(progress)
        return model

    def save(self, out_dir: str | Path) -> Path:
        """DIR/vectors.txt and DIR/vectors.bin (word2vec formats) and DIR/word2vec.json (settings)."""
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise DataError(f"{out}: exists and is not a directory")
        out.mkdir(parents=True, exist_ok=True)
        wv = self.wv
        wv.save(out / "vectors.txt", binary=False)
        wv.save(out / "vectors.bin", binary=True)
        info = {"config": dataclasses.asdict(self.config), "vocab_size": len(wv),
                "corpus_words": int(self.vocab.counts.sum())}
        atomic_write_text(out / "word2vec.json", json.dumps(info, indent=2) + "\n")
        return out


class _Trainer:
    """Runs the epochs. The work is a list of (epoch, chunk) jobs in corpus order; each worker takes
    the next job, makes the chunk's examples and trains on them, until none are left.

    One worker trains in this process. Several are processes ("Hogwild", as word2vec.c's threads): the
    two matrices live in shared memory and every worker updates them without locks, so the only
    Python overhead they share is the CPU. What they do share through `multiprocessing` is small:
    the index of the next job, the words done (the clock of the learning rate, so it falls over the
    whole run whichever worker trains what) and a stop flag. A chunk's examples come from its own
    seed (seed, epoch, chunk), so all workers together make the same examples as one; with one worker
    a run is exactly reproducible. The trainer holds no open files or threads: it is what a worker
    process is given (forked, or pickled where only spawn exists).
    """

    def __init__(self, model: Word2Vec, corpus: Corpus, workers: int) -> None:
        self.model, self.corpus, self.cfg = model, corpus, model.config
        self.keep = keep_probability(model.vocab.counts, self.cfg.sample)
        self.noise = NoiseTable(model.vocab.counts)
        spans = corpus.chunks(CHUNK_WORDS)
        self.jobs = [(epoch, i, start, end) for epoch in range(self.cfg.epochs)
                     for i, (start, end) in enumerate(spans)]
        self.total = self.cfg.epochs * len(corpus.ids)
        self.workers = workers
        self.context = torch.multiprocessing.get_context(START_METHOD)  # torch's: tensors pickle as shared
        self.next_job = self.context.Value("q", 0)    # index into self.jobs of the next job to hand out
        self.words_done = self.context.Value("q", 0)  # corpus words of the finished jobs
        self.stop = self.context.Event()               # a worker failed or the run was interrupted

    def run(self, progress: bool) -> None:
        """Train every job, with a progress bar (words, rate, ETA) when `progress`."""
        from tqdm.auto import tqdm

        threads_before = torch.get_num_threads()
        try:
            if self.workers == 1:
                with tqdm(total=self.total, unit="word", unit_scale=True, disable=not progress,
                          desc=f"word2vec {self.cfg.architecture}", dynamic_ncols=True) as bar:
                    self._train_jobs(on_chunk=bar.update)
            else:
                self._run_processes(lambda: tqdm(total=self.total, unit="word", unit_scale=True,
                                                 disable=not progress, dynamic_ncols=True,
                                                 desc=f"word2vec {self.cfg.architecture} x{self.workers}"))
        finally:
            torch.set_num_threads(threads_before)

    def _run_processes(self, make_bar: Callable[[], Any]) -> None:
        """Start the worker processes, follow their progress, and end them all whatever happens: a
        worker's failure is raised here with its traceback, and on Ctrl-C (or any error here) the
        others are terminated and reaped before the exception goes on, leaving no orphans."""
        for matrix in (self.model.w_in, self.model.w_out):
            matrix.share_memory_()
        errors = self.context.SimpleQueue()
        started: list[Any] = []
        try:
            for number in range(self.workers):  # start them before the bar's monitor thread exists
                process = self.context.Process(target=_worker_process, name=f"word2vec-worker-{number}",
                                               args=(self, number, errors, os.getpid()), daemon=True)
                process.start()
                started.append(process)
            with make_bar() as bar:
                running = {process.sentinel: process for process in started}
                while running:
                    for sentinel in multiprocessing.connection.wait(list(running), timeout=0.25):
                        process = running.pop(sentinel)
                        process.join()
                        if process.exitcode != 0:
                            raise _worker_failed(process, errors)
                    bar.update(self.words_done.value - bar.n)
        finally:
            self.stop.set()
            for process in started:
                if process.is_alive():
                    process.terminate()
            for process in started:
                process.join()

    def _next_job(self, parent: int | None) -> tuple[int, int, int, int] | None:
        """The next job, or None when all are taken, the run is stopping, or (in a worker process)
        the parent that started it is gone."""
        if self.stop.is_set() or (parent is not None and os.getppid() != parent):
            return None
        with self.next_job.get_lock():
            index = self.next_job.value
            self.next_job.value = index + 1
        return self.jobs[index] if index < len(self.jobs) else None

    def _train_jobs(self, parent: int | None = None, on_chunk: Callable[[int], Any] | None = None) -> None:
        torch.set_num_threads(1)  # parallel over chunks (workers), not inside each small op
        while (job := self._next_job(parent)) is not None:
            epoch, chunk, start, end = job
            rng = np.random.default_rng([self.cfg.seed, epoch, chunk])  # same examples whatever the workers
            examples = self._examples(self.corpus.ids[start:end], self.corpus.sentence[start:end], rng)
            self._train_chunk(examples, self.words_done.value, end - start)
            with self.words_done.get_lock():
                self.words_done.value += end - start
            if on_chunk is not None:
                on_chunk(end - start)

    def _examples(self, ids: np.ndarray, sentence: np.ndarray, rng: np.random.Generator) -> Examples:
        kept = rng.random(len(ids)) < self.keep[ids]  # subsampling, redrawn every epoch
        make = cbow_examples if self.cfg.architecture == "cbow" else (
            skipgram_window_examples if self.cfg.shared_negatives else skipgram_examples)
        return make(ids[kept], sentence[kept], self.cfg.window, self.noise, self.cfg.negative, rng)

    def _train_chunk(self, ex: Examples, begin: int, words: int) -> None:
        """SGD over the chunk's examples, `batch_size` at a time, the learning rate decaying linearly
        with the words done (this chunk's share spread over its steps)."""
        cfg, n, w_in, w_out = self.cfg, len(ex.outputs), self.model.w_in, self.model.w_out
        batch = cfg.batch_size if ex.mask is None else max(1, cfg.batch_size // ex.mask.shape[1])
        starts = range(0, n, batch)
        for step, lo in enumerate(starts):
            hi = min(lo + batch, n)
            progress = (begin + words * step / len(starts)) / self.total
            lr = max(cfg.min_alpha, cfg.alpha - (cfg.alpha - cfg.min_alpha) * progress)
            if ex.mask is not None:
                skipgram_window_step(w_in, w_out, ex.inputs[lo:hi], ex.mask[lo:hi], ex.outputs[lo:hi],
                                     ex.keep[lo:hi], lr)
            elif ex.segment is None:
                skipgram_step(w_in, w_out, ex.inputs[lo:hi], ex.outputs[lo:hi], ex.keep[lo:hi], lr)
            else:
                a, b = int(ex.offsets[lo]), int(ex.offsets[hi])
                cbow_step(w_in, w_out, ex.inputs[a:b], ex.offsets[lo:hi] - a, ex.segment[a:b] - lo,
                          ex.outputs[lo:hi], ex.keep[lo:hi], lr)


def _worker_process(trainer: _Trainer, number: int, errors: Any, parent: int) -> None:
    """A worker process: train jobs until none are left; on failure, stop the others and report."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent acts
    try:
        trainer._train_jobs(parent=parent)
    except BaseException as e:
        trainer.stop.set()
        errors.put((number, f"{type(e).__name__}: {e}"[:2000], traceback.format_exc()[-8000:]))
        sys.exit(1)


def _worker_failed(process: Any, errors: Any) -> RuntimeError:
    """The error to raise for a worker process that ended with a non-zero exit code."""
    if not errors.empty():
        number, what, trace = errors.get()
        return RuntimeError(f"word2vec worker process {number} failed: {what}\n(its traceback:)\n{trace}")
    how = f"killed by signal {-process.exitcode}" if process.exitcode < 0 else f"exit code {process.exitcode}"
    return RuntimeError(f"word2vec worker process {process.name} died ({how}) without reporting an error "
                        f"(out of memory?)")


@functools.lru_cache(maxsize=16)
def _arange(end: int, step: int = 1, repeat: int = 1) -> torch.Tensor:
    """0, step, 2*step, ... below `end`, each `repeat` times (cached: every full batch asks alike)."""
    return torch.arange(0, end, step).repeat_interleave(repeat)


def _add_rows(w: torch.Tensor, rows: torch.Tensor, source: torch.Tensor, index: torch.Tensor,
              weights: torch.Tensor | None = None, in_runs: bool = False) -> None:
    """w[rows[j]] += weights[j] * source[index[j]] for every j (weights: 1 when None).

    The same as `w.index_add_(0, rows, weights[:, None] * source[index])`, but without building that
    (J, d) tensor: the j are grouped by row (a stable radix sort in numpy), each group's sum is one
    bag of a weighted `embedding_bag` over `source` (fbgemm's fused gather-and-sum), and one row per
    group is added to w. Frequent words fill many slots of a batch: far fewer rows. `in_runs` skips
    the sort and groups only neighbouring equal rows (right for any order; worth it where rows come
    in runs, as a skip-gram batch's centers do)."""
    r = rows.numpy()
    if in_runs:
        grouped, order = r, None
    else:
        order = np.argsort(r.astype(np.uint16 if len(w) <= 1 << 16 else np.int64), kind="stable")
        grouped = r[order]
    starts = np.flatnonzero(np.concatenate([[True], grouped[1:] != grouped[:-1]]))
    if order is not None:
        order_t = torch.from_numpy(order)
        index = index.index_select(0, order_t)  # a plain gather: cheaper than index[order_t]
        weights = None if weights is None else weights.index_select(0, order_t)
    sums = torch.nn.functional.embedding_bag(index, source, torch.from_numpy(starts), mode="sum",
                                             per_sample_weights=weights)
    w.index_add_(0, torch.from_numpy(grouped[starts]), sums)


def _scores(w_out: torch.Tensor, h: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    """v_o·h for every output word o of every example: (B, 1+K). A sampled matrix product (h @ w_outᵀ
    at the B x (1+K) places `outputs` names), which reads each output row once instead of first
    gathering the (B, 1+K, d) rows into a new tensor and then reading that."""
    b, k1 = outputs.shape
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the pattern is only an index
        warnings.simplefilter("ignore", UserWarning)
        places = torch.sparse_csr_tensor(_arange(b * k1 + 1, k1), outputs.view(-1),
                                         torch.zeros(b * k1), size=(b, len(w_out)), check_invariants=False)
        return torch.sparse.sampled_addmm(places, h, w_out.t(), beta=0.0).values().view(b, k1)


def _output_step(w_out: torch.Tensor, h: torch.Tensor, outputs: torch.Tensor, keep: torch.Tensor,
                 lr: float) -> torch.Tensor:
    """Negative sampling for hidden vectors h (B, d) and output words (B, 1+K): the true word, then K
    noise words. Updates their output vectors in place; returns the SGD step for h (B, d)."""
    b, k1 = outputs.shape
    # d/d(score) of log σ(v_o·h) + Σ_k log σ(−v_k·h) is label − σ(score), label = 1 for the true word
    g = torch.sigmoid(_scores(w_out, h, outputs)).neg_()
    g[:, 0] += 1.0
    g.mul_(keep).mul_(lr)                                         # keep: 0 where noise = true word
    # the step for h, Σ_k g_k v_k, from v before its update: a weighted gather-and-sum, fused
    step_h = torch.nn.functional.embedding_bag(outputs, w_out, per_sample_weights=g, mode="sum")
    _add_rows(w_out, outputs.view(-1), h, _arange(b, repeat=k1), g.view(-1))  # v_k += g_k h
    return step_h


def skipgram_step(w_in: torch.Tensor, w_out: torch.Tensor, centers: torch.Tensor, outputs: torch.Tensor,
                  keep: torch.Tensor, lr: float) -> None:
    """One SGD step on B skip-gram examples: centers (B,), outputs (B, 1+K) = [context, noise...]."""
    h = w_in.index_select(0, centers)  # (B, d)
    _add_rows(w_in, centers, _output_step(w_out, h, outputs, keep, lr), _arange(len(centers)), in_runs=True)


def skipgram_window_step(w_in: torch.Tensor, w_out: torch.Tensor, contexts: torch.Tensor,
                         mask: torch.Tensor, outputs: torch.Tensor, keep: torch.Tensor, lr: float) -> None:
    """One SGD step on B windows, negatives shared (Ji et al. 2016): contexts (B, 2w) padded, mask
    (B, 2w) 1 on real context words; each predicts outputs[:, 0] (the center) against the same K noise
    words outputs[:, 1:]. The window's dot products are one small matrix product (2w x d)(d x 1+K)."""
    b, c = contexts.shape
    x = w_in.index_select(0, contexts.view(-1)).view(b, c, -1)     # (B, 2w, d)
    v = w_out.index_select(0, outputs.view(-1)).view(b, outputs.shape[1], -1)  # (B, 1+K, d)
    score = torch.bmm(x, v.transpose(1, 2))                         # (B, 2w, 1+K): x_j·v_k
    g = torch.sigmoid(score).neg_()                                 # label − σ(score), as in _output_step
    g[:, :, 0] += 1.0
    g.mul_(mask.unsqueeze(2)).mul_(keep.unsqueeze(1)).mul_(lr)      # padding and noise = center learn nothing
    w_in.index_add_(0, contexts.view(-1), torch.bmm(g, v).view(b * c, -1))        # from v before its update
    w_out.index_add_(0, outputs.view(-1), torch.bmm(g.transpose(1, 2), x).view(-1, x.shape[2]))


def cbow_step(w_in: torch.Tensor, w_out: torch.Tensor, contexts: torch.Tensor, offsets: torch.Tensor,
              segment: torch.Tensor, outputs: torch.Tensor, keep: torch.Tensor, lr: float) -> None:
    """One SGD step on B CBOW examples. contexts (C,) are the context words of all examples, example
    i's starting at offsets[i] (B,), `segment[j]` the example of context j; outputs (B, 1+K)."""
    h = torch.nn.functional.embedding_bag(contexts, w_in, offsets, mode="mean")  # gather + mean, fused
    step_h = _output_step(w_out, h, outputs, keep, lr)
    # as in word2vec.c and gensim: every context word takes the whole step of the mean
    _add_rows(w_in, contexts, step_h, segment)
