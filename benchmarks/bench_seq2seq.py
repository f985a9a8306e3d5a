"""The seq2seq task (digits -> Portuguese number words): the learning curve, and training speed side
by side with torch's own nn.Transformer.

1. Curve: bertkit's Seq2SeqTransformer (preset mini: 2+2 post-LN layers, d_model 128, 4 heads, d_ff
   512, shared embeddings, label smoothing 0.1) trained through the one loop (Trainer) with the
   paper's Adam and inverse-sqrt schedule, on numbers below 10**6 (`bertkit seq2seq train`'s
   defaults). Every --eval-every steps: exact match and BLEU on a fixed sample of the TEST numbers
   (unseen blocks), against training time so far, wall and CPU (evaluation time not counted).
2. Speed: the same model and nn.Transformer of the same shape (post-LN, ReLU, dropout 0.1, batch
   first, tied output, the same loss), each trained by a plain loop with the same AdamW on the
   same batches; the two sides alternate, --speed-steps steps at a time, --repeats times.
   Tokens = real source + target tokens.

One thread (the machine is shared: CPU seconds are then what a free core would take). One JSON line:

    .venv/bin/python benchmarks/bench_seq2seq.py [--max-steps 3000] [--eval-every 250] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F
from torch import nn

from bertkit.model.layers import sinusoidal_positions
from bertkit.model.seq2seq import shift_right
from bertkit.seq2seq.config import Seq2SeqTrainConfig
from bertkit.seq2seq.task import Num2WordsTask
from bertkit.seq2seq.train import NumberBatches, build_model, evaluate, seq2seq_metrics
from bertkit.train.loop import Trainer
from bertkit.train.optim import make_optimizer


class TorchTransformer(nn.Module):
    """The reference: nn.Transformer with the paper's embeddings (scaled, sinusoidal, tied output)."""

    def __init__(self, vocab: int, d: int = 128, heads: int = 4, layers: int = 2, d_ff: int = 512,
                 dropout: float = 0.1, label_smoothing: float = 0.1) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d, padding_idx=0)
        self.register_buffer("positions", sinusoidal_positions(64, d), persistent=False)
        self.core = nn.Transformer(d, heads, layers, layers, d_ff, dropout, batch_first=True)
        self.dropout, self.d, self.label_smoothing = nn.Dropout(dropout), d, label_smoothing

    def _embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.embed(ids) * math.sqrt(self.d) + self.positions[:ids.shape[1]])

    def forward(self, input_ids, attention_mask, labels):
        tgt = shift_right(labels, 1, 0)
        causal = nn.Transformer.generate_square_subsequent_mask(tgt.shape[1])
        pad = attention_mask == 0
        out = self.core(self._embed(input_ids), self._embed(tgt), tgt_mask=causal, src_key_padding_mask=pad,
                        memory_key_padding_mask=pad, tgt_is_causal=True)
        logits = out @ self.embed.weight.T
        return F.cross_entropy(logits.flatten(0, 1), labels.masked_fill(labels == 0, -100).flatten(),
                               ignore_index=-100, label_smoothing=self.label_smoothing)


