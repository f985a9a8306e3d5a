"""DDP through torchrun: 2 processes x batch 8 train the same weights as 1 process x batch 16, with
a different number of masked tokens in each process's half (the loss is weighted by them)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from bertkit.cli import main
from bertkit.data.examples import PretrainingDataset
from bertkit.data.shards import ShardSet, prepare


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def shards(tmp_path_factory, corpus_en, minilm_dir):
    root = tmp_path_factory.mktemp("ddp")
    text = root / "en.txt"
    with open(corpus_en, encoding="utf-8") as f:
        text.write_text(f.read(60_000), encoding="utf-8")
    prepare([text], minilm_dir, root / "shards", workers=1, progress=False)
    return root / "shards"


def _args(shards, out, batch_size: int) -> list[str]:
    # No dropout (its masks depend on how the batch is split); static masking, so the masked counts
    # of each half can be checked beforehand.
    return ["pretrain", "--data", str(shards), "--out", str(out), "--preset", "tiny", "--recipe", "roberta",
            "--seq-len", "32", "--batch-size", str(batch_size), "--max-steps", "3", "--log-every", "1",
            "--dropout", "0", "--lr", "1e-3", "--seed", "5"]


@pytest.mark.slow  # two interpreters joining a gloo group: ~20 s on 2 shared cores
def test_two_processes_equal_one_with_the_double_batch(shards, tmp_path):
    ds = PretrainingDataset(ShardSet(shards), "roberta", 32)
    counts = {int((ds[i]["labels"] != -100).sum()) for i in range(len(ds))}
    assert len(counts) > 2  # sequences hold different numbers of masked tokens

    port = _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
           "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}", "-m", "bertkit",
           *_args(shards, tmp_path / "two", 8)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]

    torch.set_num_threads(1)
    assert main(_args(shards, tmp_path / "one", 16)) == 0

    one, two = (load_file(tmp_path / name / "model.safetensors") for name in ("one", "two"))
    assert one.keys() == two.keys()
    for key in one:
        torch.testing.assert_close(two[key], one[key], rtol=0, atol=1e-6, msg=key)
    # rank 0 alone wrote the files, and its log lines average over both processes
    log_two = [json.loads(line) for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    log_one = [json.loads(line) for line in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log_two] == [1, 2, 3]
    for a, b in zip(log_one, log_two, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-4)
    state = json.loads((tmp_path / "two" / "checkpoints" / "step-3" / "trainer_state.json").read_text())
    assert state["world_size"] == 2
