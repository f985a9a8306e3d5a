"""`bertkit explain`: one command, four modes chosen by the first word.

    bertkit explain --model RUN "some text" --out report.html   # attributions + attention views
    bertkit explain heads --model DIR "text one" "text two"     # top heads per attention pattern
    bertkit explain trace --model DIR "a short text" --layer 0 --head 1 [--format terminal]
    bertkit explain trace --toy "the cat sat"                   # the course's 8-dim, 2-head model
    bertkit explain trace --toy --arch gpt "the cat sat"        # masked self-attention
    bertkit explain trace --toy --arch seq2seq "um dois" --target-text "one two"   # + cross-attention
    bertkit explain embeddings --model DIR --vectors W2V bank "the river bank" "a bank loan"

GPT and encoder-decoder directories are recognised from config.json: the report then shows their
decoder self-attention (causal) and cross-attention heads, and the trace walks the masked
self-attention (and cross-attention, over the source TEXT with --target-text as the decoder's text;
default: the model's own greedy output).

`explain` takes free text, so the modes are not argparse sub-commands: if the first word is `heads`,
`trace` or `embeddings` it selects that mode, otherwise every word is the text to explain (to
explain the text "heads" itself, pass `--mode report`).
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

ARCHS = ("auto", "bert", "gpt", "seq2seq")
MODES = ("report", "heads", "trace", "embeddings")


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
    t.add_argument("--arch", choices=ARCHS, default="auto",
                   help="bert, gpt or seq2seq: the --toy model, or a check of --model's (default: auto, "
                        "from the model; bert for --toy)")
    t.add_argument("--target-text", help="encoder-decoder models: the decoder's text (TEXT is the source; "
                                         "default: the model's greedy output)")
    t.add_argument("--trace-out", help="trace: write to this file instead of stdout")
    e = p.add_argument_group("embeddings: WORD SENTENCE SENTENCE... (static word2vec vs contextual BERT)")
    e.add_argument("--vectors", help="word2vec vectors: a .txt/.bin file or a `word2vec train` directory")
    e.add_argument("--hidden-layer", type=int, default=None,
                   help="hidden-states index of the contextual vectors (0 = embeddings; default: the last)")
    e.add_argument("--plot-words", nargs="+", metavar="WORD",
                   help="other words to plot (default: the word's 5 nearest static neighbours)")
    e.add_argument("--plot", help="write the 2-D PCA plot of static and contextual vectors to this PNG")
    p.set_defaults(func=_run)


def _split_mode(args: argparse.Namespace) -> tuple[str, list[str]]:
    words = list(args.words)
    if args.mode:
        if words and words[0] == args.mode:
            words = words[1:]
        return args.mode, words
    if words and words[0] in MODES[1:]:
        return words[0], words[1:]
    return "report", words


def _run(args: argparse.Namespace) -> int:
    mode, words = _split_mode(args)
    if not words:
        raise DataError(f"explain {mode}: no text given (put the text to explain in quotes)")
    if args.model is None and not (mode == "trace" and args.toy):
        toy = " (or --toy)" if mode == "trace" else ""
        raise ConfigError(f"explain {mode}: --model DIR is required{toy}")
    outputs = {"report": ("out", "json", "png"), "heads": ("json",), "trace": ("trace_out",),
               "embeddings": ("plot",)}[mode]
    for name in outputs:            # before the model runs, not after minutes of gradients
        if getattr(args, name):
            check_output_file(getattr(args, name), f"--{name.replace('_', '-')}")
    return {"report": _report, "heads": _heads, "trace": _trace, "embeddings": _embeddings}[mode](args, words)


def _load(args: argparse.Namespace):
    """(model, tokenizer) of --model, or the --toy model of --arch; --arch checks --model's kind."""
    from bertkit.explain.decoder import architecture
    from bertkit.explain.inputs import load

    if getattr(args, "toy", False):
        from bertkit.explain.trace import toy_model
        from bertkit.explain.trace_decoder import toy_gpt, toy_seq2seq

        return {"auto": toy_model, "bert": toy_model, "gpt": toy_gpt, "seq2seq": toy_seq2seq}[args.arch]()
    model, tok = load(args.model)
    if args.arch != "auto" and architecture(model) != args.arch:
        raise ConfigError(f"--arch {args.arch}: {args.model} holds a {architecture(model)} model "
                          f"({type(model).__name__})")
    return model, tok


