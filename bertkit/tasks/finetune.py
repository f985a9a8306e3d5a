"""Fine-tune a BERT on a labelled file with THE training loop (bertkit.train.Trainer).

    result = finetune(FinetuneConfig(model="minilm/", task="classification",
                                     train="train.csv", dev="dev.csv", out="run/"))

The RUN directory is a Hugging Face model directory (config.json with id2label, model.safetensors,
tokenizer.json) plus task.json, metrics.jsonl, eval_results.json and learning_curve.png.
Strategies: full fine-tuning, frozen embeddings, the first K layers frozen, a frozen encoder
(feature extraction: only the pooler and the new head learn), layer-wise learning-rate decay.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bertkit.errors import ConfigError, DataError
from bertkit.io import atomic_write_json, save_figure
from bertkit.tasks.readers import Columns, check_labels, infer_labels, read_examples
from bertkit.tasks.spec import TASK_FILE, TaskSpec, model_class


@dataclass
class FinetuneConfig:
    model: str                                 # HF/bertkit model dir (or a pretraining RUN)
    task: str = "classification"
    train: str | None = None
    dev: str | None = None
    out: str = "run"
    columns: Columns = field(default_factory=Columns)
    tokenizer: str | None = None               # default: the model directory
    epochs: float = 3
    max_steps: int | None = None
    batch_size: int = 32
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    seed: int = 0
    freeze: str | None = None                  # embeddings | layers:K | encoder
    llrd: float | None = None                  # layer-wise lr decay, e.g. 0.9
    max_length: int = 128
    truncation: str = "head"                   # head | tail | head+tail | window
    stride: int = 32
    aggregate: str = "mean"
    class_weights: bool = False                # "balanced" weights for imbalanced classes
    scale_targets: bool = False                # standardise regression targets
    eval_every: int | None = None              # default: once per epoch
    early_stopping: int | None = None          # evaluations without improvement before stopping
    group_by_length: bool = True
    resume: bool = False
    glue_task: str | None = None
    data_dir: str | None = None
    log_every: int = 10


@dataclass
class FinetuneResult:
    run_dir: Path
    metrics: dict[str, Any]
    global_step: int
    stopped_early: bool
    history: list[dict[str, Any]]


def freeze(model: Any, how: str | None) -> int:
    """Freeze part of the encoder; returns the number of frozen parameters.

    embeddings: the embedding layer; layers:K: the embeddings and the first K encoder layers;
    encoder: embeddings and every layer (feature extraction: only the pooler and head learn).
    """
    if not how:
        return 0
    bert = model.bert
    if how == "embeddings":
        parts = [bert.embeddings]
    elif how == "encoder":
        parts = [bert.embeddings, *bert.layers]
    elif how.startswith("layers:"):
        try:
            k = int(how.split(":", 1)[1])
        except ValueError:
            raise ConfigError(f"--freeze layers:K needs an integer K, got {how!r}") from None
        if not 0 <= k <= len(bert.layers):
            raise ConfigError(f"--freeze layers:{k}: the model has {len(bert.layers)} layers")
        parts = [bert.embeddings, *bert.layers[:k]]
    else:
        raise ConfigError(f"--freeze must be embeddings, layers:K or encoder, got {how!r}")
    n = 0
    for part in parts:
        for p in part.parameters():
            p.requires_grad_(False)
            n += p.numel()
    return n


def balanced_class_weights(labels: list[Any], names: list[str], task: str) -> list[float]:
    """n / (k * count) per class (scikit-learn's "balanced"); for multi-label, neg/pos per label."""
    if task == "multilabel":
        pos = np.array([sum(name in lab for lab in labels) for name in names], dtype=float)
        return (np.maximum(len(labels) - pos, 1) / np.maximum(pos, 1)).tolist()
    flat = [t for lab in labels for t in lab] if task == "ner" else labels
    counts = np.array([flat.count(name) for name in names], dtype=float)
    return (len(flat) / (len(names) * np.maximum(counts, 1))).tolist()


def _load_data(cfg: FinetuneConfig) -> tuple[TaskSpec, list, list | None, dict[str, list]]:
    """(spec, train examples, dev examples, extra dev sets) from files or a GLUE preset."""
    extra_dev: dict[str, list] = {}
    if cfg.glue_task:
        from bertkit.tasks import glue

        preset = glue.preset(cfg.glue_task)
        if not cfg.data_dir:
            raise ConfigError("--glue-task needs --data-dir (the folder with the task's TSV files)")
        task, columns, labels = preset.task, preset.columns, list(preset.labels)
        train = read_examples(preset.path(cfg.data_dir, preset.train), task, columns)
        devs = {name: read_examples(preset.path(cfg.data_dir, f), task, columns)
                for name, f in preset.dev.items()}
        first = next(iter(devs))
        dev = devs.pop(first)
        extra_dev = devs
    else:
        if not cfg.train:
            raise ConfigError("give --train FILE (and --dev FILE), or --glue-task with --data-dir")
        task, columns = cfg.task, cfg.columns
        train = read_examples(cfg.train, task, columns)
        dev = read_examples(cfg.dev, task, columns) if cfg.dev else None
        labels = infer_labels(train, task) if task != "regression" else list(columns.label)
    if task != "regression" and len(labels) < (1 if task == "multilabel" else 2):
        raise DataError(f"{cfg.train}: the training data has only the label(s) {labels}; need at least two")
    spec = TaskSpec(task, labels, columns, cfg.max_length, cfg.truncation, cfg.stride, cfg.aggregate,
                    glue_task=cfg.glue_task)
    for name, examples in [("dev", dev), *extra_dev.items()]:
        if examples is not None:
            check_labels(examples, labels, task, cfg.dev or name)
    if task == "regression" and cfg.scale_targets:
        y = np.asarray([ex.label for ex in train], dtype=np.float64)
        spec.target_mean = y.mean(axis=0).tolist()
        spec.target_std = np.where(y.std(axis=0) > 0, y.std(axis=0), 1.0).tolist()
    return spec, train, dev, extra_dev


def _load_model(cfg: FinetuneConfig, spec: TaskSpec) -> Any:
    previous = Path(cfg.model) / TASK_FILE
    if previous.is_file():
        old = json.loads(previous.read_text(encoding="utf-8"))
        if old.get("task") != spec.task or old.get("labels") != spec.labels:
            warnings.warn(f"{cfg.model} was fine-tuned for {old.get('task')} with labels "
                          f"{old.get('labels')}; its head is replaced by a new {spec.task} head",
                          stacklevel=3)
    overrides: dict[str, Any] = {"num_labels": max(1, spec.num_labels), "problem_type": spec.problem_type}
    if spec.task != "regression":
        overrides["id2label"] = dict(enumerate(spec.labels))
        overrides["label2id"] = {lab: i for i, lab in enumerate(spec.labels)}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*newly initialised.*")  # the new head: expected
        return model_class(spec.task).from_pretrained(cfg.model, ignore_mismatched_sizes=True, **overrides)


def finetune(cfg: FinetuneConfig) -> FinetuneResult:
    """Fine-tune, keep the best checkpoint on the dev metric, and write the RUN directory."""
    import torch

    from bertkit.tasks.evaluate import evaluate, main_metric, run
    from bertkit.tasks.features import LengthGroupedBatches, encode_examples
    from bertkit.tokenizers import Tokenizer
    from bertkit.train import TrainConfig, Trainer

    spec, train, dev, extra_dev = _load_data(cfg)
    tokenizer = Tokenizer.from_pretrained(cfg.tokenizer or cfg.model)
    torch.manual_seed(cfg.seed)
    model = _load_model(cfg, spec)
    if spec.max_length > model.config.max_position_embeddings:
        raise ConfigError(f"--max-length {spec.max_length} exceeds the model's max_position_embeddings "
                          f"{model.config.max_position_embeddings}")
    freeze(model, cfg.freeze)
    if cfg.class_weights and spec.task != "regression":
        model.class_weights = torch.tensor(balanced_class_weights([ex.label for ex in train], spec.labels,
                                                                  spec.task))
    pad_id = tokenizer.pad_token_id or 0
    batches = LengthGroupedBatches(encode_examples(tokenizer, train, spec), cfg.batch_size, cfg.seed, pad_id,
                                   by_length=cfg.group_by_length)
    if len(batches) == 0:
        raise DataError(f"{cfg.train}: {len(batches.features)} training inputs, fewer than one batch of "
                        f"{cfg.batch_size}; lower --batch-size")
    total = cfg.max_steps or max(1, round(cfg.epochs * len(batches)))
    metric = main_metric(spec)
    out = Path(cfg.out)

    def eval_fn(m: Any) -> dict[str, float]:
        scores = evaluate(m, tokenizer, spec, dev, cfg.batch_size * 2)
        return {k: v for k, v in scores.items() if isinstance(v, int | float)}

    def save_model(m: Any, directory: Path) -> None:
        m.save_pretrained(directory)
        tokenizer.save(directory)
        spec.save(directory)

    train_cfg = TrainConfig(
        lr=cfg.lr, weight_decay=cfg.weight_decay, warmup_ratio=cfg.warmup_ratio, schedule="linear",
        max_steps=total, batch_size=cfg.batch_size, seed=cfg.seed, log_every=min(cfg.log_every, total),
        eval_every=(cfg.eval_every or len(batches)) if dev else None,
        metric_for_best=metric if dev else None, greater_is_better=True,
        early_stopping_patience=cfg.early_stopping if dev else None,
        layerwise_lr_decay=cfg.llrd, resume=cfg.resume)
    trainer = Trainer(model, train_cfg, batches, out, eval_fn=eval_fn if dev else None, save_model=save_model)
    result = trainer.fit()

    final: dict[str, Any] = {}
    if dev:
        preds, outputs, _ = run(model, tokenizer, spec, dev, cfg.batch_size * 2)
        if spec.task == "multilabel":
            from bertkit.metrics import tune_thresholds
            from bertkit.tasks.evaluate import probabilities

            index = {lab: i for i, lab in enumerate(spec.labels)}
            y = np.zeros((len(dev), spec.num_labels), dtype=int)
            for r, ex in enumerate(dev):
                y[r, [index[lab] for lab in ex.label]] = 1
            spec.thresholds = tune_thresholds(y, probabilities(spec, outputs))
            spec.save(out)
        final = evaluate(model, tokenizer, spec, dev, cfg.batch_size * 2)
        for name, examples in extra_dev.items():
            final[name] = evaluate(model, tokenizer, spec, examples, cfg.batch_size * 2)
        atomic_write_json(out / "eval_results.json", final)
    plot_learning_curve(result.history, metric, out / "learning_curve.png")
    return FinetuneResult(out, final, result.global_step, result.stopped_early, result.history)


def plot_learning_curve(history: list[dict[str, Any]], metric: str, path: Path) -> None:
    """Training and dev loss, and the dev metric, against the optimizer step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for split, style in (("train", "-"), ("eval", "o-")):
        pts = [(r["step"], r["loss"]) for r in history if r.get("split") == split and "loss" in r]
        if pts:
            ax1.plot(*zip(*pts, strict=True), style, label=f"{'dev' if split == 'eval' else split} loss")
    pts = [(r["step"], r[metric]) for r in history if r.get("split") == "eval" and metric in r]
    if pts:
        ax2.plot(*zip(*pts, strict=True), "o-", color="tab:green")
    for ax, title in ((ax1, "loss"), (ax2, f"dev {metric}")):
        ax.set_xlabel("optimizer step")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    if ax1.get_legend_handles_labels()[0]:
        ax1.legend()
    fig.tight_layout()
    save_figure(fig, path)
