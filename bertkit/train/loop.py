"""The one training loop: any model, any objective; pretraining, fine-tuning and distillation differ
in their batches, losses and logged metrics only.

    trainer = Trainer(model, TrainConfig(lr=1e-4, max_steps=1000, save_every=100), batches, "run/")
    result = trainer.fit()

The model is called as `model(**batch)` and returns its loss (a tensor, a tuple starting with it,
or anything with a `loss` field). `metrics_fn(out, batch)` names what else to log, as
(sum, count) pairs per micro-batch; the loop adds them up on the device and syncs only when it
writes a log line. The data is a batch source (`bertkit.train.batches`): `epoch -> batches`.

A loss that is a mean over a varying number of units (masked tokens, real tokens) is weighted by
them when the objective says how (`loss_terms`): a step's loss is then each term's mean over all its
units in the step, across micro-batches and processes, so 2 processes x 8 train exactly like
1 x 16 and gradient accumulation exactly like the bigger batch, whatever the counts per batch.

Exact resume: a checkpoint holds model, optimizer, scheduler, every RNG state and the data
position (epoch, micro-batch); data order is a pure function of (seed, epoch), and evaluation
runs on a forked RNG, so a run killed at any moment and resumed ends with bitwise the same weights
as one that never stopped.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from safetensors.torch import save_model as save_safetensors
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from bertkit.errors import CheckpointError, ConfigError, DataError, TrainingError
from bertkit.io import directory_lock
from bertkit.train import distributed as dist
from bertkit.train.batches import Batch, BatchSource, DatasetBatches, batches_per_epoch, shard
from bertkit.train.checkpoint import (
    list_checkpoints,
    load_checkpoint,
    load_weights,
    read_trainer_state,
    rng_state,
    save_checkpoint,
    save_weights,
    set_rng_state,
    write_errors,
)
from bertkit.train.config import TrainConfig
from bertkit.train.logging import MetricsLog, plot_loss
from bertkit.train.optim import make_optimizer, make_scheduler
from bertkit.train.resume import check_resume, clear_run, refuse_earlier_run

__all__ = ["LossTerms", "MetricsFn", "TrainConfig", "TrainResult", "Trainer"]

# metrics_fn(out, batch) -> {name: (sum, count)}; "tokens" (count ignored) becomes tokens_per_s.
MetricsFn = Callable[[Any, Batch], Mapping[str, tuple[torch.Tensor, "torch.Tensor | int"]]]


class LossTerms(Protocol):
    """An objective's loss as named terms, each the mean over some units of a micro-batch.

    `counts(batch)` says how many units each term averages over, from the batch alone (it is
    needed before the forward pass); `means(out, batch)` gives each term's mean from the model's
    output. The loop weights each micro-batch's term by its share of the step's units.
    """

    def counts(self, batch: Batch) -> Mapping[str, torch.Tensor | int]: ...

    def means(self, out: Any, batch: Batch) -> Mapping[str, torch.Tensor]: ...


@dataclass
class TrainResult:
    global_step: int
    best_metric: float | None
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False


def _loss_of(out: Any) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        return out[0]
    loss = out.get("loss") if isinstance(out, dict) else getattr(out, "loss", None)
    if loss is None:
        raise ConfigError("the model returned no loss: pass labels in the batch")
    return loss


def _to_device(batch: Batch, device: torch.device) -> Batch:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
            for k, v in batch.items()}


def _default_save(model: nn.Module, out_dir: Path) -> None:
    if hasattr(model, "save_pretrained"):
        model.save_pretrained(out_dir)
    else:
        save_safetensors(model, str(out_dir / "model.safetensors"))


class Trainer:
    """Runs `model` over `train_data` with AdamW, a schedule, checkpoints and exact resume.

    train_data: a batch source (`epoch -> iterable of batches`, optional `__len__`), or a torch
    Dataset, which is wrapped in `DatasetBatches` with `config.batch_size` and `config.seed`.
    eval_fn(model) -> {name: value}: run every `eval_every` steps and at the end.
    metrics_fn(out, batch) -> {name: (sum, count)}: logged as sum / count over each log window.
    save_model(model, directory): writes the final model (default: `save_pretrained`).
    on_log(record): called with every record written to metrics.jsonl.
    setup: whatever else shapes the run (model config, data fingerprint, ...), JSON-able; stored
    in each checkpoint, and a resume with a different setup is refused naming every changed key.
    loss_terms: see `LossTerms`; without it each micro-batch's loss counts equally.
    eval_fn runs on the main process only; the others receive its metrics.
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig,
        train_data: BatchSource | Dataset,
        out_dir: str | os.PathLike,
        *,
        eval_fn: Callable[[nn.Module], dict[str, float]] | None = None,
        metrics_fn: MetricsFn | None = None,
        save_model: Callable[[nn.Module, Path], None] | None = None,
        on_log: Callable[[dict[str, Any]], None] | None = None,
        setup: Mapping[str, Any] | None = None,
        loss_terms: LossTerms | None = None,
    ) -> None:
        self.model = model
        self.config = config
        if config.early_stopping_patience is not None and (eval_fn is None or config.metric_for_best is None):
            raise ConfigError("early stopping needs an evaluation (eval_fn) and the metric it watches "
                              "(metric_for_best)")
        if isinstance(train_data, Dataset):
            train_data = DatasetBatches(train_data, config.batch_size, config.seed,
                                        num_workers=config.num_workers)
        elif not callable(train_data):
            raise ConfigError(f"train_data must be a Dataset or a callable epoch -> batches, not "
                              f"{type(train_data).__name__}")
        self.source = train_data
        self.out_dir = Path(out_dir)
        self.ckpt_root = self.out_dir / "checkpoints"
        self.eval_fn = eval_fn
        self.metrics_fn = metrics_fn
        self.save_model = save_model or _default_save
        self.on_log = on_log
        self.setup = dict(setup or {})
        self.loss_terms = loss_terms
        self.device = next(model.parameters()).device
        self.rank, self.world = dist.rank(), dist.world_size()
        self.main = self.rank == 0

    # ---- planning and start-up --------------------------------------------------------------

    def _plan(self) -> tuple[int, int | None]:
        """(optimizer steps in the run, micro-batches per epoch on this rank rounded down to whole steps)."""
        cfg = self.config
        n = batches_per_epoch(self.source)
        micro_per_epoch = None if n is None else n // self.world
        steps_per_epoch = None if micro_per_epoch is None else micro_per_epoch // cfg.grad_accum
        if steps_per_epoch == 0:
            raise DataError(
                f"the training data has {n} micro-batches per epoch, fewer than one optimizer step "
                f"(grad_accum {cfg.grad_accum} x {self.world} processes); lower batch_size or grad_accum")
        if cfg.max_steps is not None:
            total = cfg.max_steps
        elif steps_per_epoch is not None:
            total = max(1, round(cfg.epochs * steps_per_epoch))
        else:
            raise ConfigError("max_steps is required when the training data has no length")
        return total, None if steps_per_epoch is None else steps_per_epoch * cfg.grad_accum

    def _start(self) -> dict | None:
        """Resume from the last checkpoint, or start afresh; return the RNG state to restore."""
        cfg = self.config
        self._resumed_window: dict | None = None     # this rank's log window at the checkpoint
        self.state: dict[str, Any] = {"global_step": 0, "epoch": 0, "micro": 0, "history": [],
                                      "best_metric": None, "bad_evals": 0, "stopped_early": False}
        if not cfg.resume:
            if self.main:
                refuse_earlier_run(self.out_dir, cfg)
                clear_run(self.out_dir)
            dist.barrier()
            self.metrics = MetricsLog(self.out_dir, enabled=self.main)
            return None
        checkpoints = list_checkpoints(self.ckpt_root)
        if not checkpoints:
            raise CheckpointError(f"--resume: no checkpoint in {self.ckpt_root} to continue from; "
                                  "start without --resume")
        step, path = checkpoints[-1]
        check_resume(path, read_trainer_state(path), asdict(self.config), self.setup, self.world)
        saved, rngs = load_checkpoint(path, self.model, self.optimizer, self.scheduler)
        for key in ("config", "world_size", "setup"):
            saved.pop(key, None)
        windows = saved.pop("log_window", None)     # absent in checkpoints from before it was saved
        self._resumed_window = windows[self.rank] if windows and len(windows) == self.world else None
        self.state.update(saved)
        self.metrics = MetricsLog(self.out_dir, enabled=self.main)
        self.metrics.truncate_after(step)
        return rngs[self.rank]

    def fit(self) -> TrainResult:
        cfg = self.config
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        torch.manual_seed(cfg.seed + self.rank)
        total, micro_limit = self._plan()
        warmup = cfg.warmup_steps or int(cfg.warmup_ratio * total + 0.999999)
        self.optimizer = make_optimizer(self.model, cfg.lr, cfg.weight_decay, cfg.betas, cfg.eps,
                                        cfg.layerwise_lr_decay)
        self.scheduler = make_scheduler(self.optimizer, cfg.schedule, warmup, total)
        lock = directory_lock(self.out_dir, what="training") if self.main else contextlib.nullcontext()
        with lock:
            pending_rng = self._start()
            try:
                result = self._run(total, micro_limit, pending_rng)
            finally:
                self.metrics.close()
        return result

    # ---- the loop ---------------------------------------------------------------------------

    def _run(self, total: int, micro_limit: int | None, pending_rng: dict | None) -> TrainResult:
        st = self.state
        ddp = dist.wrap(self.model)
        self.model.train()
        bar = tqdm(total=total, initial=st["global_step"], desc="train", unit="step", dynamic_ncols=True,
                   disable=not self.main)
        window = self._window = _Window(self.device)
        if self._resumed_window:
            window.load(self._resumed_window)        # the log line after the resume averages the same steps
        while st["global_step"] < total and not st["stopped_early"]:
            batches = shard(self.source(st["epoch"]), self.rank, self.world, st["micro"])
            if pending_rng is not None:
                set_rng_state(pending_rng)
                pending_rng = None
            self._epoch(ddp, batches, total, micro_limit, window, bar)
        self._finish()
        bar.close()
        self._save_final()
        dist.barrier()
        return TrainResult(global_step=st["global_step"], best_metric=st["best_metric"],
                           history=list(st["history"]), stopped_early=st["stopped_early"])

    def _epoch(self, ddp: nn.Module, batches: Iterator[Batch], total: int, micro_limit: int | None,
               window: _Window, bar: Any) -> None:
        """Train on `batches` until the epoch ends, the run is done or early stopping fires."""
        cfg, st = self.config, self.state
        params = [p for p in self.model.parameters() if p.requires_grad]
        step_batches: list[Batch] = []
        for batch in batches:
            step_batches.append(_to_device(batch, self.device))
            st["micro"] += 1
            if len(step_batches) < cfg.grad_accum:
                continue
            weights = self._weights(step_batches)
            first = st["micro"] - len(step_batches)
            for i, (micro, weight) in enumerate(zip(step_batches, weights, strict=True)):
                self._forward_backward(ddp, micro, weight, window, index=first + i,
                                       sync=i == len(step_batches) - 1)
            step_batches = []
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
                return
        # data of unknown length ran out; a partial accumulation is dropped
        st["epoch"], st["micro"] = st["epoch"] + 1, 0

    def _weights(self, step_batches: list[Batch]) -> list[Any]:
        """Per micro-batch, what its loss is scaled by before backward.

        Without loss terms: None (the loss is divided by grad_accum). With them, per term: the
        micro-batch's units x world / the step's units over all processes (DDP averages gradients
        over the world), so each term is its mean over every unit of the step. One small
        all-reduce per step when distributed.
        """
        if self.loss_terms is None:
            return [None] * len(step_batches)
        dtype = torch.float64 if self.device.type != "mps" else torch.float32
        local = [{name: torch.as_tensor(n, dtype=dtype, device=self.device)
                  for name, n in self.loss_terms.counts(b).items()} for b in step_batches]
        names = sorted(local[0])
        totals = dist.all_reduce_sum(torch.stack([sum(c[name] for c in local) for name in names]))
        world = float(self.world)
        return [{name: (c[name] * world / totals[j].clamp_min(1)).float() for j, name in enumerate(names)}
                for c in local]

    def _forward_backward(self, ddp: nn.Module, batch: Batch, weight: Any, window: _Window, index: int,
                          sync: bool) -> None:
        """Micro-batch number `index` of the epoch: its weighted loss backward (DDP all-reduces on
        the last of a step)."""
        no_sync = ddp.no_sync() if ddp is not self.model and not sync else contextlib.nullcontext()
        with no_sync:
            out = ddp(**batch)
            loss = _loss_of(out)
            if not torch.isfinite(loss.detach()):
                self._raise_non_finite(loss, index)
            if isinstance(weight, dict):
                means = self.loss_terms.means(out, batch)
                if set(means) != set(weight):
                    raise ConfigError(f"loss_terms.means gave {sorted(means)} but counts gave "
                                      f"{sorted(weight)}")
                terms = [means[name] * weight[name] for name in weight]
                weighted = sum(terms[1:], terms[0])
                weighted.backward()
                # logged: the step's objective (the weighted terms add up to it x world over the
                # step's micro-batches and processes, and so do these counts to world)
                logged, count = weighted, 1.0 / self.config.grad_accum
            else:
                (loss / self.config.grad_accum).backward()
                logged, count = loss, 1
        with torch.no_grad():
            window.add(logged, self.metrics_fn(out, batch) if self.metrics_fn is not None else {}, count)

    def _raise_non_finite(self, loss: torch.Tensor, index: int) -> None:
        st = self.state
        last = list_checkpoints(self.ckpt_root)
        kept = f"; the last good checkpoint is {last[-1][1]}" if last else "; no checkpoint was written yet"
        raise TrainingError(
            f"the loss is {loss.item()} at step {st['global_step'] + 1} (epoch {st['epoch']}, batch "
            f"{index}); lower the learning rate or check that batch{kept}"
        )

    def _after_step(self, total: int, window: _Window, bar: Any) -> bool:
        """Log, evaluate and checkpoint after an optimizer step; True to stop the epoch loop."""
        cfg, st = self.config, self.state
        step = st["global_step"]
        bar.update(1)
        if step % cfg.log_every == 0 or step == total:
            record = {"split": "train", "step": step, "epoch": st["epoch"],
                      "lr": self.scheduler.get_last_lr()[0], **window.flush()}
            self._log(record)
            shown = {"loss": f"{record['loss']:.4f}"}
            if "tokens_per_s" in record:
                shown["tok_s"] = f"{record['tokens_per_s']:.0f}"
            bar.set_postfix(shown)
        stop = False
        if self.eval_fn is not None and cfg.eval_every and step % cfg.eval_every == 0:
            stop = self._evaluate()
            st["stopped_early"] = stop
        if (cfg.save_every and step % cfg.save_every == 0) or stop:
            self._save()
        return stop or step >= total

    # ---- bookkeeping ------------------------------------------------------------------------

    def _log(self, record: dict[str, Any]) -> None:
        self.state["history"].append(record)
        if self.main:
            self.metrics.write(record)
            if self.on_log:
                self.on_log(record)

    def _save(self) -> None:
        rngs = dist.all_gather(rng_state())
        windows = dist.all_gather(self._window.state())
        if self.main:
            state = dict(self.state, config=asdict(self.config), world_size=self.world, setup=self.setup,
                         log_window=windows)
            save_checkpoint(self.ckpt_root, self.state["global_step"], self.model, self.optimizer,
                            self.scheduler, rngs, state, self.config.keep_last)
            plot_loss(self.state["history"], self.out_dir / "loss.png")
        dist.barrier()

    def _evaluate(self) -> bool:
        """Run eval_fn on a forked RNG; track the best; return True when early stopping fires."""
        cfg, st = self.config, self.state
        metrics = None
        if self.main:
            saved_rng = rng_state()
            self.model.eval()
            with torch.no_grad():
                metrics = dict(self.eval_fn(self.model))
            self.model.train()
            set_rng_state(saved_rng)
        metrics = dist.broadcast(metrics)
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

    def _finish(self) -> None:
        """The last evaluation and checkpoint, unless the final step already had them."""
        st = self.state
        if self.eval_fn is not None and not any(
                r.get("split") == "eval" and r["step"] == st["global_step"] for r in st["history"]):
            st["stopped_early"] = self._evaluate() or st["stopped_early"]
        saved = list_checkpoints(self.ckpt_root)
        if not saved or saved[-1][0] != st["global_step"]:
            self._save()

    def _save_final(self) -> None:
        if self.config.metric_for_best and (self.ckpt_root / "best").is_dir():
            load_weights(self.model, self.ckpt_root / "best")
        if not self.main:
            return
        tmp = self.out_dir / ".final.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        last = list_checkpoints(self.ckpt_root)[-1][1]
        try:
            with write_errors(self.out_dir, f"; the last checkpoint {last} is intact"):
                tmp.mkdir(parents=True)
                self.save_model(self.model, tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        for item in tmp.iterdir():
            dest = self.out_dir / item.name
            if dest.is_dir():
                shutil.rmtree(dest)
            os.replace(item, dest)
        tmp.rmdir()


def _number(value: Any) -> float:
    return value.item() if isinstance(value, torch.Tensor) else float(value)


class _Window:
    """Running (sum, count) per metric between two log lines, kept on the device."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.dtype = torch.float32 if device.type == "mps" else torch.float64
        self.reset()

    def reset(self) -> None:
        self.sums: dict[str, Any] = {}
        self.counts: dict[str, Any] = {}
        self.start = time.perf_counter()

    def add(self, loss: torch.Tensor, metrics: Mapping[str, tuple[torch.Tensor, torch.Tensor | int]],
            loss_count: float = 1) -> None:
        for name, (total, count) in {"loss": (loss, loss_count), **metrics}.items():
            total = total.detach().to(self.dtype) if isinstance(total, torch.Tensor) else total
            self.sums[name] = self.sums.get(name, 0) + total
            self.counts[name] = self.counts.get(name, 0) + count

    def state(self) -> dict[str, dict[str, float]]:
        """The window's sums and counts as numbers (JSON), for a checkpoint taken between two log
        lines. Throughput ("tokens") restarts with the resumed run, as its clock does."""
        kept = [k for k in self.sums if k != "tokens"]
        return {"sums": {k: _number(self.sums[k]) for k in kept},
                "counts": {k: _number(self.counts[k]) for k in kept}}

    def load(self, state: dict[str, dict[str, float]]) -> None:
        self.sums = {k: torch.tensor(v, dtype=self.dtype, device=self.device)
                     for k, v in state["sums"].items()}
        self.counts = dict(state["counts"])

    def flush(self) -> dict[str, float]:
        """sum / count per metric over the window and every process (all ranks log at the same steps).

        The one host sync of the loop's bookkeeping: all sums and counts travel as one tensor.
        """
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        keys = sorted(self.sums)
        local = torch.stack([torch.as_tensor(v, dtype=self.dtype, device=self.device)
                             for v in [self.sums[k] for k in keys] + [self.counts[k] for k in keys]])
        total = dist.all_reduce_sum(local).tolist()
        record = {}
        for i, key in enumerate(keys):
            if key == "tokens":
                record["tokens_per_s"] = total[i] / elapsed
            else:
                record[key] = total[i] / max(total[len(keys) + i], 1e-12)
        self.reset()
        return record
