"""Fixtures for the explain tests: all-MiniLM-L6-v2 loaded once, and tiny random classifiers that use
its tokenizer (so tests run in seconds)."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(scope="session")
def minilm(minilm_dir):
    from bertkit.explain.inputs import load

    return load(minilm_dir)


def tiny_config(num_labels: int = 3, **kw):
    from bertkit.model.config import BertConfig

    labels = {i: name for i, name in enumerate(["negative", "neutral", "positive", "other"][:num_labels])}
    base = dict(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=0.0,
                attention_probs_dropout_prob=0.0, num_labels=num_labels, id2label=labels,
                initializer_range=0.2)
    base.update(kw)
    return BertConfig(**base)


@pytest.fixture(scope="session")
def tiny_classifier(minilm):
    import torch

    from bertkit.model.bert import BertForSequenceClassification

    torch.manual_seed(0)
    model = BertForSequenceClassification(tiny_config())
    return model.eval(), minilm[1]


@pytest.fixture(scope="session")
def tiny_tagger(minilm):
    import torch

    from bertkit.model.bert import BertForTokenClassification

    torch.manual_seed(1)
    model = BertForTokenClassification(tiny_config(num_labels=2, id2label={0: "O", 1: "ENT"}))
    return model.eval(), minilm[1]


@pytest.fixture(scope="session")
def tiny_run_dir(tmp_path_factory, tiny_classifier, minilm_dir):
    """A RUN-like directory: HF-layout classifier + the tokenizer files."""
    path = tmp_path_factory.mktemp("run")
    tiny_classifier[0].save_pretrained(path)
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(minilm_dir / name, path / name)
    return path
