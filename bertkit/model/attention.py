"""The one multi-head attention of bertkit, for padded and for packed (unpadded) batches.

Two paths compute the same thing (tested equal, with and without a causal mask):
- fast: `F.scaled_dot_product_attention` (fused kernels, no (seq, seq) matrix kept);
- explicit: softmax(q @ kᵀ / √d + mask) @ v, used when the attention weights are asked for
  (interpretation needs them).

Packed execution (`Packing`): a padded batch is flattened to its real tokens, (total_tokens,
hidden), so the linear layers and the FFN never compute on padding. Only the score computation
needs sequences: they are sorted by length and cut into a few buckets, each padded to its own
longest sequence for one batched SDPA call (few large calls rather than one per sequence: each
call has a fixed cost, and a bucket pads only to its own longest sequence).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bertkit.model.config import BertConfig


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

    `indices` are the flat positions (b * seq + t) of the real tokens, in order. For attention the
    sequences are sorted by length and cut into `n_buckets` buckets, each padded to its longest.
    """

    indices: torch.Tensor            # (total,) long
    batch: int
    seq_len: int
    total: int
    buckets: list[Bucket]

    @classmethod
    def from_mask(cls, attention_mask: torch.Tensor, dtype: torch.dtype = torch.float32,
                  n_buckets: int = 4, lengths: list[int] | None = None) -> Packing:
        """Pack along a (batch, seq) 0/1 mask (padding anywhere; real tokens keep their order).

        `lengths`, the mask's row sums, saves a device-to-host copy when the caller has them.
        """
        batch, seq_len = attention_mask.shape
        if lengths is None:
            lengths = attention_mask.ne(0).sum(1).tolist()
        offsets = [sum(lengths[:b]) for b in range(batch)]
        total = sum(lengths)
        order = [b for b in sorted(range(batch), key=lengths.__getitem__) if lengths[b] > 0]
        size = -(-len(order) // n_buckets) if order else 1
        buckets = [_bucket([offsets[b] for b in group], [lengths[b] for b in group], total, dtype,
                           attention_mask.device)
                   for group in (order[i:i + size] for i in range(0, len(order), size))]
        indices = attention_mask.flatten().ne(0).nonzero_static(size=total).squeeze(1)
        return cls(indices=indices, batch=batch, seq_len=seq_len, total=total, buckets=buckets)

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, seq, ...) -> (total, ...) keeping real tokens."""
        return x.reshape(self.batch * self.seq_len, *x.shape[2:]).index_select(0, self.indices)

    def unpack(self, x: torch.Tensor) -> torch.Tensor:
        """(total, ...) -> (batch, seq, ...) with zeros at the padding."""
        out = x.new_zeros(self.batch * self.seq_len, *x.shape[1:])
        out = out.index_copy(0, self.indices, x)
        return out.view(self.batch, self.seq_len, *x.shape[1:])


def _bucket(starts: list[int], lengths: list[int], total: int, dtype: torch.dtype,
            device: torch.device) -> Bucket:
    """The bucket of the sequences at packed rows `starts` with `lengths` (ascending), built on
    the host and copied to `device` once."""
    length = lengths[-1]
    t = torch.arange(length)
    starts_ = torch.tensor(starts)[:, None]
    valid = t[None, :] < torch.tensor(lengths)[:, None]                  # (n, length)
    rows = starts_ + t[None, :]
    source = torch.where(valid, rows, starts_).flatten()
    target = torch.where(valid, rows, total).flatten()
    mask = None if lengths[0] == length else additive_mask(valid, dtype).to(device, non_blocking=True)
    return Bucket(length, source.to(device, non_blocking=True), target.to(device, non_blocking=True), mask)


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

        `mask` is additive and broadcastable to (batch, heads, seq, seq); `causal` also hides every
        later position from each query. Returns the context and, when `need_weights`, the attention
        probabilities (batch, heads, seq, seq).
        """
        p = self.dropout if self.training else 0.0
        if causal:
            n = q.shape[-2]
            future = torch.ones(n, n, dtype=torch.bool, device=q.device).triu(1)     # (seq, seq)
            causal_mask = torch.zeros(n, n, dtype=q.dtype, device=q.device).masked_fill(
                future, torch.finfo(q.dtype).min)
            mask = causal_mask if mask is None else torch.minimum(mask, causal_mask)
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
        context, probs = self.context(self.project_qkv(x), mask, packing, output_attentions, causal)
        return self.out(context), probs

    def project_qkv(self, x: torch.Tensor) -> torch.Tensor:
        """q, k and v side by side, (..., 3 * hidden), as one GEMM over their weights concatenated.

        One large GEMM runs faster than three small ones. The q, k, v modules hold the weights but are
        not called, so hooks on them do not fire: hook the attention module or wrap `attend` instead.
        """
        weight = torch.cat((self.q.weight, self.k.weight, self.v.weight))   # (3 * hidden, hidden)
        bias = torch.cat((self.q.bias, self.k.bias, self.v.bias))
        return F.linear(x, weight, bias)

    def context(self, qkv: torch.Tensor, mask: torch.Tensor | None = None, packing: Packing | None = None,
                output_attentions: bool = False, causal: bool = False,
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The heads' outputs side by side, (..., hidden), before the output projection, from the
        (..., 3 * hidden) projections; and the attention weights if asked (padded input only)."""
        if packing is not None:
            return self._packed(qkv, packing, causal), None
        q, k, v = (self.split_heads(t) for t in qkv.chunk(3, dim=-1))   # (batch, heads, seq, d)
        context, probs = self.attend(q, k, v, mask, causal, need_weights=output_attentions)
        return context.transpose(1, 2).flatten(2), probs                  # (batch, seq, hidden)

    def _packed(self, qkv: torch.Tensor, packing: Packing, causal: bool) -> torch.Tensor:
        """Attention over packed (total, 3 * hidden) projections: one SDPA call per length bucket."""
        hidden = qkv.shape[-1] // 3
        out = qkv.new_empty(packing.total + 1, hidden)                   # + a spare row for padding
        for b in packing.buckets:
            block = qkv.index_select(0, b.source).view(-1, b.length, 3 * hidden)  # (n, length, 3 * hidden)
            q, k, v = (self.split_heads(t) for t in block.chunk(3, dim=-1))       # (n, heads, length, d)
            context, _ = self.attend(q, k, v, b.mask, causal)
            out.index_copy_(0, b.target, context.transpose(1, 2).reshape(-1, hidden))
        return out[:-1]
