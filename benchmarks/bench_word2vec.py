"""word2vec: bertkit's PyTorch skip-gram/CBOW vs gensim's `Word2Vec` (optimised C), side by side.

Same corpus (bertkit.datasets.corpus_files("train"): ~2.1M words of English news + Portuguese FAQs,
split into lowercased words by bertkit.classic.split_words, one sentence per line), same
hyper-parameters (vector size 100, window 5, negative 5, min_count 5, sample 1e-3, alpha 0.025 ->
0.0001, 5 epochs), same number of workers (gensim's threads, bertkit's processes). Each side runs in
its own subprocess, the sides interleaved (alternating who goes first); the timed part is vocabulary
+ training from the same tokenized sentences (imports before the clock). Prints one JSON line per
architecture: words/s of both (corpus words x epochs / seconds), median and best of --repeats, their
ratios, WordSim-353 Spearman and Google analogy accuracy of both (last run) on the vocabulary they
share, and the load average (the sides share the machine with whatever else runs). Under load,
--max-words 500000 --epochs 1 --repeats 3 is the shorter setting (its quality numbers mean nothing:
too little training).

    python benchmarks/bench_word2vec.py [--architecture skipgram --architecture cbow] [--workers 2]
        [--epochs 5] [--repeats 1] [--max-words N] [--shared-negatives]

Where bertkit's time goes (per-pair skip-gram, one worker, torch profiler + cProfile): the SGD
steps ~75% of the run, numpy sampling ~10% (noise draws ~6%), vocabulary + encoding the rest;
inside the steps embedding_bag ~42% (the step for h, and the per-word sums of both updates),
index_add_ ~17%, sampled_addmm (the scores) ~17%, indexing ~10%, Python and small ops the rest.

Measured (load average 8-10 on 2 shared cores, 2 workers both sides; ratio = bertkit / gensim):
full corpus, 5 epochs: skip-gram (per pair) 0.43x and 0.48x in two medians of 2, 0.51x in a
single run; CBOW 0.63x median of 2 (best 0.57x), 0.55x single; WordSim-353 0.375 vs 0.370, analogies
8.3% vs 7.8% (skip-gram), 0.301 vs 0.298 and 6.1% vs 5.8% (CBOW). 500k words, 1 epoch, median of 2:
skip-gram --shared-negatives 0.70x, per pair 0.54x.
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
    if side == "gensim":  # imports before the clock starts (torch's and scipy's take seconds)
        from gensim.models import Word2Vec as GensimWord2Vec
    else:
        from bertkit.classic.config import Word2VecConfig
        from bertkit.classic.word2vec import Word2Vec
    start = time.perf_counter()
    if side == "gensim":
        model = GensimWord2Vec(sents, sg=int(architecture == "skipgram"), epochs=epochs, workers=workers,
                               seed=1, **HYPER)
        seconds = time.perf_counter() - start
        model.wv.save_word2vec_format(str(out), binary=True)
    else:
        config = Word2VecConfig(architecture=architecture, epochs=epochs, workers=workers, seed=1,
                                shared_negatives=shared_negatives and architecture == "skipgram", **HYPER)
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
                   help="train on the first sentences up to this many words (0: all; shorter under load)")
    p.add_argument("--shared-negatives", action="store_true",
                   help="bertkit skip-gram shares each window's noise words (Ji et al. 2016)")
    p.add_argument("--side", choices=("gensim", "bertkit"), help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    architectures = args.architecture or ["skipgram"]
    if args.side:
        print(json.dumps(run_side(args.side, architectures[0], args.epochs, args.workers, args.out,
                                  args.max_words, args.shared_negatives)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        for architecture in architectures:
            result = compare(architecture, args.epochs, args.workers, args.repeats, Path(tmp), args.max_words,
                             args.shared_negatives)
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
