"""A task's own training defaults (QA's lr and epochs): used when none is given, the user's value wins."""

from __future__ import annotations

import dataclasses

import pytest

from bertkit.cli import build_parser
from bertkit.options import from_args
from bertkit.tasks.config import TASK_DEPENDENT, FinetuneConfig, FinetuneTrainConfig
from bertkit.tasks.registry import get_task
from bertkit.train.config import TrainConfig

QA = get_task("qa").defaults


def _cli(*argv: str) -> FinetuneConfig:
    args = build_parser().parse_args(["finetune", "--model", "m", "--out", "o", *argv])
    return from_args(FinetuneConfig, args)


def test_qa_declares_its_own_lr_and_epochs_unlike_the_general_ones():
    assert {"lr", "epochs"} <= set(QA)
    assert (QA["lr"], QA["epochs"]) != (TASK_DEPENDENT["lr"], TASK_DEPENDENT["epochs"])


@pytest.mark.parametrize(("argv", "expected"), [
    ([], (TASK_DEPENDENT["lr"], TASK_DEPENDENT["epochs"])),            # classification: the general ones
    (["--task", "ner"], (TASK_DEPENDENT["lr"], TASK_DEPENDENT["epochs"])),
    (["--task", "qa"], (QA["lr"], QA["epochs"])),                      # none given: the task's
    (["--task", "qa", "--lr", "3e-5"], (3e-5, QA["epochs"])),          # the user's value wins
    (["--task", "qa", "--epochs", "2"], (QA["lr"], 2.0)),
    # even a value equal to the general default: given is given
    (["--task", "qa", "--lr", str(TASK_DEPENDENT["lr"])], (TASK_DEPENDENT["lr"], QA["epochs"])),
])
def test_cli_and_python_api_take_the_task_default_only_when_none_is_given(argv, expected):
    cfg = _cli(*argv)
    assert (cfg.train.lr, cfg.train.epochs) == expected
    assert cfg.train.warmup_ratio == 0.1                               # fine-tuning's warmup either way
    given = dict(zip(argv[::2], argv[1::2], strict=True))
    train = FinetuneTrainConfig(**{k.lstrip("-"): float(v) for k, v in given.items() if k != "--task"})
    python = FinetuneConfig(model="m", out="o", task=given.get("--task", "classification"), train=train)
    assert python == cfg
    assert (train.lr, train.epochs) == tuple(float(given[k]) if k in given else None
                                             for k in ("--lr", "--epochs"))   # the caller's stays unfilled


def test_a_plain_train_config_is_taken_as_given():
    cfg = FinetuneConfig(model="m", out="o", task="qa", train=TrainConfig(lr=2e-5, epochs=4))
    assert type(cfg.train) is TrainConfig and (cfg.train.lr, cfg.train.epochs) == (2e-5, 4)


def test_one_train_config_serves_two_tasks():
    train = FinetuneTrainConfig(batch_size=8)
    qa, cls = (FinetuneConfig(model="m", out="o", task=t, train=train) for t in ("qa", "classification"))
    assert (qa.train.lr, cls.train.lr) == (QA["lr"], TASK_DEPENDENT["lr"])
    assert qa.train.batch_size == cls.train.batch_size == 8
    assert dataclasses.replace(qa.train, seed=1).lr == QA["lr"]        # filled values survive a copy


def test_help_shows_the_task_defaults(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["finetune", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"peak learning rate (default: {TASK_DEPENDENT['lr']}; qa: {QA['lr']})" in text
    assert f"(fractions allowed) (default: {TASK_DEPENDENT['epochs']}; qa: {QA['epochs']})" in text


@pytest.mark.parametrize("argv", [["--lr", "0"], ["--epochs", "-1"], ["--lr", "nan"]])
def test_bad_values_still_fail_at_the_cli(argv):
    with pytest.raises(SystemExit):
        _cli("--task", "qa", *argv)
