"""The training loop: exact resume after kill -9, config and setup checks, a RUN directory's earlier
run and lock, NaN and full-disk handling, gradient accumulation, best model / early stopping,
logged metrics, and the batch sources it accepts."""

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

from bertkit.errors import CheckpointError, ConfigError, LockError
from bertkit.train import DatasetBatches, TrainConfig, Trainer, TrainingError
from bertkit.train import checkpoint as ckpt_module
from bertkit.train.batches import shard

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
    # the checkpoint at step 3 sits inside the log window of steps 3-4: step 4's line still
    # averages both steps, as the uninterrupted run's does
    ref = [json.loads(line) for line in (tmp_path / "ref" / "metrics.jsonl").read_text().splitlines()]
    assert [json.loads(line)["loss"] for line in lines] == [r["loss"] for r in ref]


def _fit(tmp_path, model=None, data=None, eval_fn=None, metrics_fn=None, setup=None, **kw):
    torch.manual_seed(0)
    kw = {"lr": 1e-2, "max_steps": 6, "batch_size": 8, "log_every": 1} | kw
    trainer = Trainer(model or TinyMLM(), TrainConfig(**kw), data if data is not None else ToyData(),
                      tmp_path / "run", eval_fn=eval_fn, metrics_fn=metrics_fn, setup=setup)
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


# What a full disk raises: OSError from Python's writes, RuntimeError from torch.save's zip writer.
@pytest.mark.parametrize("error", [
    OSError(28, "No space left on device"),
    RuntimeError("[enforce fail at inline_container.cc:778] . PytorchStreamWriter failed writing file "
                 "data/0: file write failed; unexpected pos 512 vs 448"),
], ids=["oserror", "torch-runtimeerror"])
def test_full_disk_during_save_keeps_previous_checkpoint(tmp_path, monkeypatch, error):
    real_save = torch.save
    calls = {"n": 0}

    def failing_save(obj, f, *a, **k):
        calls["n"] += 1
        if calls["n"] > 2:  # the 2nd checkpoint's optimizer file
            raise error
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(ckpt_module.torch, "save", failing_save)
    expected = r"step-4: .*(No space left|unexpected pos).* MiB free\).*step-2 is intact"
    with pytest.raises(CheckpointError, match=expected):
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


class MaskedTokens:
    """Loss terms of TinyMLM: its loss is a mean over the masked tokens."""

    @staticmethod
    def counts(batch):
        return {"mlm": (batch["labels"] != -100).sum()}

    @staticmethod
    def means(out, batch):
        return {"mlm": out.mlm_loss}


LOGGED: dict[str, list[float]] = {}


def _train_tiny_mlm(out, batch_size, grad_accum, loss_terms):
    torch.manual_seed(0)
    model = TinyMLM(dropout=0.0)
    cfg = TrainConfig(lr=1e-2, max_steps=4, batch_size=batch_size, grad_accum=grad_accum, log_every=1)
    result = Trainer(model, cfg, ToyData(), out, loss_terms=loss_terms).fit()
    LOGGED[out.name] = [r["loss"] for r in result.history if r["split"] == "train"]
    return [p.detach().clone() for p in model.parameters()]


def test_token_weighted_accumulation_equals_the_bigger_batch_with_unequal_counts(tmp_path):
    data = ToyData()
    counts = [int((data[i]["labels"] != -100).sum()) for i in range(len(data))]
    assert len(set(counts)) > 3  # the masked counts per sequence differ: a plain mean of means is off
    big = _train_tiny_mlm(tmp_path / "big", 16, 1, MaskedTokens())
    small = _train_tiny_mlm(tmp_path / "small", 8, 2, MaskedTokens())
    for a, b in zip(big, small, strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-6)
    # and the logged loss is the step's token mean too
    assert LOGGED["small"] == pytest.approx(LOGGED["big"], abs=1e-6)
    # the mean of the two micro-batch means is a different objective, and the test can tell
    unweighted = _train_tiny_mlm(tmp_path / "unweighted", 8, 2, None)
    assert max(float((a - b).abs().max()) for a, b in zip(big, unweighted, strict=True)) > 1e-4
    # one micro-batch per step: the weighted loss is the model's own loss, bit for bit
    plain = _train_tiny_mlm(tmp_path / "plain", 16, 1, None)
    assert all(torch.equal(a, b) for a, b in zip(big, plain, strict=True))


