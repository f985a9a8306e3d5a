"""Corpus -> packed token shards (memmap) -> pretraining examples (BERT pairs with NSP, RoBERTa
full sentences) -> masked batches."""

from bertkit.data.masking import continuation_table, mask_tokens, word_ids_from_tokens

__all__ = ["continuation_table", "mask_tokens", "word_ids_from_tokens"]
