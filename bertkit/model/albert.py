"""ALBERT (Lan et al. 2020): BERT's encoder layer with two parameter savings, and sentence-order prediction.

- **Factorised embeddings**: tokens are embedded in E dimensions (`embedding_size`, E < H) and
  projected to the hidden size H by one linear map, so the vocabulary costs V·E + E·H, not V·H.
- **Cross-layer sharing**: `num_hidden_groups` layers hold parameters; the L layers of the forward
  pass run through them in order, layer i using group i·G/L (all L share one layer when G = 1).
- **Sentence-order prediction** (SOP) replaces next-sentence prediction: two consecutive segments
  in order (label 0) or swapped (label 1); the pairs come from data/examples.py (recipe "albert"),
  the head is AlbertForPreTraining's `sop_classifier`.

ALBERT-base (H 768, E 128, 12 layers, one group, 30,000 tokens) has ≈ 12M parameters (Lan et al.
2020, Table 1) against BERT-base's 108M. The encoder is BertModel's forward (unpadding, the one
attention, layers.py's post-LN `EncoderLayer`) with the projection after the embeddings and the
shared layers; the heads are heads.py's, and the Hugging Face names are one layout (`LAYOUT`).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from bertkit.errors import ConfigError
from bertkit.model.bert import BertModel, BertPreTrainedModel
from bertkit.model.config import BertConfig
from bertkit.model.family import Layout
from bertkit.model.heads import (
    BertForMaskedLM,
    BertForMultipleChoice,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    for_family,
)
from bertkit.model.layers import Embeddings, EncoderLayer


def albert_config(d: dict[str, Any]) -> BertConfig:
    """BertConfig of an ALBERT config.json (its own keys kept in `extra`), checked: see albert_sizes."""
    config = BertConfig.from_dict(d)
    if "classifier_dropout_prob" in d and "classifier_dropout" not in d:
        config = config.replace(classifier_dropout=d["classifier_dropout_prob"])
    albert_sizes(config)
    return config


_G = "encoder.albert_layer_groups.{i}.albert_layers.0."
LAYOUT = Layout(
    model_type="albert", name="Albert", prefix="albert.",
    encoder=(
        ("embeddings.word.", "embeddings.word_embeddings."),
        ("embeddings.position.", "embeddings.position_embeddings."),
        ("embeddings.segment.", "embeddings.token_type_embeddings."),
        ("embeddings.norm.", "embeddings.LayerNorm."),
        ("project.", "encoder.embedding_hidden_mapping_in."),
        ("groups.{i}.attn.q.", _G + "attention.query."),
        ("groups.{i}.attn.k.", _G + "attention.key."),
        ("groups.{i}.attn.v.", _G + "attention.value."),
        ("groups.{i}.attn.out.", _G + "attention.dense."),
        ("groups.{i}.attn_norm.", _G + "attention.LayerNorm."),
        ("groups.{i}.ffn.up.", _G + "ffn."),
        ("groups.{i}.ffn.down.", _G + "ffn_output."),
        ("groups.{i}.ffn_norm.", _G + "full_layer_layer_norm."),
        ("pooler.", "pooler."),
    ),
    heads=(("mlm.transform.", "predictions.dense."), ("mlm.norm.", "predictions.LayerNorm."),
           ("mlm.bias", "predictions.bias"), ("nsp.", "sop_classifier.classifier."),
           ("classifier.", "classifier."), ("qa_outputs.", "qa_outputs.")),
    tied=("predictions.decoder.weight", "predictions.decoder.bias"),
    ignorable=("position_ids", "token_type_ids"), config_in=albert_config)


def albert_sizes(config: BertConfig) -> tuple[int, int]:
    """(embedding_size, num_hidden_groups) from the config's ALBERT keys, checked."""
    e = int(config.extra.get("embedding_size", config.hidden_size))
    groups = config.extra.get("num_hidden_groups", 1)
    if int(config.extra.get("inner_group_num", 1)) != 1:
        raise ConfigError("ALBERT inner_group_num other than 1 is not supported (every released "
                          "checkpoint uses 1)")
    if not isinstance(groups, int) or groups < 1 or config.num_hidden_layers % groups:
        raise ConfigError(f"ALBERT num_hidden_groups ({groups}) must divide num_hidden_layers "
                          f"({config.num_hidden_layers}): each group serves an equal run of layers")
    if e < 1:
        raise ConfigError(f"ALBERT embedding_size must be a positive integer, got {e}")
    return e, groups


def albert_config_of(config: BertConfig, embedding_size: int = 128,
                     num_hidden_groups: int = 1) -> BertConfig:
    """An ALBERT config from a BERT size (a preset): E = min(embedding_size, H), one shared group,
    as the paper's ALBERT-base/large (Lan et al. 2020, Table 1)."""
    sizes = {"embedding_size": min(embedding_size, config.hidden_size),
             "num_hidden_groups": num_hidden_groups, "inner_group_num": 1}
    return BertConfig.from_dict({**config.to_dict(), **sizes})


def albert_for_pretraining(config: BertConfig) -> AlbertForPreTraining:
    """A new AlbertForPreTraining (MLM + SOP) of a BERT size: what `bertkit pretrain --recipe albert`
    builds from scratch."""
    return AlbertForPreTraining(albert_config_of(config))


class AlbertModel(BertModel):
    """Factorised embeddings -> L layers over G shared groups -> the [CLS] pooler."""

    layout = LAYOUT

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True):
        BertPreTrainedModel.__init__(self, config)
        e, groups = albert_sizes(config)
        self.embeddings = Embeddings(config.replace(hidden_size=e, num_attention_heads=1))
        self.project = nn.Linear(e, config.hidden_size)                       # E -> H
        self.groups = nn.ModuleList(EncoderLayer(config) for _ in range(groups))
        self.final_norm = None
        self.pooler = nn.Linear(config.hidden_size, config.hidden_size) if add_pooling_layer else None
        self.init_weights()

    @property
    def layers(self) -> list[EncoderLayer]:
        """The L layers of the forward pass: layer i is group i·G/L (the same module, shared)."""
        n_layers, n_groups = self.config.num_hidden_layers, len(self.groups)
        return [self.groups[i * n_groups // n_layers] for i in range(n_layers)]

    def embed(self, input_ids: Tensor | None, token_type_ids: Tensor | None, position_ids: Tensor | None,
              inputs_embeds: Tensor | None) -> Tensor:
        return self.project(self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds))


AlbertForMaskedLM = for_family(BertForMaskedLM, AlbertModel)
AlbertForPreTraining = for_family(BertForPreTraining, AlbertModel)
AlbertForSequenceClassification = for_family(BertForSequenceClassification, AlbertModel)
AlbertForTokenClassification = for_family(BertForTokenClassification, AlbertModel)
AlbertForQuestionAnswering = for_family(BertForQuestionAnswering, AlbertModel)
AlbertForMultipleChoice = for_family(BertForMultipleChoice, AlbertModel)
