"""DistilBERT (Sanh et al. 2019) in bertkit: BERT's post-LN encoder with no token types and no
pooler, under its own names (`q_lin ... out_lin`, `sa_layer_norm`, `ffn.lin1`) and config keys
(`dim`, `n_layers`, `n_heads`, `hidden_dim`).
"""

from __future__ import annotations

from typing import Any

from bertkit.io import PathLike
from bertkit.model.bert import BertModel
from bertkit.model.config import BertConfig
from bertkit.model.family import KeyTable, load_encoder, read_config_json, save_encoder

TABLE = KeyTable(renames=(
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
), prefix="distilbert.", ignorable=("position_ids",))

# DistilBERT config.json key -> BertConfig field
CONFIG_KEYS = {"vocab_size": "vocab_size", "dim": "hidden_size", "n_layers": "num_hidden_layers",
               "n_heads": "num_attention_heads", "hidden_dim": "intermediate_size",
               "activation": "hidden_act",
               "dropout": "hidden_dropout_prob", "attention_dropout": "attention_probs_dropout_prob",
               "max_position_embeddings": "max_position_embeddings", "pad_token_id": "pad_token_id",
               "initializer_range": "initializer_range"}


def config_from_distilbert(d: dict[str, Any]) -> BertConfig:
    """BertConfig of a DistilBERT config.json: no token types, LayerNorm eps 1e-12 as DistilBERT's.
    The sinusoidal table of `sinusoidal_pos_embds` is stored in the weights, so it loads as learned."""
    fields = {ours: d[theirs] for theirs, ours in CONFIG_KEYS.items() if theirs in d}
    return BertConfig(**fields, type_vocab_size=0, layer_norm_eps=1e-12)


class DistilBertModel(BertModel):
    """The DistilBERT encoder: BertModel without token types or pooler."""

    def __init__(self, config: BertConfig, add_pooling_layer: bool = False):
        super().__init__(config, add_pooling_layer=False)

    @classmethod
    def from_pretrained(cls, directory: PathLike, **overrides: Any) -> DistilBertModel:
        config = config_from_distilbert(read_config_json(directory, "distilbert")).replace(**overrides)
        return load_encoder(cls(config), directory, TABLE)

    def save_pretrained(self, directory: PathLike) -> None:
        c = self.config
        config = {theirs: getattr(c, ours) for theirs, ours in CONFIG_KEYS.items()}
        config.update(model_type="distilbert", architectures=["DistilBertModel"], sinusoidal_pos_embds=False,
                      qa_dropout=0.1, seq_classif_dropout=0.2, tie_weights_=True)
        save_encoder(self, directory, TABLE, config)
