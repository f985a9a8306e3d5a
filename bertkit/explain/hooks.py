"""Seeing inside a forward pass without changing it.

`Recorder`: forward hooks that keep named submodules' first input and their output.
`record_attention`: wraps `MultiHeadAttention.attend` of named attention modules. The model's own
call runs unchanged (its fast SDPA path included) and its q, k, v and context are kept; when the
model did not ask for the attention weights, the same `attend` is called once more with
`need_weights=True` (the explicit path, softmax(q kᵀ/√d + mask)) to keep them. Nothing in the model
changes: the wrapper is an instance attribute shadowing the method, deleted on exit.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch


class Recorder:
    """Forward hooks that keep the inputs/outputs of named submodules: `values[name]` is the output
    (its first element when a tuple), `values[name + ".in"]` the first positional input."""

    def __init__(self, modules: dict[str, Any]):
        self.values: dict[str, Any] = {}
        self.handles = [m.register_forward_hook(self._hook(name)) for name, m in modules.items()]

    def _hook(self, name: str):
        def hook(module, inputs, output):
            self.values[name + ".in"] = inputs[0].detach()
            self.values[name] = (output[0] if isinstance(output, tuple) else output).detach()
        return hook

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


@contextmanager
def record_attention(modules: dict[str, Any]) -> Iterator[dict[str, dict[str, torch.Tensor]]]:
    """While open, `seen[name]` holds the last call of each named attention module's `attend`:
    q, k, v (batch, heads, seq, head_dim), context (batch, heads, queries, head_dim) and probs
    (batch, heads, queries, keys), each detached."""
    seen: dict[str, dict[str, torch.Tensor]] = {}

    def wrap(name: str, attend: Any) -> Any:
        signature = inspect.signature(attend)

        def recording_attend(*args: Any, **kwargs: Any):
            context, weights = attend(*args, **kwargs)
            call = signature.bind(*args, **kwargs)
            if weights is None:
                call.arguments["need_weights"] = True
                weights_ = attend(*call.args, **call.kwargs)[1]
            else:
                weights_ = weights
            q, k, v = (call.arguments[x] for x in "qkv")
            seen[name] = {"q": q.detach(), "k": k.detach(), "v": v.detach(), "context": context.detach(),
                          "probs": weights_.detach()}
            return context, weights
        return recording_attend

    for name, attn in modules.items():
        attn.attend = wrap(name, attn.attend)
    try:
        yield seen
    finally:
        for attn in modules.values():
            del attn.attend
