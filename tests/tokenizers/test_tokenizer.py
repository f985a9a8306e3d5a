"""The Tokenizer/Encoding API: special-token layout, templates, offsets, truncation, padding,
overflowing windows, batches, decode, added tokens and bad input."""

from __future__ import annotations

import unicodedata

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit.errors import ConfigError, DataError
from bertkit.tokenizers import Encoding, Tokenizer

PT = "Você já pediu o cartão da empresa?"
EN = "The bank opened a new branch in the city."


@pytest.fixture(scope="module")
def tok(corpus_pt) -> Tokenizer:
    """A small BPE tokenizer trained on the Portuguese FAQ (lowercase, accents kept)."""
    return Tokenizer.train(corpus_pt, algorithm="bpe", vocab_size=1500, show_progress=False)


@pytest.fixture(scope="module")
def minilm(minilm_dir) -> Tokenizer:
    return Tokenizer.from_pretrained(minilm_dir)


def test_bert_special_layout_and_template(tok):
    # BERT's layout: [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4.
    assert [tok.pad_token_id, tok.unk_token_id, tok.cls_token_id, tok.sep_token_id, tok.mask_token_id] == [
        0, 1, 2, 3, 4]
    assert tok.all_special_ids == [0, 1, 2, 3, 4]
    assert tok.vocab_size == len(tok) == len(tok.get_vocab()) == 1500
    single = tok.encode(PT)
    assert single.tokens[0] == "[CLS]" and single.tokens[-1] == "[SEP]"
    assert set(single.type_ids) == {0}
    pair = tok.encode(PT, EN)
    sep = pair.ids.index(tok.sep_token_id)
    assert pair.ids[-1] == tok.sep_token_id
    assert pair.type_ids == [0] * (sep + 1) + [1] * (len(pair) - sep - 1)
    assert pair.special_tokens_mask == [1] + [0] * (sep - 1) + [1] + [0] * (len(pair) - sep - 2) + [1]
    assert pair.sequence_ids[1] == 0 and pair.sequence_ids[-2] == 1 and pair.sequence_ids[0] is None
    assert tok.id_to_token(tok.token_to_id("[MASK]")) == "[MASK]"


def test_configurable_special_names_and_ids(corpus_pt):
    specials = {"cls": "<cls>", "sep": "<sep>", "unk": "<unk>", "pad": "<pad>", "mask": "<mask>"}
    t = Tokenizer.train(corpus_pt, algorithm="bpe", vocab_size=300, special_tokens=specials,
                        show_progress=False)
    ids = [t.cls_token_id, t.sep_token_id, t.unk_token_id, t.pad_token_id, t.mask_token_id]
    assert ids == [0, 1, 2, 3, 4]
    enc = t.encode("olá", "adeus")
    assert enc.tokens[0] == "<cls>" and enc.tokens.count("<sep>") == 2


def test_accents_kept_and_offsets_point_into_original(tok):
    enc = tok.encode(PT)
    assert "cartão" in enc.tokens  # lowercasing keeps accents
    for token, (s, e), special in zip(enc.tokens, enc.offsets, enc.special_tokens_mask, strict=True):
        if not special:
            assert PT[s:e].lower() == token


@pytest.mark.parametrize("text", ["Você", unicodedata.normalize("NFD", "Você"), "ÉÇÃO", "cartão ÉÇÃO\u0301x"])
def test_offsets_with_nfd_and_uppercase(tok, text):
    enc = tok.encode(text, add_special_tokens=False)
    # The spans tile the non-space characters and, normalized, give back each token.
    assert enc.offsets[0][0] == 0 and enc.offsets[-1][1] == len(text)
    pieces = [unicodedata.normalize("NFC", text[s:e]).lower() for s, e in enc.offsets]
    assert pieces == enc.tokens


