"""Deployment formats of a fine-tuned RUN: ONNX (fp32, and int8 through onnxruntime's quantiser) and
PyTorch int8 dynamic quantisation.

    result = export_onnx("run/", "run-onnx/", int8=True)   # model.onnx, model_int8.onnx, export.json
    qmodel = quantize_int8(FineTuned.load("run/").model)   # nn.Linear -> int8 weights, fp32 activations

The ONNX graph is the model's own forward, traced once with padding in the example batch (so the
attention mask stays in the graph) on the padded path (`unpad = False`: the unpadded path's shapes
depend on the data) and the plain kernels. Batch and sequence axes are dynamic. onnxruntime, when
installed, checks the graph against PyTorch on inputs of other shapes than the traced one; logits
that differ by more than 1e-4 are an error, never a silently wrong file.

fp32 stays the reference: int8 is an option whose speed and accuracy are measured
(benchmarks/bench_deploy.py), not a default.
"""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bertkit.errors import CheckpointError, ConfigError
from bertkit.io import atomic_write_json

# heads with an exporter, by the class name's suffix (any family) -> the outputs the graph returns
EXPORTABLE = {"ForSequenceClassification": ("logits",), "ForTokenClassification": ("logits",)}
EXPORT_FILE = "export.json"
TOLERANCE = 1e-4          # onnxruntime vs PyTorch, max absolute logit difference (issue 14)
COPIED = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
          "task.json")


@dataclass
class ExportResult:
    out_dir: Path
    files: dict[str, Path]                         # "fp32" / "int8" -> .onnx path
    sizes: dict[str, int] = field(default_factory=dict)
    max_abs_diff: dict[str, float] = field(default_factory=dict)   # vs PyTorch fp32, when checked


class _Logits(nn.Module):
    """The classifier with tensor inputs and one tensor output, as a graph wants them.

    Export it in eval mode: torch.onnx.export restores the wrapper's mode afterwards, and a wrapper
    left in training mode would switch the model's dropout on (found by the onnxruntime check)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits


def load_for_export(run_dir: str | Path) -> nn.Module:
    """The RUN's model in eval mode on the traceable path; a head without an exporter is an error."""
    from bertkit.model.hf import head_class

    cls = head_class(run_dir)
    if cls.head not in EXPORTABLE:
        raise ConfigError(f"{run_dir}: a {cls.__name__} has no ONNX exporter in bertkit yet; exportable "
                          f"heads: {', '.join(cls.layout.name + h for h in EXPORTABLE)}")
    model = cls.from_pretrained(run_dir).eval()
    return _traceable(model)


def _traceable(model: nn.Module) -> nn.Module:
    model.set_inference_kernels("plain")
    model.bert.unpad = False
    return model


