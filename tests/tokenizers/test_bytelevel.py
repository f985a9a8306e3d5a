"""Byte-level BPE: 256-byte alphabet, never unknown, exact round trip of any UTF-8 text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit.tokenizers.bytelevel import decode, encode
from bertkit.tokenizers.pretokenizers import bytes_to_unicode
from bertkit.tokenizers.reference import reference_encode, reference_model
from bertkit.tokenizers.trainers import train_runtime


@pytest.fixture(scope="module")
def byte_tok(corpus_pt):
    lines = corpus_pt.read_text(encoding="utf-8").splitlines()[:1000]
    return train_runtime(lines, algorithm="byte_bpe", vocab_size=600, special_tokens=None,
                         show_progress=False)


def test_byte_map_is_gpt2s():
    table = bytes_to_unicode()
    assert len(set(table.values())) == 256
    assert table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ" and table[ord("A")] == "A"  # GPT-2


def test_alphabet_and_specials(byte_tok):
    vocab = byte_tok.get_vocab()
    assert set(bytes_to_unicode().values()) <= set(vocab)
    assert [byte_tok.token_to_id(t) for t in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")] == [0, 1, 2, 3, 4]
    assert byte_tok.get_vocab_size() == 600


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=80))
def test_round_trip_and_parity_on_any_text(byte_tok, text):
    ids = byte_tok.encode(text, add_special_tokens=False).ids
    assert byte_tok.decode(ids, skip_special_tokens=False) == text  # "<s>" in the text stays
    assert reference_encode(byte_tok, text) == ids
    model = reference_model(byte_tok)
    assert decode(encode(model, text)) == text
