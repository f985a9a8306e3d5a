"""CPU inference kernels: the encoder's linear layers through oneDNN, on weights packed once.

At full length BERT is its matrix multiplies. oneDNN's fp32 linear, with the weight reordered once
into its blocked layout and the GELU or the residual add fused into the GEMM, beats `F.linear`
on CPUs with AVX-512 (figures in benchmarks/bench_inference.py). One setting per model chooses:

- "auto" (the default): oneDNN on a CPU with AVX-512 when this torch build has oneDNN's linear
  ops, else the plain path. `BERTKIT_ONEDNN=0|1` overrides what "auto" picks.
- "onednn": always oneDNN (a ConfigError if this torch build lacks it).
- "plain": the modules themselves, as in training.

Set it with `model.set_inference_kernels(...)`; `model.inference_kernels` says what runs. The choice
depends on the machine and the setting only, never on a timing, so one machine always runs the same
kernels. They run only where they cannot change what a caller sees: eval mode, no gradient, float32
CPU input, no attention weights asked for, and no forward hook on any module of the encoder
(interpretation tools hook them). Training always takes the plain path. Results equal the plain
path to float32 rounding (tested to 1e-5).

Packed copies live outside the modules (not in their state dict, not copied by deepcopy). They are
rebuilt when a weight's version counter moves and dropped on every `train()`/`eval()` call, since
some optimizers (fused AdamW) update weights in place without moving that counter.
"""

from __future__ import annotations

import functools
import os
import weakref

import torch
from torch import nn

from bertkit.errors import ConfigError

KERNELS = ("auto", "onednn", "plain")

_packed: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()   # module -> {name: PackedLinear}
EXACT_SHAPES = 64                 # row counts run unpadded before rounding starts (PackedLinear.__call__)
_exact_rows: set[int] = set()


@functools.cache
def onednn_available() -> bool:
    """Whether this torch build has oneDNN's packed linear ops."""
    try:
        return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    except (AttributeError, RuntimeError):
        return False


def cpu_has_avx512() -> bool:
    """Whether torch dispatches to AVX-512 code on this CPU (where oneDNN's fp32 GEMM pays)."""
    return torch.backends.cpu.get_cpu_capability().startswith("AVX512")


def resolve(setting: str) -> str:
    """The kernels a setting runs on this machine: "onednn" or "plain"."""
    if setting not in KERNELS:
        raise ConfigError(f"inference kernels {setting!r} is not one of {', '.join(KERNELS)}")
    if setting == "auto":
        forced = os.environ.get("BERTKIT_ONEDNN")
        wanted = forced == "1" if forced in ("0", "1") else cpu_has_avx512()
        return "onednn" if wanted and onednn_available() else "plain"
    if setting == "onednn" and not onednn_available():
        raise ConfigError("inference kernels 'onednn': this torch build has no oneDNN linear ops")
    return setting


def applies(x: torch.Tensor, encoder: nn.Module) -> bool:
    """Whether the packed kernels may stand in for `encoder`'s modules on input `x`."""
    return (not torch.is_grad_enabled() and x.device.type == "cpu" and x.dtype == torch.float32
            and not any(m.training or m._forward_hooks or m._forward_pre_hooks for m in encoder.modules()))


class PackedLinear:
    """One or more nn.Linear (concatenated along outputs) as a oneDNN weight, packed once.

    Repacked when the source weights change (their storage or version counter moves).
    """

    def __init__(self) -> None:
        self.key: tuple | None = None
        self.weight: torch.Tensor | None = None
        self.bias: torch.Tensor | None = None

    def get(self, linears: list[nn.Module]) -> PackedLinear:
        """Linear modules, or any module with a (out, in) `weight` and no bias (a tied output layer)."""
        key = tuple((m.weight.data_ptr(), m.weight._version, _bias(m) is not None and _bias(m)._version)
                    for m in linears)
        if key != self.key:
            with torch.no_grad():
                weight = torch.cat([m.weight for m in linears]).contiguous()
                biases = [_bias(m) for m in linears]
                self.bias = None if all(b is None for b in biases) else torch.cat(
                    [b if b is not None else m.weight.new_zeros(len(m.weight))
                     for b, m in zip(biases, linears, strict=True)]).contiguous()
            self.weight = torch.ops.mkldnn._reorder_linear_weight(weight, None)   # oneDNN's blocked layout
            self.key = key
        return self

    def __call__(self, x: torch.Tensor, act: str = "none",
                 residual: torch.Tensor | None = None) -> torch.Tensor:
        """x Wᵀ + b, then `act` ("none", "gelu", "gelu_tanh", "relu"), or + `residual` (no act).

        oneDNN keeps state for every row (token) count it sees, so a server fed batches of ever-new
        sizes grew without bound. The first EXACT_SHAPES row counts run as they are (a loop that
        repeats its shapes pays nothing); past that, rows are padded up to one of a few sizes
        (`round_rows`, at most 1/8 more), so the shapes, and the memory, stay bounded.
        """
        rows = x.shape[:-1].numel()
        if rows in _exact_rows or len(_exact_rows) < EXACT_SHAPES:
            _exact_rows.add(rows)
            pad = 0
        else:
            pad = round_rows(rows) - rows
        x2 = _pad_rows(x, pad)
        if residual is not None:
            y = torch.ops.mkldnn._linear_pointwise.binary(x2, _pad_rows(residual, pad), self.weight,
                                                          self.bias, "add")
        else:
            algorithm = "tanh" if act == "gelu_tanh" else ("none" if act == "gelu" else "")
            name = "gelu" if act.startswith("gelu") else act
            y = torch.ops.mkldnn._linear_pointwise(x2, self.weight, self.bias, name, [], algorithm)
        return y[:rows].reshape(*x.shape[:-1], y.shape[-1])


