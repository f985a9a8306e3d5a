"""Cross-entropy over a large vocabulary fused with the output layer that makes its logits.

A language model's loss is cross_entropy(h @ Wᵀ, labels) with h (tokens, hidden) and W (vocab,
hidden). Computed plainly, autograd keeps the (tokens, vocab) logits, their log-softmax and, in the
backward pass, their gradient: with GPT-2's 50,257 tokens that is 200 kB per token per tensor,
several passes through memory of the largest tensors of the step. Here the rows go through in
chunks; each chunk's logits become, in place, the gradient of the loss with respect to them
(softmax − one-hot, divided by the number of scored tokens) and are used at once for the two
backward GEMMs (∂h = g W, ∂W += gᵀ h). The backward pass only scales the two stored gradients.
Same GEMMs, same result to float32 rounding (tested against transformers), no (tokens, vocab)
tensor kept.
"""

from __future__ import annotations

import torch
from torch import Tensor


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden: Tensor, weight: Tensor, labels: Tensor,  # type: ignore[override]
                chunk: int) -> Tensor:
        valid = labels != -100
        count = valid.sum().clamp(min=1).to(torch.float32)
        want_h, want_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_h = torch.empty_like(hidden) if want_h else None
        fresh = torch.empty_like if len(hidden) else torch.zeros_like         # the first chunk writes it
        grad_w = fresh(weight) if want_w else None
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        for start in range(0, hidden.shape[0], chunk):
            h, y, keep = hidden[start:start + chunk], labels[start:start + chunk], valid[start:start + chunk]
            logp = torch.log_softmax((h @ weight.T).float(), dim=-1)        # (chunk, vocab), one kernel
            target = y.clamp(min=0)[:, None]
            total -= (logp.gather(1, target).squeeze(1) * keep).sum()
            if not (want_h or want_w):
                continue
            g = logp.exp_()                                                   # softmax, in place
            g.scatter_add_(1, target, -keep[:, None].to(g.dtype))             # − one-hot (scored rows)
            g = g.mul_((keep / count)[:, None]).to(weight.dtype)            # ∂loss/∂logits
            if want_h:
                torch.mm(g, weight, out=grad_h[start:start + chunk])
            if want_w and start == 0:
                torch.mm(g.T, h, out=grad_w)
            elif want_w:
                grad_w.addmm_(g.T, h)
        ctx.save_for_backward(grad_h, grad_w)
        return total / count

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        grad_h, grad_w = ctx.saved_tensors
        return (None if grad_h is None else grad_h * grad_out,
                None if grad_w is None else grad_w * grad_out, None, None)


def linear_cross_entropy(hidden: Tensor, weight: Tensor, labels: Tensor, chunk: int = 256) -> Tensor:
    """Mean cross_entropy(hidden @ weight.T, labels), labels == -100 ignored, without keeping the
    logits. hidden (tokens, d), weight (vocab, d), labels (tokens,). `chunk` rows at a time."""
    return _LinearCrossEntropy.apply(hidden, weight, labels, chunk)
