"""DistilBERT (Sanh et al. 2019) in bertkit: BERT's post-LN encoder with no token types, under its own
names (`q_lin ... out_lin`, `sa_layer_norm`, `ffn.lin1`) and config keys (`dim`, `n_layers`,
`n_heads`, `hidden_dim`). The bare encoder has no pooler; the sequence and multiple-choice heads
project [CLS] with `pre_classifier` and a ReLU, which is bertkit's pooler here (ReLU, not tanh).
Its MLM head is `vocab_transform`, `vocab_layer_norm` and `vocab_projector` (tied to the word
embeddings, with its own bias).
"""

from __future__ import annotations

from typing import Any

import torch

from bertkit.model.bert import BertModel
from bertkit.model.config import BertConfig
from bertkit.model.family import Layout
from bertkit.model.heads import (
    BertForMaskedLM,
    BertForMultipleChoice,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    for_family,
)

# DistilBERT config.json key -> BertConfig field
CONFIG_KEYS = {"vocab_size": "vocab_size", "dim": "hidden_size", "n_layers": "num_hidden_layers",
               "n_heads": "num_attention_heads", "hidden_dim": "intermediate_size",
               "activation": "hidden_act",
               "dropout": "hidden_dropout_prob", "attention_dropout": "attention_probs_dropout_prob",
               "max_position_embeddings": "max_position_embeddings", "pad_token_id": "pad_token_id",
               "initializer_range": "initializer_range", "seq_classif_dropout": "classifier_dropout"}
# BertConfig fields a DistilBERT config.json does not carry (fixed by the architecture)
_FIXED = {"type_vocab_size": 0, "layer_norm_eps": 1e-12}


def config_from_distilbert(d: dict[str, Any]) -> BertConfig:
    """BertConfig of a DistilBERT config.json: no token types, LayerNorm eps 1e-12 as DistilBERT's;
    other keys (labels, qa_dropout...) kept. The sinusoidal table of `sinusoidal_pos_embds` is
    stored in the weights, so it loads as learned."""
    ours = {CONFIG_KEYS.get(k, k): v for k, v in d.items() if k not in _FIXED}
    return BertConfig.from_dict({**ours, **_FIXED})


def config_to_distilbert(config: BertConfig, model_type: str) -> dict[str, Any]:
    theirs = {v: k for k, v in CONFIG_KEYS.items()}
    d = {theirs.get(k, k): v for k, v in config.to_dict().items() if k not in _FIXED}
    d.setdefault("sinusoidal_pos_embds", False)
    d.setdefault("qa_dropout", 0.1)
    if d.get("seq_classif_dropout") is None:
        d["seq_classif_dropout"] = 0.2
    return {**d, "model_type": model_type}


LAYOUT = Layout(
    model_type="distilbert", name="DistilBert", prefix="distilbert.",
    encoder=(
        ("embeddings.word.", "embeddings.word_embeddings."),
        ("embeddings.position.", "embeddings.position_embeddings."),
        ("embeddings.norm.", "embeddings.LayerNorm."),
        ("layers.{i}.attn.q.", "transformer.layer.{i}.attention.q_lin."),
        ("layers.{i}.attn.k.", "transformer.layer.{i}.attention.k_lin."),
        ("layers.{i}.attn.v.", "transformer.layer.{i}.attention.v_lin."),
        ("layers.{i}.attn.out.", "transformer.layer.{i}.attention.out_lin."),
        ("layers.{i}.attn_norm.", "transformer.layer.{i}.sa_layer_norm."),
        ("layers.{i}.ffn.up.", "transformer.layer.{i}.ffn.lin1."),
        ("layers.{i}.ffn.down.", "transformer.layer.{i}.ffn.lin2."),
        ("layers.{i}.ffn_norm.", "transformer.layer.{i}.output_layer_norm."),
    ),
    heads=(("mlm.transform.", "vocab_transform."), ("mlm.norm.", "vocab_layer_norm."),
           ("mlm.bias", "vocab_projector.bias"), ("bert.pooler.", "pre_classifier."),
           ("classifier.", "classifier."), ("qa_outputs.", "qa_outputs.")),
    tied=("vocab_projector.weight",), config_in=config_from_distilbert, config_out=config_to_distilbert)


class DistilBertModel(BertModel):
    """The DistilBERT encoder: BertModel without token types; its pooler (the heads' `pre_classifier`)
    is ReLU(W h_[CLS] + b)."""

    layout = LAYOUT

    def __init__(self, config: BertConfig, add_pooling_layer: bool = False):
        super().__init__(config, add_pooling_layer=add_pooling_layer)

    def _pool(self, hidden: torch.Tensor) -> torch.Tensor | None:
        return None if self.pooler is None else torch.relu(self.pooler(hidden[:, 0]))


DistilBertForMaskedLM = for_family(BertForMaskedLM, DistilBertModel)
DistilBertForSequenceClassification = for_family(BertForSequenceClassification, DistilBertModel)
DistilBertForTokenClassification = for_family(BertForTokenClassification, DistilBertModel)
DistilBertForQuestionAnswering = for_family(BertForQuestionAnswering, DistilBertModel)
DistilBertForMultipleChoice = for_family(BertForMultipleChoice, DistilBertModel)
