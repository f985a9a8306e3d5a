"""Task-specific distillation: a fine-tuned teacher RUN -> a smaller student RUN, on the one loop.

    result = distill(DistillConfig(teacher="run/", train_file="train.csv", dev_file="dev.csv",
                                   out="student/", layers="3"))

The student is the teacher's architecture with fewer (and optionally narrower) layers,
initialised from the teacher's (`student.py`) or from a model directory (`student=`), trained
with the task's soft targets + hard labels (`objective.py`, `targets.py`) on the teacher's task
data; with `method="tinybert"` the first `layer_epochs` epochs distil the embeddings, hidden
states and attention maps (`layerwise.py`). The teacher's logits are computed once, before
training. The student RUN is a normal bertkit RUN (config.json, model.safetensors, tokenizer.json,
task.json): `bertkit evaluate`, `predict`, `explain` and transformers load it like any fine-tuned
model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bertkit.distill.config import DistillConfig
from bertkit.distill.layerwise import LayerwiseDistiller, layer_map
from bertkit.distill.objective import Distiller, TeacherLogitBatches, distill_metrics, stack_logits
from bertkit.distill.student import load_student, make_student, teacher_layers
from bertkit.distill.targets import soft_targets
from bertkit.errors import ConfigError, DataError
from bertkit.io import atomic_write_json
from bertkit.tasks.evaluate import evaluate, feature_logits, main_metric
from bertkit.tasks.predict import FineTuned
from bertkit.tasks.readers import Example
from bertkit.train.loop import Trainer

__all__ = ["DistillConfig", "DistillResult", "distill"]


@dataclass
class DistillResult:
    run_dir: Path
    layers: list[int]                    # the teacher layer each student layer started from ([]: --student)
    metrics: dict[str, Any]              # the student's on dev
    teacher_metrics: dict[str, Any]      # the teacher's on dev, for comparison
    global_step: int
    layer_map: list[int] | None = None   # tinybert: the teacher layer each student layer learned


def _student_layers(teacher: FineTuned, layers: str | None) -> list[int]:
    n = teacher.model.config.num_hidden_layers
    return teacher_layers(n, layers if layers else max(1, n // 2))


def _load_teacher(cfg: DistillConfig) -> FineTuned:
    if Path(cfg.out).resolve() == Path(cfg.teacher).resolve():
        raise ConfigError(f"--out {cfg.out} is the teacher's RUN: distillation would overwrite it")
    return FineTuned.load(cfg.teacher)


def _make_student(cfg: DistillConfig, teacher: FineTuned, layers: list[int]) -> nn.Module:
    """Cut from the teacher (its layers `layers`, narrower if asked), or loaded from cfg.student."""
    if cfg.student is None:
        return make_student(teacher.model, layers, cfg.width(), cfg.student_init)
    if any(cfg.width().values()):
        raise ConfigError("--student DIR brings its own size: drop --student-hidden/--student-heads/"
                          "--student-ffn")
    student = load_student(cfg.student, teacher.model, teacher.tokenizer.get_vocab(),
                           teacher.spec.kind.model_config(teacher.spec))
    student.class_weights = getattr(teacher.model, "class_weights", None)
    return student


def _read(teacher: FineTuned, path: str | None) -> list[Example] | None:
    """Examples in the teacher's columns, labels checked against the teacher's."""
    if path is None:
        return None
    spec = teacher.spec
    examples = spec.kind.read(path, spec.columns)
    spec.kind.check_labels(examples, spec.labels, path)
    return examples


def distill(cfg: DistillConfig) -> DistillResult:
    """Distil the teacher into a student with cfg.layers layers; write and return the student RUN."""
    teacher = _load_teacher(cfg)
    spec, kind, tcfg = teacher.spec, teacher.spec.kind, cfg.train
    targets = soft_targets(kind)
    train, dev = _read(teacher, cfg.train_file), _read(teacher, cfg.dev_file)
    layers = _student_layers(teacher, cfg.layers)
    n_teacher = teacher.model.config.num_hidden_layers
    mapped = layer_map(n_teacher, len(layers), cfg.layer_map) if cfg.method == "tinybert" else None
    pad_id = teacher.tokenizer.pad_token_id or 0
    features = kind.features(teacher.tokenizer, train, spec)
    logits, _ = feature_logits(teacher.model, kind, features, tcfg.batch_size * 2, pad_id)
    cached = stack_logits(logits)     # (inputs, labels) or (inputs, tokens, labels): once, every epoch
    batches = TeacherLogitBatches(features, cached, tcfg.batch_size, tcfg.seed, pad_id,
                                  layerwise_epochs=cfg.layer_epochs if mapped else 0)
    if len(batches) == 0:
        raise DataError(f"{cfg.train_file}: {len(features)} training inputs, fewer than one batch of "
                        f"{tcfg.batch_size}; lower --batch-size")
    torch.manual_seed(tcfg.seed)
    student = _make_student(cfg, teacher, layers)
    if cfg.student is not None:
        layers = []                                  # the student brought its own layers
    if mapped is not None and student.config.num_hidden_layers != len(mapped):
        mapped = layer_map(n_teacher, student.config.num_hidden_layers, cfg.layer_map)
    if mapped is None:
        model: Distiller = Distiller(student, cfg.temperature, cfg.alpha, targets)
    else:
        model = LayerwiseDistiller(student, teacher.model, mapped, cfg.temperature, cfg.alpha, targets)
    metric, out, eval_batch = main_metric(spec), Path(cfg.out), tcfg.batch_size * 2

    def eval_fn(m: Distiller) -> dict[str, float]:
        scores = evaluate(m.student, teacher.tokenizer, spec, dev, eval_batch)
        return {k: v for k, v in scores.items() if isinstance(v, int | float)}

    def save_model(m: Distiller, directory: Path) -> None:
        m.student.save_pretrained(directory)
        teacher.tokenizer.save(directory)
        spec.save(directory)

    train_cfg = dataclasses.replace(
        tcfg, metric_for_best=metric if dev else None, greater_is_better=True,
        eval_every=(tcfg.eval_every or len(batches)) if dev else None,
        early_stopping_patience=tcfg.early_stopping_patience if dev else None)
    setup = {"teacher": str(Path(cfg.teacher).resolve()), "layers": layers, "temperature": cfg.temperature,
             "alpha": cfg.alpha, "train_inputs": len(features), "student": student.config.to_dict(),
             "method": cfg.method, "layer_map": mapped, "layer_epochs": cfg.layer_epochs if mapped else None,
             "student_dir": cfg.student}
    result = Trainer(model, train_cfg, batches, out, eval_fn=eval_fn if dev else None,
                     metrics_fn=distill_metrics(kind.metrics_fn, targets), save_model=save_model,
                     setup=setup).fit()
    final: dict[str, Any] = {}
    teacher_scores: dict[str, Any] = {}
    if dev:
        final = evaluate(model.student, teacher.tokenizer, spec, dev, eval_batch)
        teacher_scores = evaluate(teacher.model, teacher.tokenizer, spec, dev, eval_batch)
        atomic_write_json(out / "eval_results.json", {**final, "teacher": teacher_scores,
                                                      "teacher_layers": layers})
    return DistillResult(out, layers, final, teacher_scores, result.global_step, mapped)
