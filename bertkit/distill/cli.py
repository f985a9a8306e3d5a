"""`bertkit distill`: a fine-tuned teacher RUN -> a smaller student RUN (options from DistillConfig)."""

from __future__ import annotations

import argparse
import json

from bertkit.distill.config import DistillConfig
from bertkit.options import add_options, from_args


def _distill(args: argparse.Namespace) -> int:
    from bertkit.distill.run import distill

    result = distill(from_args(DistillConfig, args))
    print(f"student: {result.run_dir} ({len(result.layers)} layers from the teacher's {result.layers}, "
          f"{result.global_step} steps)")
    if result.metrics:
        keys = [k for k, v in result.metrics.items() if isinstance(v, float)]
        print(json.dumps({"student": {k: result.metrics[k] for k in keys},
                          "teacher": {k: result.teacher_metrics[k] for k in keys}}, indent=1))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "distill", help="distil a fine-tuned RUN into a smaller student (soft targets + labels)",
        description="Task-specific distillation: the student takes K of the teacher's layers and learns the "
                    "teacher's soft targets (KL at temperature T, x T²) and the hard labels. The student is "
                    "a normal RUN.")
    add_options(p, DistillConfig)
    p.set_defaults(func=_distill)