def _bias(module: nn.Module) -> torch.Tensor | None:
    return getattr(module, "bias", None)


def round_rows(rows: int) -> int:
    """`rows` rounded up to 8 sizes per power of two (at most 1/8 or 7 rows more): 32 -> 32, 33 -> 40,
    1000 -> 1024. Bounds the shapes oneDNN sees to about 8 per doubling of the batch."""
    step = max(8, 1 << max(0, rows.bit_length() - 4))
    return -(-rows // step) * step


def _pad_rows(x: torch.Tensor, pad: int) -> torch.Tensor:
    """`x` as (rows, features) with `pad` zero rows appended."""
    x2 = x.reshape(-1, x.shape[-1])
    return torch.nn.functional.pad(x2, (0, 0, 0, pad)) if pad else x2


def packed(owner: nn.Module, name: str, linears: list[nn.Module]) -> PackedLinear:
    """The packed copy of `linears`, cached beside `owner`."""
    return _packed.setdefault(owner, {}).setdefault(name, PackedLinear()).get(linears)


def forget(model: nn.Module) -> None:
    """Drop the packed copies of `model` and its submodules (its weights may have changed)."""
    for module in model.modules():
        _packed.pop(module, None)


def encoder_layer(layer: nn.Module, x: torch.Tensor, mask: torch.Tensor | None,
                  packing: object | None) -> torch.Tensor:
    """`layer` (an EncoderLayer, post-LN or pre-LN) in inference, on packed weights: q, k and v
    as one GEMM, GELU fused into the up-projection, the residual adds into the output GEMMs."""
    attn, ffn = layer.attn, layer.ffn
    a_in = layer.attn_norm(x) if layer.pre_norm else x
    qkv = packed(attn, "qkv", [attn.q, attn.k, attn.v])
    context, _ = attn.context(qkv(a_in), mask, packing)                # (..., 3 * hidden) -> (..., hidden)
    h = packed(attn, "out", [attn.out])(context, residual=x)
    if not layer.pre_norm:
        h = layer.attn_norm(h)
    f_in = layer.ffn_norm(h) if layer.pre_norm else h
    up = packed(ffn, "up", [ffn.up])(f_in, act=ffn.act_name)
    y = packed(ffn, "down", [ffn.down])(up, residual=h)
    return y if layer.pre_norm else layer.ffn_norm(y)


# Decoding feeds a few rows per step, where oneDNN's fixed cost per call (~0.1 ms) and its blocked
# weights lose to F.linear's matrix-vector product. Measured on GPT-2 small's weights, one thread,
# all 12 layers' linears and the output layer (benchmarks/bench_generate.py's machine): 1 row
# F.linear 135 ms / oneDNN 165 ms; 2 rows even (227 / 215); 4 rows 395 / 240; 8 rows 377 / 250.
# On a 32-wide model oneDNN costs ~20x F.linear per call at any row count.
DECODER_MIN_ROWS = 2
DECODER_MIN_WIDTH = 512


def decoder_applies(model: nn.Module, x: torch.Tensor) -> bool:
    """Whether a GPT-style decoder (`model.kernels`, `model.config.n_embd`) runs its blocks and
    output layer on packed weights for input `x` (..., n_embd): oneDNN chosen, at least
    DECODER_MIN_ROWS rows, a model at least DECODER_MIN_WIDTH wide, and `applies`."""
    return (x.shape[:-1].numel() >= DECODER_MIN_ROWS and x.shape[-1] >= DECODER_MIN_WIDTH
            and resolve(model.kernels) == "onednn" and applies(x, model))


def decoder_block(block: nn.Module, x: torch.Tensor, mask: torch.Tensor | None,
                  cache: object | None) -> torch.Tensor:
    """`block` (a pre-LN GPT Block) in inference on packed weights, the same fusions as
    `encoder_layer`; with a `cache` (KVCache) the new keys and values are appended to it."""
    attn, ffn = block.attn, block.ffn
    qkv = packed(attn, "qkv", [attn.q, attn.k, attn.v])(block.attn_norm(x))   # (batch, seq, 3 * hidden)
    if cache is None:
        context, _ = attn.context(qkv, mask, causal=True)
    else:
        q, k, v = (attn.split_heads(t) for t in qkv.chunk(3, dim=-1))          # (batch, heads, seq, d)
        k, v = cache.append(k, v)                                              # (batch, heads, seen, d)
        context, _ = attn.attend(q, k, v, mask, causal=True)
        context = context.transpose(1, 2).flatten(2)                           # (batch, seq, hidden)
    h = packed(attn, "out", [attn.out])(context, residual=x)
    up = packed(ffn, "up", [ffn.up])(block.ffn_norm(h), act=ffn.act_name)
    return packed(ffn, "down", [ffn.down])(up, residual=h)


def tied_head(owner: nn.Module, embedding: nn.Embedding, x: torch.Tensor) -> torch.Tensor:
    """x @ embedding.weightᵀ, the output layer tied to the input embeddings, on a packed copy."""
    return packed(owner, "head", [embedding])(x)
