"""`bertkit export --onnx RUN --out DIR [--int8]` (options from ExportConfig)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from bertkit.options import add_options, from_args, option


@dataclass
class ExportConfig:
    """What `bertkit export` writes: the ONNX graph of a RUN, optionally its int8 version."""

    run: str = option(help="RUN directory of a fine-tuned classifier (sequence or token)", flag="--onnx",
                      metavar="RUN")
    out: str = option(help="directory for model.onnx, the tokenizer and task files", metavar="DIR")
    int8: bool = option(False, "also write model_int8.onnx (int8 weights, onnxruntime's dynamic quantiser)")
    opset: int = option(17, "ONNX opset version", low=14)


def _export(args: argparse.Namespace) -> int:
    from bertkit.deploy.export import export_onnx

    cfg = from_args(ExportConfig, args)
    result = export_onnx(cfg.run, cfg.out, int8=cfg.int8, opset=cfg.opset)
    for kind, path in result.files.items():
        diff = result.max_abs_diff.get(kind)
        checked = ("not checked (install onnxruntime)" if diff is None or diff != diff
                   else f"max |onnxruntime - torch| = {diff:.1e}")
        print(f"{kind}: {path} ({result.sizes[kind] / 1e6:.1f} MB; {checked})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a fine-tuned RUN to ONNX (dynamic batch and sequence), "
                                      "optionally int8",
                       description="The graph is checked against PyTorch with onnxruntime (max logit "
                                   "difference 1e-4) when onnxruntime is installed.")
    add_options(p, ExportConfig)
    p.set_defaults(func=_export)
