"""BertConfig: presets, validation with clear errors, round trips through config.json."""

from __future__ import annotations

import json

import pytest

from bertkit.errors import ConfigError
from bertkit.model import BertConfig


@pytest.mark.parametrize("name,layers,hidden,heads", [
    # Google's compact BERT sizes (Turc et al. 2019) and BERT-base/large (Devlin et al. 2019)
    ("tiny", 2, 128, 2), ("mini", 4, 256, 4), ("small", 4, 512, 8), ("medium", 8, 512, 8),
    ("base", 12, 768, 12), ("large", 24, 1024, 16),
])
def test_presets(name, layers, hidden, heads):
    cfg = BertConfig.preset(name, vocab_size=8000)
    assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads) == (layers, hidden, heads)
    assert cfg.intermediate_size == 4 * hidden
    assert cfg.max_position_embeddings == 512
    assert cfg.vocab_size == 8000


def test_preset_overrides_and_unknown_preset():
    assert BertConfig.preset("tiny", num_hidden_layers=1).num_hidden_layers == 1
    with pytest.raises(ConfigError, match="no field 'hiden_size' \\(did you mean 'hidden_size'\\?\\)"):
        BertConfig.preset("tiny", hiden_size=64)
    with pytest.raises(ConfigError, match="unknown preset 'huge'"):
        BertConfig.preset("huge")


@pytest.mark.parametrize("kwargs,match", [
    (dict(hidden_size=100, num_attention_heads=3), "divisible"),
    (dict(vocab_size=0), "vocab_size"),
    (dict(hidden_act="swish"), "hidden_act"),
    (dict(hidden_dropout_prob=1.5), "hidden_dropout_prob"),
    (dict(position_embedding_type="rotary"), "position_embedding_type"),
    (dict(norm_position="middle"), "norm_position"),
    (dict(problem_type="ranking"), "problem_type"),
    (dict(vocab_size=10, pad_token_id=10), "pad_token_id"),
])
def test_validation_names_the_field(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        BertConfig(**kwargs)


def test_dict_round_trip_keeps_unknown_hf_keys(tmp_path):
    d = BertConfig.preset("tiny").to_dict()
    d.update({"gradient_checkpointing": False, "transformers_version": "4.8.2",
              "id2label": {"0": "neg", "1": "pos"}})
    cfg = BertConfig.from_dict(d)
    assert cfg.extra["transformers_version"] == "4.8.2"
    assert cfg.id2label == {0: "neg", 1: "pos"} and cfg.label2id == {"neg": 0, "pos": 1}
    cfg.save(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == "bert" and saved["transformers_version"] == "4.8.2"
    assert BertConfig.from_pretrained(tmp_path) == cfg


def test_from_pretrained_errors(tmp_path):
    with pytest.raises(ConfigError, match="config.json: no such file"):
        BertConfig.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "gpt2", "n_layer": 2}')
    with pytest.raises(ConfigError, match="model_type is 'gpt2'"):
        BertConfig.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text('{"hidden_size": 8,\n oops}')
    with pytest.raises(ConfigError, match="line 2"):
        BertConfig.from_pretrained(tmp_path)


def test_reads_real_minilm_config(minilm_dir):
    cfg = BertConfig.from_pretrained(minilm_dir)
    sizes = (cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads, cfg.vocab_size)
    assert sizes == (6, 384, 12, 30522)


def test_num_labels_comes_from_id2label_when_absent():
    # transformers writes id2label and label2id into config.json, never num_labels
    cfg = BertConfig.from_dict({"id2label": {"0": "neg", "1": "neutral", "2": "pos"}})
    assert cfg.num_labels == 3 and cfg.label2id == {"neg": 0, "neutral": 1, "pos": 2}
    assert BertConfig.from_dict({"num_labels": 4}).num_labels == 4
    assert BertConfig.from_dict({}).num_labels == 2
