"""The one training loop: pretraining, fine-tuning and distillation differ in batches and losses only.

    trainer = Trainer(model, TrainConfig(lr=1e-4, max_steps=1000, save_every=100), dataset, "run/")
    result = trainer.fit()

A batch is a dict of tensors passed as `model(**batch)`; the output's `loss` is minimised and any
of `mlm_loss`, `nsp_loss`, MLM/NSP accuracy it exposes are logged. Exact resume: a checkpoint
holds model, optimizer, scheduler, every RNG state and the data position (epoch, micro-batch), data
order is a pure function of (seed, epoch), and evaluation runs on a forked RNG, so a run killed at
any moment and resumed ends with bitwise the same weights as one that never stopped.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, IterableDataset, default_collate

from bertkit.errors import CheckpointError, ConfigError, DataError, TrainingError
from bertkit.train import distributed as dist
from bertkit.train.checkpoint import (
    list_checkpoints,
    load_checkpoint,
    load_weights,
    rng_state,
    save_checkpoint,
    save_weights,
    set_rng_state,
)
from bertkit.train.logging import MetricsLog, plot_loss
from bertkit.train.optim import make_optimizer, make_scheduler

# Options that may change between a run and its resume without changing the result.
RESUMABLE_CHANGES = frozenset({"resume", "log_every", "save_every", "keep_last", "num_workers"})


@dataclass
class TrainConfig:
    lr: float = 1e-4
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    warmup_steps: int = 0
    warmup_ratio: float = 0.0
    schedule: str = "linear"                 # "linear" | "cosine" | "constant"
    max_steps: int | None = None             # wins over epochs when set
    epochs: int = 1
    batch_size: int = 32                     # per process, per micro-batch (map-style datasets)
    grad_accum: int = 1
    max_grad_norm: float | None = 1.0
    seed: int = 0
    log_every: int = 10
    eval_every: int | None = None
    save_every: int | None = None
    keep_last: int = 2
    metric_for_best: str | None = None
    greater_is_better: bool = True
    early_stopping_patience: int | None = None
    layerwise_lr_decay: float | None = None  # lr * decay**(depth from top); embeddings lowest
    num_workers: int = 0                     # DataLoader worker processes (map-style datasets)
    resume: bool = False

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas)
        for name in ("batch_size", "grad_accum", "epochs", "log_every", "keep_last"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"max_steps must be >= 1, got {self.max_steps}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ConfigError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.early_stopping_patience is not None and self.metric_for_best is None:
            raise ConfigError("early_stopping_patience needs metric_for_best")


@dataclass
class TrainResult:
    global_step: int
    best_metric: float | None
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False


def _field(out: Any, key: str) -> Any:
    return out.get(key) if isinstance(out, dict) else getattr(out, key, None)


def _loss_of(out: Any) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        return out[0]
    loss = _field(out, "loss")
    if loss is None:
        raise ConfigError("the model returned no loss: pass labels in the batch")
    return loss


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
            for k, v in batch.items()}


def _default_save(model: nn.Module, out_dir: Path) -> None:
    if hasattr(model, "save_pretrained"):
        model.save_pretrained(out_dir)
    else:
        from safetensors.torch import save_model

        save_model(model, str(out_dir / "model.safetensors"))


class Trainer:
    """Runs `model` over `train_data` with AdamW, a schedule, checkpoints and exact resume.

    train_data: a map-style Dataset (shuffled per epoch with a (seed, epoch) permutation and
    batched by `config.batch_size`), an IterableDataset, or a callable `epoch -> iterable of
    batches`. Objects with `set_epoch(epoch)` (dataset or collate) are told the epoch first, so
    dynamic masking can be seeded by (seed, epoch, example) and survive a resume exactly.
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig,
        train_data: Dataset | IterableDataset | Callable[[int], Iterable[dict]],
        out_dir: str | os.PathLike,
        *,
        eval_fn: Callable[[nn.Module], dict[str, float]] | None = None,
        collate: Callable[[list], dict] | None = None,
        save_model: Callable[[nn.Module, Path], None] | None = None,
        on_log: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.model = model
        self.config = config
        self.train_data = train_data
        self.out_dir = Path(out_dir)
        self.ckpt_root = self.out_dir / "checkpoints"
        self.eval_fn = eval_fn
        self.collate = collate or default_collate
        self.save_model = save_model or _default_save
        self.on_log = on_log
        self.device = next(model.parameters()).device
        self.rank, self.world = dist.rank(), dist.world_size()
        self.main = self.rank == 0

    # ---- data -----------------------------------------------------------------------------

    def _micro_per_epoch(self) -> int | None:
        """Micro-batches per epoch on this rank, or None when the data has no length."""
        data, cfg = self.train_data, self.config
        if isinstance(data, Dataset) and not isinstance(data, IterableDataset):
            return len(data) // (cfg.batch_size * self.world)
        with contextlib.suppress(TypeError):
            if isinstance(data, IterableDataset):
                return len(data) // (cfg.batch_size * self.world)
        return None

    def _micro_batches(self, epoch: int, start: int) -> Iterator[dict]:
        """This rank's micro-batches of `epoch`, from index `start`: a pure function of (seed, epoch)."""
        data, cfg = self.train_data, self.config
        for obj in (data, self.collate):
            if hasattr(obj, "set_epoch"):
                obj.set_epoch(epoch)
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
        if isinstance(data, Dataset) and not isinstance(data, IterableDataset):
            bs, n_micro = cfg.batch_size, self._micro_per_epoch()
            perm = torch.randperm(len(data), generator=gen).tolist()
            lo = self.rank * bs
            batches = [perm[b * bs * self.world + lo: b * bs * self.world + lo + bs]
                       for b in range(start, n_micro)]
            return iter(DataLoader(data, batch_sampler=batches, collate_fn=self.collate,
                                   num_workers=cfg.num_workers, generator=gen))
        if isinstance(data, IterableDataset):
            source = DataLoader(data, batch_size=cfg.batch_size, collate_fn=self.collate, generator=gen)
        elif callable(data):
            source = data(epoch)
        else:
            raise ConfigError(f"train_data must be a Dataset or a callable epoch -> batches: {type(data)}")
        it = itertools.islice(iter(source), self.rank, None, self.world)
        for _ in range(start):  # eagerly, before the RNG state is restored on resume
            next(it, None)
        return it

    # ---- bookkeeping ----------------------------------------------------------------------

    def _check_resume_config(self, saved: dict[str, Any], world: int) -> None:
        current = asdict(self.config)
        diff = sorted(k for k in set(current) | set(saved) if k not in RESUMABLE_CHANGES
                      and _norm(current.get(k)) != _norm(saved.get(k)))
        details = [f"{k}: checkpoint {saved.get(k)!r} vs now {current.get(k)!r}" for k in diff]
        if world != self.world:
            details.append(f"world size: checkpoint {world} vs now {self.world}")
        if details:
            raise CheckpointError(
                f"cannot resume from {self.ckpt_root}: the configuration differs ({'; '.join(details)}). "
                "Resume with the same settings, or start a new run in another directory."
            )

    def _log(self, record: dict[str, Any]) -> None:
        self.state["history"].append(record)
        if self.main:
            self.metrics.write(record)
            if self.on_log:
                self.on_log(record)

    def _save(self) -> None:
        rngs = dist.all_gather(rng_state())
        if self.main:
            state = {k: v for k, v in self.state.items()}
            state["config"] = asdict(self.config)
            state["world_size"] = self.world
            save_checkpoint(self.ckpt_root, self.state["global_step"], self.model, self.optimizer,
                            self.scheduler, rngs, state, self.config.keep_last)
            plot_loss(self.state["history"], self.out_dir / "loss.png")
        dist.barrier()

    def _evaluate(self) -> bool:
        """Run eval_fn on a forked RNG; track the best; return True when early stopping fires."""
        cfg, st = self.config, self.state
        saved_rng = rng_state()
        self.model.eval()
        with torch.no_grad():
            metrics = dict(self.eval_fn(self.model))
        self.model.train()
        set_rng_state(saved_rng)
        self._log({"split": "eval", "step": st["global_step"], "epoch": st["epoch"], **metrics})
        key = cfg.metric_for_best
        if key is None:
            return False
        if key not in metrics:
            raise ConfigError(f"metric_for_best={key!r} is not among the eval metrics {sorted(metrics)}")
        value, best = float(metrics[key]), st["best_metric"]
        better = best is None or (value > best if cfg.greater_is_better else value < best)
        if better:
            st["best_metric"], st["bad_evals"] = value, 0
            if self.main:
                save_weights(self.model, self.ckpt_root / "best")
        else:
            st["bad_evals"] += 1
        return cfg.early_stopping_patience is not None and st["bad_evals"] >= cfg.early_stopping_patience

    def _save_final(self) -> None:
        if self.config.metric_for_best and (self.ckpt_root / "best").is_dir():
            load_weights(self.model, self.ckpt_root / "best")
        if not self.main:
            return
        tmp = self.out_dir / ".final.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self.save_model(self.model, tmp)
        for item in tmp.iterdir():
            dest = self.out_dir / item.name
            if dest.is_dir():
                shutil.rmtree(dest)
            os.replace(item, dest)
        tmp.rmdir()

    # ---- the loop -------------------------------------------------------------------------

    def fit(self) -> TrainResult:
        cfg = self.config
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        torch.manual_seed(cfg.seed + self.rank)
        micro_per_epoch = self._micro_per_epoch()
        if micro_per_epoch is not None and micro_per_epoch // cfg.grad_accum == 0:
            raise DataError(
                f"the training data has {len(self.train_data)} examples, fewer than one optimizer step "  # type: ignore[arg-type]
                f"(batch_size {cfg.batch_size} x grad_accum {cfg.grad_accum} x {self.world} processes)"
            )
        if cfg.max_steps is not None:
            total = cfg.max_steps
        elif micro_per_epoch is not None:
            total = cfg.epochs * (micro_per_epoch // cfg.grad_accum)
        else:
            raise ConfigError("max_steps is required when the training data has no length")
        micro_limit = None if micro_per_epoch is None else micro_per_epoch // cfg.grad_accum * cfg.grad_accum
        warmup = cfg.warmup_steps or int(cfg.warmup_ratio * total + 0.999999)

        self.optimizer = make_optimizer(self.model, cfg.lr, cfg.weight_decay, cfg.betas, cfg.eps,
                                        cfg.layerwise_lr_decay)
        self.scheduler = make_scheduler(self.optimizer, cfg.schedule, warmup, total)
        self.state: dict[str, Any] = {"global_step": 0, "epoch": 0, "micro": 0, "history": [],
                                      "best_metric": None, "bad_evals": 0, "stopped_early": False}
        if self.main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        self.metrics = MetricsLog(self.out_dir, enabled=self.main)
        pending_rng = None
        checkpoints = list_checkpoints(self.ckpt_root) if cfg.resume else []
        if checkpoints:
            step, path = checkpoints[-1]
            saved, rngs = load_checkpoint(path, self.model, self.optimizer, self.scheduler)
            self._check_resume_config(saved.pop("config"), saved.pop("world_size"))
            self.state.update(saved)
            pending_rng = rngs[self.rank]
            self.metrics.truncate_after(step)
        elif self.main and not cfg.resume:
            self.metrics.truncate_after(-1)

        result = self._run(total, micro_limit, pending_rng)
        self.metrics.close()
        return result

    def _run(self, total: int, micro_limit: int | None, pending_rng: dict | None) -> TrainResult:
        cfg, st, model = self.config, self.state, self.model
        ddp = dist.wrap(model)
        params = [p for p in model.parameters() if p.requires_grad]
        model.train()
        bar = None
        if self.main:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, initial=st["global_step"], desc="train", unit="step", dynamic_ncols=True)
        window = _Window()
        while st["global_step"] < total and not st["stopped_early"]:
            batches = self._micro_batches(st["epoch"], st["micro"])
            if pending_rng is not None:
                set_rng_state(pending_rng)
                pending_rng = None
            accum = 0
            for batch in batches:
                batch = _to_device(batch, self.device)
                sync = accum + 1 == cfg.grad_accum
                no_sync = ddp.no_sync() if ddp is not model and not sync else contextlib.nullcontext()
                with no_sync:
                    out = ddp(**batch)
                    loss = _loss_of(out)
                    if not torch.isfinite(loss.detach()):
                        self._raise_non_finite(loss)
                    (loss / cfg.grad_accum).backward()
                window.add(out, loss, batch)
                accum += 1
                st["micro"] += 1
                if accum < cfg.grad_accum:
                    continue
                accum = 0
                if cfg.max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                self.optimizer.step()
                self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
                st["global_step"] += 1
                epoch_done = micro_limit is not None and st["micro"] >= micro_limit
                if epoch_done:
                    st["epoch"], st["micro"] = st["epoch"] + 1, 0
                if self._after_step(total, window, bar) or epoch_done:
                    break
            else:  # data of unknown length ran out; a partial accumulation is dropped
                st["epoch"], st["micro"] = st["epoch"] + 1, 0
                self.optimizer.zero_grad(set_to_none=True)
        if self.eval_fn is not None and not any(
                r.get("split") == "eval" and r["step"] == st["global_step"] for r in st["history"]):
            st["stopped_early"] = self._evaluate() or st["stopped_early"]
        saved = list_checkpoints(self.ckpt_root)
        if not saved or saved[-1][0] != st["global_step"]:
            self._save()
        if bar is not None:
            bar.close()
        self._save_final()
        dist.barrier()
        return TrainResult(global_step=st["global_step"], best_metric=st["best_metric"],
                           history=list(st["history"]), stopped_early=st["stopped_early"])

    def _raise_non_finite(self, loss: torch.Tensor) -> None:
        st = self.state
        last = list_checkpoints(self.ckpt_root)
        kept = f"; the last good checkpoint is {last[-1][1]}" if last else "; no checkpoint was written yet"
        raise TrainingError(
            f"the loss is {loss.item()} at step {st['global_step'] + 1} (epoch {st['epoch']}, batch "
            f"{st['micro']}); lower the learning rate or check that batch{kept}"
        )

    def _after_step(self, total: int, window: _Window, bar: Any) -> bool:
        """Log, evaluate and checkpoint after an optimizer step; True to stop the epoch loop."""
        cfg, st = self.config, self.state
        step = st["global_step"]
        if bar is not None:
            bar.update(1)
        if step % cfg.log_every == 0 or step == total:
            record = {"split": "train", "step": step, "epoch": st["epoch"],
                      "lr": self.scheduler.get_last_lr()[0], **window.flush()}
            self._log(record)
            if bar is not None:
                bar.set_postfix(loss=f"{record['loss']:.4f}", tok_s=f"{record['tokens_per_s']:.0f}")
        stop = False
        if self.eval_fn is not None and cfg.eval_every and step % cfg.eval_every == 0:
            stop = self._evaluate()
            st["stopped_early"] = stop
        if (cfg.save_every and step % cfg.save_every == 0) or stop:
            self._save()
        return stop or step >= total


