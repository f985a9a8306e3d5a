"""The baselines subwords are contrasted with: a vocabulary of whole words, or of characters.

Both keep the `vocab_size - len(special_tokens)` most frequent units of the training text (ties by
text order of the unit) and map everything else to `[UNK]`. Word-level suffers from unknown
words; character-level never does (given the alphabet) but makes long sequences.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tokenizers import models

from bertkit.errors import ConfigError, DataError

LEVELS = ("word", "char")


@dataclass
class WordLevelModel:
    """Look a unit up; `[UNK]` if absent. (For characters, the pre-tokenizer splits words first.)"""

    vocab: dict[str, int]
    unk_token: str = "[UNK]"

    def tokenize(self, word: str) -> list[str]:
        return [word if word in self.vocab else self.unk_token]

    def to_runtime(self):
        return models.WordLevel(vocab=dict(self.vocab), unk_token=self.unk_token)


def train_baseline(
    word_counts: Mapping[str, int], *, level: str, vocab_size: int, special_tokens: Sequence[str],
    unk_token: str = "[UNK]", verbose: bool = False, show_progress: bool = False,
) -> WordLevelModel:
    """The most frequent words (level="word") or characters (level="char")."""
    if level not in LEVELS:
        raise ConfigError(f"unknown baseline level {level!r}; choose from {LEVELS}")
    units: Counter[str] = Counter()
    for word, count in word_counts.items():
        if level == "word":
            units[word] += count
        else:
            for ch in word:
                units[ch] += count
    vocab = {t: i for i, t in enumerate(special_tokens)}
    for unit, count in sorted(units.items(), key=lambda kv: (-kv[1], kv[0])):
        if len(vocab) >= vocab_size:
            break
        if unit not in vocab:
            vocab[unit] = len(vocab)
            if verbose:
                print(f"{level} {len(vocab) - 1}: {unit!r} (count {count})")
    if len(vocab) < vocab_size:
        raise DataError(f"the corpus has only {len(vocab) - len(special_tokens)} distinct {level}s, fewer "
                        f"than vocab_size={vocab_size} minus {len(special_tokens)} special tokens")
    return WordLevelModel(vocab=vocab, unk_token=unk_token)