def example_inputs(batch: int, seq: int, vocab_size: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random ids, the last row padded to half its length (the first token always real)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab_size, (batch, seq), generator=g)
    mask = torch.ones(batch, seq, dtype=torch.long)
    mask[-1, max(1, seq // 2):] = 0            # never a row of padding only
    return {"input_ids": ids * mask, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}


def export_onnx(run_dir: str | Path, out_dir: str | Path, int8: bool = False, opset: int = 17,
                check: bool = True) -> ExportResult:
    """Write out_dir/model.onnx (and model_int8.onnx with `int8`), the RUN's tokenizer, config and
    task files beside them, and export.json (sizes, the onnxruntime check)."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if out_dir.resolve() == run_dir.resolve():
        raise ConfigError(f"--out {out_dir} is the RUN itself; choose another directory")
    model = load_for_export(run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fp32 = out_dir / "model.onnx"
    _export(model, fp32, opset)
    result = ExportResult(out_dir, {"fp32": fp32})
    if int8:
        result.files["int8"] = quantize_onnx(fp32, out_dir / "model_int8.onnx")
    for name in COPIED:
        if (run_dir / name).is_file():
            shutil.copy(run_dir / name, out_dir / name)
    result.sizes = {k: p.stat().st_size for k, p in result.files.items()}
    if check:
        for kind, path in result.files.items():
            result.max_abs_diff[kind] = compare_with_torch(model, path, tolerance=None if kind == "int8"
                                                           else TOLERANCE)
    atomic_write_json(out_dir / EXPORT_FILE, {
        "format": "bertkit-export/1", "run": str(run_dir), "opset": opset, "inputs": list(_INPUTS),
        "outputs": ["logits"], "files": {k: p.name for k, p in result.files.items()}, "bytes": result.sizes,
        "max_abs_diff_vs_torch": result.max_abs_diff})
    return result


_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _export(model: nn.Module, path: Path, opset: int) -> None:
    inputs = example_inputs(2, 16, model.config.vocab_size)
    axes = {name: {0: "batch", 1: "sequence"} for name in _INPUTS}
    axes["logits"] = {0: "batch", 1: "sequence"} if model.head == "ForTokenClassification" else {0: "batch"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")      # tracer warnings about the input checks' host copies
        torch.onnx.export(_Logits(model).eval(), tuple(inputs[n] for n in _INPUTS), str(path), dynamo=False,
                          input_names=list(_INPUTS), output_names=["logits"], dynamic_axes=axes,
                          opset_version=opset)


def quantize_onnx(fp32: Path, int8: Path) -> Path:
    """int8 weights for the graph's MatMuls (onnxruntime's dynamic quantiser; activations stay fp32
    and are quantised on the fly)."""
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        raise ConfigError("--int8 needs onnxruntime (pip install onnxruntime)") from None
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    return int8


def onnx_session(path: str | Path, threads: int | None = None) -> Any:
    """An onnxruntime CPU session for an exported file."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _feeds(session: Any, inputs: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """The inputs the graph takes (a model without token types, DistilBERT's, has no token_type_ids)."""
    names = {i.name for i in session.get_inputs()}
    return {k: v.numpy() for k, v in inputs.items() if k in names}


class OnnxClassifier(nn.Module):
    """An exported graph behind the classifier's call signature, so bertkit's evaluation and prediction
    code (`bertkit.tasks.evaluate`, `FineTuned`) runs it unchanged: logits from onnxruntime, no loss.
    `config`: the exported model's config (labels, sizes), when known."""

    def __init__(self, path: str | Path, threads: int | None = None, config: Any = None) -> None:
        super().__init__()
        self.path = Path(path)
        self.session = onnx_session(path, threads)
        self.config = config

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, **_: Any) -> Any:
        from bertkit.model.bert import ClassifierOutput

        feeds = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        feeds = {k: (v if v is not None else torch.zeros_like(input_ids) if k == "token_type_ids"
                     else torch.ones_like(input_ids)) for k, v in feeds.items()}
        logits = self.session.run(["logits"], _feeds(self.session, feeds))[0]
        return ClassifierOutput(None, torch.from_numpy(logits))


def load_onnx(path: str | Path, head: str, threads: int | None = None) -> OnnxClassifier:
    """An exported model for prediction: `path` is an export directory (its fp32 model.onnx) or one of
    its .onnx files (model_int8.onnx). `head` is the class the task needs (BertForSequenceClassification...);
    one whose outputs the graph does not give (QA's start/end logits...) is a ConfigError."""
    from bertkit.model.hf import head_class

    path = Path(path)
    directory, file = (path.parent, path) if path.suffix == ".onnx" else (path, path / "model.onnx")
    suffix = next((h for h in EXPORTABLE if head.endswith(h)), None)
    if suffix is None:
        raise ConfigError(f"{directory}: the task needs a {head}, which has no ONNX path in bertkit "
                          f"(exported heads: {', '.join(EXPORTABLE)}); predict with the RUN it came from")
    if not file.is_file():
        raise ConfigError(f"{file}: no such ONNX file (bertkit export writes model.onnx and, with --int8, "
                          f"model_int8.onnx)")
    cls = head_class(directory)
    if cls.head != suffix:
        raise ConfigError(f"{directory}/config.json: the export is a {cls.__name__} but the task needs a "
                          f"{head}; the directory mixes two runs")
    try:
        return OnnxClassifier(file, threads, cls.layout.read_config(directory)).eval()
    except ImportError:
        raise ConfigError("predicting with an exported model needs onnxruntime (pip install onnxruntime)"
                          ) from None


def compare_with_torch(model: nn.Module, path: Path, tolerance: float | None = TOLERANCE) -> float:
    """Max |onnxruntime - PyTorch| logit difference on two batches of shapes unlike the traced one.

    With a `tolerance`, a larger difference is a CheckpointError; None (the int8 file) only measures.
    Without onnxruntime, returns nan: the file is written but not checked.
    """
    try:
        session = onnx_session(path)
    except ImportError:
        return float("nan")
    worst = 0.0
    for batch, seq, seed in ((1, 5, 1), (3, 23, 2)):
        inputs = example_inputs(batch, seq, model.config.vocab_size, seed)
        with torch.no_grad():
            expected = model(**inputs).logits.numpy()
        got = session.run(["logits"], _feeds(session, inputs))[0]
        worst = max(worst, logit_difference(got, expected, inputs["attention_mask"].numpy()))
    if tolerance is not None and worst > tolerance:
        raise CheckpointError(f"{path}: onnxruntime's logits differ from PyTorch's by {worst:.2e} "
                              f"(> {tolerance:g}); the export is wrong, do not deploy it")
    return worst


def logit_difference(got: np.ndarray, expected: np.ndarray, attention_mask: np.ndarray) -> float:
    """Max absolute difference; per-token logits only at real tokens (padding's are undefined:
    PyTorch's token classifier returns zeros there, the graph whatever the padded path computes)."""
    diff = np.abs(got - expected)
    if diff.ndim == 3:
        diff = diff[attention_mask.astype(bool)]
    return float(diff.max())


def quantize_int8(model: nn.Module) -> nn.Module:
    """PyTorch dynamic int8 quantisation (weights int8, activations quantised per batch) of the linear
    layers that are called as modules: the attention output, the FFN, pooler and head, 3/4 of an
    encoder layer's multiply-adds. The q, k, v weights stay fp32: attention reads them as one
    concatenated GEMM (`project_qkv`), not through their modules. Returns a copy in eval mode on the
    plain kernels; embeddings and LayerNorms stay fp32."""
    import copy

    quantized = _traceable(copy.deepcopy(model).eval())
    names = {name for name, m in quantized.named_modules()
             if isinstance(m, nn.Linear) and not name.endswith((".attn.q", ".attn.k", ".attn.v"))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # torch.ao.quantization's deprecation notice
        return torch.ao.quantization.quantize_dynamic(quantized, names, dtype=torch.qint8)
