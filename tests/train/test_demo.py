"""The pretraining demo stage in quick mode: shards, a short run with held-out loss, fill-mask."""

from __future__ import annotations

import json

import torch

from bertkit.demo import DemoContext
from bertkit.train import demo


def test_quick_demo_stage(tmp_path, minilm_dir, capsys):
    torch.set_num_threads(1)
    ctx = DemoContext(workdir=tmp_path, quick=True, artifacts={"tokenizer_dir": minilm_dir})
    demo.run(ctx)
    out = capsys.readouterr().out
    run = ctx.artifacts["pretrained_dir"]
    assert (run / "model.safetensors").is_file() and (run / "loss.png").is_file()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["split"] == "eval"] == [4, 8]
    assert "held-out MLM loss: step 4:" in out and str(run / "loss.png") in out
    evals = [r["loss"] for r in records if r["split"] == "eval"]
    assert evals[1] < evals[0]  # learning happened, even in 8 steps
    # each sentence shows its top 5 guesses before and after pretraining, and they changed
    lines = [line.strip() for line in out.splitlines()]
    befores = [line.split(":", 1)[1].split() for line in lines if line.startswith("before:")]
    afters = [line.split(":", 1)[1].split() for line in lines if line.startswith("after:")]
    assert len(befores) == len(afters) == len(demo.FILL_MASK) and all(len(x) == 5 for x in befores + afters)
    assert befores != afters
