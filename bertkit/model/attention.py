"""The one multi-head attention of bertkit, for padded and for packed (unpadded) batches.

Two paths compute the same thing (tested equal):
- fast: `F.scaled_dot_product_attention` (fused kernels, no (seq, seq) matrix kept);
- explicit: softmax(q @ kᵀ / √d + mask) @ v, used when the attention weights are asked for
  (interpretation needs them).

Packed execution (`Packing`): a padded batch is flattened to its real tokens, (total_tokens,
hidden), so the linear layers and the FFN never compute on padding. Only the score computation
needs sequences: they are sorted by length and cut into a few buckets, each padded to its own
longest sequence for one batched SDPA call (one SDPA call per sequence measured slower on a busy
2-core machine: every op is a parallel region that waits for a time slice).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bertkit.model.config import BertConfig
from bertkit.model.fast import has_hooks, inference_fast_path, packed_linear


def additive_mask(key_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(batch, seq) 1/0 key mask -> (batch, 1, 1, seq) additive mask: 0 to keep, dtype-min to drop.

    The most negative finite value (not -inf), as transformers does, so that a row whose keys are
    all padding gives a uniform average rather than NaN.
    """
    keep = key_mask[:, None, None, :].to(dtype)
    return (1.0 - keep) * torch.finfo(dtype).min


@dataclass
class Bucket:
    """Sequences of similar length, attended together in one SDPA call, padded to `length`."""

    length: int
    source: torch.Tensor             # (n * length,) packed row of each block position (clamped)
    target: torch.Tensor             # (n * length,) packed row to write back; padding: `total`, a spare row
    mask: torch.Tensor | None        # (n, 1, 1, length) additive key mask, None if no padding


