"""End to end: a tiny fine-tuned teacher -> a 2-layer student RUN that works like any RUN."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bertkit.distill import DistillConfig, distill
from bertkit.errors import ConfigError
from bertkit.tasks import FineTuned, read_examples
from bertkit.tasks.evaluate import run
from bertkit.train import TrainConfig


def _student(teacher_run, sentiment, out, alpha: float, steps: int = 60):
    train, dev = sentiment
    return distill(DistillConfig(teacher=str(teacher_run), out=str(out), train_file=str(train),
                                 dev_file=str(dev), layers="2", alpha=alpha, temperature=2.0,
                                 train=TrainConfig(lr=1e-3, max_steps=steps, batch_size=16, seed=0)))


def _kl_to_teacher(teacher_run, student_run, dev) -> float:
    """Mean KL(p_teacher || p_student) at T = 1 over the dev examples."""
    examples = read_examples(dev, "classification")
    logits = []
    for path in (teacher_run, student_run):
        ft = FineTuned.load(path)
        logits.append(torch.tensor(np.stack(run(ft.model, ft.tokenizer, ft.spec, examples)[1])))
    p, q = (torch.log_softmax(x, -1) for x in logits)
    return float((p.exp() * (p - q)).sum(-1).mean())


def test_distilled_student_is_a_normal_run_and_follows_its_teacher(teacher_run, sentiment, tmp_path):
    result = _student(teacher_run, sentiment, tmp_path / "kd", alpha=1.0)
    assert result.layers == [0, 2]
    saved = json.loads((result.run_dir / "config.json").read_text())
    assert saved["num_hidden_layers"] == 2 and (result.run_dir / "task.json").is_file()
    student = FineTuned.load(result.run_dir)         # loads, predicts, like any fine-tuned RUN
    assert student.predict(["a wonderful film"])[0]["label"] in ("pos", "neg")
    assert result.teacher_metrics["accuracy"] > 0.8
    # The same student from the same init on hard labels alone: distillation, which trains on exactly
    # this divergence, ends closer to the teacher's output distribution.
    plain = _student(teacher_run, sentiment, tmp_path / "plain", alpha=0.0)
    dev = sentiment[1]
    kd = _kl_to_teacher(teacher_run, result.run_dir, dev)
    hard = _kl_to_teacher(teacher_run, plain.run_dir, dev)
    assert kd < hard, (kd, hard)


def test_transformers_loads_the_student(teacher_run, sentiment, tmp_path):
    from transformers import AutoModelForSequenceClassification

    result = _student(teacher_run, sentiment, tmp_path / "kd", alpha=0.5, steps=5)
    ours = FineTuned.load(result.run_dir).model
    theirs = AutoModelForSequenceClassification.from_pretrained(result.run_dir).eval()
    ids = torch.tensor([[2, 5, 9, 3]])
    with torch.no_grad():
        torch.testing.assert_close(ours(ids).logits, theirs(ids).logits, atol=1e-5, rtol=1e-5)


def test_a_layer_the_teacher_lacks_is_refused(teacher_run, sentiment, tmp_path):
    with pytest.raises(ConfigError, match="layers 0 to 3"):
        distill(DistillConfig(teacher=str(teacher_run), out=str(tmp_path / "s"), train_file=str(sentiment[0]),
                              layers="0,4"))


def test_cli(teacher_run, sentiment, tmp_path, capsys):
    from bertkit.cli import main

    args = ["distill", "--teacher", str(teacher_run), "--train", str(sentiment[0]),
            "--dev", str(sentiment[1]), "--out", str(tmp_path / "s"), "--layers", "1,3", "--max-steps", "3",
            "--batch-size", "16"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "2 layers from the teacher's [1, 3]" in out and '"teacher"' in out


def test_an_interrupted_distillation_resumes_exactly(teacher_run, sentiment, tmp_path):
    import shutil

    from bertkit.train.checkpoint import list_checkpoints

    def run(out, resume=False):
        return distill(DistillConfig(teacher=str(teacher_run), out=str(out), train_file=str(sentiment[0]),
                                     layers="2", train=TrainConfig(lr=1e-3, max_steps=6, save_every=3,
                                                                   batch_size=16, resume=resume)))

    whole = run(tmp_path / "whole").run_dir
    cut = run(tmp_path / "cut").run_dir
    shutil.rmtree(list_checkpoints(cut / "checkpoints")[-1][1])     # as if killed after step 3
    run(cut, resume=True)
    assert (whole / "model.safetensors").read_bytes() == (cut / "model.safetensors").read_bytes()
