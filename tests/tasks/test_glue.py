"""GLUE presets on tiny fake files in the GLUE layout (the real data is not shipped)."""

from __future__ import annotations

import pytest

from bertkit.errors import ConfigError, DataError
from bertkit.tasks import glue
from bertkit.tasks.finetune import FinetuneConfig, _load_data
from bertkit.tasks.readers import read_examples


def _write(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def glue_root(tmp_path):
    # CoLA has no header row: source, label, original label, sentence
    _write(tmp_path / "CoLA" / "train.tsv", ["gj04\t1\t\tThe sailors rode the breeze clear of the rocks.",
                                             "gj04\t0\t*\tThe more we study verbs, the crazier they get."])
    _write(tmp_path / "CoLA" / "dev.tsv", ["gj04\t1\t\tThey drank the pub dry."])
    sst = ["a gorgeous film \t1", "dull , lifeless \t0"] * 20
    _write(tmp_path / "SST-2" / "train.tsv", ["sentence\tlabel", *sst])
    _write(tmp_path / "SST-2" / "dev.tsv", ["sentence\tlabel", "it 's a charming journey . \t1",
                                            "the story is bogus \t0"])
    header = "index\tpromptID\tpairID\tgenre\tsentence1\tsentence2\tlabel1\tgold_label"
    rows = ["0\t1\t1e\tgov\tThe cat sat.\tA cat is sitting.\tentailment\tentailment",
            "1\t2\t2n\tgov\tThe cat sat.\tThe cat is black.\tneutral\tneutral",
            "2\t3\t3c\tgov\tThe cat sat.\tNo cat sat.\tcontradiction\tcontradiction"]
    for name in ("train.tsv", "dev_matched.tsv", "dev_mismatched.tsv"):
        _write(tmp_path / "MNLI" / name, [header, *rows])
    _write(tmp_path / "STS-B" / "train.tsv", [
        "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore",
        "0\tcaptions\tMSRvid\t2012\t1\tnone\tnone\tA plane takes off.\tAn air plane is taking off.\t5.000",
        "1\tcaptions\tMSRvid\t2012\t4\tnone\tnone\tA man plays a flute.\tA man is eating.\t0.500"])
    header = (tmp_path / "STS-B" / "train.tsv").read_text().splitlines()[0]
    _write(tmp_path / "STS-B" / "dev.tsv", [header, "0\tx\tx\tx\t1\tn\tn\tA dog runs.\tA dog runs.\t4.750"])
    return tmp_path


def test_every_preset_is_consistent():
    assert set(glue.PRESETS) == {"cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli"}
    # metrics of the GLUE paper (Wang et al., 2018), Table 1
    assert glue.preset("CoLA").metrics[0] == "mcc"
    assert glue.preset("sts-b").metrics == ("pearson", "spearman")
    assert glue.preset("mrpc").metrics == ("f1", "accuracy") == glue.preset("qqp").metrics
    assert set(glue.preset("mnli").dev) == {"dev_matched", "dev_mismatched"}
    with pytest.raises(ConfigError, match="unknown GLUE task 'squad'"):
        glue.preset("squad")


def test_presets_read_the_glue_layout(glue_root, minilm_dir):
    cola = read_examples(glue.preset("cola").path(glue_root, "train.tsv"), "classification",
                         glue.preset("cola").columns)
    assert [(e.text, e.label) for e in cola][1] == ("The more we study verbs, the crazier they get.", "0")
    data = _load_data(FinetuneConfig(model="unused", out="unused", glue_task="mnli", data_dir=str(glue_root)))
    assert data.spec.task == "pair" and data.spec.labels == ["contradiction", "entailment", "neutral"]
    assert (data.train[0].pair, data.train[0].label) == ("A cat is sitting.", "entailment")
    assert set(data.extra_dev) == {"dev_mismatched"} and len(data.dev) == 3
    data = _load_data(FinetuneConfig(model="unused", out="unused", glue_task="stsb",
                                     data_dir=str(glue_root / "STS-B")))
    assert data.spec.task == "regression" and data.train[0].label == [5.0]
    from bertkit.tokenizers import Tokenizer

    [feature] = data.spec.kind.features(Tokenizer.from_pretrained(minilm_dir), data.train[:1], data.spec)
    assert feature.token_type_ids[-1] == 1  # [CLS] A [SEP] B [SEP]: the second sentence is segment 1
    with pytest.raises(DataError, match="no train.tsv"):
        _load_data(FinetuneConfig(model="unused", out="unused", glue_task="rte", data_dir=str(glue_root)))


def test_glue_finetune_cli_mcc_and_accuracy(glue_root, tiny_model_dir, tmp_path):
    from bertkit.cli import main

    out = tmp_path / "run"
    assert main(["finetune", "--model", str(tiny_model_dir), "--glue-task", "sst2",
                 "--data-dir", str(glue_root), "--out", str(out), "--epochs", "1", "--batch-size", "8",
                 "--max-length", "16"]) == 0
    import json

    spec = json.loads((out / "task.json").read_text())
    assert spec["glue_task"] == "sst2" and spec["labels"] == ["0", "1"]
    assert {"accuracy", "f1", "mcc"} <= set(json.loads((out / "eval_results.json").read_text()))
