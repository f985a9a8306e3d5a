"""Shard preparation on the embedded corpus: round trip, idempotence, errors; example recipes."""

from __future__ import annotations

import numpy as np
import pytest
import tokenizers

from bertkit.data.examples import PretrainingDataset
from bertkit.data.shards import ShardSet, prepare, vocab_hash
from bertkit.errors import DataError


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory, corpus_pt):
    """The first ~300 documents of the Portuguese corpus (blank-line layout)."""
    docs = corpus_pt.read_text(encoding="utf-8").split("\n\n")[:300]
    path = tmp_path_factory.mktemp("corpus") / "pt.txt"
    path.write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    return path, docs


@pytest.fixture(scope="module")
def shards_dir(tmp_path_factory, small_corpus, minilm_dir):
    out = tmp_path_factory.mktemp("shards")
    prepare([small_corpus[0]], minilm_dir, out, workers=2, shard_tokens=5000, chunk_bytes=4096,
            progress=False)
    return out


def test_round_trip_matches_the_tokenizer(shards_dir, small_corpus, minilm_dir):
    shards = ShardSet(shards_dir)
    runtime = tokenizers.Tokenizer.from_file(str(minilm_dir / "tokenizer.json"))
    runtime.no_padding()
    runtime.no_truncation()
    docs = small_corpus[1]
    assert len(shards.meta["shards"]) > 1 and shards.meta["dtype"] == "uint16"
    assert shards.meta["counts"]["documents"] == len(docs)
    for (s, bounds), doc in zip(shards.documents(), docs, strict=True):
        sentences = doc.split("\n")
        assert len(bounds) - 1 == len(sentences)
        for k, sentence in enumerate(sentences):
            expected = runtime.encode(sentence, add_special_tokens=False).ids
            assert shards.tokens[s][bounds[k]:bounds[k + 1]].tolist() == expected


def test_idempotent_and_one_document_per_line(shards_dir, small_corpus, minilm_dir, tmp_path):
    meta = prepare([small_corpus[0]], minilm_dir, shards_dir, workers=1, shard_tokens=5000,
                   chunk_bytes=4096, progress=False)
    assert meta["skipped"]
    lines = tmp_path / "lines.txt"
    lines.write_text("First document. It has two sentences.\nSecond one here.\n", encoding="utf-8")
    meta = prepare([lines], minilm_dir, tmp_path / "s", workers=1, progress=False)
    assert meta["counts"] == {"tokens": meta["counts"]["tokens"], "sentences": 3, "documents": 2}


def test_bad_inputs(shards_dir, minilm_dir, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="empty input"):
        prepare([empty], minilm_dir, tmp_path / "e", workers=1, progress=False)
    with pytest.raises(DataError, match="no such file"):
        prepare([tmp_path / "missing.txt"], minilm_dir, tmp_path / "m", workers=1, progress=False)
    made_with = ShardSet(shards_dir).meta["tokenizer_hash"]
    with pytest.raises(DataError, match=r"different tokenizer.*" + made_with):
        ShardSet(shards_dir, tokenizer_hash="0123456789abcdef")
    corrupt = tmp_path / "corrupt"
    prepare([_one_doc(tmp_path)], minilm_dir, corrupt, workers=1, progress=False)
    with open(corrupt / "shard-00000.bin", "r+b") as f:
        f.seek(2)
        f.write(b"\xff\xff")
    with pytest.raises(DataError, match=r"shard-00000.bin: checksum mismatch"):
        ShardSet(corrupt)


def _one_doc(tmp_path):
    path = tmp_path / "one.txt"
    path.write_text("A sentence about cats.\nAnother about dogs.\n", encoding="utf-8")
    return path


def test_vocab_hash_sees_added_tokens(minilm_dir):
    a = tokenizers.Tokenizer.from_file(str(minilm_dir / "tokenizer.json"))
    b = tokenizers.Tokenizer.from_file(str(minilm_dir / "tokenizer.json"))
    b.add_tokens(["covid19"])
    assert vocab_hash(a) != vocab_hash(b)


def test_bert_pairs_follow_create_pretraining_data(shards_dir):
    shards = ShardSet(shards_dir)
    ds = PretrainingDataset(shards, "bert", 64, seed=3)
    ids = shards.special_ids
    labels = []
    for i in range(len(ds)):
        ex = ds[i]
        n = int(ex["attention_mask"].sum())
        row = ex["input_ids"][:n]
        assert n <= 64 and row[0] == ids["cls"] and row[n - 1] == ids["sep"]
        types = ex["token_type_ids"][:n]
        first_sep = int(types.argmax()) - 1          # [CLS] A [SEP] | B [SEP]
        assert ex["input_ids"][first_sep] == ids["sep"] and (types[first_sep + 1:] == 1).all()
        labels.append(int(ex["next_sentence_label"]))
    # ~50% random next segments, more where documents have a single sentence (as in BERT)
    assert 0.4 < np.mean(labels) < 0.8
    assert ds[5]["input_ids"].tolist() == ds[5]["input_ids"].tolist()   # deterministic
    ds.set_epoch(1)
    a = ds[5]["labels"]
    ds.set_epoch(2)
    assert not (a == ds[5]["labels"]).all()                              # dynamic masking


def test_roberta_packs_full_sentences_across_documents(shards_dir):
    shards = ShardSet(shards_dir)
    ds = PretrainingDataset(shards, "roberta", 128)
    fill = [int(ds[i]["attention_mask"].sum()) for i in range(len(ds))]
    assert max(fill) <= 128 and np.mean(fill) > 90
    assert "next_sentence_label" not in ds[0]
    total = sum(int(ds[i]["attention_mask"].sum()) for i in range(len(ds)))
    assert total >= shards.meta["counts"]["tokens"]                      # nothing dropped
