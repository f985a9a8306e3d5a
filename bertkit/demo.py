"""`bertkit demo`: the whole lifecycle on the embedded corpus, end to end, in a few minutes.

Each stage lives beside the code it shows (`bertkit/<module>/demo.py`, a `run(ctx)` function) and
leaves what it made in `ctx.artifacts` for the next stage: tokenizers -> pretraining ->
fine-tuning -> explanation.
"""

from __future__ import annotations

import argparse
import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# (title, module with `run(ctx)`), in order. The stages import torch, so they are imported when the
# demo runs, not when `bertkit --help` builds the parser.
STAGES = (
    ("tokenizers", "bertkit.tokenizers.demo"),
    ("pretraining", "bertkit.train.demo"),
    ("fine-tuning", "bertkit.tasks.demo"),
    ("explanation", "bertkit.explain.demo"),
)


@dataclass
class DemoContext:
    workdir: Path
    quick: bool = False                      # smaller everything (used by tests)
    artifacts: dict[str, Any] = field(default_factory=dict)


def banner(title: str) -> None:
    print(f"\n{'=' * 78}\n{title}\n{'=' * 78}", flush=True)


def run_demo(workdir: Path, quick: bool = False) -> DemoContext:
    ctx = DemoContext(workdir=Path(workdir), quick=quick)
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    for title, name in STAGES:
        module = importlib.import_module(name)
        banner(title)
        start = time.perf_counter()
        module.run(ctx)
        print(f"[{title}: {time.perf_counter() - start:.0f} s]", flush=True)
    print(f"\nEverything the demo made is in {ctx.workdir}/")
    return ctx


def _cmd(args: argparse.Namespace) -> int:
    run_demo(Path(args.workdir), quick=args.quick)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the end-to-end demo on the embedded corpus")
    p.add_argument("--workdir", default="demo_runs", help="where to write everything (default: demo_runs)")
    p.add_argument("--quick", action="store_true", help="a smaller, faster run")
    p.set_defaults(func=_cmd)
