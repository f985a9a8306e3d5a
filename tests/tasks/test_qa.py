"""Extractive QA: reading SQuAD files, windows and offsets, and post-processing equal to run_squad's loop."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit.errors import DataError
from bertkit.tasks.qa import best_answers, choose, read_squad
from bertkit.tasks.registry import get_task
from bertkit.tasks.spec import TaskSpec

DATA = Path(__file__).parent / "data"


def reference_postprocess(windows, context, n_best=20, max_answer_length=30):
    """The reference procedure, written as run_squad.py / transformers' example loop writes it."""
    candidates, min_null = [], None
    for start, end, offsets in windows:
        null = start[0] + end[0]
        if min_null is None or null < min_null:
            min_null = null
        start_idx = sorted(range(len(start)), key=lambda k: -start[k])[:n_best]
        end_idx = sorted(range(len(end)), key=lambda k: -end[k])[:n_best]
        for s in start_idx:
            for e in end_idx:
                if offsets[s] is None or offsets[e] is None:
                    continue
                if e < s or e - s + 1 > max_answer_length:
                    continue
                candidates.append((start[s] + end[e], offsets[s][0], offsets[e][1]))
    candidates = sorted(candidates, key=lambda c: -c[0])[:n_best]
    return [(score, context[a:b]) for score, a, b in candidates], min_null


