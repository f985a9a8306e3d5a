"""Fine-tune a BERT on a labelled file with THE training loop (bertkit.train.Trainer).

    result = finetune(FinetuneConfig(model="minilm/", task="classification", train_file="train.csv",
                                     dev_file="dev.csv", out="run/"))

The RUN directory is a Hugging Face model directory (config.json with id2label, model.safetensors,
tokenizer.json) plus task.json, metrics.jsonl, eval_results.json and learning_curve.png.
Strategies: full fine-tuning, frozen embeddings, the first K layers frozen, a frozen encoder
(feature extraction: only the pooler and the new head learn), layer-wise learning-rate decay.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bertkit.errors import ConfigError, DataError
from bertkit.io import atomic_write_json, save_figure
from bertkit.tasks import glue
from bertkit.tasks.batches import LengthGroupedBatches
from bertkit.tasks.config import FinetuneConfig
from bertkit.tasks.evaluate import evaluate, main_metric
from bertkit.tasks.readers import Example
from bertkit.tasks.registry import get_task
from bertkit.tasks.spec import TASK_FILE, TaskSpec
from bertkit.tokenizers import Tokenizer
from bertkit.train.config import TrainConfig
from bertkit.train.loop import Trainer

__all__ = ["FinetuneConfig", "FinetuneResult", "finetune", "freeze"]


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
    ALBERT's layers share parameters, so freezing one layer freezes the others of its group, and
    its projection from the embedding size belongs to the embeddings.
    """
    if not how:
        return 0
    bert = model.bert
    embeddings = [bert.embeddings, *([bert.project] if hasattr(bert, "project") else [])]
    if how == "embeddings":
        parts = embeddings
    elif how == "encoder":
        parts = [*embeddings, *bert.layers]
    elif how.startswith("layers:"):
        try:
            k = int(how.split(":", 1)[1])
        except ValueError:
            raise ConfigError(f"--freeze layers:K needs an integer K, got {how!r}") from None
        if not 0 <= k <= len(bert.layers):
            raise ConfigError(f"--freeze layers:{k}: the model has {len(bert.layers)} layers")
        parts = [*embeddings, *bert.layers[:k]]
    else:
        raise ConfigError(f"--freeze must be embeddings, layers:K or encoder, got {how!r}")
    frozen = {id(p): p for part in parts for p in part.parameters()}     # shared layers count once
    for p in frozen.values():
        p.requires_grad_(False)
    return sum(p.numel() for p in frozen.values())


@dataclass
class _Data:
    spec: TaskSpec
    train: list[Example]
    dev: list[Example] | None
    extra_dev: dict[str, list[Example]]      # further dev sets (MNLI's mismatched), scored at the end


def _load_data(cfg: FinetuneConfig) -> _Data:
    """The spec and the examples, from files or a GLUE preset; labels checked against training."""
    if cfg.glue_task:
        if not cfg.data_dir:
            raise ConfigError("--glue-task needs --data-dir (the folder with the task's TSV files)")
        preset = glue.preset(cfg.glue_task)
        task, columns, train_path = preset.task, preset.columns, preset.path(cfg.data_dir, preset.train)
        dev_paths = {name: preset.path(cfg.data_dir, f) for name, f in preset.dev.items()}
    else:
        if not cfg.train_file:
            raise ConfigError("give --train FILE (and --dev FILE), or --glue-task with --data-dir")
        task, columns, train_path = cfg.task, cfg.columns, Path(cfg.train_file)
        dev_paths = {"dev": Path(cfg.dev_file)} if cfg.dev_file else {}
    kind = get_task(task)
    train = kind.read(train_path, columns)
    devs = {name: kind.read(path, columns) for name, path in dev_paths.items()}
    labels = list(preset.labels) if cfg.glue_task else kind.label_names(train, columns)
    kind.check_label_count(labels, str(train_path))
    for name, examples in devs.items():
        kind.check_labels(examples, labels, str(dev_paths[name]))
    spec = TaskSpec(task, labels, columns, cfg.max_length, cfg.truncation, cfg.stride, cfg.aggregate,
                    glue_task=cfg.glue_task)
    kind.prepare(spec, train, cfg.scale_targets)
    dev = devs.pop(next(iter(devs))) if devs else None
    return _Data(spec, train, dev, devs)


