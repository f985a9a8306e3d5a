"""Fast CPU inference: linear layers through oneDNN, used only where they measure faster.

At full length BERT is its matrix multiplies. On AVX-512 machines oneDNN's fp32 linear (with the
weight pre-packed into its blocked layout and GELU fused into the GEMM) runs well above
`torch.mm`'s MKL path; elsewhere it may not. So the first inference call times both on a
BERT-shaped GEMM and caches the choice for the process. Results stay fp32 (checked against
F.linear at the same time); training (autograd) always takes the plain PyTorch path.

Packed copies are used in eval mode only and are dropped whenever a bertkit model's
`train()`/`eval()` is called (and rebuilt when a weight's version counter moves), because
some optimizers (fused AdamW) update weights in place without bumping that counter.

`BERTKIT_ONEDNN=0|1` forces the choice (for tests and comparisons).
"""

from __future__ import annotations

import os
import time
import weakref

import torch
import torch.nn.functional as F

_choice: dict[tuple[int, int], bool] = {}
_packed: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # module -> {name: PackedLinear}


def _onednn_ops_available() -> bool:
    try:
        return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    except (AttributeError, RuntimeError):
        return False


def _best_time(fn, repeats: int = 3) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def onednn_pays(in_features: int, out_features: int) -> bool:
    """Whether oneDNN's packed linear beats F.linear here (measured once per shape, then cached)."""
    forced = os.environ.get("BERTKIT_ONEDNN")
    if forced in ("0", "1"):
        return forced == "1" and _onednn_ops_available()
    key = (in_features, out_features)
    if key not in _choice:
        _choice[key] = _measure(in_features, out_features)
    return _choice[key]


def _measure(in_features: int, out_features: int) -> bool:
    if not _onednn_ops_available():
        return False
    try:
        with torch.inference_mode():
            g = torch.Generator().manual_seed(0)
            x = torch.randn(256, in_features, generator=g)
            w = torch.randn(out_features, in_features, generator=g) / in_features ** 0.5
            b = torch.randn(out_features, generator=g)
            packed = _pack(w, 256)
            fast = lambda: torch.ops.mkldnn._linear_pointwise(x, packed, b, "none", [], "")  # noqa: E731
            plain = lambda: F.linear(x, w, b)  # noqa: E731
            if (fast() - plain()).abs().max().item() > 1e-4:
                return False
            t_fast = min(_best_time(fast), _best_time(fast))
            t_plain = min(_best_time(plain), _best_time(plain))
            return t_fast < 0.95 * t_plain
    except RuntimeError:
        return False


def _pack(weight: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
    """The weight reordered into oneDNN's blocked layout (done once, reused every call)."""
    return torch.ops.mkldnn._reorder_linear_weight(weight, batch_size)


class PackedLinear:
    """A frozen copy of one or more nn.Linear (concatenated along outputs) for oneDNN inference.

    Rebuilt automatically when the source weights change (their version counter moves).
    """

    def __init__(self) -> None:
        self.key: tuple | None = None
        self.weight: torch.Tensor | None = None
        self.bias: torch.Tensor | None = None
        self.packed = False

    def get(self, linears: list[torch.nn.Linear]) -> PackedLinear:
        key = tuple((m.weight.data_ptr(), m.weight._version, m.bias._version) for m in linears)
        if key != self.key:
            with torch.no_grad():
                w = torch.cat([m.weight for m in linears]).contiguous()
                b = torch.cat([m.bias for m in linears]).contiguous()
            self.packed = onednn_pays(w.shape[1], w.shape[0])
            self.weight = _pack(w) if self.packed else w
            self.bias, self.key = b, key
        return self

    def __call__(self, x: torch.Tensor, act: str = "none",
                 residual: torch.Tensor | None = None) -> torch.Tensor:
        """x W^T + b, then `act` ("none", "gelu", "gelu_tanh", "relu"), or + `residual` (no act)."""
        if residual is not None:
            if self.packed:
                return torch.ops.mkldnn._linear_pointwise.binary(x, residual, self.weight, self.bias, "add")
            return F.linear(x, self.weight, self.bias).add_(residual)
        if self.packed:
            algorithm = "tanh" if act == "gelu_tanh" else ("none" if act == "gelu" else "")
            name = "gelu" if act.startswith("gelu") else act
            return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, name, [], algorithm)
        y = F.linear(x, self.weight, self.bias)
        if act == "gelu":
            return F.gelu(y)
        if act == "gelu_tanh":
            return F.gelu(y, approximate="tanh")
        return F.relu(y) if act == "relu" else y


def packed_linear(owner: torch.nn.Module, name: str, linears: list[torch.nn.Linear]) -> PackedLinear:
    """The inference copy of `linears`, cached beside `owner` (outside its state and its deepcopy)."""
    per_module = _packed.setdefault(owner, {})
    if name not in per_module:
        per_module[name] = PackedLinear()
    return per_module[name].get(linears)


def forget(model: torch.nn.Module) -> None:
    """Drop the packed copies of `model` and its submodules (its weights may have changed)."""
    for module in model.modules():
        _packed.pop(module, None)


def has_hooks(*modules: torch.nn.Module) -> bool:
    """Whether someone (an interpretation tool) watches these modules' calls."""
    return any(m._forward_hooks or m._forward_pre_hooks for m in modules)


def inference_fast_path(x: torch.Tensor, *modules: torch.nn.Module) -> bool:
    """True when no gradient is needed, the input is an fp32 CPU tensor, `modules` are in eval
    mode, and no hook watches them (the fast path uses their weights without calling them)."""
    return (not torch.is_grad_enabled() and x.device.type == "cpu" and x.dtype == torch.float32
            and not any(m.training for m in modules) and not has_hooks(*modules))
