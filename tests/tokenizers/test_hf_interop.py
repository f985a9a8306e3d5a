"""Hugging Face interop: our saved directories load in `tokenizers` and `transformers` and encode
identically; HF files (all-MiniLM-L6-v2's tokenizer.json and vocab.txt, GPT-2/RoBERTa vocab.json +
merges.txt) encode exactly as transformers' fast tokenizers do on them."""

from __future__ import annotations

import itertools
import json
import os
import shutil

import pytest
import tokenizers
import transformers

from bertkit.errors import DataError
from bertkit.tokenizers import Tokenizer
from bertkit.tokenizers.tokenizer import source_offsets

TRAINERS = {"bpe": "bpe", "wordpiece": "wordpiece", "unigram": "unigram", "byte_bpe": "bytelevel",
            "word": "baselines", "char": "baselines"}
HARD = [
    "Você já pediu o cartão da empresa?", "ÉÇÃO à PROVA d'água", "naïve café — 12,5% [MASK] ok",
    "emoji 🙂👍🏽 and CJK 中文字 mixed", "tab\tand\nnewline  double  space", "", "a",
    "Supercalifragilisticexpialidocious" * 4, "ctrl\x00\x07chars\u200bzero width",
]


def _lines(path, n):
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in itertools.islice((x for x in f if x.strip()), n)]


@pytest.fixture(scope="module")
def sentences(corpus_pt, corpus_en):
    return _lines(corpus_pt, 120) + _lines(corpus_en, 120) + HARD


def _hf_encode(hf, texts, pairs=None, **kw):
    """transformers' encodings, offsets made disjoint as bertkit's are (`source_offsets`: the one
    deliberate difference, a Metaspace "▁" that the runtime maps onto its neighbour's character)."""
    out = hf(texts, pairs, return_offsets_mapping=True, return_special_tokens_mask=True, **kw)
    return [dict(ids=out["input_ids"][i], types=out.get("token_type_ids", [None] * len(texts))[i],
                 offsets=source_offsets([tuple(o) for o in out["offset_mapping"][i]], out.sequence_ids(i),
                                        out.tokens(i), texts[i], pairs[i] if pairs else None),
                 special=out["special_tokens_mask"][i])
            for i in range(len(texts))]


def _ours(tok, texts, pairs=None, with_types=True, **kw):
    encs = tok.encode_texts(texts, pairs, **kw)
    return [dict(ids=e.ids, types=e.type_ids if with_types else None, offsets=e.offsets,
                 special=e.special_tokens_mask) for e in encs]


# ------------------------------------------------------------------ HF files -> bertkit
@pytest.mark.parametrize("source", ["tokenizer.json", "vocab.txt", "dir"])
def test_minilm_files_encode_like_bert_tokenizer_fast(minilm_dir, sentences, source):
    hf = transformers.BertTokenizerFast.from_pretrained(minilm_dir)
    path = minilm_dir if source == "dir" else minilm_dir / source
    tok = Tokenizer.from_pretrained(path)
    assert tok.vocab_size == hf.vocab_size == 30522
    assert (tok.cls_token_id, tok.sep_token_id, tok.pad_token_id) == (101, 102, 0)
    assert _ours(tok, sentences) == _hf_encode(hf, sentences)
    pairs = sentences[::-1]
    assert _ours(tok, sentences, pairs) == _hf_encode(hf, sentences, pairs)
    kw = dict(max_length=24, truncation="longest_first")
    assert _ours(tok, sentences, pairs, **kw) == _hf_encode(hf, sentences, pairs, **kw)
    long = [s for s in sentences if len(s) > 150]
    short = ["Quando?", "Who said it?", "ok"] * len(long)
    short = short[:len(long)]
    for strategy, a, b in (("only_first", long, short), ("only_second", short, long)):
        kw = dict(max_length=24, truncation=strategy)
        assert _ours(tok, a, b, **kw) == _hf_encode(hf, a, b, **kw)
    kw = dict(max_length=32, truncation=True, padding="max_length")
    assert _ours(tok, sentences, **kw) == _hf_encode(hf, sentences, **kw)
    ours = tok.encode_batch(sentences, max_length=40, padding="longest")
    theirs = hf(sentences, max_length=40, truncation=True, padding="longest", return_tensors="pt")
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        assert ours[key].equal(theirs[key])
    ours = tok.encode_batch(sentences, pairs, max_length=40, padding="max_length")
    theirs = hf(sentences, pairs, max_length=40, truncation=True, padding="max_length", return_tensors="pt")
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        assert ours[key].equal(theirs[key])
    enc = tok.encode(sentences[0])
    assert tok.decode(enc.ids) == hf.decode(enc.ids, skip_special_tokens=True)


