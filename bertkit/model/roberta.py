"""RoBERTa (Liu et al. 2019) in bertkit: BERT's encoder, with positions that start after the padding id.

RoBERTa's weights have BERT's names (under `roberta.` in the head models), so its layout is BERT's
encoder table from hf.py; its MLM head is `lm_head` (dense, GELU, layer_norm, tied decoder), and its
sequence classifier keeps the [CLS] projection in `classifier.dense` (bertkit's pooler) and the
output layer in `classifier.out_proj`. What differs is the input side: a token's position is
`padding_idx + 1 + (its index among the sequence's non-padding tokens)`, padding tokens take
position `padding_idx` (transformers' `create_position_ids_from_input_ids`), and there is a single
token type, so a sequence holds at most `max_position_embeddings - pad_token_id - 1` tokens.
config.json says `model_type: roberta`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from bertkit.errors import ConfigError, DataError
from bertkit.model.bert import BertModel, BertOutput
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
from bertkit.model.hf import BERT


def roberta_config(d: dict[str, Any]) -> BertConfig:
    """BertConfig of a RoBERTa config.json; positions must leave room after the padding id."""
    config = BertConfig.from_dict(d)
    if config.max_position_embeddings <= config.pad_token_id + 1:
        raise ConfigError(
            f"max_position_embeddings ({config.max_position_embeddings}) must exceed pad_token_id + 1 "
            f"({config.pad_token_id + 1}): RoBERTa's positions start after the padding id")
    return config


LAYOUT = Layout(
    model_type="roberta", name="Roberta", prefix="roberta.", encoder=BERT.encoder,
    heads=(("mlm.transform.", "lm_head.dense."), ("mlm.norm.", "lm_head.layer_norm."),
           ("mlm.bias", "lm_head.bias"), ("classifier.", "classifier."), ("qa_outputs.", "qa_outputs.")),
    per_head={"ForSequenceClassification": (("bert.pooler.", "classifier.dense."),
                                            ("classifier.", "classifier.out_proj."))},
    tied=("lm_head.decoder.weight", "lm_head.decoder.bias"), ignorable=("position_ids", "token_type_ids"),
    mlm_act="gelu", config_in=roberta_config)


def roberta_position_ids(input_ids: Tensor, padding_idx: int) -> Tensor:
    """[[0, 5, 6, 1, 1]] with padding_idx 1 -> [[2, 3, 4, 1, 1]]: real tokens count from padding_idx + 1."""
    real = input_ids.ne(padding_idx).long()
    return torch.cumsum(real, dim=1) * real + padding_idx


class RobertaModel(BertModel):
    """The RoBERTa encoder: BertModel with RoBERTa's position ids (and its config.json and names)."""

    layout = LAYOUT

    @property
    def max_length(self) -> int:
        return self.config.max_position_embeddings - self.config.pad_token_id - 1

    def forward(self, input_ids: Tensor | None = None, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None, position_ids: Tensor | None = None,
                inputs_embeds: Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> BertOutput:
        if position_ids is None and input_ids is not None:
            if input_ids.dim() == 2 and input_ids.shape[1] > self.max_length:
                raise DataError(
                    f"sequence length {input_ids.shape[1]} exceeds this RoBERTa's {self.max_length} tokens "
                    f"(max_position_embeddings {self.config.max_position_embeddings} - pad_token_id "
                    f"{self.config.pad_token_id} - 1); truncate or use sliding windows")
            position_ids = roberta_position_ids(input_ids, self.config.pad_token_id)
        return super().forward(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                               output_attentions, output_hidden_states)


RobertaForMaskedLM = for_family(BertForMaskedLM, RobertaModel)
RobertaForSequenceClassification = for_family(BertForSequenceClassification, RobertaModel)
RobertaForTokenClassification = for_family(BertForTokenClassification, RobertaModel)
RobertaForQuestionAnswering = for_family(BertForQuestionAnswering, RobertaModel)
RobertaForMultipleChoice = for_family(BertForMultipleChoice, RobertaModel)
