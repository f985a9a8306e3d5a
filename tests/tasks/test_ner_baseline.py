"""The NER baseline: word/affix/shape/neighbour features + logistic regression, scored like `evaluate`."""

from __future__ import annotations

import json

import pytest

from bertkit.cli import main
from bertkit.datasets import labelled
from bertkit.tasks.baseline import baseline
from bertkit.tasks.ner_baseline import TokenBaseline, shape, short_shape, word_features
from bertkit.tasks.readers import Example
from bertkit.tasks.registry import get_task


def test_features_of_a_word_and_its_neighbours():
    assert (shape("McDonald's"), short_shape("McDonald's")) == ("XxXxxxxx'x", "XxXx'x")
    assert short_shape("2024") == "d"
    first, second = word_features(["Visit", "Paris"])
    assert (first["w"], first["-1:w"], first["+1:w"], first["+1:sshape"]) == ("visit", "<s>", "paris", "Xx")
    assert (second["p3"], second["s3"], second["-1:w|w"]) == ("par", "ris", "visit|paris")
    assert second["+2:w"] == "</s>"


def write_conll(path, sentences):
    path.write_text("\n\n".join("\n".join(f"{w}\t{t}" for w, t in s) for s in sentences) + "\n")
    return path


def _s(text, tags):
    return list(zip(text.split(), tags.split(), strict=True))


TRAIN = [
    _s("I love Paris", "O O B-LOC"), _s("we flew to London today", "O O O B-LOC O"),
    _s("John Smith said hello", "B-PER I-PER O O"), _s("ask Mary Jones now", "O B-PER I-PER O"),
    _s("Acme Corp hired me", "B-ORG I-ORG O O"), _s("the cat sat there", "O O O O"),
] * 4


def test_equals_a_hand_computed_case(tmp_path):
    """Dev repeats training sentences, so the baseline tags them as in training; one gold tag
    differs. Predicted entities: LOC Paris, PER John Smith, ORG Acme Corp (3). Gold: LOC Paris,
    PER John Smith, PER Acme Corp (3). 2 match: precision = recall = F1 = 2/3; per type,
    LOC 1/1, PER 1 of 2 gold, ORG 0 of 1 predicted."""
    dev = [_s("I love Paris", "O O B-LOC"), _s("John Smith said hello", "B-PER I-PER O O"),
           _s("Acme Corp hired me", "B-PER I-PER O O")]
    train = write_conll(tmp_path / "train.conll", TRAIN)
    scores = baseline("ner", train, write_conll(tmp_path / "dev.conll", dev))
    assert scores["precision"] == pytest.approx(2 / 3)
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 / 3)
    assert scores["token_accuracy"] == pytest.approx(9 / 11)      # 11 words, two tags of Acme Corp wrong


def test_cli_reports_the_same_metrics(tmp_path, capsys):
    train, dev = write_conll(tmp_path / "train.conll", TRAIN), write_conll(tmp_path / "dev.conll", TRAIN[:6])
    assert main(["baseline", "--task", "ner", "--train", str(train), "--dev", str(dev), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["f1"] == pytest.approx(1.0)


@pytest.mark.slow     # ~15 s: the logistic regression on 12k words x 31k features
def test_beats_majority_o_on_wnut16():
    """Entity F1 on WNUT-16 (a 600-tweet slice of the bundled training split, to stay fast): above
    the all-"O" tagger, which finds no entity (F1 0)."""
    rows = labelled.wnut16("train")[:600]
    train = [Example(r["tokens"], label=r["tags"]) for r in rows]
    dev = [Example(r["tokens"], label=r["tags"]) for r in labelled.wnut16("dev")]
    ner = get_task("ner")
    model = TokenBaseline.fit("ner", train)
    ner.check_labels(dev, model.spec.labels)
    ours = ner.score(model.spec, dev, model.predict(dev))
    majority = ner.score(model.spec, dev, [{"tags": ["O"] * len(ex.text)} for ex in dev])
    assert majority["f1"] == 0.0
    assert ours["f1"] > 0.15 and ours["precision"] > 0.3
