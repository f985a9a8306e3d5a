"""`compare_tokenizers` on a tiny file whose numbers can be checked by hand."""

from __future__ import annotations

import pytest
from tokenizers import Regex, models, pre_tokenizers
from tokenizers import Tokenizer as Runtime

from bertkit.errors import DataError
from bertkit.tokenizers import BERT_SPECIALS, Tokenizer
from bertkit.tokenizers.compare import _tokens_per_word, compare_tokenizers, format_comparison

TEXT = "the cat sat.\n\nthe dog sat.\n"  # 8 words (the cat sat . / the dog sat .), 24 characters


def _word_level() -> Tokenizer:
    vocab = {t: i for i, t in enumerate([*BERT_SPECIALS.values(), "the", "cat", "sat", "."])}
    runtime = Runtime(models.WordLevel(vocab, unk_token="[UNK]"))
    runtime.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return Tokenizer(runtime, BERT_SPECIALS, algorithm="word")


def _char_level() -> Tokenizer:
    vocab = {t: i for i, t in enumerate([*BERT_SPECIALS.values(), *"thecasdog."])}
    runtime = Runtime(models.WordLevel(vocab, unk_token="[UNK]"))
    runtime.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex("."), behavior="isolated")])
    return Tokenizer(runtime, BERT_SPECIALS, algorithm="char")


def test_numbers_by_hand(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text(TEXT, encoding="utf-8")
    result = compare_tokenizers({"words": _word_level(), "chars": _char_level()}, path, samples=1)
    words, chars = result.rows
    # word level: 8 tokens for 8 words, "dog" is the one unknown, nothing split, 24 chars / 8 tokens
    assert (words.words, words.tokens, words.vocab_size) == (8, 8, 9)
    assert words.fertility == 1.0 and words.unknown_pct == 12.5 and words.split_pct == 0.0
    assert words.chars_per_token == 3.0
    # char level: 20 non-space characters = 20 tokens; 6 of 8 words (all but the two ".") split
    assert (chars.words, chars.tokens) == (8, 20)
    assert chars.fertility == 2.5 and chars.unknown_pct == 0.0 and chars.split_pct == 75.0
    assert chars.chars_per_token == 1.2
    assert result.samples == [("the cat sat.", {"words": ["the", "cat", "sat", "."],
                                                "chars": list("thecatsat.")})]
    table = format_comparison(result)
    assert "tokens/word" in table and "12.50" in table and "75.0" in table and "t · h · e" in table
    assert result.to_dict()["rows"][1]["tokens"] == 20


def test_word_start_marker_goes_to_next_word():
    # "ab cd" cut as "ab", "▁" (the space), "cd": the bare marker counts for "cd"
    assert _tokens_per_word("ab cd", [(0, 2), (2, 3), (3, 5)]) == [1, 2]
    assert _tokens_per_word("ab, cd", [(0, 1), (1, 2), (2, 3), (4, 6)]) == [2, 1, 1]


def test_byte_level_samples_are_readable(tmp_path):
    import tokenizers

    trainer = tokenizers.ByteLevelBPETokenizer()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    trainer.train_from_iterator(["você já pediu o cartão"] * 20, vocab_size=300, min_frequency=2,
                                special_tokens=specials, show_progress=False)
    trainer.save_model(str(tmp_path))
    tok = Tokenizer.from_pretrained(tmp_path)
    path = tmp_path / "t.txt"
    path.write_text("você já pediu o cartão\n", encoding="utf-8")
    result = compare_tokenizers({"bbpe": tok}, path, samples=["você já pediu o cartão"])
    assert "".join(result.samples[0][1]["bbpe"]).replace("Ġ", " ") == "você já pediu o cartão"
    assert result.rows[0].words == 5 and result.rows[0].unknown_pct == 0.0


def test_empty_file(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("\n\n")
    with pytest.raises(DataError, match="no text"):
        compare_tokenizers({"words": _word_level()}, path)