def test_minilm_overflow_windows_like_hf(minilm_dir, corpus_en):
    hf = transformers.BertTokenizerFast.from_pretrained(minilm_dir)
    tok = Tokenizer.from_pretrained(minilm_dir)
    question, context = "What did the bank announce?", " ".join(_lines(corpus_en, 12))
    theirs = hf(question, context, max_length=64, truncation="only_second", stride=16,
                return_overflowing_tokens=True)
    ours = tok.encode_batch([question], [context], max_length=64, truncation="only_second", stride=16,
                            return_overflowing=True, padding=False, return_tensors=None)
    assert len(theirs["input_ids"]) > 2
    assert ours["input_ids"] == theirs["input_ids"]
    assert ours["token_type_ids"] == theirs["token_type_ids"]


def test_vocab_txt_reads_lowercase_and_accent_settings(minilm_dir, tmp_path):
    shutil.copy(minilm_dir / "vocab.txt", tmp_path / "vocab.txt")
    config = {"do_lower_case": False, "strip_accents": False}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    tok = Tokenizer.from_pretrained(tmp_path)
    hf = transformers.BertTokenizerFast.from_pretrained(tmp_path)
    text = "Você já pediu o Cartão?"
    assert tok.encode(text).ids == hf(text)["input_ids"]
    assert tok.encode(text).ids != Tokenizer.from_pretrained(minilm_dir).encode(text).ids  # cased now


@pytest.fixture(scope="module")
def byte_bpe_files(tmp_path_factory, corpus_en):
    """A small GPT-2-style vocab.json + merges.txt written by tokenizers' ByteLevelBPETokenizer."""
    out = tmp_path_factory.mktemp("bytebpe")
    trainer = tokenizers.ByteLevelBPETokenizer()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    trainer.train_from_iterator(_lines(corpus_en, 2000), vocab_size=1000, min_frequency=2,
                                special_tokens=specials, show_progress=False)
    trainer.save_model(str(out))
    return out


def test_vocab_merges_encode_like_roberta(byte_bpe_files, sentences):
    hf = transformers.RobertaTokenizerFast.from_pretrained(byte_bpe_files)
    tok = Tokenizer.from_pretrained(byte_bpe_files)
    assert tok.algorithm == "byte_bpe" and (tok.cls_token_id, tok.sep_token_id, tok.pad_token_id) == (0, 2, 1)
    texts = [*sentences, "<s> and <mask> inside"]
    assert _ours(tok, texts, with_types=False) == _hf_encode(hf, texts)
    pairs = texts[::-1]
    kw = dict(max_length=30, truncation=True)
    assert _ours(tok, texts, pairs, with_types=False, **kw) == _hf_encode(hf, texts, pairs, **kw)
    enc = tok.encode(sentences[0])
    assert tok.decode(enc.ids) == sentences[0]  # byte-level: exact round trip


def test_vocab_merges_gpt2_has_no_template(byte_bpe_files, tmp_path, sentences):
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(byte_bpe_files / name, tmp_path / name)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "GPT2Tokenizer"}))
    hf = transformers.GPT2TokenizerFast.from_pretrained(tmp_path)
    tok = Tokenizer.from_pretrained(tmp_path)
    assert [e.ids for e in tok.encode_texts(sentences)] == hf(sentences)["input_ids"]


# ------------------------------------------------------------------ bertkit -> HF
def _train_and_save(algorithm, tmp_path_factory, corpus_pt):
    size = {"word": 800, "char": 60}.get(algorithm, 600)
    tok = Tokenizer.train(texts=_lines(corpus_pt, 1500), algorithm=algorithm, vocab_size=size,
                          show_progress=False)
    out = tmp_path_factory.mktemp(algorithm)
    tok.save(out)
    return tok, out


@pytest.fixture(scope="module", params=list(TRAINERS))
def saved(request, tmp_path_factory, corpus_pt):
    return _train_and_save(request.param, tmp_path_factory, corpus_pt)


