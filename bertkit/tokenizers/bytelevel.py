"""Byte-level BPE (GPT-2, RoBERTa): BPE over the 256 byte values, so no text is ever unknown.

Text is split with GPT-2's regex, each piece turned into its UTF-8 bytes, and each byte shown as a
printable character (`pretokenizers.bytes_to_unicode`: a space is "Ġ"). The alphabet is always all
256 bytes, whatever the corpus, and BPE (bpe.py) learns merges on top. Decoding maps characters
back to bytes, so any UTF-8 string comes back exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bertkit.tokenizers.bpe import BPEModel, train_bpe
from bertkit.tokenizers.pretokenizers import byte_level_decode, byte_level_split, bytes_to_unicode

ALPHABET = tuple(bytes_to_unicode().values())


def train_byte_bpe(
    word_counts: Mapping[str, int], *, vocab_size: int, special_tokens: Sequence[str],
    min_frequency: int = 2, verbose: bool = False, show_progress: bool = False,
) -> BPEModel:
    """Learn byte-level BPE from counts of byte-level words (see `byte_level_split`)."""
    return train_bpe(word_counts, vocab_size=vocab_size, special_tokens=special_tokens, unk_token=None,
                     min_frequency=min_frequency, limit_alphabet=0, initial_alphabet=ALPHABET,
                     verbose=verbose, show_progress=show_progress)


def encode(model: BPEModel, text: str) -> list[str]:
    """Tokens of `text` in pure Python: GPT-2 split, byte map, then BPE on each piece."""
    return [t for piece in byte_level_split(text) for t in model.tokenize(piece)]


def decode(tokens: list[str]) -> str:
    """The text back from byte-level tokens (exact for any UTF-8 input)."""
    return byte_level_decode(tokens)
