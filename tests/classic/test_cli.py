"""`bertkit word2vec ...`, `bertkit similar` and `bertkit vectorize` end to end."""

from __future__ import annotations

import json

import pytest

from bertkit.cli import main


@pytest.fixture(scope="module")
def trained(topic_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("w2v") / "run"
    assert main(["word2vec", "train", str(topic_file), "--out", str(out), "--vector-size", "16",
                 "--window", "3", "--min-count", "1", "--sample", "0", "--epochs", "3", "--workers", "1",
                 "--batch-size", "256", "--shared-negatives", "--quiet"]) == 0
    return out


def test_train_writes_both_formats(trained, capsys):
    assert {p.name for p in trained.iterdir()} >= {"vectors.txt", "vectors.bin", "word2vec.json"}
    info = json.loads((trained / "word2vec.json").read_text())
    assert info["vocab_size"] == 20 and info["config"]["window"] == 3 and info["config"]["shared_negatives"]


def test_queries(trained, capsys):
    assert main(["word2vec", "similar", "a1", "--vectors", str(trained), "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("nearest to 'a1':") and all(line.split()[0].startswith("a")
                                                       for line in out.splitlines()[1:])
    assert main(["word2vec", "analogy", "a1", "a2", "t1", "--vectors", str(trained / "vectors.txt")]) == 0
    assert main(["word2vec", "similarity", "a1", "a2", "--vectors", str(trained)]) == 0
    assert float(capsys.readouterr().out.splitlines()[-1]) > 0.3


def test_oov_analogy_names_the_word(trained, capsys):
    assert main(["word2vec", "analogy", "a1", "zebra", "t1", "--vectors", str(trained)]) == 2
    assert "not in the vocabulary (20 words): 'zebra'" in capsys.readouterr().err


def test_evaluate_json(trained, capsys):
    assert main(["word2vec", "evaluate", str(trained), str(trained / "vectors.txt"), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores[str(trained)]["wordsim353"]["used"] == 0  # no English words in the topic corpus


def test_bad_vectors_file_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("2 3\na 1 2 3\nb 1 2\n", encoding="utf-8")
    assert main(["word2vec", "similar", "a", "--vectors", str(bad)]) == 2
    assert "bad.txt, line 3: the header says dimension 3, but 'b' has 2 numbers" in capsys.readouterr().err


def test_similar_and_vectorize(tmp_path, capsys):
    docs = tmp_path / "docs.txt"
    docs.write_text("the cat sat on the mat\n\nthe dog sat on the log\ncats and dogs\n", encoding="utf-8")
    assert main(["similar", "--index", str(docs), "a dog on a log", "--top", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "line 3" in out[1] and "the dog sat on the log" in out[1]
    assert main(["vectorize", "the cat sat", "the dog sat", "--kind", "count", "--one-hot"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2 documents x 4 terms (count)") and "one-hot vectors of 'the cat sat'" in out