def test_loss_terms_that_disagree_with_their_counts_are_named(tmp_path):
    class Wrong(MaskedTokens):
        @staticmethod
        def means(out, batch):
            return {"masked": out.mlm_loss}

    with pytest.raises(ConfigError, match=r"\['masked'\].*\['mlm'\]"):
        _train_tiny_mlm(tmp_path / "run", 8, 1, Wrong())


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


def test_metrics_fn_is_logged_as_sum_over_count_of_each_window(tmp_path):
    seen = []

    def metrics_fn(out, batch):
        target = batch["labels"][batch["labels"] != -100]
        hits = out.logits.argmax(-1) == target
        seen.append((int(hits.sum()), hits.numel(), float(out.mlm_loss)))
        return {"accuracy": (hits.sum(), hits.numel()), "mlm_loss": (out.mlm_loss, 1),
                "tokens": (batch["input_ids"].numel(), 1)}

    _, result = _fit(tmp_path, metrics_fn=metrics_fn, max_steps=4, log_every=2, grad_accum=2)
    train = [r for r in result.history if r["split"] == "train"]
    assert [r["step"] for r in train] == [2, 4] and len(seen) == 8
    for record, window in zip(train, (seen[:4], seen[4:]), strict=True):  # 2 steps x 2 micro-batches
        correct, counted = sum(c for c, _, _ in window), sum(n for _, n, _ in window)
        assert record["accuracy"] == pytest.approx(correct / counted)
        assert record["mlm_loss"] == pytest.approx(sum(loss for _, _, loss in window) / 4, rel=1e-6)
        assert record["tokens_per_s"] > 0 and "tokens" not in record
    assert "accuracy" not in _fit(tmp_path / "plain")[1].history[0]  # the loop alone logs the loss


class CountingData(ToyData):
    def __init__(self) -> None:
        super().__init__()
        self.fetched = 0

    def __getitem__(self, i):
        self.fetched += 1
        return super().__getitem__(i)


def test_dataset_adapter_shards_and_skips_without_loading_the_skipped_batches():
    data = CountingData()
    source = DatasetBatches(data, batch_size=4, seed=3)
    assert len(source) == 16
    whole = list(source(2))
    data.fetched = 0
    mine = list(shard(source(2), rank=1, world=2, start=3))  # process 1 of 2, resumed at its batch 3
    assert data.fetched == 4 * len(mine) == 4 * 5
    expected = whole[3 * 2 + 1:: 2]
    assert all(torch.equal(a["input_ids"], b["input_ids"]) for a, b in zip(mine, expected, strict=True))
    streamed = list(shard(iter(whole), rank=1, world=2, start=3))  # a plain iterator: the same batches
    assert all(torch.equal(a["input_ids"], b["input_ids"]) for a, b in zip(streamed, expected, strict=True))


class Source:
    """A batch source with a length: 8 micro-batches per epoch."""

    def __init__(self) -> None:
        self.data = ToyData()

    def __len__(self) -> int:
        return 8

    def __call__(self, epoch):
        self.data.set_epoch(epoch)
        for i in range(0, 64, 8):
            yield torch.utils.data.default_collate([self.data[j] for j in range(i, i + 8)])


def test_a_callable_source_with_a_length_and_fractional_epochs(tmp_path):
    _, result = _fit(tmp_path, data=Source(), max_steps=None, epochs=1.5, grad_accum=2)
    assert result.global_step == 6  # 8 micro-batches / 2 = 4 steps per epoch, x 1.5
    assert [r["epoch"] for r in result.history][-3:] == [1, 1, 1]


def _crash_at_step_4(tmp_path, **kw):
    torch.manual_seed(0)
    with pytest.raises(Crash):  # the first example of step 4: step-3 is the last checkpoint
        Trainer(TinyMLM(), TrainConfig(**kw), CrashingData(at=8 * 3 + 1), tmp_path / "run").fit()


