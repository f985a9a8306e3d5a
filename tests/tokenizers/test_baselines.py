"""Word- and character-level baselines: frequency-ranked vocabularies, [UNK] for the rest."""

from __future__ import annotations

from bertkit.tokenizers.baselines import train_baseline
from bertkit.tokenizers.reference import reference_encode
from bertkit.tokenizers.trainers import train_runtime

COUNTS = {"the": 10, "cat": 4, "sat": 3, "mat": 1}


def test_word_level_keeps_most_frequent():
    model = train_baseline(COUNTS, level="word", vocab_size=4, special_tokens=("[UNK]",))
    assert list(model.vocab) == ["[UNK]", "the", "cat", "sat"]
    assert model.tokenize("mat") == ["[UNK]"]


def test_char_level_runtime():
    lines = ["the cat sat", "the mat"]
    tok = train_runtime(lines, algorithm="char", vocab_size=10, min_frequency=1, show_progress=False)
    enc = tok.encode("the cab", add_special_tokens=False)
    assert enc.tokens == ["t", "h", "e", "c", "a", "[UNK]"]  # top-5 chars: t a e h c (b unseen)
    assert reference_encode(tok, "the cab!") == tok.encode("the cab!", add_special_tokens=False).ids


def test_word_level_runtime():
    tok = train_runtime(["the cat sat on the mat"] * 3, algorithm="word", vocab_size=8, show_progress=False)
    assert tok.encode("the dog", add_special_tokens=False).tokens == ["the", "[UNK]"]
