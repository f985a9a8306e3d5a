"""GPT pretraining through the one loop on the bundled corpus, perplexity, and `bertkit generate`."""

from __future__ import annotations

import json

import pytest
import torch

from bertkit.cli import main
from bertkit.data.shards import prepare
from bertkit.model.gpt import GPTLanguageModel
from bertkit.tokenizers import Tokenizer
from bertkit.train.config import LMPretrainConfig, TrainConfig
from bertkit.train.lm import pretrain_gpt


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def shards(tmp_path_factory, corpus_en):
    """Byte-level BPE shards of ~30 KB of the bundled English news corpus, and a held-out part."""
    root = tmp_path_factory.mktemp("lm")
    text = corpus_en.read_text(encoding="utf-8")
    (root / "train.txt").write_text(text[:30_000].rsplit("\n", 1)[0] + "\n", encoding="utf-8")
    (root / "valid.txt").write_text(text[30_000:38_000].split("\n", 1)[1].rsplit("\n", 1)[0] + "\n",
                                    encoding="utf-8")
    tokenizer = Tokenizer.train([root / "train.txt"], algorithm="byte_bpe", vocab_size=400)
    tokenizer.save(root / "tok")
    prepare([root / "train.txt"], root / "tok", root / "train", workers=1, progress=False)
    prepare([root / "valid.txt"], root / "tok", root / "valid", workers=1, progress=False)
    return root


@pytest.fixture(scope="module")
def run(shards, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    cfg = LMPretrainConfig(preset="tiny", seq_len=32, eval_data=str(shards / "valid"), eval_windows=16)
    train = TrainConfig(lr=3e-3, max_steps=40, batch_size=8, log_every=5, eval_every=20, warmup_steps=4)
    pretrain_gpt(shards / "train", out, cfg, train)
    return out


def test_loss_decreases_and_perplexity_is_reported(run):
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r["loss"] for r in records if r["split"] == "train"]
    evals = [r for r in records if r["split"] == "eval"]
    assert train[-1] < train[0] - 0.5
    assert len(evals) == 2 and evals[-1]["perplexity"] < evals[0]["perplexity"]
    assert evals[-1]["perplexity"] == pytest.approx(2.718281828 ** evals[-1]["loss"], rel=1e-6)
    assert evals[-1]["perplexity"] < 400                  # better than uniform over the 400-token vocabulary


def test_run_directory_is_a_gpt2_directory(run):
    model = GPTLanguageModel.from_pretrained(run)
    assert json.loads((run / "config.json").read_text())["model_type"] == "gpt2"
    assert model.config.n_positions == 32 and (run / "tokenizer.json").is_file()


def test_generate_cli_streams_a_continuation(run, capsys):
    assert main(["generate", "--model", str(run), "--max-new-tokens", "8", "The"]) == 0
    greedy = capsys.readouterr().out
    assert greedy.startswith("The") and len(greedy.rstrip("\n")) > 3        # the prompt, then new text
    args = ["generate", "--model", str(run), "--max-new-tokens", "8", "--sample", "--seed", "3", "The"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0 and capsys.readouterr().out == first


@pytest.mark.parametrize("argv, message", [
    (["--max-new-tokens", "5", "  "], "prompt is empty"),
    (["--max-new-tokens", "40", "The"], "context window of 32"),
    (["--top-p", "1.5", "The"], "top_p"),
    (["--temperature", "0", "The"], "temperature"),
])
def test_generate_cli_bad_input(run, capsys, argv, message):
    assert main(["generate", "--model", str(run), *argv]) == 2
    assert message in capsys.readouterr().err


def test_generate_cli_refuses_a_mismatched_tokenizer(run, tmp_path, capsys, minilm_dir):
    model = GPTLanguageModel.from_pretrained(run)
    model.save_pretrained(tmp_path)
    Tokenizer.from_pretrained(minilm_dir).save(tmp_path)              # a 30522-token WordPiece
    assert main(["generate", "--model", str(tmp_path), "The"]) == 2
    assert "do not belong together" in capsys.readouterr().err


def test_resume_from_a_checkpoint_is_bitwise_identical(shards, tmp_path):
    import shutil

    from safetensors.torch import load_file

    cfg = LMPretrainConfig(preset="tiny", seq_len=32, dropout=0.1)
    kw = dict(lr=3e-3, max_steps=8, batch_size=8, save_every=4, log_every=2, warmup_steps=2)
    pretrain_gpt(shards / "train", tmp_path / "ref", cfg, TrainConfig(**kw))
    shutil.copytree(tmp_path / "ref", tmp_path / "run")
    shutil.rmtree(tmp_path / "run" / "checkpoints" / "step-8")          # as if killed after step 4's save
    (tmp_path / "run" / "model.safetensors").unlink()
    torch.manual_seed(123)
    pretrain_gpt(shards / "train", tmp_path / "run", cfg, TrainConfig(**kw, resume=True))
    ref, run = (load_file(tmp_path / d / "model.safetensors") for d in ("ref", "run"))
    assert all(torch.equal(ref[k], run[k]) for k in ref)