def _norm(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


class _Window:
    """Running sums between two log lines: loss, extra losses, accuracies, tokens, time."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}
        self.correct: dict[str, tuple[Any, int]] = {}
        self.tokens = 0
        self.start = time.perf_counter()

    def _acc(self, key: str, hit: torch.Tensor) -> None:
        c, n = self.correct.get(key, (0, 0))
        self.correct[key] = (c + hit.sum().cpu(), n + hit.numel())

    def add(self, out: Any, loss: torch.Tensor, batch: dict[str, Any]) -> None:
        values = {"loss": loss}
        for key in ("mlm_loss", "nsp_loss"):
            value = _field(out, key)
            if isinstance(value, torch.Tensor):
                values[key] = value
        for key, value in values.items():
            self.sums[key] = self.sums.get(key, 0.0) + value.detach().float().cpu()
            self.counts[key] = self.counts.get(key, 0) + 1
        with torch.no_grad():
            logits, labels = _field(out, "logits"), batch.get("labels")
            # accuracy for class labels only (not regression targets or multi-label vectors)
            if (isinstance(logits, torch.Tensor) and isinstance(labels, torch.Tensor)
                    and not labels.is_floating_point()):
                name = "mlm_accuracy" if _field(out, "mlm_loss") is not None else "accuracy"
                target = labels[labels != -100]
                if logits.shape[:-1] == target.shape:
                    self._acc(name, logits.argmax(-1) == target)
                elif logits.shape[:-1] == labels.shape:
                    keep = labels != -100
                    self._acc(name, logits.argmax(-1)[keep] == labels[keep])
            nsp_logits, nsp_labels = _field(out, "nsp_logits"), batch.get("next_sentence_label")
            if isinstance(nsp_logits, torch.Tensor) and isinstance(nsp_labels, torch.Tensor):
                self._acc("nsp_accuracy", nsp_logits.argmax(-1) == nsp_labels.view(-1))
        ids = batch.get("input_ids")
        mask = batch.get("attention_mask")
        if isinstance(mask, torch.Tensor):
            self.tokens += int(mask.sum())
        elif isinstance(ids, torch.Tensor):
            self.tokens += ids.numel()

    def flush(self) -> dict[str, float]:
        """Means over the window and over every process (all ranks call this at the same steps)."""
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        keys, acc_keys = sorted(self.sums), sorted(self.correct)
        local = [float(self.sums[k]) for k in keys] + [float(self.counts[k]) for k in keys]
        local += [float(self.correct[k][i]) for k in acc_keys for i in (0, 1)] + [float(self.tokens)]
        total = dist.all_reduce_sum(torch.tensor(local, dtype=torch.float64)).tolist()
        n = len(keys)
        record = {k: total[i] / total[n + i] for i, k in enumerate(keys)}
        for j, k in enumerate(acc_keys):
            record[k] = total[2 * n + 2 * j] / max(1.0, total[2 * n + 2 * j + 1])
        record["tokens_per_s"] = total[-1] / elapsed
        self.reset()
        return record
