"""word2vec: bertkit's PyTorch skip-gram/CBOW vs gensim's `Word2Vec` (optimised C), side by side.

Same corpus (bertkit.datasets.corpus_files("train"): ~2.1M words of English news + Portuguese
FAQs, split into lowercased words by bertkit.classic.split_words, one sentence per line), same
hyper-parameters (vector size 100, window 5, negative 5, min_count 5, sample 1e-3, alpha 0.025 ->
0.0001, 5 epochs), same number of worker threads. Each side runs in its own subprocess, the sides
interleaved; the timed part is vocabulary + training from the same tokenized sentences. Prints one
JSON line per architecture: words/s of both (corpus words x epochs / seconds) and their ratio,
WordSim-353 Spearman and Google analogy accuracy of both on the vocabulary they share, and the
load average (the sides share the machine with whatever else runs).

    python benchmarks/bench_word2vec.py [--architecture skipgram --architecture cbow] [--workers 2]
        [--epochs 5] [--repeats 1]

Where bertkit's time goes (cProfile of one skip-gram epoch, one thread, batch 2048): the SGD step
is ~93% -- index_add_ of the updates ~30%, the two bmm (scores, input-side step) ~27%,
index_select of the rows ~20%, the element-wise sigmoid/outer product ~20% -- and the numpy
sampling (subsampling, windows, noise words) ~7%. Every step moves each example's 1 + 1 + K rows
through memory several times (gather, score, step, scatter) where gensim's C loop touches them
once, in cache; that, not Python, is the gap.

Measured (2 workers, 5 epochs, one run, load average ~7 on 2 shared cores): skip-gram 41,200 vs
107,376 words/s (0.38x), WordSim-353 0.383 vs 0.368, analogies 8.25% vs 8.20%; CBOW 142,386 vs
558,298 words/s (0.26x), WordSim-353 0.310 vs 0.299, analogies 5.17% vs 6.59%.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HYPER = {"vector_size": 100, "window": 5, "negative": 5, "min_count": 5, "sample": 1e-3,
         "alpha": 0.025, "min_alpha": 1e-4}


def sentences(max_words: int = 0) -> list[list[str]]:
    """The corpus' sentences; with `max_words`, only the first sentences up to that many words."""
    from bertkit.classic.units import analyzer, read_sentences
    from bertkit.datasets import corpus_files

    out, words = [], 0
    for s in read_sentences(corpus_files("train"), analyzer()):
        if max_words and words >= max_words:
            break
        out.append(s)
        words += len(s)
    return out


def run_side(side: str, architecture: str, epochs: int, workers: int, out: Path, max_words: int = 0,
             shared_negatives: bool = False) -> dict:
    """Train one side (in this process) and save its vectors to `out` (word2vec binary)."""
    sents = sentences(max_words)
    words = sum(map(len, sents))
    start = time.perf_counter()
    if side == "gensim":
        from gensim.models import Word2Vec

        model = Word2Vec(sents, sg=int(architecture == "skipgram"), epochs=epochs, workers=workers,
                         seed=1, **HYPER)
        seconds = time.perf_counter() - start
        model.wv.save_word2vec_format(str(out), binary=True)
    else:
        from bertkit.classic.config import Word2VecConfig
        from bertkit.classic.word2vec import Word2Vec

        config = Word2VecConfig(architecture=architecture, epochs=epochs, workers=workers, seed=1,
                                shared_negatives=shared_negatives, **HYPER)
        model = Word2Vec.train(sents, config, progress=False)
        seconds = time.perf_counter() - start
        model.wv.save(out, binary=True)
    return {"seconds": seconds, "words_per_s": words * epochs / seconds, "corpus_words": words}


def compare(architecture: str, epochs: int, workers: int, repeats: int, tmp: Path, max_words: int = 0,
            shared_negatives: bool = False) -> dict:
    from bertkit.classic.evaluate import evaluate
    from bertkit.classic.vectors import WordVectors

    runs: dict[str, list[dict]] = {"gensim": [], "bertkit": []}
    for r in range(repeats):
        for side in (("gensim", "bertkit") if r % 2 == 0 else ("bertkit", "gensim")):
            out = tmp / f"{side}-{architecture}.bin"
            cmd = [sys.executable, __file__, "--side", side, "--architecture", architecture,
                   "--epochs", str(epochs), "--workers", str(workers), "--out", str(out),
                   "--max-words", str(max_words)] + ["--shared-negatives"] * shared_negatives
            result = subprocess.run(cmd, capture_output=True, text=True, check=True)
            runs[side].append(json.loads(result.stdout.strip().splitlines()[-1]))
    best = {side: max(rs, key=lambda r: r["words_per_s"]) for side, rs in runs.items()}
    median = {side: statistics.median(r["words_per_s"] for r in rs) for side, rs in runs.items()}
    vectors = {side: WordVectors.load(tmp / f"{side}-{architecture}.bin") for side in runs}
    shared = set(vectors["gensim"].words) & set(vectors["bertkit"].words)
    quality = {side: evaluate(wv, shared) for side, wv in vectors.items()}
    return {
        "benchmark": "word2vec", "architecture": architecture, "epochs": epochs, "workers": workers,
        "corpus_words": best["bertkit"]["corpus_words"], "max_words": max_words, "repeats": repeats,
        "shared_negatives": shared_negatives and architecture == "skipgram",
        "bertkit_words_per_s": round(median["bertkit"]), "gensim_words_per_s": round(median["gensim"]),
        "ratio": round(median["bertkit"] / median["gensim"], 3),  # of the medians
        "bertkit_words_per_s_best": round(best["bertkit"]["words_per_s"]),
        "gensim_words_per_s_best": round(best["gensim"]["words_per_s"]),
        "ratio_best": round(best["bertkit"]["words_per_s"] / best["gensim"]["words_per_s"], 3),
        "bertkit_seconds_min": round(best["bertkit"]["seconds"], 1),
        "gensim_seconds_min": round(best["gensim"]["seconds"], 1),
        "shared_vocab": len(shared),
        "bertkit_wordsim353": quality["bertkit"]["wordsim353"]["value"],
        "gensim_wordsim353": quality["gensim"]["wordsim353"]["value"],
        "bertkit_analogy": quality["bertkit"]["analogy"]["value"],
        "gensim_analogy": quality["gensim"]["analogy"]["value"],
        "wordsim_pairs": quality["bertkit"]["wordsim353"]["used"],
        "analogy_questions": quality["bertkit"]["analogy"]["used"],
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--architecture", action="append", choices=("skipgram", "cbow"))
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--max-words", type=int, default=0,
                   help="train on the first sentences up to this many words (0: all; a shorter run under load)")
    p.add_argument("--shared-negatives", action="store_true",
                   help="bertkit skip-gram shares each window's noise words (Ji et al. 2016)")
    p.add_argument("--side", choices=("gensim", "bertkit"), help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    architectures = args.architecture or ["skipgram"]
    if args.side:
        print(json.dumps(run_side(args.side, architectures[0], args.epochs, args.workers, args.out, args.max_words,
                                  args.shared_negatives)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        for architecture in architectures:
            print(json.dumps(compare(architecture, args.epochs, args.workers, args.repeats, Path(tmp), args.max_words,
                                     args.shared_negatives)),
                  flush=True)


if __name__ == "__main__":
    main()
