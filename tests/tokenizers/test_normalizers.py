"""Normalization and pre-tokenization: the pure-Python reference equals the Rust runtime."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit.errors import ConfigError
from bertkit.tokenizers.normalizers import (
    NormalizerOptions,
    normalize,
    normalize_ascii,
    runtime_normalizer,
)
from bertkit.tokenizers.pretokenizers import (
    bert_split,
    bert_split_regex,
    byte_level_split,
    metaspace_split,
    runtime_pre_tokenizer,
)

# Characters whose Unicode properties agree between Python 3.11 and the runtime's older tables:
# ASCII + controls, Latin-1, Latin Extended, combining accents, Greek, Cyrillic, Arabic, CJK,
# kana, Hangul, emoji, zero-width/format characters and exotic whitespace.
ALPHABET = "".join(
    chr(cp) for lo, hi in [
        (0x00, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF), (0x600, 0x64A),
        (0x3000, 0x30FF), (0x4E00, 0x4E40), (0xAC00, 0xAC20), (0x1F600, 0x1F64F), (0x1F300, 0x1F320),
        (0x2000, 0x206F), (0xFB00, 0xFB06), (0xFF01, 0xFF20), (0xFFFD, 0xFFFD), (0xE000, 0xE003),
    ] for cp in range(lo, hi + 1)
)
texts = st.text(alphabet=ALPHABET, max_size=60)
options = st.builds(
    NormalizerOptions, lowercase=st.booleans(), strip_accents=st.booleans(),
    unicode_form=st.sampled_from(["NFC", "NFKC", None]), clean_text=st.booleans(),
    handle_chinese_chars=st.booleans(),
)


def test_lowercase_keeps_accents_by_default():
    assert normalize("Você ESTÁ") == "você está"
    assert runtime_normalizer(NormalizerOptions()).normalize_str("Você ESTÁ") == "você está"


def test_strip_accents_is_opt_in():
    opts = NormalizerOptions(strip_accents=True)
    assert normalize("Você ESTÁ", opts) == "voce esta"
    assert runtime_normalizer(opts).normalize_str("Você ESTÁ") == "voce esta"


def test_unicode_forms():
    assert normalize("e\u0301", NormalizerOptions(lowercase=False)) == "é"  # NFC composes
    assert normalize("ﬁ", NormalizerOptions(unicode_form="NFKC")) == "fi"  # NFKC folds ligatures
    assert normalize("ﬁ", NormalizerOptions(unicode_form="NFC")) == "ﬁ"
    with pytest.raises(ConfigError, match="unicode_form"):
        NormalizerOptions(unicode_form="NFX")


def test_bert_cleanup_cjk_and_controls():
    assert normalize("a\x00b\u200bc\x07d\ufffde") == "abcde"  # control/format chars removed
    assert normalize("a\tb\nc\u3000d") == "a b c d"  # every whitespace becomes a space
    assert normalize("日本語ok") == " 日  本  語 ok"
    assert bert_split(normalize("Hello, world!! 日本")) == ["hello", ",", "world", "!", "!", "日", "本"]


def test_nfd_input_normalizes_like_nfc():
    text = "Ação, café e pão à vontade"
    assert normalize(unicodedata.normalize("NFD", text)) == normalize(text)


@settings(max_examples=500, deadline=None)
@given(texts, options)
def test_normalize_equals_runtime(text, opts):
    assert normalize(text, opts) == runtime_normalizer(opts).normalize_str(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="".join(map(chr, range(128))), max_size=40), options)
def test_ascii_fast_path_equals_runtime(text, opts):
    """Word counting normalizes ASCII lines with str methods; every ASCII character is covered."""
    every = "".join(map(chr, range(128)))
    for t in (text, every, every.upper() + text):
        assert normalize_ascii(t, opts) == runtime_normalizer(opts).normalize_str(t)
    assert normalize_ascii(text, None) == text


@settings(max_examples=500, deadline=None)
@given(texts)
def test_pre_tokenizers_equal_runtime(text):
    text = normalize(text, NormalizerOptions(clean_text=False, lowercase=False))
    for scheme, ours in [("bert", bert_split), ("metaspace", metaspace_split),
                         ("byte_level", byte_level_split)]:
        theirs = [w for w, _ in runtime_pre_tokenizer(scheme).pre_tokenize_str(text)]
        assert ours(text) == theirs, scheme
    assert bert_split_regex().findall(text) == bert_split(text)


def test_alphanumeric_characters_are_never_split():
    """count_words takes an isalnum() piece as one word without the regex: no such character is
    punctuation or whitespace."""
    text = "".join(chr(cp) for cp in range(0x110000) if not 0xD800 <= cp < 0xE000 and chr(cp).isalnum())
    assert bert_split_regex().findall(text) == [text]


def test_bert_split_equals_runtime_on_every_code_point():
    """Punctuation and whitespace agree with the runtime's (older) Unicode tables everywhere."""
    text = "a".join(chr(cp) for cp in range(0x110000) if not 0xD800 <= cp < 0xE000)
    theirs = [w for w, _ in runtime_pre_tokenizer("bert").pre_tokenize_str(text)]
    assert bert_split(text) == theirs
    assert bert_split_regex().findall(text) == theirs
