"""Task objects, the registry, the training metrics, and the finetune CLI generated from FinetuneConfig."""

from __future__ import annotations

import argparse
from types import SimpleNamespace

import pytest
import torch

from bertkit.cli import build_parser
from bertkit.errors import ConfigError
from bertkit.options import from_args
from bertkit.tasks.base import Task
from bertkit.tasks.config import TASK_DEPENDENT, FinetuneConfig
from bertkit.tasks.registry import TASKS, get_task
from bertkit.tasks.spec import TaskSpec


def test_registry_names_and_heads():
    assert list(TASKS) == ["classification", "pair", "multilabel", "regression", "ner", "qa",
                           "multiple-choice"]
    assert all(isinstance(t, Task) and TASKS[t.name] is t for t in TASKS.values())
    assert get_task("ner").model_class().__name__ == "BertForTokenClassification"
    assert get_task("pair").model_class().__name__ == "BertForSequenceClassification"
    assert TaskSpec("multilabel", ["a"]).kind.problem_type == "multi_label_classification"
    assert get_task("qa").model_class().__name__ == "BertForQuestionAnswering"
    assert get_task("multiple-choice").model_class().__name__ == "BertForMultipleChoice"
    with pytest.raises(ConfigError, match="unknown task 'squad'; choose from classification, pair"):
        get_task("squad")


def test_metrics_fn_accuracy_ignores_padding_labels():
    seq = SimpleNamespace(logits=torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]]))
    s, n = get_task("classification").metrics_fn(seq, {"labels": torch.tensor([0, 1, 1])})["accuracy"]
    assert (int(s), int(n)) == (2, 3)
    tok = SimpleNamespace(logits=torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]]))
    s, n = get_task("ner").metrics_fn(tok, {"labels": torch.tensor([[-100, 1, 0]])})["accuracy"]
    assert (int(s), int(n)) == (1, 2)  # the -100 position is not counted
    assert get_task("regression").metrics_fn(seq, {"labels": torch.zeros(3, 1)}) == {}


def _parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["finetune", "--model", "m", "--out", "o", *argv])


def test_finetune_flags_map_onto_the_config():
    cfg = from_args(FinetuneConfig, _parse("--train", "t.csv", "--dev", "d.csv", "--llrd", "0.9",
                                           "--epochs", "0.5", "--lr", "2e-5", "--label-column", "a,b",
                                           "--text-column", "s", "--no-group-by-length",
                                           "--truncation", "tail"))
    assert (cfg.train_file, cfg.dev_file, cfg.columns.text) == ("t.csv", "d.csv", "s")
    assert (cfg.columns.label, cfg.train.layerwise_lr_decay, cfg.train.epochs) == (["a", "b"], 0.9, 0.5)
    assert (cfg.train.lr, cfg.group_by_length, cfg.truncation) == (2e-5, False, "tail")
    defaults = from_args(FinetuneConfig, _parse())
    assert defaults == FinetuneConfig(model="m", out="o")
    # fine-tuning's own defaults (Devlin et al. 2019, appendix A.3), not pretraining's
    assert (defaults.train.lr, defaults.train.warmup_ratio, defaults.train.epochs) == (5e-5, 0.1, 3)


def test_early_stopping_flag():
    cfg = from_args(FinetuneConfig, _parse("--train", "t.csv", "--dev", "d.csv", "--early-stopping", "2"))
    assert cfg.train.early_stopping_patience == 2


def test_finetune_help_shows_every_option_with_its_default(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["finetune", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--epochs", "--lr", "--batch-size", "--max-length", "--truncation", "--stride",
                 "--early-stopping-patience", "--layerwise-lr-decay", "--text-column", "--label-sep"):
        assert flag in text
    for shown in ("(default: 5e-05; qa: ", "(default: 3; qa: ", "(default: 128; qa: 384)", "(default: head)",
                  "(default: 0.1)", "(default: 32; qa: 128)"):
        assert shown in text


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({}, (128, 32)),
    ({"task": "qa"}, (384, 128)),                         # run_squad.py's max_seq_length, doc_stride
    ({"task": "qa", "max_length": 256}, (256, 128)),      # what the user sets wins; the rest: the task's
    ({"task": "ner", "stride": 16}, (128, 16)),
])
def test_a_task_states_its_own_defaults(kwargs, expected):
    argv = [a for k, v in kwargs.items() for a in ("--" + k.replace("_", "-"), str(v))]
    cfg = from_args(FinetuneConfig, _parse(*argv))
    assert (cfg.max_length, cfg.stride) == expected
    assert FinetuneConfig(model="m", out="o", **kwargs) == cfg          # the Python API alike


def test_task_defaults_name_options_that_a_task_may_change():
    for task in TASKS.values():
        assert set(task.defaults) <= set(TASK_DEPENDENT), task.name


@pytest.mark.parametrize("argv", [["--lr", "nan"], ["--lr", "-1"], ["--max-length", "4"], ["--stride", "-1"],
                                  ["--batch-size", "0"], ["--epochs", "inf"], ["--task", "squad"]])
def test_bad_numbers_fail_at_the_cli(argv, capsys):
    with pytest.raises(SystemExit) as e:
        _parse(*argv)
    assert e.value.code == 2
    assert argv[0] in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["baseline", "--train", "t", "--dev", "d", "--C", "nan"],
                                  ["baseline", "--train", "t", "--dev", "d", "--C", "-1"],
                                  ["evaluate", "--model", "m", "--data", "d", "--batch-size", "0"],
                                  ["predict", "--model", "m", "--input", "i", "--batch-size", "-3"]])
def test_bad_numbers_of_the_other_task_commands(argv):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(argv)
    assert e.value.code == 2
