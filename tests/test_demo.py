"""The whole demo, end to end in quick mode: every stage runs and hands its artifact to the next."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bertkit.demo import run_demo


@pytest.mark.slow
def test_quick_demo_runs_every_stage(tmp_path, capsys):
    ctx = run_demo(tmp_path, quick=True)
    printed = capsys.readouterr().out
    for title in ("tokenizers", "pretraining", "fine-tuning", "explanation"):
        assert f"\n{title}\n" in printed
    # tokenizer -> pretraining -> fine-tuning -> explanation, each a real directory or file
    tok_dir = ctx.artifacts["tokenizer_dir"]
    assert (tok_dir / "tokenizer.json").is_file() and (tok_dir / "vocab.txt").is_file()
    pretrained = ctx.artifacts["pretrained_dir"]
    config = json.loads((pretrained / "config.json").read_text())
    assert config["model_type"] == "bert"
    assert config["vocab_size"] == len((tok_dir / "vocab.txt").read_text(encoding="utf-8").splitlines())
    assert (Path(ctx.artifacts["finetuned_dir"]) / "model.safetensors").is_file()
    report = Path(ctx.artifacts["explanation_html"]).read_text(encoding="utf-8")
    top_words = ctx.artifacts["explanation_top_words"]
    assert len(top_words) == 5 and all(json.dumps(word)[1:-1] in report for word, _ in top_words)
