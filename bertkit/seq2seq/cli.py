"""`bertkit seq2seq train|translate|evaluate`: the encoder-decoder Transformer on digits -> Portuguese
number words. Options come from Seq2SeqTrainConfig (and its TrainConfig); torch is imported inside
the handlers, so that `bertkit --help` answers at once.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass

from bertkit.options import add_options, from_args, option
from bertkit.seq2seq.config import Seq2SeqTrainConfig


@dataclass
class TranslateOptions:
    model: str = option(help="a `bertkit seq2seq train` RUN", metavar="RUN")
    num_beams: int = option(1, "beam search with N beams (1: greedy)", low=1)


@dataclass
class EvaluateOptions:
    model: str = option(help="a `bertkit seq2seq train` RUN", metavar="RUN")
    split: str = option("test", "which numbers", choices=("test", "dev", "train"))
    per_magnitude: int = option(500, "numbers per digit count, a fixed sample (0: all of them)", low=0)
    seed: int = option(0, "the sample's seed", low=0)
    num_beams: int = option(1, "beam search with N beams (1: greedy)", low=1)
    json: bool = option(False, "one JSON object of metrics on stdout")


def _train(args: argparse.Namespace) -> int:
    from bertkit.seq2seq.train import train_seq2seq

    _, result = train_seq2seq(args.out, from_args(Seq2SeqTrainConfig, args))
    evals = [r for r in result.history if r.get("split") == "eval"]
    best = f"; best dev exact match {result.best_metric:.1f}%" if result.best_metric is not None else ""
    last = f" (last: {evals[-1]['exact_match']:.1f}%, BLEU {evals[-1].get('bleu', float('nan')):.1f})" \
        if evals else ""
    print(f"{args.out}: {result.global_step} steps{best}{last}; translate with "
          f"`bertkit seq2seq translate --model {args.out} 1947`")
    return 0


def _translate(args: argparse.Namespace) -> int:
    from bertkit.seq2seq.train import load_run, parse_numbers, translate

    opts = from_args(TranslateOptions, args)
    model, task = load_run(opts.model)
    numbers = parse_numbers(args.numbers, task)
    for n, words in zip(numbers, translate(model, task, numbers, num_beams=opts.num_beams), strict=True):
        print(f"{n}\t{words}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from bertkit.seq2seq.train import evaluate, load_run

    opts = from_args(EvaluateOptions, args)
    model, task = load_run(opts.model)
    numbers = task.eval_numbers(opts.split, opts.per_magnitude, seed=opts.seed)
    result = evaluate(model, task, numbers, num_beams=opts.num_beams)
    if opts.json:
        print(json.dumps({k: v for k, v in result.items() if k != "errors"}))
        return 0
    bleu = f", BLEU {result['bleu']:.2f}" if "bleu" in result else ""
    em = result["exact_match"]
    print(f"{opts.split}: {result['examples']} unseen numbers: exact match {em:.2f}%{bleu}")
    for digits, em in result["exact_match_by_digits"].items():
        print(f"  {digits} digits: {em:.2f}%")
    for n, got, want in result["errors"]:
        print(f"  {n}: {got!r}, want {want!r}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("seq2seq", help="the encoder-decoder Transformer: digits -> Portuguese number words",
                       description="Train, run and score an encoder-decoder Transformer (Vaswani et al. "
                                   "2017) on 1947 -> 'mil, novecentos e quarenta e sete' (num2words, pt_BR).")
    sub2 = p.add_subparsers(dest="seq2seq_command", metavar="COMMAND", required=True)

    t = sub2.add_parser("train", help="train through the one loop (checkpoints, --resume, metrics.jsonl)",
                        description="Train/dev/test are disjoint blocks of 100 numbers (10 below 1,000); "
                                    "dev picks the best weights, test stays unseen.")
    t.add_argument("--out", required=True, metavar="RUN",
                   help="RUN directory (model, task.json, checkpoints)")
    add_options(t, Seq2SeqTrainConfig)
    t.set_defaults(func=_train)

    q = sub2.add_parser("translate", help="write numbers out in words with a trained RUN",
                        description="Write numbers out in Portuguese words with a trained RUN.")
    add_options(q, TranslateOptions)
    q.add_argument("numbers", nargs="+", metavar="NUMBER", help="numbers in digits, e.g. 1947")
    q.set_defaults(func=_translate)

    q = sub2.add_parser("evaluate", help="exact match and BLEU on the unseen test numbers",
                        description="Exact match and corpus BLEU (sacrebleu) of a RUN's greedy (or beam) "
                                    "output on a fixed sample of one split, per digit count too.")
    add_options(q, EvaluateOptions)
    q.set_defaults(func=_evaluate)
