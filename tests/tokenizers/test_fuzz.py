"""Every algorithm on any Unicode input: encoding (single, pairs, batches, truncation down to 0,
overflowing windows) raises nothing but the documented errors, offsets stay inside the text and
do not overlap, and decoding never raises.

Documented errors: ConfigError for settings that cannot be honoured (max_length shorter than the
template's special tokens or 0, a truncation strategy the pair cannot absorb, a stride too large
for the window, overflowing windows of a pair with longest_first), DataError for a str that is
not Unicode text (a lone surrogate).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bertkit.errors import ConfigError, DataError
from bertkit.tokenizers import Tokenizer
from bertkit.tokenizers.config import ALGORITHMS

SIZES = {"bpe": 300, "wordpiece": 300, "unigram": 300, "byte_bpe": 600, "word": 300, "char": 40}
# Characters that have broken offsets before: combining marks, CJK (the normalizer adds spaces
# around it), emoji (several UTF-8 bytes), controls and whitespace the cleaner drops or maps.
TRICKY = "aeiouáãçÇ\u0301\u0303\u0327 .,!?-'🙂👍🏽中一㐀\t\n\x00\x85\xa0\u200b\u3000\ufeff0"
texts = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=30) | st.text(
    alphabet=TRICKY, max_size=30)
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def tokenizers_by_algorithm(corpus_pt):
    lines = corpus_pt.read_text(encoding="utf-8").splitlines()[:600] + ["中文 一 🙂 👍🏽 ção"] * 3
    return {a: Tokenizer.train(texts=lines, algorithm=a, vocab_size=SIZES[a], min_frequency=1,
                               show_progress=False) for a in ALGORITHMS}


def is_unicode(*strings: str | None) -> bool:
    return all(s is None or not any(0xD800 <= ord(c) <= 0xDFFF for c in s) for s in strings)


def check_offsets(offsets, sequence_ids, text: str, pair: str | None, algorithm: str) -> None:
    """In bounds; disjoint within a sequence, except that byte-level pieces of one character share
    that character."""
    for seq, src in ((0, text), (1, pair)):
        spans = [tuple(o) for o, s in zip(offsets, sequence_ids, strict=True) if s == seq]
        assert src is not None or not spans
        for start, end in spans:
            assert 0 <= start <= end <= len(src)
        for (a, b), (c, d) in zip(spans, spans[1:], strict=False):
            shared = algorithm == "byte_bpe" and a <= c and b <= d and b - c <= 1
            assert c >= b or shared, (spans, src)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_encode_any_text(tokenizers_by_algorithm, algorithm):
    tok = tokenizers_by_algorithm[algorithm]

    @FUZZ
    @given(texts, st.none() | texts, st.none() | st.integers(0, 12),
           st.sampled_from([True, "only_first", "only_second"]), st.integers(0, 3), st.booleans())
    def check(text, pair, max_length, truncation, stride, overflowing):
        stride = stride if max_length is not None else 0
        try:
            enc = tok.encode(text, pair, max_length=max_length, truncation=truncation, stride=stride,
                             return_overflowing=overflowing)
        except ConfigError:
            # only settings that cannot be honoured: a window too small, or overflowing windows of a
            # pair cut from both texts (longest_first; transformers refuses it too)
            assert max_length is not None or (pair is not None and overflowing and truncation is True)
            return
        except DataError:
            assert not is_unicode(text, pair)
            return
        assert is_unicode(text, pair)
        for e in (enc, *enc.overflowing):
            assert max_length is None or len(e) <= max_length
            check_offsets(e.offsets, e.sequence_ids, text, pair, algorithm)
            assert isinstance(tok.decode(e.ids), str)
            assert isinstance(tok.decode(e.ids, skip_special_tokens=False), str)

    check()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_encode_batch_any_text(tokenizers_by_algorithm, algorithm):
    tok = tokenizers_by_algorithm[algorithm]

    @FUZZ
    @given(st.lists(texts, max_size=4), st.booleans(), st.none() | st.integers(0, 12))
    def check(batch, with_pairs, max_length):
        pairs = batch[::-1] if with_pairs else None
        try:
            out = tok.encode_batch(batch, pairs, max_length=max_length, return_tensors=None,
                                   return_offsets=True)
        except ConfigError:
            assert max_length is not None
            return
        except DataError:
            assert not is_unicode(*batch)
            return
        for i, (ids, offsets) in enumerate(zip(out["input_ids"], out["offset_mapping"], strict=True)):
            pair = pairs[i] if pairs else None
            one = tok.encode(batch[i], pair, max_length=max_length)
            assert ids[:len(one)] == one.ids and offsets[:len(one)] == one.offsets
            check_offsets(one.offsets, one.sequence_ids, batch[i], pair, algorithm)
        assert len(tok.decode_batch(out["input_ids"])) == len(batch)

    check()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_decode_any_ids(tokenizers_by_algorithm, algorithm):
    tok = tokenizers_by_algorithm[algorithm]

    @FUZZ
    @given(st.lists(st.integers(0, tok.vocab_size + 10), max_size=40), st.booleans())
    def check(ids, skip):
        assert isinstance(tok.decode(ids, skip_special_tokens=skip), str)

    check()
    with pytest.raises(ConfigError, match="token ids must be between 0"):
        tok.decode([5, -1])


def test_pair_windows_need_a_side_to_slide_over(tokenizers_by_algorithm):
    # found by the fuzz test: the runtime's longest_first windows of "0" + "0" at max_length 4 came
    # back 5 tokens long
    tok = tokenizers_by_algorithm["wordpiece"]
    with pytest.raises(ConfigError, match="only_first' or 'only_second"):
        tok.encode("0", "0", max_length=4, truncation=True, return_overflowing=True)
    enc = tok.encode("0 0 0 0", "0", max_length=6, truncation="only_first", return_overflowing=True)
    assert all(len(e) <= 6 for e in (enc, *enc.overflowing)) and enc.overflowing
