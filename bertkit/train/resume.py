"""A RUN directory between two runs: is there an earlier run in it, and may this one resume it?

A resume must continue the same run: the checkpoint's training config and setup (model config,
data fingerprint, masking, ... whatever the caller passed as `setup`) are compared with the
current ones, and every differing key is named. Checkpoints written before a key existed are
compared on what they hold: a missing config field counts as its default, a missing setup key
is not compared.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bertkit.errors import CheckpointError
from bertkit.train.config import TrainConfig

# Options that may change between a run and its resume without changing the result.
RESUMABLE_CHANGES = frozenset({"resume", "overwrite", "log_every", "save_every", "keep_last", "num_workers"})

# What an earlier run leaves in a RUN directory (a lock file or an empty directory is not a run).
RUN_FILES = ("checkpoints", "metrics.jsonl", "model.safetensors")
_CLEARED = ("checkpoints", "metrics.jsonl", "tensorboard", "loss.png")


def earlier_run(out_dir: Path) -> list[str]:
    """The names of an earlier run's files in `out_dir` (empty when there is none)."""
    found = []
    for name in RUN_FILES:
        path = out_dir / name
        if path.is_file() or (path.is_dir() and any(path.iterdir())):
            found.append(name)
    return found


def refuse_earlier_run(out_dir: Path, train: TrainConfig) -> None:
    """A CheckpointError when `out_dir` holds an earlier run and `train` says neither resume nor
    overwrite (the loop checks at its start; work ahead of the loop checks first too)."""
    found = earlier_run(out_dir)
    if found and not train.resume and not train.overwrite:
        raise CheckpointError(
            f"{out_dir} holds an earlier run ({', '.join(found)}); continue it with --resume, or start "
            "afresh with --overwrite (deletes its checkpoints and metrics)")


def clear_run(out_dir: Path) -> None:
    """Delete an earlier run's checkpoints and logs (its model files are replaced at the end)."""
    for name in _CLEARED:
        path = out_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """{"model": {"hidden_size": 256}} -> {"model.hidden_size": 256}; tuples become lists (as in JSON)."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flat(item, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: list(value) if isinstance(value, tuple) else value}


def differences(saved: Mapping[str, Any], current: Mapping[str, Any],
                defaults: Mapping[str, Any] | None = None, ignore: frozenset[str] = frozenset()) -> list[str]:
    """"key: checkpoint X vs now Y" for each key that differs.

    With `defaults`, a key missing from `saved` stands for its default; without, only keys present
    on both sides are compared.
    """
    then, now = _flat(saved), _flat(current)
    if defaults is not None:
        then = {**_flat(defaults), **then}
    keys = sorted(k for k in set(then) & set(now) if k.split(".")[0] not in ignore)
    return [f"{k}: checkpoint {then[k]!r} vs now {now[k]!r}" for k in keys if then[k] != now[k]]


def check_resume(path: Path, saved: Mapping[str, Any], config: Mapping[str, Any], setup: Mapping[str, Any],
                 world: int) -> None:
    """Raise CheckpointError naming every difference between checkpoint `path` and this run."""
    details = differences(saved.get("config", {}), config, asdict(TrainConfig()), RESUMABLE_CHANGES)
    details += differences(saved.get("setup") or {}, setup)
    then_world = saved.get("world_size", world)
    if then_world != world:
        details.append(f"world size: checkpoint {then_world} vs now {world}")
    if details:
        raise CheckpointError(
            f"cannot resume from {path}: the run differs ({'; '.join(details)}). "
            "Resume with the same settings, or start a new run in another directory.")