def test_resume_of_a_run_written_before_the_newer_fields(tmp_path):
    kw = {"lr": 1e-2, "max_steps": 6, "batch_size": 8, "save_every": 3}
    torch.manual_seed(0)
    Trainer(TinyMLM(), TrainConfig(**kw), ToyData(), tmp_path / "ref").fit()
    _crash_at_step_4(tmp_path, **kw)
    state_file = tmp_path / "run" / "checkpoints" / "step-3" / "trainer_state.json"
    state = json.loads(state_file.read_text())
    del state["setup"], state["config"]["overwrite"]  # what the previous version wrote
    state["config"]["epochs"] = 1
    state_file.write_text(json.dumps(state))
    Trainer(TinyMLM(), TrainConfig(**kw, resume=True), ToyData(), tmp_path / "run").fit()
    _assert_same_weights(tmp_path / "ref", tmp_path / "run")


def test_resume_names_every_changed_setup_key(tmp_path):
    setup = {"model": {"hidden_size": 16, "layers": 2}, "data": "abc", "seq_len": 12}
    _fit(tmp_path, setup=setup, save_every=3)
    changed = {"model": {"hidden_size": 32, "layers": 2}, "data": "xyz", "seq_len": 12}
    with pytest.raises(CheckpointError, match=r"data: checkpoint 'abc' vs now 'xyz'; "
                                              r"model.hidden_size: checkpoint 16 vs now 32\)"):
        _fit(tmp_path, setup=changed, resume=True)


def test_resume_onto_a_differently_sized_model_names_the_tensors_briefly(tmp_path):
    _fit(tmp_path, save_every=3)  # no setup to compare (as in an older RUN): the weights tell
    with pytest.raises(CheckpointError, match=r"differently sized model \(checkpoint vs now: "
                                              r"LayerNorm.bias \(16,\) vs \(8,\);.* and 5 more\)") as caught:
        _fit(tmp_path, model=TinyMLM(dim=8), resume=True)
    assert len(str(caught.value)) < 600


def test_a_new_run_into_an_earlier_run_needs_overwrite(tmp_path):
    _fit(tmp_path, save_every=2, max_steps=6)  # leaves step-4 and step-6
    with pytest.raises(CheckpointError, match=r"holds an earlier run \(checkpoints, metrics.jsonl, "
                                              r"model.safetensors\).*--resume.*--overwrite"):
        _fit(tmp_path, max_steps=2)
    _fit(tmp_path, max_steps=2, save_every=1, overwrite=True)
    run = tmp_path / "run"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-1", "step-2"]
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]


def test_resume_without_a_checkpoint_fails(tmp_path):
    with pytest.raises(CheckpointError, match=r"--resume: no checkpoint in .*checkpoints"):
        _fit(tmp_path, resume=True)
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_two_processes_on_one_run_directory(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(run), "fresh"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        lock = run / ".bertkit.lock"
        deadline = time.monotonic() + 60
        while not lock.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, "the first run ended before the second could start"
        with pytest.raises(LockError, match=rf"{run} is in use by training \(pid {proc.pid} "):
            _fit(tmp_path, overwrite=True)
    finally:
        proc.kill()
        proc.wait(timeout=60)
    with pytest.warns(UserWarning, match="taking over the lock"):  # its process is gone: free again
        _, result = _fit(tmp_path, overwrite=True)
    assert result.global_step == 6 and not lock.exists()


def test_full_disk_while_writing_the_final_model(tmp_path):
    def full_disk(model, directory):
        (directory / "model.safetensors").write_bytes(b"half")
        raise OSError(28, "No space left on device")

    torch.manual_seed(0)
    trainer = Trainer(TinyMLM(), TrainConfig(max_steps=2, batch_size=8), ToyData(), tmp_path / "run",
                      save_model=full_disk)
    with pytest.raises(CheckpointError, match=r"could not write .*run: .*No space left.* MiB free\).*step-2 "
                                              r"is intact"):
        trainer.fit()
    left = {p.name for p in (tmp_path / "run").iterdir()}
    assert ".final.tmp" not in left and "model.safetensors" not in left  # nothing half-written is left


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_resume_from_a_corrupt_checkpoint_names_the_file(tmp_path, damage):
    _fit(tmp_path, save_every=3)
    weights = tmp_path / "run" / "checkpoints" / "step-6" / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x07" * 64)
    with pytest.raises(CheckpointError, match=r"step-6"):
        _fit(tmp_path, resume=True, max_steps=8)
