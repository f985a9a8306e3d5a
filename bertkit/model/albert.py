"""ALBERT (Lan et al. 2020): BERT's encoder layer with two parameter savings.

- **Factorised embeddings**: tokens are embedded in E dimensions (`embedding_size`, E < H) and
  projected to the hidden size H by one linear map, so the vocabulary costs V·E + E·H, not V·H.
- **Cross-layer sharing**: `num_hidden_groups` layers hold parameters; the L layers of the forward
  pass run through them in order, layer i using group i·G/L (all L share one layer when G = 1).

ALBERT-base (H 768, E 128, 12 layers, one group, 30,000 tokens) has ≈ 12M parameters (Lan et al.
2020, Table 1) against BERT-base's 108M. The layers are layers.py's `EncoderLayer` (post-LN, the
same attention), and the Hugging Face names are one table (`TABLE`). Sentence-order prediction
and the MLM head are not built yet.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from bertkit.errors import ConfigError
from bertkit.io import PathLike
from bertkit.model.attention import additive_mask
from bertkit.model.bert import BertOutput, BertPreTrainedModel
from bertkit.model.config import BertConfig
from bertkit.model.family import KeyTable, load_encoder, read_config_json, save_encoder
from bertkit.model.layers import Embeddings, EncoderLayer

_G = "encoder.albert_layer_groups.{i}.albert_layers.0."
TABLE = KeyTable(renames=(
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
), prefix="albert.", ignorable=("position_ids", "token_type_ids"))


def albert_sizes(config: BertConfig) -> tuple[int, int]:
    """(embedding_size, num_hidden_groups) from the config's ALBERT keys, checked."""
    e = int(config.extra.get("embedding_size", config.hidden_size))
    groups = int(config.extra.get("num_hidden_groups", 1))
    if int(config.extra.get("inner_group_num", 1)) != 1:
        raise ConfigError("ALBERT inner_group_num other than 1 is not supported (every released "
                          "checkpoint uses 1)")
    if groups < 1 or config.num_hidden_layers % groups:
        raise ConfigError(f"ALBERT num_hidden_groups ({groups}) must divide num_hidden_layers "
                          f"({config.num_hidden_layers})")
    return e, groups


class AlbertModel(BertPreTrainedModel):
    """Factorised embeddings -> L layers over G shared groups -> the [CLS] pooler."""

    def __init__(self, config: BertConfig):
        super().__init__(config)
        e, groups = albert_sizes(config)
        self.embeddings = Embeddings(config.replace(hidden_size=e, num_attention_heads=1))
        self.project = nn.Linear(e, config.hidden_size)                       # E -> H
        self.groups = nn.ModuleList(EncoderLayer(config) for _ in range(groups))
        self.pooler = nn.Linear(config.hidden_size, config.hidden_size)
        self.init_weights()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None, position_ids: Tensor | None = None) -> BertOutput:
        x = self.project(self.embeddings(input_ids, token_type_ids, position_ids))   # (batch, seq, H)
        mask = None if attention_mask is None else additive_mask(attention_mask, x.dtype)
        n_layers, n_groups = self.config.num_hidden_layers, len(self.groups)
        for i in range(n_layers):
            x, _ = self.groups[i * n_groups // n_layers](x, mask)
        return BertOutput(x, torch.tanh(self.pooler(x[:, 0])))

    @classmethod
    def from_pretrained(cls, directory: PathLike, **overrides: Any) -> AlbertModel:
        config = BertConfig.from_dict({**read_config_json(directory, "albert"), **overrides})
        return load_encoder(cls(config), directory, TABLE)

    def save_pretrained(self, directory: PathLike) -> None:
        config = {**self.config.to_dict(), "model_type": "albert", "architectures": ["AlbertModel"]}
        save_encoder(self, directory, TABLE, config)
