"""The units the classic representations count: plain words, or the tokens of a bertkit tokenizer.

    split_words("Don't panic, it's 2024!")  ->  ["don't", "panic", "it's", "2024"]
    tokenizer_units(tok)("unaffable")        ->  ["una", "##ffa", "##ble"]   (special tokens dropped)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from bertkit.io import iter_lines

# letters/digits, with inner apostrophes kept ("don't", "o'neill"); punctuation dropped
WORD = re.compile(r"\w+(?:['’]\w+)*")

Analyzer = Callable[[str], list[str]]


def split_words(text: str, lowercase: bool = True) -> list[str]:
    """The words of `text`: runs of letters and digits (inner apostrophes kept), lowercased."""
    return WORD.findall(text.lower() if lowercase else text)


def tokenizer_units(tokenizer: Any) -> Analyzer:
    """An analyzer giving a bertkit `Tokenizer`'s tokens for a text, without special tokens."""

    def analyze(text: str) -> list[str]:
        enc = tokenizer.encode(text)
        return [t for t, special in zip(enc.tokens, enc.special_tokens_mask, strict=True) if not special]

    return analyze


def analyzer(tokenizer: Any = None, lowercase: bool = True) -> Analyzer:
    """`tokenizer`'s units (a Tokenizer, or a directory to load one from), else lowercased words."""
    if tokenizer is None:
        return lambda text: split_words(text, lowercase)
    if isinstance(tokenizer, (str, Path)):
        from bertkit.tokenizers import Tokenizer

        tokenizer = Tokenizer.from_pretrained(tokenizer)
    return tokenizer_units(tokenizer)


def read_sentences(files: Iterable[str | Path], analyze: Analyzer) -> Iterator[list[str]]:
    """The non-empty lines of `files` as lists of units (one line = one sentence, as word2vec reads)."""
    for path in files:
        for line in iter_lines(path):
            units = analyze(line)
            if units:
                yield units
