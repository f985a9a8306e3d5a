"""Cross-entropy over a large vocabulary fused with the output layer that makes its logits.

A language model's loss is cross_entropy(h @ Wᵀ, labels) with h (tokens, hidden) and W (vocab,
hidden). Computed plainly, autograd keeps the (tokens, vocab) logits, their log-softmax and, in the
backward pass, their gradient: with GPT-2's 50,257 tokens that is 200 kB per token per tensor,
several passes through memory of the largest tensors of the step. Here the rows go through in
chunks of about `CHUNK_ELEMENTS` logits; each chunk's logits become, in place, the softmax (one
pass: each row is normalised while it sits in cache), whose value at the label gives the loss
(−log p) and which, minus the one-hot labels, is the gradient of the loss with respect to the
logits; it is used at once for the two backward GEMMs (∂h = g W, ∂W += gᵀ h), the 1/tokens
scaling folded into them. The backward pass only scales the two stored gradients (not at all when
the upstream gradient is 1, the usual `loss.backward()`). Same GEMMs, same result to float32
rounding (tested against transformers), no (tokens, vocab) tensor kept.

One buffer serves all chunks, so the fresh pages of a large allocation are touched once per step.
"""

from __future__ import annotations

import torch
from torch import Tensor

# logits per chunk: 16M floats (64 MB) = 333 rows at GPT-2's 50,257 tokens. Measured on 1,016 rows
# x 256 wide, forward + backward, 1 thread: 128 rows a chunk 1.70 s, 256 1.64 s, 512 1.71 s, all
# 1,016 at once 1.83 s (the chunk's softmax stays nearer the cache); the buffer lives only during
# the forward pass.
CHUNK_ELEMENTS = 1 << 24
# below this probability −log p is taken from a log-softmax of the row (p would lose precision)
_TINY = 1e-30


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden: Tensor, weight: Tensor, labels: Tensor,  # type: ignore[override]
                chunk: int) -> Tensor:
        valid = labels != -100
        n_valid = int(valid.sum())
        scale = 1.0 / max(n_valid, 1)
        all_valid = n_valid == len(labels)
        want_h, want_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_h = torch.empty_like(hidden) if want_h else None
        fresh = torch.empty_like if len(hidden) else torch.zeros_like         # the first chunk writes it
        grad_w = fresh(weight) if want_w else None
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        buffer = hidden.new_empty(min(chunk, len(hidden)), len(weight)) if len(hidden) else None
        for start in range(0, hidden.shape[0], chunk):
            h, y, keep = hidden[start:start + chunk], labels[start:start + chunk], valid[start:start + chunk]
            logits = torch.mm(h, weight.T, out=buffer[:len(h)])               # (chunk, vocab)
            target = y.clamp(min=0)[:, None]
            probs = torch.softmax(logits, dim=-1, out=logits) if logits.dtype == torch.float32 else None
            if probs is None:                                                 # low precision: float32 softmax
                probs = logits.float().softmax(-1)
            p = probs.gather(1, target).squeeze(1)
            nll = -p.log()
            tiny = (p < _TINY) & keep
            if tiny.any():                  # recompute those rows' logits: −log p exactly
                rows = tiny.nonzero().squeeze(1)
                logp = torch.log_softmax((h[rows] @ weight.T).float(), dim=-1)
                nll[rows] = -logp.gather(1, target[rows]).squeeze(1)
            total += nll.masked_fill(~keep, 0.0).sum()
            if not (want_h or want_w):
                continue
            g = probs
            g.scatter_add_(1, target, -keep[:, None].to(g.dtype))             # − one-hot (scored rows)
            if not all_valid:
                g.masked_fill_(~keep[:, None], 0.0)                          # unscored rows: no gradient
            g = g.to(weight.dtype)                                            # ∂loss/∂logits / scale
            if want_h:
                out = grad_h[start:start + chunk]
                torch.mm(g, weight, out=out)
                out.mul_(scale)
            if want_w:
                torch.addmm(grad_w, g.T, h, beta=0.0 if start == 0 else 1.0, alpha=scale, out=grad_w)
        ctx.save_for_backward(grad_h, grad_w)
        return total * scale

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        grad_h, grad_w = ctx.saved_tensors
        if grad_out.device.type == "cpu" and grad_out.item() == 1.0:         # loss.backward(): as stored
            return grad_h, grad_w, None, None
        return (None if grad_h is None else grad_h * grad_out,
                None if grad_w is None else grad_w * grad_out, None, None)


def linear_cross_entropy(hidden: Tensor, weight: Tensor, labels: Tensor, chunk: int | None = None) -> Tensor:
    """Mean cross_entropy(hidden @ weight.T, labels), labels == -100 ignored, without keeping the
    logits. hidden (tokens, d), weight (vocab, d), labels (tokens,). `chunk` rows at a time
    (default: equal chunks of about `CHUNK_ELEMENTS` logits)."""
    if chunk is None:           # equal chunks: a last one of a few rows would cost a whole pass over W
        rows = max(1, CHUNK_ELEMENTS // max(len(weight), 1))
        n_chunks = max(1, round(len(hidden) / rows))
        chunk = max(1, -(-len(hidden) // n_chunks))
    return _LinearCrossEntropy.apply(hidden, weight, labels, chunk)
