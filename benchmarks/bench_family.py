"""Sequence-classification inference of each BERT-family head, bertkit beside transformers: a random
transformers *ForSequenceClassification (BERT, RoBERTa, DistilBERT, ALBERT) of one size, saved,
loaded into bertkit (which builds the family's class from config.json), and both run on the same
padded batches (lengths spread over [seq/4, seq], as real text), interleaved, in eval mode without
gradients. Logits are checked equal (1e-4) before timing. Prints ONE JSON line: per family the
median and min seconds per batch of each side and the ratio transformers / bertkit (> 1: bertkit
faster).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _configs(layers: int, hidden: int, heads: int):
    import transformers

    common = dict(vocab_size=30522, max_position_embeddings=514, num_labels=2)
    bert = dict(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                intermediate_size=4 * hidden, **common)
    return {
        "bert": transformers.BertConfig(**bert),
        "roberta": transformers.RobertaConfig(**bert, type_vocab_size=1, pad_token_id=1),
        "distilbert": transformers.DistilBertConfig(dim=hidden, n_layers=layers, n_heads=heads,
                                                    hidden_dim=4 * hidden, **common),
        "albert": transformers.AlbertConfig(**bert, embedding_size=128, num_hidden_groups=1),
    }


def _batch(batch: int, seq: int, pad: int, seed: int):
    import torch

    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(seq // 4, seq + 1, (batch,), generator=g)
    lengths[0] = seq
    ids = torch.randint(5, 30000, (batch, seq), generator=g)
    mask = (torch.arange(seq)[None] < lengths[:, None]).long()
    return {"input_ids": ids.masked_fill(mask == 0, pad), "attention_mask": mask}


def main() -> None:
    import torch
    import transformers

    from bertkit.model import BertForSequenceClassification

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    work = Path(tempfile.mkdtemp(prefix="bench_family_"))
    out: dict[str, object] = {"bench": "family_heads", "batch": args.batch, "seq": args.seq,
                              "layers": args.layers, "hidden": args.hidden, "threads": args.threads,
                              "load_average": os.getloadavg()[0]}
    for name, cfg in _configs(args.layers, args.hidden, args.heads).items():
        torch.manual_seed(0)
        theirs = transformers.AutoModelForSequenceClassification.from_config(cfg).eval()
        theirs.save_pretrained(work / name)
        ours = BertForSequenceClassification.from_pretrained(work / name).eval()
        batch = _batch(args.batch, args.seq, cfg.pad_token_id or 0, seed=1)
        with torch.no_grad():
            diff = (ours(**batch).logits - theirs(**batch).logits).abs().max().item()
            assert diff <= 1e-4, f"{name}: logits differ by {diff}"
            times: dict[str, list[float]] = {"bertkit": [], "transformers": []}
            for _ in range(args.repeats):
                for side, model in (("bertkit", ours), ("transformers", theirs)):
                    t = time.perf_counter()
                    model(**batch)
                    times[side].append(time.perf_counter() - t)
        med = {k: statistics.median(v) for k, v in times.items()}
        out[name] = {"class": type(ours).__name__, "max_logit_diff": diff,
                     "bertkit_median_s": round(med["bertkit"], 4),
                     "bertkit_min_s": round(min(times["bertkit"]), 4),
                     "transformers_median_s": round(med["transformers"], 4),
                     "transformers_min_s": round(min(times["transformers"]), 4),
                     "ratio_median": round(med["transformers"] / med["bertkit"], 2),
                     "ratio_min": round(min(times["transformers"]) / min(times["bertkit"]), 2)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
