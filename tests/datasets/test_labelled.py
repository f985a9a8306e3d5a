"""The real labelled data sets: counts from their sources, deterministic splits, export round trips."""

from __future__ import annotations

import collections

import pytest

from bertkit.datasets import labelled
from bertkit.tasks.readers import Columns, read_examples


def test_movie_reviews_counts_and_splits():
    # 10,605 movie-review snippets: Hutto & Gilbert (ICWSM 2014), _README_.txt of the data set
    rows = labelled.movie_reviews(binary=False)
    assert len(rows) == 10_605
    assert all(-4 <= r["score"] <= 4 for r in rows)
    labels = collections.Counter(r["label"] for r in rows)
    assert labels == {"positive": 5242, "negative": 5326, "neutral": 37}
    splits = {s: labelled.movie_reviews(s) for s in labelled.SPLITS}
    assert sum(map(len, splits.values())) == 10_605 - 37
    ids = [{r["id"] for r in v} for v in splits.values()]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert labelled.movie_reviews("dev") == splits["dev"]  # deterministic


def test_portuguese_questions_and_faq():
    rows = labelled.questions_pt()
    assert len(rows) == 586
    assert collections.Counter(r["label"] for r in rows) == {"1": 206, "15": 206, "10": 118, "11": 56}
    assert not any(r["text"].startswith("P:") for r in rows)
    pairs = labelled.faq_pairs_pt("train")
    counts = collections.Counter(r["label"] for r in pairs)
    assert counts[0] == counts[1]
    assert all(r["text_pair"] != "" for r in pairs)
    queries, relevant, questions = labelled.faq_retrieval_pt("test")
    assert len(questions) == 855 and len(queries) == len(relevant) > 0
    assert all(r % 10 == 0 for r in relevant)  # the test split holds every 10th FAQ


def test_wnut16_counts():
    rows = labelled.wnut16()
    assert len(rows) == 2394 and sum(len(r["tokens"]) for r in rows) == 46_469
    types = {t[2:] for r in rows for t in r["tags"] if t != "O"}
    assert len(types) == 10 and "geo-loc" in types  # WNUT-16's 10 entity types


@pytest.mark.parametrize("name,task,columns", [
    ("movie_reviews", "classification", Columns()),
    ("questions_pt", "classification", Columns()),
    ("faq_pairs_pt", "pair", Columns(text_pair="text_pair")),
    ("wnut16", "ner", Columns()),
])
def test_export_reads_back(tmp_path, name, task, columns):
    paths = labelled.export(name, tmp_path)
    ex = read_examples(paths["dev"], task, columns)
    assert len(ex) == len(getattr(labelled, name)("dev"))
    if name == "wnut16":
        assert ex[0].text == labelled.wnut16("dev")[0]["tokens"]
