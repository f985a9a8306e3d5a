"""Training checkpoints: written atomically, loaded without unpickling, enough for a bitwise resume.

A checkpoint is a directory `checkpoints/step-N/` that appears in one rename (bertkit.io), holding
  model.safetensors    the weights (shared/tied tensors handled by safetensors' save_model)
  optimizer.pt         optimizer + scheduler state (tensors, numbers, lists, dicts only)
  rng.pt               python, numpy and torch (CPU + CUDA) generator states, one per rank
  trainer_state.json   step, data position (epoch, micro-batch index), config, history, best metric
Everything is read back with `torch.load(weights_only=True)` or JSON, never a full unpickle.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_model, save_model
from torch import nn

from bertkit.errors import CheckpointError
from bertkit.io import atomic_directory, atomic_write_json

_STEP_DIR = re.compile(r"^step-(\d+)$")


def rng_state() -> dict[str, Any]:
    """Every random generator the loop touches, as tensors, ints and lists."""
    version, keys, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(keys), gauss],
        "numpy": [np_name, torch.from_numpy(np_keys.astype(np.int64)), np_pos, np_has_gauss, np_gauss],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, keys, gauss = state["python"]
    random.setstate((version, tuple(keys), gauss))
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = state["numpy"]
    np.random.set_state((np_name, np_keys.numpy().astype(np.uint32), np_pos, np_has_gauss, np_gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def list_checkpoints(ckpt_root: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints under `ckpt_root`, oldest first (temporary dirs are hidden, so skipped)."""
    if not ckpt_root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in ckpt_root.iterdir() if (m := _STEP_DIR.match(p.name))]
    return sorted(found)


def save_checkpoint(
    ckpt_root: Path,
    step: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    rng_states: list[dict[str, Any]],
    trainer_state: dict[str, Any],
    keep_last: int,
) -> Path:
    """Write `ckpt_root/step-{step}` atomically, then prune all but the newest `keep_last`.

    Any failure while writing leaves earlier checkpoints untouched and no temporary directory.
    """
    path = ckpt_root / f"step-{step}"
    previous = list_checkpoints(ckpt_root)
    kept = f"; the previous checkpoint {previous[-1][1]} is intact" if previous else ""
    with write_errors(path, kept), atomic_directory(path) as tmp:
        save_model(model, str(tmp / "model.safetensors"))
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
                   tmp / "optimizer.pt")
        torch.save(rng_states, tmp / "rng.pt")
        atomic_write_json(tmp / "trainer_state.json", trainer_state)
    for _, old in list_checkpoints(ckpt_root)[: -max(1, keep_last)]:
        shutil.rmtree(old, ignore_errors=True)
    for junk in ckpt_root.glob(".step-*"):  # temporary dirs of saves killed half-way
        shutil.rmtree(junk, ignore_errors=True)
    return path


@contextmanager
def write_errors(path: Path, note: str = "") -> Iterator[None]:
    """Turn a failed write into CheckpointError naming `path` and the free space.

    A full disk raises OSError from Python's own writes and RuntimeError ("unexpected pos") from
    torch.save; safetensors raises its own error types.
    """
    try:
        yield
    except (OSError, RuntimeError, SafetensorError) as e:
        raise CheckpointError(f"could not write {path}: {e} ({_free_space(path)} free){note}") from e


def _free_space(path: Path) -> str:
    for parent in (path, *path.parents):
        if parent.exists():
            return f"{shutil.disk_usage(parent).free / 2**20:,.0f} MiB"
    return "unknown"


def _check_shapes(path: Path, model: nn.Module) -> None:
    """Name the tensors whose shapes differ before loading (the model was built differently)."""
    with safe_open(str(path), framework="pt") as f:
        saved = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    both = sorted(saved.keys() & ours.keys())
    wrong = [f"{k} {saved[k]} vs {ours[k]}" for k in both if saved[k] != ours[k]]
    if wrong:
        more = f" and {len(wrong) - 3} more" if len(wrong) > 3 else ""
        raise CheckpointError(f"{path} was written by a differently sized model (checkpoint vs now: "
                              f"{'; '.join(wrong[:3])}{more}); resume with the same model settings")


def read_trainer_state(path: Path) -> dict[str, Any]:
    """The JSON state of checkpoint `path` (step, data position, config, setup), read alone."""
    state_file = path / "trainer_state.json"
    try:
        return json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CheckpointError(f"cannot resume from {state_file}: {e}") from e


def load_checkpoint(
    path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Restore model, optimizer and scheduler in place; return (trainer_state, per-rank RNG states)."""
    try:
        _check_shapes(path / "model.safetensors", model)
        missing, unexpected = load_model(model, str(path / "model.safetensors"), strict=False)
        if missing or unexpected:
            raise CheckpointError(
                f"{path}/model.safetensors does not match the model: missing {sorted(missing)[:5]}, "
                f"unexpected {sorted(unexpected)[:5]}"
            )
        opt = torch.load(path / "optimizer.pt", weights_only=True)
        optimizer.load_state_dict(opt["optimizer"])
        scheduler.load_state_dict(opt["scheduler"])
        rng = torch.load(path / "rng.pt", weights_only=True)
        state = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    except CheckpointError:
        raise
    except (OSError, RuntimeError, ValueError, KeyError, SafetensorError) as e:
        raise CheckpointError(f"cannot resume from {path}: {e}") from e
    return state, rng


def save_weights(model: nn.Module, path: Path) -> None:
    """Weights only (the best model so far), atomically, in a directory of its own."""
    with write_errors(path), atomic_directory(path) as tmp:
        save_model(model, str(tmp / "model.safetensors"))


def load_weights(model: nn.Module, path: Path) -> None:
    """Load the weights `save_weights` wrote; a damaged file is a CheckpointError naming it."""
    try:
        load_model(model, str(path / "model.safetensors"))
    except (OSError, RuntimeError, SafetensorError) as e:
        raise CheckpointError(f"cannot load {path / 'model.safetensors'}: {e}") from e
