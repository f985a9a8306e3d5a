"""The training loop: exact resume after kill -9, config checks, NaN and full-disk handling,
gradient accumulation, best model / early stopping, and the data sources it accepts."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from bertkit.errors import CheckpointError, ConfigError
from bertkit.train import TrainConfig, Trainer, TrainingError
from bertkit.train import checkpoint as ckpt_module

sys.path.insert(0, str(Path(__file__).parent))
from _tiny import TinyMLM, ToyData  # noqa: E402

SCRIPT = Path(__file__).parent / "_resume_script.py"


def _run_script(out: Path, mode: str, kill_when: Path | None = None, kill_after: float | None = None):
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(out), mode],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if kill_when is None and kill_after is None:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        return
    start = time.monotonic()
    while proc.poll() is None:
        if (kill_when is not None and kill_when.exists()) or (
                kill_after is not None and time.monotonic() - start > kill_after):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: one thread avoids OpenMP barrier costs on a shared 2-core machine."""
    torch.set_num_threads(1)


def _assert_same_weights(a_dir: Path, b_dir: Path) -> None:
    a, b = load_file(a_dir / "model.safetensors"), load_file(b_dir / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.slow  # four interpreter starts (~25 s on 2 shared cores); the in-process test below is fast
def test_kill_9_then_resume_is_bitwise_identical(tmp_path):
    ref, run = tmp_path / "ref", tmp_path / "run"
    _run_script(ref, "fresh")
    _run_script(run, "fresh", kill_when=run / "checkpoints" / "step-6")
    _run_script(run, "resume", kill_after=2.5)       # a second kill at an arbitrary moment
    _run_script(run, "resume")
    _assert_same_weights(ref, run)
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(2, 25, 2))  # no duplicated log lines from the killed attempts


class Crash(Exception):
    pass


