"""`bertkit predict`/`evaluate` on what `bertkit export` wrote: the fp32 graph predicts the labels and
probabilities of the RUN it came from (1e-4), the int8 file runs too, a task whose head has no ONNX
path is a clear error; exports of RoBERTa and DistilBERT classifiers equal PyTorch."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from bertkit.cli import main
from bertkit.deploy.export import example_inputs, export_onnx, logit_difference, onnx_session
from bertkit.errors import ConfigError
from bertkit.model import BertConfig, BertForSequenceClassification
from bertkit.tasks.predict import FineTuned
from bertkit.tasks.spec import TaskSpec

pytest.importorskip("onnxruntime")
transformers = pytest.importorskip("transformers")

TEXTS = ["the film was wonderful", "a dull and boring story, really", "superb acting", "awful plot",
         "the story was quite lovely and the acting excellent, the plot a little poor"]


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one torch thread


@pytest.fixture(scope="module")
def run_and_export(tmp_path_factory, minilm_dir):
    """A RUN (random tiny classifier, MiniLM's tokenizer, task.json) and its fp32 + int8 export."""
    root = tmp_path_factory.mktemp("onnx_predict")
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=64, num_labels=3,
                     id2label={0: "neg", 1: "neu", 2: "pos"})
    BertForSequenceClassification(cfg).save_pretrained(root / "run")
    shutil.copy(minilm_dir / "tokenizer.json", root / "run" / "tokenizer.json")
    TaskSpec("classification", ["neg", "neu", "pos"], max_length=64).save(root / "run")
    export_onnx(root / "run", root / "onnx", int8=True)
    data = root / "dev.csv"
    data.write_text("text,label\n" + "".join(f'"{t}",{["neg", "neu", "pos"][i % 3]}\n'
                                             for i, t in enumerate(TEXTS * 4)))
    return root / "run", root / "onnx", data


def test_fp32_export_predicts_what_the_run_predicts(run_and_export):
    run, onnx, _ = run_and_export
    ours, exported = FineTuned.load(run), FineTuned.load(onnx)
    assert type(exported.model).__name__ == "OnnxClassifier" and exported.path == onnx
    for a, b in zip(ours.predict(TEXTS), exported.predict(TEXTS), strict=True):
        assert a["label"] == b["label"]
        assert max(abs(a["probabilities"][k] - b["probabilities"][k]) for k in a["probabilities"]) <= 1e-4


def test_int8_file_predicts_close_to_fp32(run_and_export):
    run, onnx, _ = run_and_export
    int8 = FineTuned.load(onnx / "model_int8.onnx")
    assert int8.model.path.name == "model_int8.onnx"
    ref = FineTuned.load(run).predict(TEXTS)
    got = int8.predict(TEXTS)
    diff = max(abs(a["probabilities"][k] - b["probabilities"][k])
               for a, b in zip(ref, got, strict=True) for k in a["probabilities"])
    assert 0 < diff < 0.05                                 # int8 arithmetic, not a copy of fp32


def test_evaluate_and_predict_cli_on_the_export(run_and_export, tmp_path, capsys):
    run, onnx, data = run_and_export
    results = {}
    for name, model in (("run", run), ("onnx", onnx), ("int8", onnx / "model_int8.onnx")):
        assert main(["evaluate", "--model", str(model), "--data", str(data), "--json",
                     "--out-dir", str(tmp_path / name)]) == 0
        results[name] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert results["onnx"]["accuracy"] == results["run"]["accuracy"]
    assert "loss" not in results["onnx"]                   # the graph gives logits, no loss
    out = tmp_path / "pred.jsonl"
    assert main(["predict", "--model", str(onnx), "--input", str(data), "--output", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    expected = FineTuned.load(run).predict([r["text"] for r in rows])
    assert [r["pred_label"] for r in rows] == [p["label"] for p in expected]


def test_a_task_whose_head_has_no_onnx_path_is_refused(run_and_export, tmp_path):
    _, onnx, _ = run_and_export
    copy = tmp_path / "onnx"
    shutil.copytree(onnx, copy)
    spec = json.loads((copy / "task.json").read_text())
    (copy / "task.json").write_text(json.dumps({**spec, "task": "qa", "labels": []}))
    with pytest.raises(ConfigError, match="BertForQuestionAnswering, which has no ONNX path"):
        FineTuned.load(copy)
    with pytest.raises(ConfigError, match="no such ONNX file"):
        FineTuned.load(onnx / "model_fp16.onnx")


@pytest.mark.parametrize("family", ["roberta", "distilbert"])
def test_family_classifiers_export_equal_to_torch(tmp_path, family):
    torch.manual_seed(0)
    if family == "roberta":
        cfg = transformers.RobertaConfig(vocab_size=120, hidden_size=32, num_hidden_layers=2,
                                         num_attention_heads=4, intermediate_size=64, type_vocab_size=1,
                                         pad_token_id=1, max_position_embeddings=66, num_labels=3)
    else:
        cfg = transformers.DistilBertConfig(vocab_size=120, dim=32, n_layers=2, n_heads=4, hidden_dim=64,
                                            max_position_embeddings=64, num_labels=3)
    theirs = transformers.AutoModelForSequenceClassification.from_config(cfg).eval()
    theirs.save_pretrained(tmp_path / "run")
    result = export_onnx(tmp_path / "run", tmp_path / "onnx")
    assert result.max_abs_diff["fp32"] <= 1e-4
    session = onnx_session(result.files["fp32"])
    names = {i.name for i in session.get_inputs()}
    inputs = example_inputs(3, 20, 120, seed=4)
    if family == "roberta":    # RoBERTa pads with id 1: its positions depend on it
        inputs["input_ids"] = inputs["input_ids"].masked_fill(inputs["attention_mask"] == 0, 1)
    inputs = {k: v for k, v in inputs.items() if k in names}
    with torch.no_grad():
        expected = theirs(**inputs).logits.numpy()
    got = session.run(["logits"], {k: v.numpy() for k, v in inputs.items()})[0]
    assert logit_difference(got, expected, inputs["attention_mask"].numpy()) <= 1e-4


def test_exporting_a_family_head_without_an_exporter_names_the_heads_that_export(tmp_path):
    cfg = transformers.RobertaConfig(vocab_size=120, hidden_size=32, num_hidden_layers=1,
                                     num_attention_heads=4, intermediate_size=64, type_vocab_size=1,
                                     pad_token_id=1)
    transformers.RobertaForMaskedLM(cfg).save_pretrained(tmp_path / "run")
    with pytest.raises(ConfigError, match="RobertaForMaskedLM has no ONNX exporter.*"
                                          "RobertaForSequenceClassification, RobertaForTokenClassification"):
        export_onnx(tmp_path / "run", tmp_path / "onnx")