def _report(args: argparse.Namespace, words: list[str]) -> int:
    from bertkit.explain.decoder import architecture
    from bertkit.explain.report import explain_text

    text = " ".join(words)
    model, tok = _load(args)
    if architecture(model) != "bert" and (args.target is not None or args.json):
        raise ConfigError(f"a {type(model).__name__} has no classifier to attribute: --target and --json are "
                          "for BERT classifiers (its report shows its attention)")
    result = explain_text(model, text, tok, pair=args.pair, target_text=args.target_text, target=args.target,
                          n_steps=args.steps, baseline=args.baseline, internal_batch_size=args.batch_size,
                          token_index=args.token, layer=args.ig_layer, progress=True)
    path = result.save(args.out)
    if isinstance(result.attention, list):
        kinds = ", ".join(v.label.split(" (")[0] for v in result.attention)
        print(f"{type(model).__name__}: the report shows its attention ({kinds})")
    elif result.attribution is not None:
        print(result.attribution.to_terminal(colour=sys.stdout.isatty()))
        if args.json:
            atomic_write_text(args.json, result.attribution.to_json() + "\n")
    else:
        print(f"{args.model} has no classification head: the report shows attention only")
    if args.png:
        views = result.attention if isinstance(result.attention, list) else [result.attention]
        for i, view in enumerate(views):     # the first at --png, the others beside it by kind
            png = Path(args.png)
            png = png if i == 0 else png.with_name(f"{png.stem}-{view.kind}{png.suffix}")
            print(f"png: {view.save_png(png).resolve()}")
    print(f"report: {Path(path).resolve()}")
    return 0


def _heads(args: argparse.Namespace, words: list[str]) -> int:
    from bertkit.explain.attention import extract_attention
    from bertkit.explain.decoder import architecture
    from bertkit.explain.inputs import load
    from bertkit.explain.patterns import average
    from bertkit.explain.terminal import format_heads

    model, tok = load(args.model)
    if architecture(model) != "bert":
        raise ConfigError(f"explain heads scores BERT encoder heads; {args.model} holds a "
                          f"{type(model).__name__}: its report (`bertkit explain --model DIR TEXT`) "
                          "shows its decoder and cross-attention heads")
    scores = average([extract_attention(model, tok, text).patterns() for text in words])
    print(format_heads(scores, args.top))
    if args.json:
        atomic_write_text(args.json, json.dumps(scores.to_dict(args.top), indent=2) + "\n")
    return 0


def _trace(args: argparse.Namespace, words: list[str]) -> int:
    from bertkit.explain.trace import trace_attention

    model, tok = _load(args)
    text = " ".join(words)
    out = trace_attention(model, tok, text, args.layer, args.head, args.target_text).format(args.format)
    if args.trace_out:
        atomic_write_text(args.trace_out, out + "\n")
        print(f"trace: {Path(args.trace_out).resolve()}")
    else:
        print(out)
    return 0


def _embeddings(args: argparse.Namespace, words: list[str]) -> int:
    from bertkit.explain.embeddings import compare_embeddings

    if len(words) < 3:
        raise DataError("explain embeddings: give a WORD and at least two SENTENCEs that contain it, e.g. "
                        "bank \"We sat on the river bank.\" \"The bank lent us money.\"")
    if not args.vectors:
        raise ConfigError("explain embeddings: --vectors is required (a `bertkit word2vec train` output)")
    model, tok = _load(args)
    report = compare_embeddings(model, tok, args.vectors, words[0], words[1:], args.hidden_layer,
                                args.plot_words, args.plot)
    print(report)
    return 0