@dataclass
class Packing:
    """Where the real tokens of a padded (batch, seq) batch sit once packed to (total, ...).

    `indices` are the flat positions (b * seq + t) of the real tokens, in order. For attention
    the sequences are sorted by length and cut into a few buckets: few large ops rather than one
    per sequence (each op is a parallel region; on a busy 2-core machine each costs a time slice),
    and little padding (a bucket pads only to its own longest sequence).
    """

    indices: torch.Tensor            # (total,) long
    batch: int
    seq_len: int
    total: int
    buckets: list[Bucket]

    @classmethod
    def from_mask(cls, attention_mask: torch.Tensor, dtype: torch.dtype = torch.float32,
                  n_buckets: int = 4) -> Packing:
        """Pack along a (batch, seq) 0/1 mask (padding anywhere; real tokens keep their order)."""
        batch, seq_len = attention_mask.shape
        mask = attention_mask.bool()
        lengths = mask.sum(1).tolist()
        offsets = [sum(lengths[:b]) for b in range(batch)]
        total = sum(lengths)
        order = [b for b in sorted(range(batch), key=lengths.__getitem__) if lengths[b] > 0]
        buckets = []
        size = -(-len(order) // n_buckets) if order else 1
        device = attention_mask.device
        for i in range(0, len(order), size):
            group = order[i:i + size]
            length = lengths[group[-1]]
            t = torch.arange(length, device=device)
            starts = torch.tensor([offsets[b] for b in group], device=device)[:, None]
            valid = t[None, :] < torch.tensor([lengths[b] for b in group], device=device)[:, None]
            rows = starts + t[None, :]
            buckets.append(Bucket(
                length=length,
                source=torch.where(valid, rows, starts).flatten(),
                target=torch.where(valid, rows, total).flatten(),
                mask=None if bool(valid.all()) else additive_mask(valid, dtype),
            ))
        indices = mask.flatten().nonzero().squeeze(1)
        return cls(indices=indices, batch=batch, seq_len=seq_len, total=total, buckets=buckets)

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, seq, ...) -> (total, ...) keeping real tokens."""
        return x.reshape(self.batch * self.seq_len, *x.shape[2:]).index_select(0, self.indices)

    def unpack(self, x: torch.Tensor) -> torch.Tensor:
        """(total, ...) -> (batch, seq, ...) with zeros at the padding."""
        out = x.new_zeros(self.batch * self.seq_len, *x.shape[1:])
        out = out.index_copy(0, self.indices, x)
        return out.view(self.batch, self.seq_len, *x.shape[1:])


class MultiHeadAttention(nn.Module):
    """Self-attention: q, k, v projections, scaled dot-product per head, output projection."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.n_heads = config.num_attention_heads
        self.head_dim = config.head_dim
        hidden = config.hidden_size
        self.q = nn.Linear(hidden, hidden)
        self.k = nn.Linear(hidden, hidden)
        self.v = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, hidden)
        self.dropout = config.attention_probs_dropout_prob

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(..., seq, hidden) -> (..., heads, seq, head_dim)"""
        return x.unflatten(-1, (self.n_heads, self.head_dim)).transpose(-3, -2)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None,
               causal: bool = False, need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Scaled dot-product attention on (batch, heads, seq, head_dim) tensors.

        `mask` is additive and broadcastable to (batch, heads, seq, seq). Returns the context and,
        when `need_weights`, the attention probabilities (batch, heads, seq, seq).
        """
        p = self.dropout if self.training else 0.0
        if causal:
            n = q.shape[-2]
            upper = torch.ones(n, n, dtype=torch.bool, device=q.device).triu(1)
            causal_mask = torch.zeros(n, n, dtype=q.dtype, device=q.device).masked_fill(
                upper, torch.finfo(q.dtype).min)
            mask = causal_mask if mask is None else mask + causal_mask
        if not need_weights:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p), None
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)   # (batch, heads, seq, seq)
        if mask is not None:
            scores = scores + mask
        probs = scores.softmax(dim=-1)
        context = F.dropout(probs, p=p, training=self.training) @ v
        return context, probs

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, packing: Packing | None = None,
                output_attentions: bool = False, causal: bool = False,
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x: (batch, seq, hidden) with an additive `mask`, or packed (total, hidden) with `packing`."""
        context, probs = self.context(x, mask, packing, output_attentions, causal)
        if inference_fast_path(context, self.out):
            return packed_linear(self, "out", [self.out])(context), probs
        return self.out(context), probs

    def context(self, x: torch.Tensor, mask: torch.Tensor | None = None, packing: Packing | None = None,
                output_attentions: bool = False, causal: bool = False,
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The heads' outputs side by side, before the output projection (and the weights if asked)."""
        qkv = self.project_qkv(x)                                   # (..., 3 * hidden)
        if packing is not None:
            return self._packed(qkv, packing, causal), None
        q, k, v = (self.split_heads(t) for t in qkv.chunk(3, dim=-1))  # (batch, heads, seq, d)
        context, probs = self.attend(q, k, v, mask, causal, need_weights=output_attentions)
        return context.transpose(1, 2).flatten(2), probs              # (batch, seq, hidden)

    def project_qkv(self, x: torch.Tensor) -> torch.Tensor:
        """q, k and v projections as one GEMM (the weights concatenated along outputs)."""
        if has_hooks(self.q, self.k, self.v):
            return torch.cat((self.q(x), self.k(x), self.v(x)), dim=-1)
        if inference_fast_path(x, self.q, self.k, self.v):
            return packed_linear(self, "qkv", [self.q, self.k, self.v])(x)
        weight = torch.cat((self.q.weight, self.k.weight, self.v.weight))
        bias = torch.cat((self.q.bias, self.k.bias, self.v.bias))
        return F.linear(x, weight, bias)

    def _packed(self, qkv: torch.Tensor, packing: Packing, causal: bool) -> torch.Tensor:
        """Attention over packed (total, 3 * hidden) q/k/v, one SDPA call per length bucket."""
        hidden = qkv.shape[-1] // 3
        out = qkv.new_empty(packing.total + 1, hidden)                  # + a spare row for padding
        for b in packing.buckets:
            block = qkv.index_select(0, b.source).view(-1, b.length, 3 * hidden)  # (n, length, 3 * hidden)
            q, k, v = (self.split_heads(t) for t in block.chunk(3, dim=-1))       # (n, heads, length, d)
            context, _ = self.attend(q, k, v, b.mask, causal)
            out.index_copy_(0, b.target, context.transpose(1, 2).reshape(-1, hidden))
        return out[:-1]