class CrashingData(ToyData):
    """Raises on the `at`-th example fetched: a run dying mid-step, between two checkpoints."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at, self.fetched = at, 0

    def __getitem__(self, i):
        self.fetched += 1
        if self.fetched == self.at:
            raise Crash
        return super().__getitem__(i)


def test_resume_in_process_is_bitwise_identical(tmp_path):
    # grad_accum 2, cosine warmup, dropout, dynamic "masking" and 64 // 16 = 4 steps per epoch,
    # so the resumed run crosses an epoch boundary with restored RNG, schedule and data position.
    kw = {"lr": 3e-3, "max_steps": 10, "batch_size": 8, "grad_accum": 2, "save_every": 3,
          "log_every": 2, "warmup_steps": 3, "schedule": "cosine"}
    torch.manual_seed(0)
    Trainer(TinyMLM(), TrainConfig(**kw), ToyData(), tmp_path / "ref").fit()
    torch.manual_seed(0)
    with pytest.raises(Crash):  # dies in step 5's second micro-batch; step-3 is the last checkpoint
        Trainer(TinyMLM(), TrainConfig(**kw), CrashingData(at=8 * 9 + 3), tmp_path / "run").fit()
    assert [p.name for p in (tmp_path / "run" / "checkpoints").iterdir()] == ["step-3"]
    torch.manual_seed(123)  # the resumed run must not depend on the fresh model's init or RNG
    Trainer(TinyMLM(), TrainConfig(**kw, resume=True), ToyData(), tmp_path / "run").fit()
    _assert_same_weights(tmp_path / "ref", tmp_path / "run")
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [2, 4, 6, 8, 10]


def _fit(tmp_path, model=None, data=None, eval_fn=None, **kw):
    torch.manual_seed(0)
    kw = {"lr": 1e-2, "max_steps": 6, "batch_size": 8, "log_every": 1} | kw
    trainer = Trainer(model or TinyMLM(), TrainConfig(**kw), data if data is not None else ToyData(),
                      tmp_path / "run", eval_fn=eval_fn)
    return trainer, trainer.fit()


def test_resume_with_other_config_names_the_keys(tmp_path):
    _fit(tmp_path, save_every=3)
    with pytest.raises(CheckpointError, match=r"lr: checkpoint 0.01 vs now 0.02.*weight_decay"):
        _fit(tmp_path, lr=2e-2, weight_decay=0.1, resume=True)


class Exploding(TinyMLM):
    def forward(self, input_ids, labels, attention_mask=None):
        out = super().forward(input_ids, labels)
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls == 5:
            out.loss = out.loss * float("nan")
        return out


def test_nan_loss_stops_naming_step_and_batch_and_keeps_checkpoint(tmp_path):
    with pytest.raises(TrainingError, match=r"loss is nan at step 5 \(epoch 0, batch 4\).*step-4"):
        _fit(tmp_path, model=Exploding(), save_every=2, max_steps=8)
    assert (tmp_path / "run" / "checkpoints" / "step-4" / "model.safetensors").is_file()


def test_full_disk_during_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    real_save = torch.save
    calls = {"n": 0}

    def failing_save(obj, f, *a, **k):
        calls["n"] += 1
        if calls["n"] > 2:  # the 2nd checkpoint's optimizer file
            raise OSError(28, "No space left on device")
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(ckpt_module.torch, "save", failing_save)
    with pytest.raises(CheckpointError, match=r"step-4.*No space left.*step-2 is intact"):
        _fit(tmp_path, save_every=2)
    root = tmp_path / "run" / "checkpoints"
    assert [p.name for p in root.iterdir()] == ["step-2"]  # no half-written temporary dir left
    monkeypatch.setattr(ckpt_module.torch, "save", real_save)
    _, result = _fit(tmp_path, save_every=2, resume=True)  # and it resumes from it
    assert result.global_step == 6


class Regressor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))

    def forward(self, x, y):
        return {"loss": nn.functional.mse_loss(self.net(x).squeeze(-1), y)}


class Points(torch.utils.data.Dataset):
    def __init__(self, n=64):
        g = torch.Generator().manual_seed(3)
        self.x = torch.randn(n, 4, generator=g)
        self.y = self.x.sum(-1).sin()

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "y": self.y[i]}


def test_gradient_accumulation_equals_the_bigger_batch(tmp_path):
    torch.manual_seed(0)
    a, b = Regressor(), Regressor()
    b.load_state_dict(a.state_dict())
    Trainer(a, TrainConfig(lr=1e-2, max_steps=5, batch_size=16), Points(), tmp_path / "a").fit()
    Trainer(b, TrainConfig(lr=1e-2, max_steps=5, batch_size=8, grad_accum=2), Points(), tmp_path / "b").fit()
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=0, atol=1e-6)


def test_best_model_and_early_stopping(tmp_path):
    scores = iter([0.5, 0.7, 0.6, 0.65, 0.6, 0.9])
    snapshots = []

    def eval_fn(model):
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return {"accuracy": next(scores)}

    _, result = _fit(tmp_path, eval_fn=eval_fn, max_steps=12, eval_every=2, metric_for_best="accuracy",
                     early_stopping_patience=2)
    assert result.stopped_early and result.global_step == 8 and result.best_metric == 0.7
    saved = load_file(tmp_path / "run" / "model.safetensors")
    for key, value in saved.items():
        assert torch.equal(value, snapshots[1][key]), key  # the weights evaluated at step 4
    evals = [r for r in result.history if r["split"] == "eval"]
    assert [r["step"] for r in evals] == [2, 4, 6, 8]


def test_callable_and_iterable_data(tmp_path):
    data = ToyData()

    def batches(epoch):
        data.set_epoch(epoch)
        for i in range(0, 64, 8):
            yield torch.utils.data.default_collate([data[j] for j in range(i, i + 8)])

    _, result = _fit(tmp_path, data=batches, max_steps=10)
    assert result.global_step == 10 and math.isfinite(result.history[-1]["loss"])
    with pytest.raises(ConfigError, match="max_steps is required"):
        _fit(tmp_path, data=batches, max_steps=None)


def test_epochs_and_loss_goes_down(tmp_path):
    _, result = _fit(tmp_path, max_steps=None, epochs=6, lr=2e-2, batch_size=16)
    train = [r for r in result.history if r["split"] == "train"]
    assert result.global_step == 24 and train[-1]["epoch"] == 6
    assert sum(r["loss"] for r in train[-4:]) < sum(r["loss"] for r in train[:4])
    assert (tmp_path / "run" / "loss.png").stat().st_size > 1000
