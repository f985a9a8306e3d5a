"""Task distillation beyond single-label classification (regression, multi-label, NER), TinyBERT's
layer-wise stage end to end with a narrower student, and students brought from a directory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from bertkit.distill import DistillConfig, distill
from bertkit.errors import ConfigError
from bertkit.tasks import FineTuned
from bertkit.train import TrainConfig
from tests.tasks.conftest import ner_sentences, sentiment_rows, write_conll, write_csv


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A tiny random BERT (4 layers, hidden 32) with a WordPiece vocabulary of the test texts."""
    from bertkit import Tokenizer
    from bertkit.model import BertConfig, BertModel

    d = tmp_path_factory.mktemp("tiny_base")
    texts = [r["text"] for r in sentiment_rows(256, 0)] + [" ".join(w) for w, _ in ner_sentences(64, 0)]
    tokenizer = Tokenizer.train(texts=texts, vocab_size=160)
    tokenizer.save(d)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=4,
                     num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
    BertModel(cfg).save_pretrained(d)
    return d


def _teacher(base: Path, root: Path, task: str, train: Path, dev: Path, epochs: int = 2, **kw) -> Path:
    from bertkit.tasks.config import FinetuneConfig
    from bertkit.tasks.finetune import finetune

    out = root / f"teacher_{task}"
    finetune(FinetuneConfig(model=str(base), out=str(out), task=task, train_file=str(train),
                            dev_file=str(dev), max_length=32,
                            train=TrainConfig(lr=3e-3, epochs=epochs, batch_size=16), **kw))
    return out


def _outputs(run_dir: Path, dev: Path) -> torch.Tensor:
    """Per-example outputs on dev, (examples or words, labels)."""
    from bertkit.tasks.evaluate import run

    ft = FineTuned.load(run_dir)
    examples = ft.spec.kind.read(dev, ft.spec.columns)
    outputs = run(ft.model, ft.tokenizer, ft.spec, examples)[1]
    return torch.from_numpy(np.concatenate([np.asarray(x, dtype=np.float32).reshape(-1, x.shape[-1])
                                            for x in outputs]))


def _distance(task: str, a: Path, b: Path, dev: Path) -> float:
    """How far b's outputs are from a's: KL of the tag distributions (softmax ignores a shift of the
    logits, so their MSE would not do), MSE of the label probabilities, MSE of the values."""
    x, y = _outputs(a, dev), _outputs(b, dev)
    if task == "ner":
        p, q = x.log_softmax(-1), y.log_softmax(-1)
        return float((p.exp() * (p - q)).sum(-1).mean())
    if task == "multilabel":
        x, y = x.sigmoid(), y.sigmoid()
    return float((x - y).pow(2).mean())


def _distil(teacher: Path, train: Path, out: Path, steps: int):
    """Soft targets only (alpha 1). No dev file: the final weights, not the best checkpoint of a
    metric that ties early."""
    return distill(DistillConfig(teacher=str(teacher), out=str(out), train_file=str(train), layers="2",
                                 alpha=1.0,
                                 train=TrainConfig(lr=2e-3, max_steps=steps, batch_size=16, seed=0)))


@pytest.mark.parametrize("task", ["regression", "multilabel", "ner"])
def test_students_of_each_task_kind_move_towards_their_teacher(task, base, tmp_path):
    from bertkit.tasks.evaluate import evaluate
    from bertkit.tasks.readers import Columns

    if task == "ner":
        train, dev = (write_conll(tmp_path / f"{s}.conll", ner_sentences(n, k))
                      for s, n, k in (("train", 128, 0), ("dev", 32, 1)))
        extra = {"epochs": 5}              # tags take longer to learn than a sentence's label
    else:
        rows = sentiment_rows(128, 3)
        for r in rows:
            r["tags"] = "|".join(sorted({"sentiment", r["label"]}))
            r["a"], r["b"] = (1.0, 3.0) if r["label"] == "pos" else (0.0, -2.0)
        train, dev = write_csv(tmp_path / "train.csv", rows), write_csv(tmp_path / "dev.csv", rows[:48])
        extra = {"columns": Columns(label=["a", "b"] if task == "regression" else ["tags"]), "epochs": 3}
        if task == "regression":
            extra["scale_targets"] = True
    teacher = _teacher(base, tmp_path, task, train, dev, **extra)
    start = _distil(teacher, train, tmp_path / "start", steps=1)       # lr 0 at step 1: the initial cut
    kd = _distil(teacher, train, tmp_path / "kd", steps=24)
    # the student is a normal RUN of the teacher's task, scored with its main metric
    student = FineTuned.load(kd.run_dir)
    assert student.spec.task == task and student.model.config.num_hidden_layers == 2
    examples = student.spec.kind.read(dev, student.spec.columns)
    scores = evaluate(student.model, student.tokenizer, student.spec, examples)
    assert student.spec.kind.main_metric in scores
    # trained on nothing but the teacher's soft targets, it ends closer to the teacher's outputs
    assert _distance(task, teacher, kd.run_dir, dev) < 0.7 * _distance(task, teacher, start.run_dir, dev)
    logged = [json.loads(line) for line in (kd.run_dir / "metrics.jsonl").read_text().splitlines()]
    train_logs = [r for r in logged if r.get("split") == "train"]
    assert all("soft_loss" in r for r in train_logs)
    assert all(("teacher_agreement" in r) == (task != "regression") for r in train_logs)


