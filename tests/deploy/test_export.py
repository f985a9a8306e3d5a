"""ONNX export checked against PyTorch by onnxruntime; int8 files and models; heads without an exporter."""

from __future__ import annotations

import json

import pytest
import torch

from bertkit.cli import main
from bertkit.deploy.export import (
    OnnxClassifier,
    example_inputs,
    export_onnx,
    logit_difference,
    onnx_session,
    quantize_int8,
)
from bertkit.errors import ConfigError
from bertkit.model import (
    BertConfig,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
)

pytest.importorskip("onnxruntime")

CFG = BertConfig(vocab_size=200, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                 intermediate_size=64, max_position_embeddings=64, num_labels=3)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one torch thread


def _saved(cls, tmp_path):
    torch.manual_seed(0)
    model = cls(CFG).eval()
    model.save_pretrained(tmp_path / "run")
    return model, tmp_path / "run"


@pytest.mark.parametrize("cls", [BertForSequenceClassification, BertForTokenClassification])
def test_onnxruntime_logits_equal_torch_at_any_batch_and_length(cls, tmp_path):
    model, run = _saved(cls, tmp_path)
    result = export_onnx(run, tmp_path / "onnx")
    assert result.max_abs_diff["fp32"] <= 1e-4           # the 1e-4 of issue 14
    session = onnx_session(result.files["fp32"])
    for batch, seq in ((1, 1), (4, 40), (7, 9)):        # none of them the traced (2, 16)
        inputs = example_inputs(batch, seq, CFG.vocab_size, seed=batch)
        with torch.no_grad():
            expected = model(**inputs).logits.numpy()
        got = session.run(["logits"], {k: v.numpy() for k, v in inputs.items()})[0]
        assert got.shape == expected.shape
        assert logit_difference(got, expected, inputs["attention_mask"].numpy()) <= 1e-4
    saved = json.loads((tmp_path / "onnx" / "export.json").read_text())
    assert saved["files"] == {"fp32": "model.onnx"} and (tmp_path / "onnx" / "config.json").is_file()


def test_int8_files_and_models_stay_close_to_fp32(tmp_path):
    model, run = _saved(BertForSequenceClassification, tmp_path)
    result = export_onnx(run, tmp_path / "onnx", int8=True)
    assert result.sizes["int8"] < result.sizes["fp32"]
    assert result.max_abs_diff["int8"] < 0.05
    quantized = quantize_int8(model)
    inputs = example_inputs(4, 12, CFG.vocab_size)
    with torch.no_grad():
        diff = (quantized(**inputs).logits - model(**inputs).logits).abs().max().item()
    assert 0 < diff < 0.05                                 # int8 arithmetic, not a copy of fp32
    assert type(model.bert.layers[0].attn.q) is torch.nn.Linear    # the original is untouched


def test_a_head_without_an_exporter_is_refused(tmp_path):
    _, run = _saved(BertForQuestionAnswering, tmp_path)
    with pytest.raises(ConfigError, match="no ONNX exporter"):
        export_onnx(run, tmp_path / "onnx")


def test_cli(tmp_path, capsys):
    _, run = _saved(BertForSequenceClassification, tmp_path)
    assert main(["export", "--onnx", str(run), "--out", str(tmp_path / "onnx"), "--int8"]) == 0
    out = capsys.readouterr().out
    assert "model.onnx" in out and "model_int8.onnx" in out and "max |onnxruntime - torch|" in out


def test_onnx_classifier_runs_behind_the_models_call_signature(tmp_path):
    model, run = _saved(BertForSequenceClassification, tmp_path)
    result = export_onnx(run, tmp_path / "onnx", check=False)
    inputs = example_inputs(3, 11, CFG.vocab_size)
    out = OnnxClassifier(result.files["fp32"])(**inputs)
    with torch.no_grad():
        torch.testing.assert_close(out.logits, model(**inputs).logits, atol=1e-4, rtol=0)
    assert out.loss is None and result.max_abs_diff == {}
