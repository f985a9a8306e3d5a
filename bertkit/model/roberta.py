"""RoBERTa (Liu et al. 2019) in bertkit: BERT's encoder, with positions that start after the padding id.

RoBERTa's weights have BERT's names (under `roberta.` in the head models), so its key table is
BERT's encoder table from hf.py. What differs is the input side: a token's position is
`padding_idx + 1 + (its index among the sequence's non-padding tokens)`, padding tokens take
position `padding_idx` (transformers' `create_position_ids_from_input_ids`), and there is a single
token type. config.json says `model_type: roberta`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from bertkit.io import PathLike
from bertkit.model.bert import BertModel, BertOutput
from bertkit.model.config import BertConfig
from bertkit.model.family import KeyTable, load_encoder, read_config_json, save_encoder
from bertkit.model.hf import RENAMES

ENCODER = ("embeddings.", "layers.", "pooler.")
TABLE = KeyTable(renames=tuple((a, b) for a, b in RENAMES if a.startswith(ENCODER)), prefix="roberta.",
                 ignorable=("position_ids", "token_type_ids"))


def roberta_position_ids(input_ids: Tensor, padding_idx: int) -> Tensor:
    """[[0, 5, 6, 1, 1]] with padding_idx 1 -> [[2, 3, 4, 1, 1]]: real tokens count from padding_idx + 1."""
    real = input_ids.ne(padding_idx).long()
    return torch.cumsum(real, dim=1) * real + padding_idx


class RobertaModel(BertModel):
    """The RoBERTa encoder: BertModel with RoBERTa's position ids (and its config.json and names)."""

    def forward(self, input_ids: Tensor | None = None, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None, position_ids: Tensor | None = None,
                inputs_embeds: Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> BertOutput:
        if position_ids is None and input_ids is not None:
            position_ids = roberta_position_ids(input_ids, self.config.pad_token_id)
        return super().forward(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                               output_attentions, output_hidden_states)

    @classmethod
    def from_pretrained(cls, directory: PathLike, **overrides: Any) -> RobertaModel:
        config = BertConfig.from_dict({**read_config_json(directory, "roberta"), **overrides})
        return load_encoder(cls(config), directory, TABLE)

    def save_pretrained(self, directory: PathLike) -> None:
        config = {**self.config.to_dict(), "model_type": "roberta", "architectures": ["RobertaModel"]}
        save_encoder(self, directory, TABLE, config)
