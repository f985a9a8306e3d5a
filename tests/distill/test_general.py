"""DistilBERT's general distillation on tiny shards: the loss by hand, a student RUN that
transformers loads, exact resume (projection included), and the teachers and shards it refuses."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from bertkit.distill import GeneralDistillConfig, general_distill
from bertkit.distill.general import GeneralDistiller
from bertkit.distill.student import make_student
from bertkit.errors import ConfigError, DataError
from bertkit.train import TrainConfig


def _tokenizer(texts: list[str], vocab_size: int, out: Path) -> Path:
    from bertkit import Tokenizer

    Tokenizer.train(texts=texts, vocab_size=vocab_size).save(out)
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, corpus_en):
    """(teacher dir with an MLM head, its shards, the corpus): 4 layers, hidden 32, ~250-token vocabulary."""
    from bertkit.data.shards import prepare
    from bertkit.model import BertConfig, BertForMaskedLM

    root = tmp_path_factory.mktemp("general")
    with open(corpus_en, encoding="utf-8") as f:
        text = f.read(12_000).rsplit("\n", 1)[0] + "\n"
    corpus = root / "corpus.txt"
    corpus.write_text(text, encoding="utf-8")
    teacher = _tokenizer(text.splitlines(), 250, root / "teacher")
    from bertkit import Tokenizer

    vocab = Tokenizer.from_pretrained(teacher).vocab_size
    torch.manual_seed(0)
    BertForMaskedLM(BertConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
                               intermediate_size=64, max_position_embeddings=64)).save_pretrained(teacher)
    shards = root / "shards"
    prepare([corpus], teacher, shards, workers=1, progress=False)
    return teacher, shards, corpus


def _cfg(tiny, out, **kw) -> GeneralDistillConfig:
    teacher, shards, _ = tiny
    train = kw.pop("train", TrainConfig(lr=1e-3, max_steps=4, batch_size=8, seed=0))
    return GeneralDistillConfig(teacher=str(teacher), shards=str(shards), out=str(out), seq_len=32,
                                layers="2", train=train, **kw)


def test_the_loss_is_distilberts_weighted_sum_by_hand(tiny):
    from bertkit.data.examples import PretrainingDataset
    from bertkit.data.shards import ShardSet
    from bertkit.model import BertForMaskedLM

    teacher_dir, shards, _ = tiny
    teacher = BertForMaskedLM.from_pretrained(teacher_dir).eval()
    data = PretrainingDataset(ShardSet(shards), "roberta", 32, seed=0)
    batch = torch.utils.data.default_collate([data[i] for i in range(4)])
    model = GeneralDistiller(make_student(teacher, [0, 2]), teacher, temperature=2.0).eval()
    out = model(**batch)
    with torch.no_grad():
        s = model.student(**{k: batch[k] for k in ("input_ids", "attention_mask")}, output_hidden_states=True)
        t = teacher(**{k: batch[k] for k in ("input_ids", "attention_mask")}, output_hidden_states=True)
    masked = batch["labels"] != -100
    ps = torch.log_softmax(s.logits[masked] / 2, -1)
    pt = torch.log_softmax(t.logits[masked] / 2, -1)
    ce = (pt.exp() * (pt - ps)).sum(-1).mean() * 4                      # T² · KL, per masked token
    mlm = torch.nn.functional.cross_entropy(s.logits[masked], batch["labels"][masked])
    real = batch["attention_mask"].bool()
    cos = (1 - torch.cosine_similarity(s.hidden_states[-1], t.hidden_states[-1], dim=-1))[real].mean()
    # DistilBERT (Sanh et al. 2019; its training script's defaults): 5.0 · L_ce + 2.0 · L_mlm + 1.0 · L_cos
    assert out.ce_loss.item() == pytest.approx(ce.item(), rel=1e-4)
    assert out.mlm_loss.item() == pytest.approx(mlm.item(), rel=1e-4)
    assert out.cos_loss.item() == pytest.approx(cos.item(), rel=1e-4)
    assert out.loss.item() == pytest.approx((5 * ce + 2 * mlm + cos).item(), rel=1e-4)


def test_a_general_student_is_an_mlm_run_transformers_loads(tiny, tmp_path):
    from transformers import AutoModelForMaskedLM

    from bertkit.model import BertForMaskedLM

    run_dir, result = general_distill(_cfg(tiny, tmp_path / "s"))
    assert result.global_step == 4 and (run_dir / "tokenizer.json").is_file()
    ours = BertForMaskedLM.from_pretrained(run_dir).eval()
    assert ours.config.num_hidden_layers == 2
    theirs = AutoModelForMaskedLM.from_pretrained(run_dir).eval()
    ids = torch.tensor([[2, 5, 9, 11, 3]])
    with torch.no_grad():
        torch.testing.assert_close(ours(ids).logits, theirs(ids).logits, atol=1e-5, rtol=1e-5)
    logged = (run_dir / "metrics.jsonl").read_text()
    assert '"ce_loss"' in logged and '"cos_loss"' in logged and '"mlm_accuracy"' in logged


@pytest.mark.parametrize("method", ["distilbert", "tinybert"])
def test_an_interrupted_general_distillation_of_a_narrower_student_resumes_exactly(method, tiny, tmp_path):
    from bertkit.train.checkpoint import list_checkpoints

    def run(out, resume=False):
        train = TrainConfig(lr=1e-3, max_steps=6, save_every=3, batch_size=8, seed=0, resume=resume)
        return general_distill(_cfg(tiny, out, student_hidden=16, student_heads=2, method=method,
                                    train=train))[0]

    whole = run(tmp_path / "whole")
    logged = (whole / "metrics.jsonl").read_text()
    assert ('"hidden_mse"' in logged) == (method == "tinybert") and '"ce_loss"' in logged
    cut = run(tmp_path / "cut")
    shutil.rmtree(list_checkpoints(cut / "checkpoints")[-1][1])     # as if killed after step 3
    run(cut, resume=True)
    assert (whole / "model.safetensors").read_bytes() == (cut / "model.safetensors").read_bytes()


def test_a_teacher_without_an_mlm_head_is_refused(tiny, tmp_path):
    from bertkit.model import BertModel

    teacher_dir, shards, _ = tiny
    encoder = tmp_path / "encoder"
    with pytest.warns(UserWarning, match="pooler"):          # an MLM checkpoint has no pooler
        BertModel.from_pretrained(teacher_dir).save_pretrained(encoder)
    shutil.copy(teacher_dir / "tokenizer.json", encoder / "tokenizer.json")
    with pytest.raises(ConfigError, match="has no MLM head.*learn one first"):
        general_distill(GeneralDistillConfig(teacher=str(encoder), shards=str(shards),
                                             out=str(tmp_path / "s")))


def test_shards_of_another_tokenizer_are_refused(tiny, tmp_path):
    from bertkit.data.shards import prepare

    teacher, _, corpus = tiny
    other = _tokenizer(corpus.read_text().splitlines(), 180, tmp_path / "tok")
    prepare([corpus], other, tmp_path / "shards", workers=1, progress=False)
    with pytest.raises(DataError, match="different tokenizer"):
        general_distill(GeneralDistillConfig(teacher=str(teacher), shards=str(tmp_path / "shards"),
                                             out=str(tmp_path / "s")))


def test_cli(tiny, tmp_path, capsys):
    from bertkit.cli import main

    teacher, shards, _ = tiny
    assert main(["distill", "general", "--teacher", str(teacher), "--shards", str(shards), "--out",
                 str(tmp_path / "s"), "--layers", "1", "--seq-len", "32", "--max-steps", "2",
                 "--batch-size", "8", "--alpha-cos", "0"]) == 0
    assert "2 steps" in capsys.readouterr().out
    assert main(["distill", "general", "--teacher", str(teacher), "--shards", str(shards), "--out",
                 str(tmp_path / "s2"), "--student-hidden", "30", "--student-heads", "4"]) == 2
    assert "does not divide" in capsys.readouterr().err
    assert main(["distill", "general", "--teacher", str(teacher), "--shards", str(shards), "--out",
                 str(tmp_path / "s3"), "--method", "tinybert", "--layers", "2", "--layer-map", "1,4",
                 "--seq-len", "32"]) == 2
    assert "the teacher has layers 0 to 3" in capsys.readouterr().err
