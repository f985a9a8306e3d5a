"""Multiple choice (SWAG layout): reading with clear errors, and finetune/evaluate/predict end to end."""

from __future__ import annotations

import json
import random

import pytest

from bertkit.errors import DataError
from bertkit.tasks.multiple_choice import read_choices

from .conftest import write_csv

ANIMALS = {"cat": "meows", "dog": "barks", "cow": "moos", "duck": "quacks", "lion": "roars"}


def swag_rows(n: int, seed: int) -> list[dict]:
    """'The <animal> opens its mouth.' / 'It' + four sounds, the animal's own one right."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        animal = rng.choice(list(ANIMALS))
        endings = rng.sample([s for a, s in ANIMALS.items() if a != animal], 3)
        label = rng.randrange(4)
        endings.insert(label, ANIMALS[animal])
        rows.append({"sent1": f"The {animal} opens its mouth.", "sent2": "It",
                     **{f"ending{i}": f"{e} loudly." for i, e in enumerate(endings)}, "label": label})
    return rows


def test_reads_swag_csv_and_jsonl(tmp_path):
    rows = swag_rows(3, 0)
    csv_ex = read_choices(write_csv(tmp_path / "s.csv", rows))
    objs = [{"context": r["sent1"], "label": r["label"],
             "endings": [f"It {r[f'ending{i}']}" for i in range(4)]} for r in rows]
    (tmp_path / "s.jsonl").write_text("".join(json.dumps(o) + "\n" for o in objs))
    jsonl_ex = read_choices(tmp_path / "s.jsonl")
    assert [(e.text, e.pair, e.label) for e in csv_ex] == [(e.text, e.pair, e.label) for e in jsonl_ex]
    assert csv_ex[0].pair[0].startswith("It ") and len(csv_ex[0].pair) == 4


@pytest.mark.parametrize("change,message", [
    ({"ending2": ""}, r"s\.csv:3: ending 2 is missing"),
    ({"label": 4}, r"s\.csv:3: label 4 is outside 0\.\.3"),
    ({"sent1": ""}, r"s\.csv:3: empty context"),
])
def test_bad_rows_name_file_and_line(tmp_path, change, message):
    rows = swag_rows(3, 0)
    rows[1].update(change)
    with pytest.raises(DataError, match=message):
        read_choices(write_csv(tmp_path / "s.csv", rows))


def test_finetune_evaluate_predict(tiny_model_dir, tmp_path, capsys):
    from bertkit.cli import main

    train = write_csv(tmp_path / "train.csv", swag_rows(64, 1))
    dev = write_csv(tmp_path / "dev.csv", swag_rows(16, 2))
    run = tmp_path / "run"
    assert main(["finetune", "--task", "multiple-choice", "--model", str(tiny_model_dir),
                 "--train", str(train), "--dev", str(dev), "--out", str(run), "--max-length", "32",
                 "--epochs", "1", "--batch-size", "8"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--model", str(run), "--data", str(dev), "--json"]) == 0
    assert 0 <= json.loads(capsys.readouterr().out)["accuracy"] <= 1
    out = tmp_path / "pred.jsonl"
    assert main(["predict", "--model", str(run), "--input", str(dev), "--output", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 16
    assert all(0 <= r["pred_label"] < 4 and len(r["pred_probabilities"]) == 4 for r in rows)
    transformers = pytest.importorskip("transformers")
    assert isinstance(transformers.AutoModelForMultipleChoice.from_pretrained(run),
                      transformers.BertForMultipleChoice)
