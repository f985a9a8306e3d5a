"""The pure-Python reference encoders give the SAME ids as the Rust runtime, on thousands of
generated strings: emoji, accents, NFD input, CJK, control characters, empty and very long words."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit.tokenizers.reference import reference_encode
from bertkit.tokenizers.trainers import train_runtime

from .test_normalizers import ALPHABET

WORDS = ["você", "não", "licença", "empresa", "ação", "Über", "naïve", "日本語", "🥰", "x" * 150]
texts = st.lists(st.one_of(st.text(alphabet=ALPHABET, max_size=12), st.sampled_from(WORDS)),
                 max_size=8).map(" ".join)
CASES = {
    "bpe": {}, "wordpiece": {"max_input_chars_per_word": 20}, "unigram": {}, "word": {}, "char": {},
    "bpe_strip_nfkc": {"strip_accents": True, "unicode_form": "NFKC"},
}


@pytest.fixture(scope="module")
def tokenizers_by_case(corpus_pt):
    lines = corpus_pt.read_text(encoding="utf-8").splitlines()[:800]
    out = {}
    for case, kw in CASES.items():
        algorithm = case.split("_")[0]
        size = {"char": 40, "word": 800}.get(algorithm, 400)
        out[case] = train_runtime(lines, algorithm=algorithm, vocab_size=size, show_progress=False,
                                  min_frequency=1, **kw)
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_identical_ids(tokenizers_by_case, case):
    tok = tokenizers_by_case[case]

    @settings(max_examples=400, deadline=None)
    @given(texts)
    def check(text):
        for variant in (text, unicodedata.normalize("NFD", text)):
            assert reference_encode(tok, variant) == tok.encode(variant, add_special_tokens=False).ids

    check()


def test_nfd_and_nfc_give_the_same_ids(tokenizers_by_case):
    text = "Ação e pão, você não?"
    for tok in tokenizers_by_case.values():
        assert tok.encode(unicodedata.normalize("NFD", text)).ids == tok.encode(text).ids


words = st.lists(st.text(alphabet="abcdefghijlmnopqrstuvxzçãõáéíóúâêà", min_size=1, max_size=12),
                 min_size=1, max_size=8).map(" ".join)


@pytest.mark.parametrize("case", ["wordpiece", "unigram"])
def test_decode_restores_normalized_words(tokenizers_by_case, case):
    """Where the model marks word boundaries ("##" continuations, "▁" word starts), decoding the
    ids gives back the normalized text. (Classic BPE has no such mark: see trainers.py.)"""
    tok = tokenizers_by_case[case]
    unk = tok.token_to_id("[UNK]")
    ids = tok.encode("Você NÃO encontra a licença", add_special_tokens=False).ids
    assert tok.decode(ids) == "você não encontra a licença" and len(ids) > 5

    @settings(max_examples=300, deadline=None)
    @given(words)
    def check(text):
        ids = tok.encode(text.upper(), add_special_tokens=False).ids
        if unk not in ids:
            assert tok.decode(ids) == text

    check()
