"""GPT training throughput: bertkit GPTLanguageModel vs transformers GPT2LMHeadModel, side by side.

The same config (GPT-2's 50,257-token vocabulary; --preset mini: 4 layers, 256 wide, 4 heads),
the same initial weights (bertkit's, saved and loaded by transformers), the same batches of random
token windows (--batch x --seq-len), the same optimizer (torch's AdamW, fused kernel) in a plain
loop: forward with labels, backward, clip to 1.0, step, zero_grad. The two sides alternate,
--steps at a time, after one warm-up step each; tokens/s from the median and the best turn.
After training, both models' losses on a held-out batch are printed (they must stay close: the
same updates up to float32 rounding).

Target (issue 13): bertkit >= 1.5x transformers' tokens/s. Prints ONE JSON line.

Measured 2026-12-02, shared 2-core box, --threads 1 --steps 1 --repeats 5, tokens/s median (best):
- load average 2.8: bertkit 1067 (1121), transformers 709 (720): 1.50x (1.56x);
- load average 7.9: bertkit 358 (461), transformers 250 (289): 1.43x (1.59x);
held-out losses equal (10.8614 both). Before the in-place softmax of fused_loss.py (load 18-20):
1.23x. A step is mostly the output layer's three GEMMs, which both sides run alike; the fused
loss removes the passes over the (tokens, vocab) logits. --threads 2 under load is meaningless
(both sides 2-3x slower than at 1 thread as the threads wait for each other).

    .venv/bin/python benchmarks/bench_gpt_train.py [--preset mini] [--repeats 5] [--threads 1]
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
    ap.add_argument("--preset", default="mini")
    ap.add_argument("--vocab", type=int, default=50257)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--steps", type=int, default=2, help="steps per turn")
    ap.add_argument("--repeats", type=int, default=4, help="turns per side")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()

    import torch
    import transformers

    from bertkit import GPTConfig, GPTLanguageModel

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    p = args.dropout
    cfg = GPTConfig.preset(args.preset, vocab_size=args.vocab, n_positions=args.seq_len, resid_pdrop=p,
                           embd_pdrop=p, attn_pdrop=p)
    ours = GPTLanguageModel(cfg)
    with tempfile.TemporaryDirectory() as d:
        ours.save_pretrained(d)
        theirs = transformers.AutoModelForCausalLM.from_pretrained(d, attn_implementation="sdpa")
    gen = torch.Generator().manual_seed(1)
    batches = [torch.randint(0, args.vocab, (args.batch, args.seq_len), generator=gen)
               for _ in range(args.steps)]
    held_out = torch.randint(0, args.vocab, (args.batch, args.seq_len), generator=gen)

    def side(model):
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)

        def turn() -> None:
            for ids in batches:
                loss = model(ids, labels=ids).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                opt.zero_grad(set_to_none=True)
        return turn

    sides = {"bertkit": side(ours), "transformers": side(theirs)}
    for turn in sides.values():
        turn()                                                  # warm-up
    times: dict[str, list[float]] = {name: [] for name in sides}
    load_start = os.getloadavg()[0]
    for _ in range(args.repeats):
        for name, turn in sides.items():
            start = time.perf_counter()
            turn()
            times[name].append(time.perf_counter() - start)
    tokens = args.steps * args.batch * args.seq_len
    with torch.no_grad():
        ours.eval()
        theirs.eval()
        losses = {"bertkit": ours(held_out, labels=held_out).loss.item(),
                  "transformers": theirs(held_out, labels=held_out).loss.item()}
    result = {"bench": "gpt_train", "preset": args.preset, "vocab": args.vocab, "batch": args.batch,
              "seq_len": args.seq_len, "dropout": args.dropout, "threads": args.threads,
              "load_avg": [round(load_start, 1), round(os.getloadavg()[0], 1)]}
    for name, t in times.items():
        result[name] = {"tokens_per_s_median": round(tokens / statistics.median(t), 1),
                        "tokens_per_s_best": round(tokens / min(t), 1),
                        "held_out_loss": round(losses[name], 5)}
    result["ratio_median"] = round(result["bertkit"]["tokens_per_s_median"]
                                   / result["transformers"]["tokens_per_s_median"], 2)
    result["ratio_best"] = round(result["bertkit"]["tokens_per_s_best"]
                                 / result["transformers"]["tokens_per_s_best"], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
