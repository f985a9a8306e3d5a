"""Tokenizers: train BPE, WordPiece, Unigram, byte-level BPE (and word/char baselines), encode like
BERT on the Rust `tokenizers` runtime, and read/write Hugging Face tokenizer files."""

from bertkit._modules import lazy_exports

_EXPORTS = {
    "BERT_SPECIALS": "bertkit.tokenizers.specials",
    "ROBERTA_SPECIALS": "bertkit.tokenizers.specials",
    "Encoding": "bertkit.tokenizers.tokenizer",
    "Tokenizer": "bertkit.tokenizers.tokenizer",
    "TokenizerTrainConfig": "bertkit.tokenizers.config",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
