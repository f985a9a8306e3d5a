"""Corpus -> packed token shards (memmap) -> pretraining examples (BERT pairs with NSP, RoBERTa
full sentences) -> masked batches."""

from bertkit._modules import lazy_exports

_EXPORTS = dict.fromkeys(["continuation_table", "mask_tokens", "word_ids_from_tokens"],
                         "bertkit.data.masking")
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
