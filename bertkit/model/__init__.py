"""The Transformer encoder and BERT with its heads, Hugging Face checkpoint interop, sentence embeddings."""

from bertkit.model.bert import (
    BertForMaskedLM,
    BertForPreTraining,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
    BertOutput,
    BertPreTrainedModel,
    ClassifierOutput,
    MaskedLMOutput,
    PreTrainingOutput,
)
from bertkit.model.config import PRESETS, BertConfig
from bertkit.model.embedder import Embedder
from bertkit.model.layers import sinusoidal_positions

__all__ = [
    "PRESETS", "BertConfig", "BertModel", "BertPreTrainedModel", "BertForMaskedLM", "BertForPreTraining",
    "BertForSequenceClassification", "BertForTokenClassification", "Embedder", "sinusoidal_positions",
    "BertOutput", "MaskedLMOutput", "PreTrainingOutput", "ClassifierOutput",
]