def curve(cfg: Seq2SeqTrainConfig, per_magnitude: int) -> list[dict]:
    """Train through the Trainer; evaluate the test sample every eval_every steps."""
    task = Num2WordsTask(cfg.max_digits)
    test = task.eval_numbers("test", per_magnitude)
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg, task)
    points: list[dict] = []
    clock = {"wall": 0.0, "cpu": 0.0, "wall0": time.perf_counter(), "cpu0": time.process_time()}

    def eval_fn(m: nn.Module) -> dict[str, float]:
        clock["wall"] += time.perf_counter() - clock["wall0"]
        clock["cpu"] += time.process_time() - clock["cpu0"]
        result = evaluate(m, task, test)
        points.append({"train_wall_min": round(clock["wall"] / 60, 2),
                       "train_cpu_min": round(clock["cpu"] / 60, 2),
                       "exact_match": round(result["exact_match"], 2), "bleu": round(result["bleu"], 2),
                       "em_by_digits": {d: round(v, 1) for d, v in result["exact_match_by_digits"].items()}})
        clock["wall0"], clock["cpu0"] = time.perf_counter(), time.process_time()
        return {"exact_match": result["exact_match"]}

    def on_log(record: dict) -> None:
        if record.get("split") == "eval":
            points[-1] = {"step": record["step"], **points[-1]}
            print(json.dumps(points[-1]), flush=True)

    with tempfile.TemporaryDirectory() as out:
        Trainer(model, cfg.train, NumberBatches(task, cfg.train.batch_size, cfg.train.seed), out,
                eval_fn=eval_fn, metrics_fn=seq2seq_metrics, on_log=on_log).fit()
    return points


def speed(cfg: Seq2SeqTrainConfig, repeats: int, steps: int) -> dict:
    """Tokens/s of both sides, trained alternately on the same batches by the same plain loop."""
    task = Num2WordsTask(cfg.max_digits)
    batches = [NumberBatches(task, cfg.train.batch_size, seed=7).batch(0, i) for i in range(steps * 2)]
    torch.manual_seed(0)
    sides = {"bertkit": build_model(cfg, task), "torch_nn_transformer": TorchTransformer(task.vocab_size)}
    opts = {k: make_optimizer(m, 1e-3, 0.0, (0.9, 0.98), 1e-9) for k, m in sides.items()}

    def step(name: str, batch: dict) -> None:
        out = sides[name](**batch)
        loss = out if isinstance(out, torch.Tensor) else out.loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(sides[name].parameters(), 1.0)
        opts[name].step()
        opts[name].zero_grad(set_to_none=True)

    for name in sides:                                                   # warm-up
        for b in batches[:3]:
            step(name, b)
    rates: dict[str, dict[str, list[float]]] = {k: {"wall": [], "cpu": []} for k in sides}
    for r in range(repeats):
        for name in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
            chosen = batches[(r % 2) * steps:(r % 2 + 1) * steps]
            tokens = sum(int(b["attention_mask"].sum() + (b["labels"] != 0).sum()) for b in chosen)
            wall, cpu = time.perf_counter(), time.process_time()
            for b in chosen:
                step(name, b)
            rates[name]["wall"].append(tokens / (time.perf_counter() - wall))
            rates[name]["cpu"].append(tokens / (time.process_time() - cpu))
    out = {name: {f"{kind}_tok_s_median": round(statistics.median(v), 1) for kind, v in r.items()}
           | {f"{kind}_tok_s_min": round(min(v), 1) for kind, v in r.items()} for name, r in rates.items()}
    for kind in ("wall", "cpu"):
        out[f"ratio_{kind}_median"] = round(out["bertkit"][f"{kind}_tok_s_median"]
                                            / out["torch_nn_transformer"][f"{kind}_tok_s_median"], 3)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--max-steps", type=int, default=3000)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--per-magnitude", type=int, default=250, help="test numbers per digit count")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--speed-steps", type=int, default=10)
    p.add_argument("--skip-curve", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(1)
    cfg = Seq2SeqTrainConfig()
    cfg.train.max_steps, cfg.train.eval_every, cfg.train.save_every = args.max_steps, args.eval_every, None
    cfg.train.metric_for_best = None               # test numbers report; they pick nothing
    load = os.getloadavg()
    result: dict = {"bench": "seq2seq_num2words", "threads": 1, "loadavg_start": [round(x, 2) for x in load]}
    result["speed"] = speed(cfg, args.repeats, args.speed_steps)
    print(json.dumps(result["speed"]), flush=True)
    if not args.skip_curve:
        points = curve(cfg, args.per_magnitude)
        hit = next((q for q in points if q["exact_match"] >= 95.0), None)
        result["curve"] = points
        result["first_em_95"] = hit
    result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