def test_saved_dir_loads_everywhere_and_encodes_identically(saved, sentences):
    tok, out = saved
    names = set(os.listdir(out))
    assert {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"} <= names
    assert ("vocab.txt" in names) == (tok.algorithm == "wordpiece")
    texts, pairs = sentences[:150], sentences[150:] + sentences[:150 - len(sentences[150:])]
    kw = dict(max_length=40, truncation="longest_first")
    ours = _ours(tok, texts, pairs, **kw)

    runtime = tokenizers.Tokenizer.from_file(str(out / "tokenizer.json"))
    runtime.enable_truncation(40)
    raw = runtime.encode_batch(list(zip(texts, pairs, strict=True)))
    assert [e.ids for e in raw] == [o["ids"] for o in ours]
    assert [e.type_ids for e in raw] == [o["types"] for o in ours]

    for loader in (transformers.AutoTokenizer, transformers.PreTrainedTokenizerFast):
        hf = loader.from_pretrained(out)
        assert hf.pad_token_id == tok.pad_token_id and hf.mask_token_id == tok.mask_token_id
        assert _hf_encode(hf, texts, pairs, **kw) == ours
        assert _hf_encode(hf, texts) == _ours(tok, texts)

    again = Tokenizer.from_pretrained(out)
    assert again.algorithm == tok.algorithm and again.get_vocab() == tok.get_vocab()
    assert again.special_tokens == tok.special_tokens
    assert _ours(again, texts, pairs, **kw) == ours


def test_wordpiece_vocab_txt_alone_matches(tmp_path_factory, corpus_pt, tmp_path, sentences):
    tok, out = _train_and_save("wordpiece", tmp_path_factory, corpus_pt)
    shutil.copy(out / "vocab.txt", tmp_path / "vocab.txt")
    config = {"do_lower_case": True, "strip_accents": False}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    hf = transformers.BertTokenizerFast.from_pretrained(tmp_path)
    assert hf(sentences)["input_ids"] == [e.ids for e in tok.encode_texts(sentences)]


def test_added_tokens_survive_save(corpus_pt, tmp_path):
    tok = Tokenizer.train(corpus_pt, algorithm="bpe", vocab_size=500, show_progress=False)
    tok.add_tokens(["criptomoeda"])
    tok.save(tmp_path)
    text = "A criptomoeda do balcão"
    hf = transformers.AutoTokenizer.from_pretrained(tmp_path)
    reloaded = Tokenizer.from_pretrained(tmp_path)
    assert hf(text)["input_ids"] == tok.encode(text).ids == reloaded.encode(text).ids
    assert tok.token_to_id("criptomoeda") in tok.encode(text).ids


# ------------------------------------------------------------------ bad files
def test_bad_files(tmp_path, minilm_dir):
    with pytest.raises(DataError, match="no such file or directory"):
        Tokenizer.from_pretrained(tmp_path / "missing")
    with pytest.raises(DataError, match="no tokenizer here"):
        Tokenizer.from_pretrained(tmp_path)
    broken = tmp_path / "broken" / "tokenizer.json"
    broken.parent.mkdir()
    broken.write_text('{\n  "version": "1.0",\n  "model": {"type": "BPE",,}\n}\n')
    with pytest.raises(DataError, match=r"tokenizer.json: invalid JSON at line 3"):
        Tokenizer.from_pretrained(broken.parent)
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps({"version": "1.0", "model": {"type": "Tiktoken", "vocab": {}}}))
    with pytest.raises(DataError, match=r"model type 'Tiktoken' is not supported; supported: WordPiece, BPE"):
        Tokenizer.from_pretrained(odd)
    lines = (minilm_dir / "vocab.txt").read_text(encoding="utf-8").split("\n")
    for missing in ("[UNK]", "[CLS]"):
        d = tmp_path / f"no{missing.strip('[]')}"
        d.mkdir()
        (d / "vocab.txt").write_text("\n".join(t for t in lines if t != missing), encoding="utf-8")
        with pytest.raises(DataError, match=rf"no \w+ token \(\[{missing[1:-1]}\]"):
            Tokenizer.from_pretrained(d)


def test_save_is_atomic(tmp_path, minilm_dir, monkeypatch):
    tok = Tokenizer.from_pretrained(minilm_dir)
    tok.save(tmp_path)
    before = (tmp_path / "tokenizer.json").read_bytes()
    tok.add_tokens(["brandnewtoken"])

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        tok.save(tmp_path)
    monkeypatch.undo()
    assert (tmp_path / "tokenizer.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"])
