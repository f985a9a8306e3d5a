"""`bertkit data prepare`: text files -> packed token shards for pretraining."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from bertkit.options import add_options, option


@dataclass
class PrepareOptions:
    """The numbers and choices of `data prepare` (checked by argparse before anything runs)."""

    workers: int = option(2, "tokenizer worker processes, at most the CPU count", low=1)
    encoding_errors: str = option("strict", "what to do with bytes that are not UTF-8",
                                  choices=("strict", "replace"))


def _prepare(args: argparse.Namespace) -> int:
    from bertkit.data.shards import prepare
    from bertkit.tokenizers import Tokenizer
    from bertkit.train.pretrain import read_token_file

    tokenizer = Tokenizer.from_pretrained(args.tokenizer)
    if args.add_tokens:
        added = tokenizer.add_tokens(read_token_file(args.add_tokens))
        print(f"added {added} domain tokens to the tokenizer")
    meta = prepare(args.files, tokenizer, args.out, workers=args.workers, errors=args.encoding_errors)
    c = meta["counts"]
    verb = "already prepared (same inputs and tokenizer): nothing to do" if meta["skipped"] else "wrote"
    print(f"{args.out}: {verb} {len(meta['shards'])} shard(s), {c['tokens']:,} tokens, "
          f"{c['sentences']:,} sentences, {c['documents']:,} documents ({meta['dtype']})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="prepare pretraining data (token shards)")
    data_sub = p.add_subparsers(dest="data_command", metavar="ACTION")
    q = data_sub.add_parser("prepare", help="tokenize text files into packed token shards",
                            description="One document per line, or one sentence per line with blank "
                                        "lines between documents; lines over 1 MiB are cut at a space "
                                        "into documents of at most 1 MiB. Shards do not depend on the "
                                        "sequence length: one prepare serves every --seq-len. Running "
                                        "it again checks the shards and rebuilds missing or corrupt ones.")
    q.add_argument("files", nargs="+", metavar="FILE")
    q.add_argument("--tokenizer", required=True, help="tokenizer directory (tokenizer.json or vocab.txt)")
    q.add_argument("--out", required=True, help="output directory for the shards")
    q.add_argument("--add-tokens", metavar="FILE", help="add these domain tokens (one per line) first")
    add_options(q, PrepareOptions)
    q.set_defaults(func=_prepare)
