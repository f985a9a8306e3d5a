"""The `bertkit` front door: fast help, every command registered, clear errors on bad argv."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bertkit.cli import build_parser, main

COMMANDS = ("tokenizer", "data", "pretrain", "finetune", "evaluate", "predict", "baseline", "embed",
            "explain", "demo")


def test_every_command_is_registered() -> None:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(COMMANDS) <= set(sub.choices)


def test_help_does_not_import_torch() -> None:
    code = "import sys; from bertkit.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("argv", [["tokenizer", "encode", "--tokenizer", "x", "caf\udce9"],
                                  ["embed", "--model", "m", "\udcff\udcfe"]])
def test_non_utf8_arguments_get_a_clear_error(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "not valid UTF-8" in err and "Traceback" not in err
    assert "0xe9" in err or "0xff" in err



def test_warnings_print_as_one_line() -> None:
    code = ("import warnings, bertkit.cli as cli\n"
            "p = cli.build_parser()\n"
            "p.set_defaults(func=lambda args: warnings.warn('workers capped at 2', stacklevel=1))\n"
            "cli.build_parser = lambda: p\n"
            "raise SystemExit(cli.main([]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stderr == "bertkit: warning: workers capped at 2\n"