@st.composite
def qa_windows(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    context = " ".join(f"w{i}" for i in range(draw(st.integers(1, 80))))
    n_windows = draw(st.integers(1, 3))
    windows = []
    for _ in range(n_windows):
        length = draw(st.integers(4, 60))
        q = draw(st.integers(1, length - 2))          # question + specials before the context
        offsets = [None] * length
        pos = int(rng.integers(0, len(context)))
        for k in range(q, length - 1):
            if pos < len(context):
                offsets[k] = (pos, min(len(context), pos + int(rng.integers(1, 4))))
                pos = offsets[k][1]
        windows.append((rng.normal(size=length), rng.normal(size=length), offsets))
    return windows, context, draw(st.integers(1, 25)), draw(st.integers(1, 35))


@settings(max_examples=200, deadline=None)
@given(qa_windows())
def test_postprocessing_equals_the_reference_loop(case):
    windows, context, n_best, max_len = case
    got = best_answers(context, windows, n_best, max_len)
    want, null = reference_postprocess(windows, context, n_best, max_len)
    assert [(round(a["score"], 9), a["text"]) for a in got["nbest"]] == [(round(s, 9), t) for s, t in want]
    assert got["null_score"] == pytest.approx(null)


def test_null_answer_chosen_above_the_threshold():
    best = {"text": "x", "start": 0, "end": 1, "score": 2.0, "probability": 1.0}
    out = {"nbest": [best], "null_score": 3.0}
    assert choose(out, None)["answer"] == "x"          # v1.1: never null
    assert choose(out, 0.5)["answer"] == ""            # null - best = 1 > 0.5
    assert choose(out, 1.5)["answer"] == "x"
    assert choose({"nbest": [], "null_score": 0.0}, None)["answer"] == ""


def test_fixture_reads_and_every_answer_sits_at_its_start():
    for split in ("train", "dev"):
        examples = read_squad(DATA / f"squad_{split}.json")
        assert len(examples) >= 15
        assert any(not ex.label["text"] for ex in examples)          # v2.0: some unanswerable
        for ex in examples:
            for t, s in zip(ex.label["text"], ex.label["answer_start"], strict=True):
                assert ex.pair[s: s + len(t)] == t


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_bad_answer_start_names_file_and_question(tmp_path):
    row = {"id": "q7", "question": "Who?", "context": "Alice met Bob.",
           "answers": {"text": ["Bob"], "answer_start": [3]}}
    with pytest.raises(DataError, match=r"bad\.jsonl:1 \(question 'q7'\).*first occurs at 10"):
        read_squad(_jsonl(tmp_path / "bad.jsonl", [row]))
    with pytest.raises(DataError, match="empty context"):
        read_squad(_jsonl(tmp_path / "empty.jsonl", [{**row, "context": " "}]))


def test_windows_map_answers_back_to_context_characters(tiny_model_dir):
    from bertkit.tokenizers import Tokenizer

    tok = Tokenizer.from_pretrained(tiny_model_dir)
    task = get_task("qa")
    examples = read_squad(DATA / "squad_train.json")
    spec = TaskSpec("qa", max_length=64, stride=16)
    features = task.features(tok, examples, spec)
    assert len(features) > len(examples)                     # long contexts: several windows
    found = set()
    for f in features:
        ex = examples[f.example]
        s, e = f.label["start_positions"], f.label["end_positions"]
        if s:   # the window holds the answer: its tokens' characters cover exactly the answer
            text = ex.pair[f.offsets[s][0]: f.offsets[e][1]]
            assert text.lower() == ex.label["text"][0].lower()
            found.add(f.example)
    assert found == {i for i, ex in enumerate(examples) if ex.label["text"]}


def test_question_longer_than_max_length_is_an_error(tiny_model_dir, tmp_path):
    from bertkit.tokenizers import Tokenizer

    tok = Tokenizer.from_pretrained(tiny_model_dir)
    ex = read_squad(_jsonl(tmp_path / "long_q.jsonl", [
        {"id": "long", "question": "why " * 40, "context": "Because.",
         "answers": {"text": [], "answer_start": []}}]))
    with pytest.raises(DataError, match="question 'long'.*40 tokens"):
        get_task("qa").features(tok, ex, TaskSpec("qa", max_length=32, stride=8))


def _articles(path: Path, out: Path, n: int = 8) -> Path:
    """The first `n` articles of a SQuAD file (the CLI test runs on these, to stay fast)."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    out.write_text(json.dumps({**doc, "data": doc["data"][:n]}), encoding="utf-8")
    return out


def test_finetune_evaluate_predict_cli(tiny_model_dir, tmp_path, capsys):
    """The whole path on the fixture's first articles: finetune --task qa, evaluate (EM/F1, v2.0
    splits), predict (JSONL and the answer page)."""
    from bertkit.cli import main

    run = tmp_path / "run"
    train, dev = (_articles(DATA / f"squad_{s}.json", tmp_path / f"{s}.json") for s in ("train", "dev"))
    assert main(["finetune", "--task", "qa", "--model", str(tiny_model_dir), "--train", str(train),
                 "--dev", str(dev), "--out", str(run),
                 "--max-length", "96", "--stride", "32", "--epochs", "1", "--batch-size", "8"]) == 0
    spec = json.loads((run / "task.json").read_text())
    assert spec["task"] == "qa" and spec["thresholds"] is not None     # v2.0: a tuned null threshold
    capsys.readouterr()
    assert main(["evaluate", "--model", str(run), "--data", str(dev), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert {"exact", "f1", "HasAns_f1", "NoAns_f1"} <= set(scores) and scores["total"] == 16
    answers = json.loads((run / "predictions.json").read_text())
    assert len(answers) == 16 and set(json.loads((run / "null_odds.json").read_text())) == set(answers)
    assert len(json.loads((run / "nbest_predictions.json").read_text())["news1-q2"]) <= 20
    out = tmp_path / "pred.jsonl"
    assert main(["predict", "--model", str(run), "--input", str(dev),
                 "--output", str(out), "--html", str(tmp_path / "answers.html")]) == 0
    assert (tmp_path / "answers.html").read_text().count('<section class="bk-qa"') == 16
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    contexts = {ex.meta["id"]: ex.pair for ex in read_squad(DATA / "squad_dev.json")}
    for r in rows:
        if r["pred_answer"]:
            assert contexts[r["id"]][r["pred_start"]: r["pred_end"]] == r["pred_answer"]
    transformers = pytest.importorskip("transformers")
    model = transformers.AutoModelForQuestionAnswering.from_pretrained(run)
    assert isinstance(model, transformers.BertForQuestionAnswering)



@pytest.mark.parametrize(("line", "message"), [
    ("[1, 2]", r":1: each JSONL line must be an object"),
    ('{"id": "q", "question": "?", "context": "c", "answers": "c"}', ":1: 'answers' must be an object")])
def test_bad_jsonl_rows_name_the_line(tmp_path, line, message):
    path = tmp_path / "qa.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=message):
        read_squad(path)
