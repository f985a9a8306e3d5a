"""Tokenizers: train BPE, WordPiece, Unigram, byte-level BPE (and word/char baselines), encode like
BERT on the Rust `tokenizers` runtime, and read/write Hugging Face tokenizer files."""

from bertkit.tokenizers.tokenizer import BERT_SPECIALS, ROBERTA_SPECIALS, Encoding, Tokenizer

__all__ = ["BERT_SPECIALS", "ROBERTA_SPECIALS", "Encoding", "Tokenizer"]
