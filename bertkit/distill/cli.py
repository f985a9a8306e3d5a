"""`bertkit distill`: a fine-tuned teacher RUN -> a smaller student RUN (options from DistillConfig);
`bertkit distill general`: a teacher with an MLM head -> a smaller MLM student on pretraining shards
(options from GeneralDistillConfig)."""

from __future__ import annotations

import argparse
import json

from bertkit.distill.config import DistillConfig, GeneralDistillConfig
from bertkit.options import add_options, from_args


def _distill(args: argparse.Namespace) -> int:
    from bertkit.distill.run import distill

    result = distill(from_args(DistillConfig, args))
    mapped = f"; layer-wise from teacher layers {result.layer_map}" if result.layer_map else ""
    origin = (f"{len(result.layers)} layers from the teacher's {result.layers}" if result.layers
              else "from --student")
    print(f"student: {result.run_dir} ({origin}{mapped}, {result.global_step} steps)")
    if result.metrics:
        keys = [k for k, v in result.metrics.items() if isinstance(v, float)]
        print(json.dumps({"student": {k: result.metrics[k] for k in keys},
                          "teacher": {k: result.teacher_metrics[k] for k in keys}}, indent=1))
    return 0


def _general(args: argparse.Namespace) -> int:
    from bertkit.distill.general import general_distill

    run_dir, result = general_distill(from_args(GeneralDistillConfig, args))
    last = next((r for r in reversed(result.history) if r.get("split") == "eval"), None)
    held_out = f"; held-out {json.dumps(last)}" if last else ""
    print(f"student: {run_dir} ({result.global_step} steps){held_out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "distill", help="distil a fine-tuned RUN into a smaller student (soft targets + labels; TinyBERT)",
        description="Task-specific distillation: the student takes K of the teacher's layers (or is "
                    "narrower) and learns the teacher's soft targets (KL at temperature T, x T²) and the "
                    "hard labels; --method tinybert first matches embeddings, hidden states and attention "
                    "maps. The student is a normal RUN. `bertkit distill general --help`: DistilBERT's "
                    "general distillation.")
    # --teacher and --out are checked by DistillConfig, not argparse: `distill general` has its own
    add_options(p, DistillConfig, exclude=("teacher", "out"))
    p.add_argument("--teacher", metavar="RUN", help="RUN directory of a fine-tuned teacher (required)")
    p.add_argument("--out", metavar="RUN", help="RUN directory to write the student to (required)")
    p.set_defaults(func=_distill)
    modes = p.add_subparsers(dest="distill_mode", metavar="{general}")
    g = modes.add_parser(
        "general", help="DistilBERT's general distillation on pretraining shards",
        description="A teacher with an MLM head -> a smaller MLM student on `bertkit data prepare` shards: "
                    "alpha_ce * T² * KL at the masked positions + alpha_mlm * MLM + alpha_cos * cosine of "
                    "the last hidden states (DistilBERT's 5, 2, 1, T = 2).")
    add_options(g, GeneralDistillConfig)
    g.set_defaults(func=_general)
