"""TF-IDF baselines on the real labelled data: the numbers BERT has to beat."""

from __future__ import annotations

import json

import pytest

from bertkit.datasets import labelled
from bertkit.errors import DataError
from bertkit.tasks.baseline import Baseline, baseline, tfidf_retrieval_mrr
from bertkit.tasks.readers import Columns, Example


@pytest.fixture(scope="module")
def movie_files(tmp_path_factory):
    return labelled.export("movie_reviews", tmp_path_factory.mktemp("movies"))


def test_tfidf_sentiment_on_movie_reviews(movie_files):
    scores = baseline("classification", movie_files["train"], movie_files["dev"])
    # bag-of-words on these sentences (Pang & Lee's polarity snippets) lands in the 70s
    assert 0.70 < scores["accuracy"] < 0.85
    assert set(scores["per_class"]) == {"negative", "positive"}
    reg = baseline("regression", movie_files["train"], movie_files["dev"], Columns(label=["score"]))
    assert 0.45 < reg["pearson"] < 0.85 and reg["mae"] > 0


def test_baseline_cli_json(movie_files, capsys):
    from bertkit.cli import main

    files = ["--train", str(movie_files["dev"]), "--dev", str(movie_files["test"])]
    assert main(["baseline", *files, "--json"]) == 0
    assert 0.5 < json.loads(capsys.readouterr().out)["accuracy"] <= 1.0


def test_pair_multilabel_baselines_run():
    rows = labelled.faq_pairs_pt("dev")
    ex = [Example(r["text"], r["text_pair"], str(r["label"])) for r in rows]
    model = Baseline.fit("pair", ex)
    preds = model.predict(ex)
    assert sum(p["label"] == e.label for p, e in zip(preds, ex, strict=True)) / len(ex) > 0.6
    train = [Example("red apple", label=["fruit", "red"]), Example("green pear", label=["fruit"]),
             Example("red car", label=["red"]), Example("blue car", label=[])]
    ml = Baseline.fit("multilabel", train * 5)
    assert ml.predict([Example("red apple")])[0]["labels"] == ["fruit", "red"]


def test_one_class_is_a_clear_error(tmp_path):
    from bertkit.cli import main

    (tmp_path / "t.csv").write_text("text,label\na,pos\nb,pos\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"t.csv: the training data has only the label\(s\) \['pos'\]"):
        baseline("classification", tmp_path / "t.csv", tmp_path / "t.csv")
    assert main(["baseline", "--train", str(tmp_path / "t.csv"), "--dev", str(tmp_path / "t.csv")]) == 2


def test_tfidf_faq_retrieval_mrr():
    queries, relevant, questions = labelled.faq_retrieval_pt("test")
    mrr = tfidf_retrieval_mrr(queries, relevant, questions, k=10)
    # paraphrases share many words with their question: lexical retrieval already finds most
    assert 0.4 < mrr <= 1.0
    assert tfidf_retrieval_mrr(questions[:50], list(range(50)), questions, k=1) == pytest.approx(1.0)
