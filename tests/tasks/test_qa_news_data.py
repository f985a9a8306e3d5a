"""The smoke-scale QA set of benchmarks/data (make_qa_news.py): every answer is a span of its context,
the splits are by article, and the committed JSON is what the generator writes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from bertkit.tasks.qa import read_squad

DATA = Path(__file__).resolve().parents[2] / "benchmarks" / "data"
SPLITS = ("train", "dev", "test")


def _generator():
    spec = importlib.util.spec_from_file_location("make_qa_news", DATA / "make_qa_news.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def squad() -> dict[str, dict]:
    return {s: json.loads((DATA / f"qa_news_{s}.json").read_text(encoding="utf-8")) for s in SPLITS}


def test_every_answer_is_the_span_at_its_answer_start(squad):
    for split, data in squad.items():
        for article in data["data"]:
            for par in article["paragraphs"]:
                for qa in par["qas"]:
                    assert qa["is_impossible"] == (not qa["answers"]), qa["id"]
                    for a in qa["answers"]:
                        assert a["text"] and par["context"][a["answer_start"]:][:len(a["text"])] == a["text"]
        read_squad(DATA / f"qa_news_{split}.json")       # the reader's own check (DataError otherwise)


def test_sizes_and_the_split_is_by_article(squad):
    examples = {s: read_squad(DATA / f"qa_news_{s}.json") for s in SPLITS}
    answerable = {s: sum(bool(ex.label["text"]) for ex in exs) for s, exs in examples.items()}
    assert answerable["train"] >= 400 and answerable["test"] >= 100 and answerable["dev"] >= 50
    assert all(sum(not ex.label["text"] for ex in exs) >= 10 for exs in examples.values())
    contexts = {s: {ex.pair for ex in exs} for s, exs in examples.items()}
    titles = {s: {a["title"] for a in data["data"]} for s, data in squad.items()}
    for a, b in (("train", "dev"), ("train", "test"), ("dev", "test")):
        assert not contexts[a] & contexts[b] and not titles[a] & titles[b], (a, b)
    ids = [ex.meta["id"] for exs in examples.values() for ex in exs]
    assert len(ids) == len(set(ids))


def test_the_committed_json_is_what_the_generator_writes(squad):
    built = _generator().build()
    assert json.loads(json.dumps(built)) == squad


def test_locate_finds_one_occurrence_or_the_named_one_and_refuses_the_rest():
    locate = _generator().locate
    context = "Paris is in France. Paris has a river."
    assert locate(context, "France", "q") == ("France", 12)
    assert locate(context, ("Paris", 1), "q") == ("Paris", 20)
    with pytest.raises(ValueError, match="q: answer 'Paris' occurs 2 times"):
        locate(context, "Paris", "q")
    with pytest.raises(ValueError, match="not in the context"):
        locate(context, "Lyon", "q")
    with pytest.raises(ValueError, match="occurs 2 times, not k=2"):
        locate(context, ("Paris", 2), "q")