def _load_model(cfg: FinetuneConfig, spec: TaskSpec, tokenizer: Any) -> Any:
    """The pretrained encoder with a new head for the spec's task and labels: a BERT, RoBERTa,
    DistilBERT or ALBERT directory (config.json's model_type) gets that family's head class."""
    previous = Path(cfg.model) / TASK_FILE
    if previous.is_file():
        old = json.loads(previous.read_text(encoding="utf-8"))
        if old.get("task") != spec.task or old.get("labels") != spec.labels:
            warnings.warn(f"{cfg.model} was fine-tuned for {old.get('task')} with labels "
                          f"{old.get('labels')}; its head is replaced by a new {spec.task} head",
                          stacklevel=3)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*newly initialised.*")  # the new head: expected
        model = spec.kind.model_class().from_pretrained(cfg.model, ignore_mismatched_sizes=True,
                                                        **spec.kind.model_config(spec))
    if spec.max_length > model.bert.max_length:
        raise ConfigError(f"--max-length {spec.max_length} exceeds the {model.bert.max_length} tokens this "
                          f"model's positions hold (config.json max_position_embeddings "
                          f"{model.config.max_position_embeddings})")
    pad = tokenizer.pad_token_id
    if model.layout.model_type == "roberta" and pad is not None and pad != model.config.pad_token_id:
        raise ConfigError(f"{Path(cfg.model) / 'config.json'}: pad_token_id is {model.config.pad_token_id} "
                          f"but the tokenizer pads with id {pad}; RoBERTa's positions count from the "
                          f"padding id, so the two must agree (fix config.json or use the model's tokenizer)")
    return model


def _check_paths(cfg: FinetuneConfig) -> None:
    """Refuse to write the RUN over the model it starts from."""
    if Path(cfg.out).resolve() == Path(cfg.model).resolve():
        raise ConfigError(f"--out {cfg.out} is the model directory --model {cfg.model}: fine-tuning would "
                          "overwrite the pretrained weights; choose another --out")


def _train_config(cfg: FinetuneConfig, metric: str, steps_per_epoch: int, has_dev: bool) -> TrainConfig:
    """The user's TrainConfig plus what the task decides: the best-checkpoint metric, evaluation
    once per epoch by default, and no evaluation or early stopping without a dev set."""
    return dataclasses.replace(
        cfg.train, metric_for_best=metric if has_dev else None, greater_is_better=True,
        eval_every=(cfg.train.eval_every or steps_per_epoch) if has_dev else None,
        early_stopping_patience=cfg.train.early_stopping_patience if has_dev else None)


def finetune(cfg: FinetuneConfig) -> FinetuneResult:
    """Fine-tune, keep the best checkpoint on the dev metric, and write the RUN directory."""
    _check_paths(cfg)
    data = _load_data(cfg)
    spec, kind, train_cfg = data.spec, data.spec.kind, cfg.train
    tokenizer = Tokenizer.from_pretrained(cfg.tokenizer or cfg.model)
    torch.manual_seed(train_cfg.seed)
    model = _load_model(cfg, spec, tokenizer)
    freeze(model, cfg.freeze)
    weights = kind.class_weights(data.train, spec.labels) if cfg.class_weights else None
    if weights is not None:
        model.class_weights = torch.tensor(weights)
    batches = LengthGroupedBatches(kind.features(tokenizer, data.train, spec), train_cfg.batch_size,
                                   train_cfg.seed, tokenizer.pad_token_id or 0, by_length=cfg.group_by_length)
    if len(batches) == 0:
        raise DataError(f"{cfg.train_file or cfg.glue_task}: {len(batches.features)} training inputs, fewer "
                        f"than one batch of {train_cfg.batch_size}; lower --batch-size")
    metric, out, dev = main_metric(spec), Path(cfg.out), data.dev
    eval_batch = train_cfg.batch_size * 2

    def eval_fn(m: Any) -> dict[str, float]:
        scores = evaluate(m, tokenizer, spec, dev, eval_batch)
        return {k: v for k, v in scores.items() if isinstance(v, int | float)}

    def save_model(m: Any, directory: Path) -> None:
        m.save_pretrained(directory)
        tokenizer.save(directory)
        spec.save(directory)

    trainer = Trainer(model, _train_config(cfg, metric, len(batches), dev is not None), batches, out,
                      eval_fn=eval_fn if dev else None, metrics_fn=kind.metrics_fn, save_model=save_model,
                      setup={"model": cfg.model, "task": dataclasses.asdict(spec)})
    result = trainer.fit()
    final: dict[str, Any] = {}
    if dev:
        final = evaluate(model, tokenizer, spec, dev, eval_batch, calibrate=True)
        spec.save(out)  # with what calibration tuned (the multi-label thresholds)
        for name, examples in data.extra_dev.items():
            final[name] = evaluate(model, tokenizer, spec, examples, eval_batch)
        atomic_write_json(out / "eval_results.json", final)
    plot_learning_curve(result.history, metric, out / "learning_curve.png")
    return FinetuneResult(out, final, result.global_step, result.stopped_early, result.history)


def plot_learning_curve(history: list[dict[str, Any]], metric: str, path: Path) -> None:
    """Training and dev loss, and the dev metric, against the optimizer step."""
    import matplotlib  # imported here: half a second, and only plotting needs it

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
