"""`bertkit explain`: one command, three modes chosen by the first word.

    bertkit explain --model RUN "some text" --out report.html   # attributions + attention views
    bertkit explain heads --model DIR "text one" "text two"     # top heads per attention pattern
    bertkit explain trace --model DIR "a short text" --layer 0 --head 1 [--format terminal]
    bertkit explain trace --toy "the cat sat"                   # the course's 8-dim, 2-head model

`explain` takes free text, so the modes are not argparse sub-commands: if the first word is `heads`
or `trace` it selects that mode, otherwise every word is the text to explain (to explain the text
"heads" itself, pass `--mode report`).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from bertkit.errors import ConfigError, DataError
from bertkit.io import atomic_write_text, check_output_file
from bertkit.options import add_options, option

MODES = ("report", "heads", "trace")


@dataclass
class ReportOptions:
    """The numbers of the report mode (checked by argparse, before the model is loaded)."""

    steps: int = option(50, "integrated-gradient steps", low=2)
    baseline: str = option("pad", "IG baseline", choices=("pad", "zeros"))
    batch_size: int = option(50, "IG interpolation points per pass", low=1)
    token: int | None = option(None, "token index to explain (token-classification models)", low=0)
    ig_layer: int | None = option(None, "attribute at this encoder layer's output (layer IG)", low=0)


@dataclass
class TraceOptions:
    """The numbers of the heads and trace modes."""

    top: int = option(3, "heads listed per pattern", low=1)
    layer: int = option(0, "trace: encoder layer", low=0)
    head: int = option(0, "trace: attention head", low=0)
    format: str = option("terminal", "trace output", choices=("terminal", "html", "markdown"))


class _IntermixedParser(argparse.ArgumentParser):
    """Lets the text come before, between or after the options (`explain heads --model D TEXT`):
    plain argparse stops filling a `*` positional once an option has been seen."""

    _inner = False

    def parse_known_args(self, args=None, namespace=None):
        if self._inner:
            return super().parse_known_args(args, namespace)
        self._inner = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._inner = False


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "explain", help="explain a prediction: attributions, attention views, head patterns, the trace",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.__class__ = _IntermixedParser
    p.add_argument("words", nargs="*", metavar="[heads|trace] TEXT",
                   help="the text to explain (for `heads`: one or more texts)")
    p.add_argument("--mode", choices=MODES, help="force a mode (default: from the first word)")
    p.add_argument("--model", help="a model or RUN directory (Hugging Face layout)")
    p.add_argument("--pair", help="second text of a pair task")
    r = p.add_argument_group("report (default mode)")
    r.add_argument("--out", default="explanation.html", help="HTML report (default: explanation.html)")
    r.add_argument("--target", help="class to explain, by label or index (default: the predicted one)")
    add_options(r, ReportOptions)
    r.add_argument("--json", help="also write the (token, score) attributions to this JSON file")
    r.add_argument("--png", help="also write a PNG heatmap grid of every head")
    t = p.add_argument_group("heads and trace")
    add_options(t, TraceOptions)
    t.add_argument("--toy", action="store_true", help="trace a tiny random model: hidden 8, 2 heads")
    t.add_argument("--trace-out", help="trace: write to this file instead of stdout")
    p.set_defaults(func=_run)


def _split_mode(args: argparse.Namespace) -> tuple[str, list[str]]:
    words = list(args.words)
    if args.mode:
        if words and words[0] == args.mode:
            words = words[1:]
        return args.mode, words
    if words and words[0] in ("heads", "trace"):
        return words[0], words[1:]
    return "report", words


def _run(args: argparse.Namespace) -> int:
    mode, words = _split_mode(args)
    if not words:
        raise DataError(f"explain {mode}: no text given (put the text to explain in quotes)")
    if args.model is None and not (mode == "trace" and args.toy):
        toy = " (or --toy)" if mode == "trace" else ""
        raise ConfigError(f"explain {mode}: --model DIR is required{toy}")
    outputs = {"report": ("out", "json", "png"), "heads": ("json",), "trace": ("trace_out",)}[mode]
    for name in outputs:            # before the model runs, not after minutes of gradients
        if getattr(args, name):
            check_output_file(getattr(args, name), f"--{name.replace('_', '-')}")
    return {"report": _report, "heads": _heads, "trace": _trace}[mode](args, words)


def _report(args: argparse.Namespace, words: list[str]) -> int:
    from bertkit.explain.report import explain_text

    text = " ".join(words)
    result = explain_text(args.model, text, pair=args.pair, target=args.target, n_steps=args.steps,
                          baseline=args.baseline, internal_batch_size=args.batch_size,
                          token_index=args.token, layer=args.ig_layer, progress=True)
    path = result.save(args.out)
    if result.attribution is not None:
        print(result.attribution.to_terminal(colour=sys.stdout.isatty()))
        if args.json:
            atomic_write_text(args.json, result.attribution.to_json() + "\n")
    else:
        print(f"{args.model} has no classification head: the report shows attention only")
    if args.png:
        result.attention.save_png(args.png)
    print(f"report: {Path(path).resolve()}")
    return 0


def _heads(args: argparse.Namespace, words: list[str]) -> int:
    from bertkit.explain.attention import extract_attention
    from bertkit.explain.inputs import load
    from bertkit.explain.patterns import average
    from bertkit.explain.terminal import format_heads

    model, tok = load(args.model)
    scores = average([extract_attention(model, tok, text).patterns() for text in words])
    print(format_heads(scores, args.top))
    if args.json:
        atomic_write_text(args.json, json.dumps(scores.to_dict(args.top), indent=2) + "\n")
    return 0


def _trace(args: argparse.Namespace, words: list[str]) -> int:
    from bertkit.explain.inputs import load
    from bertkit.explain.trace import toy_model, trace_attention

    model, tok = toy_model() if args.toy else load(args.model)
    text = " ".join(words)
    out = trace_attention(model, tok, text, args.layer, args.head).format(args.format)
    if args.trace_out:
        atomic_write_text(args.trace_out, out + "\n")
        print(f"trace: {Path(args.trace_out).resolve()}")
    else:
        print(out)
    return 0