@pytest.mark.parametrize("algorithm, text, pair", [
    ("byte_bpe", "\x80\u0300", None),         # a mark after a character split into byte pieces
    ("byte_bpe", "\x80\u0300", "0"),          # ... whose own pieces are truncated away
    ("unigram", "00", None),                   # Metaspace's "▁" before the first word
    ("unigram", "㐀1", None),                   # "▁" the normalizer adds after a CJK character
    ("unigram", "ação\u0301 一 x", "Você"),
])
def test_offsets_never_overlap(corpus_pt, algorithm, text, pair):
    lines = corpus_pt.read_text(encoding="utf-8").splitlines()[:300] + ["㐀1 一 00"] * 2
    t = Tokenizer.train(texts=lines, algorithm=algorithm, vocab_size=600 if algorithm == "byte_bpe" else 300,
                        min_frequency=1, show_progress=False)
    for max_length in (None, 4, 7):
        enc = t.encode(text, pair, max_length=max_length)
        for seq, src in ((0, text), (1, pair)):
            spans = [o for o, s in zip(enc.offsets, enc.sequence_ids, strict=True) if s == seq]
            for (a, b), (c, d) in zip(spans, spans[1:], strict=False):
                # byte-level pieces of one character share it; nothing else overlaps
                assert c >= b or (algorithm == "byte_bpe" and a <= c and b <= d and b - c <= 1), spans
            assert all(0 <= s <= e <= len(src) for s, e in spans)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("aeiouáéíóúãõçAÉÇÃ \u0301\u0303.,?!-\t🙂中")), max_size=40))
def test_offsets_reconstruct_tokens_property(minilm, text):
    """MiniLM lowercases and strips accents: each token is its original span, normalized the same way."""
    enc = minilm.encode(text, add_special_tokens=False)
    for token, (s, e) in zip(enc.tokens, enc.offsets, strict=True):
        if token == "[UNK]":
            continue
        nfd = unicodedata.normalize("NFD", text[s:e].lower())
        span = "".join(c for c in nfd if unicodedata.category(c) != "Mn")
        assert span == token.removeprefix("##")


def test_truncation_strategies(tok):
    a, b = "um dois três quatro cinco seis sete oito", "nove dez"
    full_a = len(tok.encode(a, add_special_tokens=False))
    full_b = len(tok.encode(b, add_special_tokens=False))
    assert full_a > 6 and full_b < 6
    enc = tok.encode(a, b, max_length=10, truncation="only_first")
    assert len(enc) == 10 and enc.type_ids.count(1) == full_b + 1
    enc = tok.encode(a, b, max_length=10, truncation="longest_first")
    assert len(enc) == 10
    with pytest.raises(ConfigError):
        tok.encode(a, b, max_length=10, truncation="only_second")  # b is too short to absorb the cut
    enc = tok.encode(a, max_length=5)  # truncation defaults on when max_length is given
    assert len(enc) == 5 and enc.tokens[-1] == "[SEP]"
    assert len(tok.encode(a, max_length=5, truncation=False)) == full_a + 2


def test_overflowing_windows_keep_template_and_stride(tok):
    words = " ".join(f"palavra{i}" for i in range(30))
    enc = tok.encode(words, max_length=12, stride=3, return_overflowing=True)
    windows = [enc, *enc.overflowing]
    assert len(windows) > 1 and all(isinstance(w, Encoding) for w in windows)
    inner = [w.ids[1:-1] for w in windows]
    for w in windows:
        assert w.ids[0] == tok.cls_token_id and w.ids[-1] == tok.sep_token_id and len(w) <= 12
    for prev, nxt in zip(inner, inner[1:], strict=False):
        assert prev[-3:] == nxt[:3]  # consecutive windows overlap by `stride` tokens
    body = tok.encode(words, add_special_tokens=False).ids
    rebuilt = inner[0] + [i for w in inner[1:] for i in w[3:]]
    assert rebuilt == body


def test_pair_overflow_keeps_question(tok):
    question, context = "qual é o prazo?", " ".join(["o prazo é de trinta dias úteis"] * 6)
    enc = tok.encode(question, context, max_length=20, truncation="only_second", stride=4,
                     return_overflowing=True)
    q = tok.encode(question, add_special_tokens=False).ids
    assert enc.overflowing
    for w in [enc, *enc.overflowing]:
        assert w.ids[1:1 + len(q)] == q


def test_padding_modes(tok):
    n = len(tok.encode("olá"))
    enc = tok.encode("olá", max_length=8, padding="max_length")
    assert len(enc) == 8 and enc.ids[n:] == [tok.pad_token_id] * (8 - n)
    assert enc.attention_mask == [1] * n + [0] * (8 - n)
    batch = tok.encode_batch(["olá", PT], padding="longest", pad_to_multiple_of=8)
    assert batch["input_ids"].shape[1] % 8 == 0 and batch["input_ids"].shape[0] == 2
    assert batch["attention_mask"][0].sum() == len(tok.encode("olá"))


