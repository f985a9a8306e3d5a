"""Fine-tuning end to end on a tiny BERT: it learns, the RUN directory is Hugging Face layout with
identical logits in transformers, and evaluate/predict read it back."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bertkit.tasks.finetune import FinetuneConfig, finetune, freeze
from bertkit.tasks.predict import FineTuned, predict_file
from bertkit.tasks.readers import Columns
from bertkit.train.config import TrainConfig

from .conftest import ner_sentences, sentiment_rows, write_conll, write_csv


@pytest.fixture(scope="module")
def sentiment_run(tmp_path_factory, tiny_model_dir, sentiment_files):
    train, dev = sentiment_files
    out = tmp_path_factory.mktemp("runs") / "sentiment"
    result = finetune(FinetuneConfig(model=str(tiny_model_dir), train_file=str(train), dev_file=str(dev),
                                     out=str(out), train=TrainConfig(epochs=4, batch_size=16, lr=3e-3)))
    return result


def _hf_logits(auto_cls, run_dir, batch):
    transformers = pytest.importorskip("transformers")
    model = getattr(transformers, auto_cls).from_pretrained(run_dir).eval()
    with torch.no_grad():
        return model(**batch).logits


def test_classification_learns_and_writes_run(sentiment_run):
    run = sentiment_run.run_dir
    assert sentiment_run.metrics["accuracy"] >= 0.9  # one sentiment word per sentence: easy
    for name in ("config.json", "model.safetensors", "tokenizer.json", "task.json", "metrics.jsonl",
                 "learning_curve.png", "eval_results.json"):
        assert (run / name).is_file(), name
    config = json.loads((run / "config.json").read_text())
    assert config["id2label"] == {"0": "neg", "1": "pos"}
    assert config["problem_type"] == "single_label_classification"
    evals = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any(r.get("split") == "eval" and "accuracy" in r for r in evals)
    dev = [r for r in evals if r.get("split") == "eval"]
    # dev metrics during training follow the training (no stale inference cache between evaluations)
    assert dev[-1]["loss"] < dev[0]["loss"] - 0.1
    best = max(r["accuracy"] for r in dev)
    assert json.loads((run / "eval_results.json").read_text())["accuracy"] == pytest.approx(best)


def test_run_loads_in_transformers_with_identical_logits(sentiment_run):
    ft = FineTuned.load(sentiment_run.run_dir)
    batch = ft.tokenizer.encode_batch(["the film was wonderful", "a dull and boring story, really"],
                                      return_tensors="pt")
    with torch.no_grad():
        ours = ft.model(**batch).logits
    theirs = _hf_logits("AutoModelForSequenceClassification", sentiment_run.run_dir, batch)
    assert (ours - theirs).abs().max().item() < 1e-5


def test_predict_and_evaluate_cli(sentiment_run, sentiment_files, tmp_path, capsys):
    from bertkit.cli import main

    run = sentiment_run.run_dir
    write_csv(tmp_path / "in.csv", [{"id": "7", "text": "the acting was superb"},
                                    {"id": "8", "text": "a terrible plot"}])
    assert main(["predict", "--model", str(run), "--input", str(tmp_path / "in.csv"),
                 "--output", str(tmp_path / "out.jsonl")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["7", "8"]
    assert [r["pred_label"] for r in rows] == ["pos", "neg"]
    assert sum(rows[0]["pred_probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert main(["predict", "--model", str(run), "--input", str(tmp_path / "in.csv"),
                 "--output", str(tmp_path / "out.csv")]) == 0
    assert (tmp_path / "out.csv").read_text().splitlines()[0].split(",") == [
        "id", "text", "pred_label", "pred_p_neg", "pred_p_pos"]

    capsys.readouterr()
    assert main(["evaluate", "--model", str(run), "--data", str(sentiment_files[1]), "--json",
                 "--out-dir", str(tmp_path)]) == 0
    metrics = json.loads(capsys.readouterr().out)  # exactly one JSON object on stdout
    assert metrics["accuracy"] == pytest.approx(sentiment_run.metrics["accuracy"])
    assert (tmp_path / "confusion_dev.png").is_file()


def test_predict_keeps_every_input_column_and_refuses_to_overwrite(sentiment_run, tmp_path, capsys):
    from bertkit.cli import main

    run = sentiment_run.run_dir
    gold = {"id": "1", "text": "a terrible plot", "label": "pos", "note": "x"}
    src = write_csv(tmp_path / "in.csv", [gold])
    [row] = predict_file(run, src, tmp_path / "o.jsonl")
    assert {k: row[k] for k in gold} == gold  # the gold label stays; the prediction is pred_label
    assert row["pred_label"] == "neg" and set(row["pred_probabilities"]) == {"neg", "pos"}
    before = src.read_bytes()
    assert main(["predict", "--model", str(run), "--input", str(src), "--output", str(src)]) == 2
    assert "is the input file" in capsys.readouterr().err and src.read_bytes() == before
    assert main(["predict", "--model", str(run), "--input", str(src), "--output", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_finetune_refuses_out_equal_to_model(tiny_model_dir, sentiment_files, capsys):
    from bertkit.cli import main

    before = (tiny_model_dir / "model.safetensors").read_bytes()
    assert main(["finetune", "--model", str(tiny_model_dir), "--train", str(sentiment_files[0]),
                 "--out", str(tiny_model_dir / ".." / tiny_model_dir.name)]) == 2
    assert "is the model directory" in capsys.readouterr().err
    assert (tiny_model_dir / "model.safetensors").read_bytes() == before


# task.json as every RUN directory written before the task objects has it (format bertkit-task/1)
OLD_TASK_JSON = {"format": "bertkit-task/1", "task": "classification", "labels": ["neg", "pos"],
                 "columns": {"text": "text", "text_pair": None, "label": ["label"], "label_sep": "|",
                             "header": None},
                 "max_length": 128, "truncation": "head", "stride": 32, "aggregate": "mean",
                 "thresholds": None, "target_mean": None, "target_std": None, "glue_task": None}


def test_runs_written_before_still_load_evaluate_and_predict(sentiment_run, sentiment_files, tmp_path,
                                                             capsys):
    import shutil

    from bertkit.cli import main

    old = tmp_path / "old_run"
    shutil.copytree(sentiment_run.run_dir, old, ignore=shutil.ignore_patterns("checkpoints"))
    (old / "task.json").write_text(json.dumps(OLD_TASK_JSON), encoding="utf-8")
    texts = ["the acting was superb", "a terrible plot"]
    assert FineTuned.load(old).predict(texts) == FineTuned.load(sentiment_run.run_dir).predict(texts)
    capsys.readouterr()
    assert main(["evaluate", "--model", str(old), "--data", str(sentiment_files[1]), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["accuracy"] == pytest.approx(sentiment_run.metrics["accuracy"])


def test_bad_runs_and_labels_are_clear_errors(sentiment_run, tiny_model_dir, tmp_path, capsys):
    from bertkit.cli import main

    write_csv(tmp_path / "in.csv", [{"text": "x"}])
    assert main(["predict", "--model", str(tiny_model_dir), "--input", str(tmp_path / "in.csv")]) == 2
    assert "BertModel has no task head" in capsys.readouterr().err
    write_csv(tmp_path / "dev.csv", [{"text": "fine", "label": "neutral"}])
    assert main(["evaluate", "--model", str(sentiment_run.run_dir), "--data", str(tmp_path / "dev.csv")]) == 2
    assert "not seen in training: 'neutral'" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(sentiment_run.run_dir), "--data", str(tmp_path / "dev.csv"),
                 "--task", "ner"]) == 2
    assert "fine-tuned for classification, not ner" in capsys.readouterr().err


def test_ner_first_subtoken_labels_spans_and_hf_parity(tmp_path, tiny_model_dir):
    train = write_conll(tmp_path / "train.conll", ner_sentences(96, 0))
    dev = write_conll(tmp_path / "dev.conll", ner_sentences(24, 1))
    result = finetune(FinetuneConfig(model=str(tiny_model_dir), task="ner", train_file=str(train),
                                     dev_file=str(dev), out=str(tmp_path / "run"),
                                     train=TrainConfig(epochs=6, batch_size=8, lr=5e-3)))
    assert result.metrics["f1"] >= 0.8
    ft = FineTuned.load(result.run_dir)
    [pred] = ft.predict(["Maria lives in Rio de Janeiro now"])
    assert {(e["type"], e["text"]) for e in pred["entities"]} == {("PER", "Maria"), ("LOC", "Rio de Janeiro")}
    ent = next(e for e in pred["entities"] if e["type"] == "LOC")
    assert "Maria lives in Rio de Janeiro now"[ent["start"]:ent["end"]] == "Rio de Janeiro"
    write_csv(tmp_path / "in.csv", [{"id": "1", "text": "Alice lives in Paris, now."}])
    [row] = predict_file(result.run_dir, tmp_path / "in.csv", tmp_path / "out.jsonl")
    assert row["id"] == "1" and {e["text"] for e in row["pred_entities"]} == {"Alice", "Paris"}
    assert json.loads((tmp_path / "out.jsonl").read_text())["pred_entities"] == row["pred_entities"]
    batch = ft.tokenizer.encode_batch(["Pedro lives in Lisbon"], return_tensors="pt")
    with torch.no_grad():
        ours = ft.model(**batch).logits
    theirs = _hf_logits("AutoModelForTokenClassification", result.run_dir, batch)
    assert (ours - theirs).abs().max().item() < 1e-5


def test_multilabel_thresholds_and_regression_scaling(tmp_path, tiny_model_dir):
    rows = sentiment_rows(128, 3)
    for r in rows:
        r["tags"] = "|".join(sorted({"sentiment", r["label"]}))
        r["a"], r["b"] = (10.0, 100.0) if r["label"] == "pos" else (0.0, 50.0)
    write_csv(tmp_path / "train.csv", rows)
    write_csv(tmp_path / "dev.csv", rows[:32])
    files = {"model": str(tiny_model_dir), "train_file": str(tmp_path / "train.csv"),
             "dev_file": str(tmp_path / "dev.csv"), "train": TrainConfig(epochs=3, batch_size=16, lr=3e-3)}
    ml = finetune(FinetuneConfig(task="multilabel", out=str(tmp_path / "ml"), columns=Columns(label=["tags"]),
                                 **files))
    spec = json.loads((ml.run_dir / "task.json").read_text())
    assert spec["labels"] == ["neg", "pos", "sentiment"] and len(spec["thresholds"]) == 3
    config = json.loads((ml.run_dir / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"

    reg = finetune(FinetuneConfig(task="regression", out=str(tmp_path / "reg"), scale_targets=True,
                                  columns=Columns(label=["a", "b"]), **files))
    spec = json.loads((reg.run_dir / "task.json").read_text())
    assert spec["target_mean"] == pytest.approx([5.0, 75.0], abs=0.8) and spec["target_std"][1] > 20
    assert reg.metrics["pearson"] > 0.8
    [pred] = FineTuned.load(reg.run_dir).predict(["the film was wonderful"])
    assert 40 < pred["values"]["b"] < 120  # back in the original units, not standardised


def test_freeze_strategies_keep_weights(tiny_model_dir, sentiment_files, tmp_path):
    from bertkit.model import BertForSequenceClassification

    model = BertForSequenceClassification.from_pretrained(tiny_model_dir)
    total = sum(p.numel() for p in model.parameters())
    n_emb = freeze(model, "embeddings")
    assert n_emb == sum(p.numel() for p in model.bert.embeddings.parameters())
    model = BertForSequenceClassification.from_pretrained(tiny_model_dir)
    freeze(model, "encoder")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("classifier", "bert.pooler")) for n in trainable)
    assert sum(p.numel() for p in model.parameters()) == total

    train, dev = sentiment_files
    before = BertForSequenceClassification.from_pretrained(tiny_model_dir).state_dict()
    result = finetune(FinetuneConfig(model=str(tiny_model_dir), train_file=str(train), dev_file=str(dev),
                                     out=str(tmp_path / "run"), freeze="layers:1",
                                     train=TrainConfig(epochs=1, batch_size=32, layerwise_lr_decay=0.8,
                                                       lr=1e-3)))
    after = FineTuned.load(result.run_dir).model.state_dict()
    for name in before:
        if name.startswith(("bert.embeddings", "bert.layers.0.")):
            assert torch.equal(before[name], after[name]), name
    assert not torch.equal(before["bert.layers.1.ffn.up.weight"], after["bert.layers.1.ffn.up.weight"])


def test_window_aggregation_is_consistent(tmp_path, tiny_model_dir, sentiment_files):
    """A text shorter than one window gives the same prediction with head truncation and windows."""
    from bertkit.model import BertForSequenceClassification
    from bertkit.tasks.evaluate import run
    from bertkit.tasks.readers import Example
    from bertkit.tasks.spec import TaskSpec
    from bertkit.tokenizers import Tokenizer

    tok = Tokenizer.from_pretrained(tiny_model_dir)
    model = BertForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2).eval()
    short = [Example("a good film")]
    head = TaskSpec("classification", ["neg", "pos"], max_length=16)
    window = TaskSpec("classification", ["neg", "pos"], max_length=16, truncation="window", stride=4)
    _, a, _ = run(model, tok, head, short)
    _, b, _ = run(model, tok, window, short)
    np.testing.assert_allclose(a[0], b[0], atol=1e-6)
    long = [Example(" ".join(["good film"] * 40))]
    assert len(window.kind.features(tok, long, window)) > 3
    _, c, _ = run(model, tok, window, long)
    assert c[0].shape == (2,)
