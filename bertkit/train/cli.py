"""`bertkit pretrain`: the options are generated from PretrainConfig and its TrainConfig.

torch is imported inside the handler, so that `bertkit --help` answers at once.
"""

from __future__ import annotations

import argparse

from bertkit.options import add_options, from_args
from bertkit.train.config import LMPretrainConfig, PretrainConfig

# Pretraining evaluates without a metric that picks the best checkpoint, so it cannot stop early.
_NOT_FOR_PRETRAINING = ("early_stopping_patience",)


def _pretrain(args: argparse.Namespace) -> int:
    from bertkit.train import distributed as dist
    from bertkit.train.pretrain import pretrain

    cfg = from_args(PretrainConfig, args)
    _, result = pretrain(args.data, args.out, cfg)
    if dist.is_main():
        print(f"{args.out}: {result.global_step} steps; model, tokenizer, metrics.jsonl and loss.png written")
    return 0


def _pretrain_gpt(args: argparse.Namespace) -> int:
    from bertkit.train.lm import pretrain_gpt

    _, result = pretrain_gpt(args.data, args.out, from_args(LMPretrainConfig, args))
    evals = [r for r in result.history if r.get("split") == "eval"]
    ppl = f"; held-out perplexity {evals[-1]['perplexity']:.2f}" if evals else ""
    print(f"{args.out}: {result.global_step} steps{ppl}; a GPT-2 directory with its tokenizer and "
          f"metrics.jsonl written")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pretrain", help="pretrain a BERT on prepared shards (MLM, + NSP for --recipe bert)",
                       description="Multi-process: torchrun --nproc_per_node=N -m bertkit pretrain ...")
    p.add_argument("--data", required=True, metavar="SHARDS",
                   help="shards directory from `bertkit data prepare`")
    p.add_argument("--out", required=True, metavar="RUN",
                   help="RUN directory (a Hugging Face model dir + training state)")
    add_options(p, PretrainConfig, exclude=_NOT_FOR_PRETRAINING)
    p.set_defaults(func=_pretrain)

    p = sub.add_parser("pretrain-gpt", help="pretrain a GPT language model on prepared shards (next token)")
    p.add_argument("--data", required=True, metavar="SHARDS",
                   help="shards directory from `bertkit data prepare` (a byte_bpe tokenizer reads best)")
    p.add_argument("--out", required=True, metavar="RUN",
                   help="RUN directory (a GPT-2 model dir + training state)")
    add_options(p, LMPretrainConfig, exclude=_NOT_FOR_PRETRAINING)
    p.set_defaults(func=_pretrain_gpt)
