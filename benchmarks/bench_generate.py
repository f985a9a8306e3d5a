"""Greedy generation from one GPT-2-shaped model (random weights): bertkit with the KV cache,
bertkit without it, and transformers' `generate` on the same weights; tokens/s per batch size.

Targets (issue 13): with the cache >= 5x faster than without; >= 1.2x transformers' tokens/s
(greedy, batch 1 and batch 8, 256 new tokens, GPT-2 small's shape). Every output is checked equal
to transformers' before it is timed. The variants run interleaved, median of --repeats, on
--threads threads. Prints ONE JSON line.

Measured 2026-12-02 on the shared 2-core box, 1 thread, 2 interleaved repeats, 256 new tokens,
tokens/s median (best):
- batch 1 (load average 8.3 -> 10.1): bertkit 7.73 (7.81), without the cache 1.25 (1.34),
  transformers 6.71 (6.90): 1.15x transformers (1.13x best), the cache 6.2x;
- batch 8, 64 new tokens, 3 repeats (load 9.6 -> 8.2): bertkit 29.7 (32.0), transformers 23.0
  (26.2): 1.29x (the 256-token run did not finish in 35 minutes under load 7-11).
On the quiet machine (load 0.4 -> 2.0, 2 threads, before `Block.step`): batch 1 29.8 vs 28.8
(1.03x), the cache 4.6x; batch 8 136.8 vs 89.9 (1.52x).
After the one-row `StepPlan` (docs/decoder.md, ### Speed), 2026-12-02, the machine quiet (load
0.2 -> 1.7), 2 threads, 2 repeats: bertkit 41.68 tok/s (42.33), no cache 7.38, transformers 33.28
(34.45): 1.25x transformers (1.23x best), the cache 5.65x. Loaded machine: 1 thread,
3 repeats (load 4.5 -> 3.5): bertkit 22.71 tok/s (22.99), transformers 20.56 (20.78): 1.10x
(1.11x best); 2 threads, 2 repeats (load 4.5 -> 4.8, both sides 5-10x slower than quiet, so only
the direction counts): bertkit 6.25, no cache 0.70, transformers 3.14: 1.99x, the cache 8.98x.
At batch 1 a token reads every weight once (~494 MB for GPT-2 small, 154 MB of it the tied
output layer), on both sides: the step is memory-bound. The weights' layout does not change that:
12 layers' matrix-vector products took 55-60 ms at 1 thread under load 4 as F.linear on (out, in),
addmv, or addmm on (in, out) weights (transformers' Conv1D layout) alike, and the output layer
12-24 ms in every layout (an earlier "addmm is 15% faster" was noise). What bertkit saves is the
tensor calls between the matrix products (`Block.step` on a `StepPlan`: q, k, v as one product,
attention by hand on views of the cache, inference mode) and the cache's copies (written in place).

    python benchmarks/bench_generate.py                         # GPT-2 small, 256 tokens
    python benchmarks/bench_generate.py --preset tiny --new-tokens 64 --repeats 2   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--new-tokens", type=int, default=256)
    ap.add_argument("--prompt-tokens", type=int, default=16)
    ap.add_argument("--batch-sizes", default="1,8")
    ap.add_argument("--no-cache-batch-sizes", default=None,
                    help="batch sizes at which the no-cache variant is timed (default: all); without the "
                         "cache 256 tokens of GPT-2 small cost minutes")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--device", default="cuda" if _cuda() else "cpu")
    args = ap.parse_args()

    import torch
    import transformers

    from bertkit import GPTConfig, GPTLanguageModel

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = GPTConfig.preset(args.preset, eos_token_id=None, bos_token_id=None)
    ours = GPTLanguageModel(cfg).eval().to(args.device)
    with tempfile.TemporaryDirectory() as d:
        ours.save_pretrained(d)
        theirs = transformers.AutoModelForCausalLM.from_pretrained(d).eval().to(args.device)
    runs = {
        "bertkit_cache": lambda ids: ours.generate(ids, max_new_tokens=args.new_tokens),
        "bertkit_no_cache": lambda ids: ours.generate(ids, max_new_tokens=args.new_tokens, use_cache=False),
        "transformers": lambda ids: theirs.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                                    max_new_tokens=args.new_tokens,
                                                    min_new_tokens=args.new_tokens,
                                                    pad_token_id=0),
    }
    result: dict = {"bench": "generate", "preset": args.preset, "new_tokens": args.new_tokens,
                    "device": args.device, "threads": args.threads, "kernels": ours.inference_kernels,
                    "load_avg_start": round(os.getloadavg()[0], 1)}
    no_cache = args.no_cache_batch_sizes or args.batch_sizes
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        ids = torch.randint(0, cfg.vocab_size, (batch, args.prompt_tokens), device=args.device)
        reference = runs["transformers"](ids)
        assert torch.equal(runs["bertkit_cache"](ids), reference), "bertkit differs from transformers"
        names = [n for n in runs if n != "bertkit_no_cache" or str(batch) in no_cache.split(",")]
        times: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(args.repeats):
            for name in names:
                run = runs[name]
                _sync(args.device)
                start = time.perf_counter()
                run(ids)
                _sync(args.device)
                times[name].append(time.perf_counter() - start)
        tok_s = {name: batch * args.new_tokens / statistics.median(t) for name, t in times.items()}
        best = {name: batch * args.new_tokens / min(t) for name, t in times.items()}
        row = {**{f"{name}_tok_s": round(v, 2) for name, v in tok_s.items()},
               **{f"{name}_tok_s_best": round(v, 2) for name, v in best.items()},
               "vs_transformers": round(tok_s["bertkit_cache"] / tok_s["transformers"], 2),
               "vs_transformers_best": round(best["bertkit_cache"] / best["transformers"], 2)}
        if "bertkit_no_cache" in tok_s:
            row["cache_speedup"] = round(tok_s["bertkit_cache"] / tok_s["bertkit_no_cache"], 2)
        result[f"batch{batch}"] = row
    result["load_avg_end"] = round(os.getloadavg()[0], 1)
    print(json.dumps(result))


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


if __name__ == "__main__":
    main()