def test_encode_batch_tensors_and_lists(tok):
    texts, pairs = [PT, EN, "sim"], ["a", "b", "c d e"]
    batch = tok.encode_batch(texts, pairs, return_special_tokens_mask=True, return_offsets=True)
    assert batch["input_ids"].dtype == torch.int64
    assert set(batch) == {"input_ids", "attention_mask", "token_type_ids", "special_tokens_mask",
                          "offset_mapping"}
    for i, (t, p) in enumerate(zip(texts, pairs, strict=True)):
        enc = tok.encode(t, p)
        n = len(enc)
        assert batch["input_ids"][i, :n].tolist() == enc.ids
        assert batch["token_type_ids"][i, :n].tolist() == enc.type_ids
        assert [tuple(o) for o in batch["offset_mapping"][i, :n].tolist()] == enc.offsets
        assert batch["input_ids"][i, n:].eq(tok.pad_token_id).all()
    lists = tok.encode_batch(texts, padding=False, return_tensors=None)
    assert lists["input_ids"] == [tok.encode(t).ids for t in texts]
    np_batch = tok.encode_batch(texts, return_tensors="np")
    assert np_batch["input_ids"].tolist() == batch_ids(tok, texts)
    with pytest.raises(ConfigError, match="padding"):
        tok.encode_batch(texts, padding=False)
    with pytest.raises(ConfigError, match="pairs"):
        tok.encode_batch(texts, pairs[:2])


def batch_ids(tok, texts):
    return tok.encode_batch(texts, return_tensors=None)["input_ids"]


def test_batch_overflow_flattens_with_sample_mapping(tok):
    long = " ".join(["cartão"] * 40)
    batch = tok.encode_batch(["olá", long], max_length=16, stride=2, return_overflowing=True)
    mapping = batch["overflow_to_sample_mapping"].tolist()
    assert mapping[0] == 0 and mapping.count(1) == len(mapping) - 1 > 1
    assert batch["input_ids"].shape == (len(mapping), 16)


def test_encode_texts_matches_encode(tok):
    encs = tok.encode_texts([PT, EN], max_length=6)
    assert [e.ids for e in encs] == [tok.encode(PT, max_length=6).ids, tok.encode(EN, max_length=6).ids]


def test_decode_round_trip(tok):
    enc = tok.encode(PT, max_length=64, padding="max_length")
    assert tok.decode(enc.ids) == tok.decode(torch.tensor(enc.ids))
    text = tok.decode(enc.ids)
    assert "cartão" in text and "[PAD]" not in text
    assert tok.decode(enc.ids, skip_special_tokens=False).startswith("[CLS]")
    assert tok.decode_batch([enc.ids, enc.ids]) == [text, text]


def test_add_tokens(tok, corpus_pt):
    t = Tokenizer.train(corpus_pt, algorithm="bpe", vocab_size=400, show_progress=False)
    before = t.vocab_size
    assert t.add_tokens(["criptomoeda", "nft"]) == 2
    assert t.vocab_size == before + 2
    enc = t.encode("a criptomoeda e o nft", add_special_tokens=False)
    assert t.token_to_id("criptomoeda") == before and "criptomoeda" in enc.tokens and "nft" in enc.tokens
    assert t.add_tokens(["nft"]) == 0


def test_word_ids(minilm):
    enc = minilm.encode("unbelievable results")
    assert enc.word_ids[0] is None and enc.word_ids[-1] is None
    assert enc.word_ids[1:-1] == [0] * (len(enc) - 3) + [1]