def test_per_token_teacher_logits_are_cut_to_each_batch(base):
    from bertkit.distill.objective import TeacherLogitBatches, stack_logits
    from bertkit.tasks.features import Feature

    features = [Feature(input_ids=[2] + [7] * k + [3], token_type_ids=[0] * (k + 2), example=k,
                        label=[-100] * (k + 2)) for k in range(12)]
    logits = [np.full((k + 2, 3), float(k)) for k in range(12)]
    cached = stack_logits(logits)
    assert cached.shape == (12, 13, 3) and cached[0, 2:].abs().sum() == 0
    source = TeacherLogitBatches(features, cached, batch_size=4)
    for idx, batch in zip(source.order(0), source(0), strict=True):
        width = batch["input_ids"].shape[1]
        assert batch["teacher_logits"].shape == (4, width, 3)
        for row, k in enumerate(idx):
            expected = torch.full((k + 2, 3), float(k))
            torch.testing.assert_close(batch["teacher_logits"][row, : k + 2], expected)


def test_tinybert_narrower_student_layerwise_then_prediction_and_exact_resume(teacher_run, sentiment,
                                                                             tmp_path):
    from bertkit.train.checkpoint import list_checkpoints

    train, dev = sentiment

    def run(out, resume=False, steps=20):
        return distill(DistillConfig(
            teacher=str(teacher_run), out=str(out), train_file=str(train), dev_file=str(dev),
            method="tinybert", layers="2", student_hidden=16, student_heads=2, student_ffn=32, layer_epochs=1,
            temperature=1.0, alpha=1.0,
            train=TrainConfig(lr=2e-3, max_steps=steps, save_every=10, log_every=4, batch_size=16, seed=0,
                              resume=resume)))

    whole = run(tmp_path / "whole")
    assert whole.layer_map == [1, 3]                  # uniform: student layer m <- teacher layer 2m + 1
    saved = json.loads((whole.run_dir / "config.json").read_text())
    assert saved["hidden_size"] == 16 and saved["num_hidden_layers"] == 2 and saved["intermediate_size"] == 32
    logged = [json.loads(line) for line in (whole.run_dir / "metrics.jsonl").read_text().splitlines()]
    train_logs = [r for r in logged if r.get("split") == "train"]
    # 256 inputs / 16 = 16 steps per epoch: the first epoch is layer-wise, then the prediction layer
    assert all("hidden_mse" in r and "attention_mse" in r for r in train_logs if r["step"] <= 16)
    assert all("hidden_mse" not in r for r in train_logs if r["step"] > 16)
    layerwise = [r["hidden_mse"] for r in train_logs if "hidden_mse" in r]
    assert layerwise[-1] < layerwise[0]
    cut = run(tmp_path / "cut").run_dir
    shutil.rmtree(list_checkpoints(cut / "checkpoints")[-1][1])     # killed after step 10, mid layer-wise
    run(cut, resume=True)
    assert (whole.run_dir / "model.safetensors").read_bytes() == (cut / "model.safetensors").read_bytes()


def test_a_student_from_a_directory_must_share_the_teachers_vocabulary(teacher_run, sentiment, tmp_path):
    from bertkit import Tokenizer
    from bertkit.distill.student import make_student
    from bertkit.model import BertConfig, BertModel

    train, dev = sentiment
    teacher = FineTuned.load(teacher_run)
    same = tmp_path / "same"
    make_student(teacher.model, [0, 3]).bert.save_pretrained(same)   # e.g. a general-distilled encoder
    teacher.tokenizer.save(same)
    with pytest.warns(UserWarning, match="classifier"):          # an encoder: the head starts fresh
        result = distill(DistillConfig(teacher=str(teacher_run), out=str(tmp_path / "s"),
                                       train_file=str(train), student=str(same),
                                       train=TrainConfig(max_steps=2, batch_size=16)))
    assert FineTuned.load(result.run_dir).model.config.num_hidden_layers == 2 and result.layers == []

    other = tmp_path / "other"
    Tokenizer.train(texts=train.read_text().splitlines(), vocab_size=90).save(other)
    BertModel(BertConfig(vocab_size=90, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32)).save_pretrained(other)
    with pytest.raises(ConfigError, match="vocabulary that is not the teacher's.*teacher's tokenizer"):
        distill(DistillConfig(teacher=str(teacher_run), out=str(tmp_path / "s2"), train_file=str(train),
                              student=str(other)))


@pytest.mark.parametrize("kw, message", [
    ({"method": "tinybert", "layer_map": "0,4"}, "teacher has layers 0 to 3"),
    ({"student_hidden": 30, "student_heads": 4}, "does not divide"),
    ({"method": "tinybert", "layer_epochs": 3}, "no epoch"),
])
def test_bad_distillation_settings_are_named(kw, message, teacher_run, sentiment, tmp_path):
    with pytest.raises(ConfigError, match=message):
        distill(DistillConfig(teacher=str(teacher_run), out=str(tmp_path / "s"),
                              train_file=str(sentiment[0]), layers="2", **kw))
