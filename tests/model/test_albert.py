"""ALBERT: factorised embeddings and shared layers, equal to transformers.AlbertModel both ways."""

from __future__ import annotations

import pytest
import torch

from bertkit.errors import ConfigError
from bertkit.model.albert import AlbertModel
from bertkit.model.config import BertConfig

transformers = pytest.importorskip("transformers")


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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
    from bertkit.model.auto import load_model

    cfg = transformers.AlbertConfig(vocab_size=100, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                                    num_attention_heads=4, intermediate_size=64)
    transformers.AlbertModel(cfg).save_pretrained(tmp_path)
    assert type(load_model(tmp_path)) is AlbertModel
