"""The `bertkit` command. Each module contributes its subcommands through a `register` function;
handlers import torch and friends lazily so that `bertkit --help` answers at once.

Library code raises `BertkitError`; this is the one place that prints it and sets the exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bertkit import __version__
from bertkit._modules import optional_module
from bertkit.errors import BertkitError

# Modules that add subcommands, in the order they appear in --help. Each has
# `register(subparsers)` which adds parsers whose `func` attribute handles the parsed args.
COMMAND_MODULES = (
    "bertkit.tokenizers.cli",   # tokenizer train|encode|compare
    "bertkit.data.cli",         # data prepare
    "bertkit.train.cli",        # pretrain
    "bertkit.tasks.cli",        # finetune, evaluate, baseline, predict
    "bertkit.model.cli",        # embed
    "bertkit.explain.cli",      # explain [heads|trace]
    "bertkit.demo",             # demo
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bertkit",
        description="Make your own BERT: train a tokenizer, pretrain, fine-tune, evaluate, explain.",
    )
    parser.add_argument("--version", action="version", version=f"bertkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = optional_module(name)
        if module is not None:
            module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        result = args.func(args)
    except BertkitError as e:
        print(f"bertkit: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bertkit: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
