"""The `bertkit` command. Each package contributes its subcommands through a `register` function
in its `cli.py`; those modules import torch and friends inside their handlers, so that
`bertkit --help` answers at once.

Library code raises `BertkitError`; this is the one place that prints it and sets the exit code.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from bertkit import __version__, demo
from bertkit.classic import cli as classic_cli
from bertkit.data import cli as data_cli
from bertkit.deploy import cli as deploy_cli
from bertkit.distill import cli as distill_cli
from bertkit.errors import BertkitError, ConfigError
from bertkit.explain import cli as explain_cli
from bertkit.model import cli as model_cli
from bertkit.seq2seq import cli as seq2seq_cli
from bertkit.serve import cli as serve_cli
from bertkit.tasks import cli as tasks_cli
from bertkit.tokenizers import cli as tokenizers_cli
from bertkit.train import cli as train_cli

# Modules that add subcommands, in the order they appear in --help. Each has
# `register(subparsers)` which adds parsers whose `func` attribute handles the parsed args.
COMMAND_MODULES = (
    tokenizers_cli,   # tokenizer train|encode|compare
    data_cli,         # data prepare
    train_cli,        # pretrain
    tasks_cli,        # finetune, evaluate, baseline, predict
    distill_cli,      # distill
    deploy_cli,       # export
    model_cli,        # embed
    explain_cli,      # explain [heads|trace]
    classic_cli,      # word2vec train|similar|analogy|similarity|evaluate, similar, vectorize
    serve_cli,        # serve
    seq2seq_cli,      # seq2seq train|translate|evaluate
    demo,             # demo
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bertkit",
        description="Make your own BERT: train a tokenizer, pretrain, fine-tune, evaluate, explain.",
    )
    parser.add_argument("--version", action="version", version=f"bertkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def check_utf8(argv: Sequence[str]) -> None:
    """Refuse arguments that are not valid UTF-8 (Python keeps their bytes as lone surrogates)."""
    for i, arg in enumerate(argv, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError as e:
            byte = arg[e.start].encode("utf-8", "surrogateescape")[0]
            raise ConfigError(f"argument {i} is not valid UTF-8 text (byte {byte:#04x} at character "
                              f"{e.start}): {arg!r}") from None


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      line: str | None = None) -> str:
    """Warnings read like errors on the command line: `bertkit: warning: ...`, no source path."""
    return f"bertkit: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    warnings.formatwarning = _one_line_warning
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    try:
        check_utf8(argv)
    except BertkitError as e:
        print(f"bertkit: error: {e}", file=sys.stderr)
        return 2
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
