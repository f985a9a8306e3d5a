"""ALBERT: factorised embeddings and shared layers, equal to transformers.AlbertModel both ways; the
paper's parameter counts; sentence-order prediction (AlbertForPreTraining's loss equals transformers',
and a tiny ALBERT pretrains with `--recipe albert`)."""

from __future__ import annotations

import json

import pytest
import torch

from bertkit.errors import CheckpointError, ConfigError
from bertkit.model.albert import AlbertForPreTraining, AlbertModel
from bertkit.model.auto import load_model
from bertkit.model.config import BertConfig

transformers = pytest.importorskip("transformers")


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one torch thread


def test_albert_base_has_12m_parameters():
    # Lan et al. 2020, Table 1: ALBERT-base (H 768, E 128, 12 layers, all shared) has 12M parameters
    cfg = BertConfig(vocab_size=30000, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                     intermediate_size=3072, extra={"embedding_size": 128, "num_hidden_groups": 1})
    assert 11.5e6 < AlbertModel(cfg).num_parameters() < 12.5e6


def test_groups_must_divide_the_layers():
    cfg = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=4, num_attention_heads=2,
                     intermediate_size=32, extra={"embedding_size": 8, "num_hidden_groups": 3})
    with pytest.raises(ConfigError, match="num_hidden_groups \\(3\\) must divide"):
        AlbertModel(cfg)


@pytest.mark.parametrize("groups", [1, 2])
def test_albert_equals_transformers_both_ways(tmp_path, groups):
    cfg = transformers.AlbertConfig(vocab_size=100, embedding_size=16, hidden_size=32, num_hidden_layers=4,
                                    num_hidden_groups=groups, num_attention_heads=4, intermediate_size=64,
                                    max_position_embeddings=40)
    torch.manual_seed(0)
    theirs = transformers.AlbertModel(cfg).eval()
    theirs.save_pretrained(tmp_path / "hf")
    ours = AlbertModel.from_pretrained(tmp_path / "hf").eval()
    assert len(ours.groups) == groups
    torch.manual_seed(1)
    ids = torch.randint(3, 99, (3, 12))
    mask = torch.ones_like(ids)
    ids[1, 7:], mask[1, 7:] = 0, 0
    real = mask.bool()
    with torch.no_grad():
        expected = theirs(input_ids=ids, attention_mask=mask)
        got = ours(ids, attention_mask=mask)
        torch.testing.assert_close(got.last_hidden_state[real], expected.last_hidden_state[real],
                                   atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(got.pooler_output, expected.pooler_output, atol=1e-5, rtol=1e-5)
        ours.save_pretrained(tmp_path / "ours")
        again = transformers.AutoModel.from_pretrained(tmp_path / "ours").eval()
        torch.testing.assert_close(again(input_ids=ids, attention_mask=mask).pooler_output,
                                   expected.pooler_output, atol=1e-5, rtol=1e-5)


def test_load_model_dispatches_albert(tmp_path):
    cfg = transformers.AlbertConfig(vocab_size=100, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                                    num_attention_heads=4, intermediate_size=64)
    transformers.AlbertModel(cfg).save_pretrained(tmp_path)
    assert type(load_model(tmp_path)) is AlbertModel


def test_albert_large_has_18m_parameters():
    # Lan et al. 2020, Table 1: ALBERT-large (H 1024, E 128, 24 layers, all shared) has 18M parameters
    cfg = BertConfig(vocab_size=30000, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                     intermediate_size=4096, extra={"embedding_size": 128, "num_hidden_groups": 1})
    assert 17.5e6 < AlbertModel(cfg).num_parameters() < 18.5e6


def test_a_directory_whose_groups_do_not_divide_the_layers_names_the_key(tmp_path):
    cfg = transformers.AlbertConfig(vocab_size=100, embedding_size=16, hidden_size=32, num_hidden_layers=4,
                                    num_attention_heads=4, intermediate_size=64)
    transformers.AlbertModel(cfg).save_pretrained(tmp_path)
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "num_hidden_groups": 3}))
    with pytest.raises(CheckpointError, match=r"config.json: .*num_hidden_groups \(3\) must divide"):
        load_model(tmp_path)


def test_pretraining_loss_equals_transformers(tmp_path):
    cfg = transformers.AlbertConfig(vocab_size=100, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                                    num_attention_heads=4, intermediate_size=64, max_position_embeddings=40)
    torch.manual_seed(0)
    theirs = transformers.AlbertForPreTraining(cfg).eval()
    theirs.save_pretrained(tmp_path)
    ours = AlbertForPreTraining.from_pretrained(tmp_path).eval()
    ids = torch.randint(3, 99, (4, 12), generator=torch.Generator().manual_seed(1))
    labels = torch.full_like(ids, -100)
    labels[:, 3:6] = ids[:, 3:6]
    order = torch.tensor([0, 1, 1, 0])
    with torch.no_grad():
        expected = theirs(input_ids=ids, labels=labels, sentence_order_label=order).loss
        got = ours(ids, labels=labels, sentence_order_label=order)
    assert abs(got.loss.item() - expected.item()) <= 1e-5
    assert got.nsp_loss.item() == pytest.approx(
        torch.nn.functional.cross_entropy(got.nsp_logits, order).item())


def test_a_tiny_albert_pretrains_with_sop(tmp_path, corpus_en, minilm_dir):
    from bertkit.data.shards import prepare
    from bertkit.train.config import TrainConfig
    from bertkit.train.pretrain import PretrainConfig, pretrain

    text = corpus_en.read_text(encoding="utf-8")[:12_000].rsplit("\n", 1)[0]
    (tmp_path / "en.txt").write_text(text + "\n", encoding="utf-8")
    prepare([tmp_path / "en.txt"], minilm_dir, tmp_path / "shards", workers=1, progress=False)
    train = TrainConfig(batch_size=8, max_steps=12, log_every=1, lr=2e-3, warmup_ratio=0.0, seed=0)
    model, result = pretrain(tmp_path / "shards", tmp_path / "run",
                             PretrainConfig(preset="tiny", recipe="albert", seq_len=64, train=train))
    assert type(model).__name__ == "AlbertForPreTraining" and model.config.extra["embedding_size"] == 128
    losses = [r["loss"] for r in result.history if r.get("split") == "train" and "loss" in r]
    assert len(losses) >= 10 and sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.5
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["model_type"] == "albert" and saved["architectures"] == ["AlbertForPreTraining"]
    again = transformers.AlbertForPreTraining.from_pretrained(tmp_path / "run").eval()   # loads in HF
    ids = torch.randint(1000, 2000, (2, 16))
    with torch.no_grad():
        theirs, ours = again(input_ids=ids), model.eval()(ids)
    assert (theirs.sop_logits - ours.nsp_logits).abs().max().item() <= 1e-5