@pytest.mark.parametrize("kwargs, match", [
    ({"truncation": "only_middle", "max_length": 4}, "truncation"),
    ({"padding": "shortest"}, "padding"),
    ({"stride": 2}, "stride"),
    ({"max_length": 0}, "max_length"),
])
def test_bad_options(tok, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        tok.encode(PT, **kwargs)


def test_train_bad_input(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n  \n")
    with pytest.raises(DataError, match="empty corpus"):
        Tokenizer.train(empty, vocab_size=100, show_progress=False)
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("olá mundo\ncoração".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1.txt.*byte offset 2.*errors='replace'"):
        Tokenizer.train(bad, algorithm="bpe", vocab_size=100, show_progress=False)
    t = Tokenizer.train(bad, algorithm="bpe", vocab_size=20, min_frequency=1, encoding_errors="replace",
                        show_progress=False)
    assert t.vocab_size == 20  # the bad bytes became U+FFFD (which BERT clean-up drops)
    with pytest.raises(ConfigError, match="algorithm must be one of .*; got 'sentencepiece'"):
        Tokenizer.train(bad, algorithm="sentencepiece", vocab_size=100)
    with pytest.raises(DataError, match="no such file.*texts="):
        Tokenizer.train(["olá mundo", "outra frase"], algorithm="bpe", vocab_size=100)
    with pytest.raises(DataError, match="empty corpus"):
        Tokenizer.train(texts=[], algorithm="bpe", vocab_size=100)
    with pytest.raises(DataError, match=f"{tmp_path}: is a directory"):
        Tokenizer.train(tmp_path, algorithm="bpe", vocab_size=100)


@pytest.mark.parametrize("options, match", [
    ({"min_frequency": -3}, "min_frequency must be >= 1; got -3"),
    ({"limit_alphabet": -1}, "limit_alphabet must be >= 1; got -1"),
    ({"vocab_size": 5}, "vocab_size=5 must exceed the 5 special tokens"),
    ({"special_tokens": {"pad": "[PAD]", "unk": "[UNK]"}}, "must name the cls, sep token"),
    ({"wordpiece_score": "pmi"}, "wordpiece_score must be one of log_likelihood_gain, likelihood_ratio"),
    ({"encoding_errors": "ignore"}, "encoding_errors must be one of strict, replace"),
])
def test_train_options_are_checked_before_reading(options, match):
    with pytest.raises(ConfigError, match=match):
        Tokenizer.train(texts=["never read"], **{"algorithm": "bpe", "vocab_size": 100, **options})


def test_max_length_below_the_template_is_refused(tok):
    """The runtime ignores a max_length shorter than [CLS] + [SEP] and returns the whole text."""
    with pytest.raises(ConfigError, match="max_length=1 leaves no room: the template adds 2"):
        tok.encode(PT, max_length=1)
    with pytest.raises(ConfigError, match="max_length=2 leaves no room: the template adds 3"):
        tok.encode(PT, EN, max_length=2)
    with pytest.raises(ConfigError, match="max_length=1 leaves no room"):
        tok.encode_batch([PT, EN], max_length=1)
    assert tok.encode(PT, max_length=2).tokens == ["[CLS]", "[SEP]"]
    assert tok.encode(PT, max_length=1, add_special_tokens=False).tokens == tok.encode(PT).tokens[1:2]
    with pytest.raises(ConfigError, match="return_overflowing needs room"):
        tok.encode(PT, max_length=2, return_overflowing=True)


def test_stride_too_large_is_a_config_error_not_a_panic(tok):
    with pytest.raises(ConfigError, match="stride=3 must be less than max_length=5"):
        tok.encode(PT, max_length=5, stride=3, return_overflowing=True)
    with pytest.raises(ConfigError, match="cannot encode with these settings"):  # only the runtime knows
        tok.encode(PT, " ".join([EN] * 3), max_length=12, stride=4, truncation="only_first")
    assert len(tok.encode(PT, max_length=12)) == 12  # the tokenizer still works afterwards


def test_lone_surrogates_are_a_data_error(tok):
    with pytest.raises(DataError, match=r"text 1: character 2 \('\\udcff'\) is a lone surrogate"):
        tok.encode("ok", "ab\udcff")
    with pytest.raises(DataError, match="lone surrogate"):
        tok.encode_batch(["ok", "\ud800"])
    with pytest.raises(TypeError):
        tok.encode(3)


def test_decode_refuses_negative_ids(tok):
    assert tok.decode([tok.vocab_size + 7, tok.token_to_id("cartão")]) == "cartão"  # unknown ids skipped
    with pytest.raises(ConfigError, match="token ids must be between 0 and 2\\*\\*32 - 1; got -1"):
        tok.decode([5, -1])


def test_train_from_texts_and_generator():
    texts = ["olá mundo", "olá amigo", "mundo novo"] * 10
    options = dict(algorithm="bpe", vocab_size=20, min_frequency=1, show_progress=False)
    a = Tokenizer.train(texts=texts, **options)
    b = Tokenizer.train((t for t in texts), **options)
    assert a.get_vocab() == b.get_vocab() and a.vocab_size == 20
