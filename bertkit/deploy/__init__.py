"""Deployment formats of a fine-tuned RUN: ONNX export (checked against PyTorch by onnxruntime) and
int8 dynamic quantisation. See docs/deploy.md."""

from bertkit._modules import lazy_exports

_EXPORTS = dict.fromkeys(["ExportResult", "OnnxClassifier", "compare_with_torch", "export_onnx",
                          "onnx_session", "quantize_int8", "quantize_onnx"], "bertkit.deploy.export")
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
