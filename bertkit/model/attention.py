"""The one multi-head attention of bertkit, for padded and for packed (unpadded) batches, for the
encoder (bidirectional), the decoder (causal, with a KV cache) and encoder-decoder (cross) attention.

Two paths compute the same thing (tested equal, with and without a causal mask):
- fast: `F.scaled_dot_product_attention` (fused kernels, no (seq, seq) matrix kept);
- explicit: softmax(q @ kᵀ / √d + mask) @ v, used when the attention weights are asked for
  (interpretation needs them).

Packed execution (`Packing`): a padded batch is flattened to its real tokens, (total_tokens,
hidden), so the linear layers and the FFN never compute on padding. Only the score computation
needs sequences: they are sorted by length and cut into a few buckets, each padded to its own
longest sequence for one batched SDPA call (few large calls rather than one per sequence: each
call has a fixed cost, and a bucket pads only to its own longest sequence).

Decoding (`KVCache`): each layer keeps the keys and values of the tokens already seen, so a new
token costs one query against them instead of recomputing the whole prefix; cross-attention keys
and values come from the encoder's output and are computed once per generation.
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
    """`n` sequences of similar length, attended together in one SDPA call, padded to `length`."""

    n: int
    length: int
    mask: torch.Tensor | None        # (n, 1, 1, length) additive key mask, None if no padding


@dataclass
class Packing:
    """Where the real tokens of a padded (batch, seq) batch sit once packed to (total, ...).

    `indices` are the flat positions (b * seq + t) of the real tokens, in order. For attention the
    sequences are sorted by length and cut into at most `n_buckets` buckets (`length_groups`),
    each padded to its longest;
    the buckets' blocks lie one after the other, (sum of n * length) rows in all:
    `source[p]` is the packed row at block position p (padding repeats a real row),
    `target[p]` the packed row it writes back (padding: `total`, which is dropped), and
    `position[r]` the block position of packed row r.
    """

    indices: torch.Tensor            # (total,) long
    batch: int
    seq_len: int
    total: int
    buckets: list[Bucket]
    source: torch.Tensor             # (blocks,) long
    target: torch.Tensor             # (blocks,) long
    position: torch.Tensor           # (total,) long

    @classmethod
    def from_mask(cls, attention_mask: torch.Tensor, dtype: torch.dtype = torch.float32,
                  n_buckets: int = 4, lengths: list[int] | None = None) -> Packing:
        """Pack along a (batch, seq) 0/1 mask (padding anywhere; real tokens keep their order).

        `lengths`, the mask's row sums, saves a device-to-host copy when the caller has them.
        The block indices are built on the host and copied to the device once.
        """
        batch, seq_len = attention_mask.shape
        device = attention_mask.device
        if lengths is None:
            lengths = attention_mask.ne(0).sum(1).tolist()
        offsets = [sum(lengths[:b]) for b in range(batch)]
        total = sum(lengths)
        buckets, sources, targets = [], [], []
        for group in length_groups(lengths, n_buckets):
            bucket, source, target = _bucket([offsets[b] for b in group], [lengths[b] for b in group],
                                             total, dtype, device)
            buckets.append(bucket)
            sources.append(source)
            targets.append(target)
        source = torch.cat(sources) if sources else torch.zeros(0, dtype=torch.long)
        target = torch.cat(targets) if targets else torch.zeros(0, dtype=torch.long)
        position = torch.empty(total + 1, dtype=torch.long)
        position[target] = torch.arange(len(target))        # padding lands on the spare row `total`
        indices = attention_mask.flatten().ne(0).nonzero_static(size=total).squeeze(1)
        return cls(indices=indices, batch=batch, seq_len=seq_len, total=total, buckets=buckets,
                   source=source.to(device, non_blocking=True), target=target.to(device, non_blocking=True),
                   position=position[:total].to(device, non_blocking=True))

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, seq, ...) -> (total, ...) keeping real tokens."""
        return x.reshape(self.batch * self.seq_len, *x.shape[2:]).index_select(0, self.indices)

    def unpack(self, x: torch.Tensor) -> torch.Tensor:
        """(total, ...) -> (batch, seq, ...) with zeros at the padding."""
        out = x.new_zeros(self.batch * self.seq_len, *x.shape[1:])
        out = out.index_copy(0, self.indices, x)
        return out.view(self.batch, self.seq_len, *x.shape[1:])

    def to_blocks(self, x: torch.Tensor) -> torch.Tensor:
        """Packed (total, ...) -> the buckets' padded blocks, (blocks, ...)."""
        return _Rows.apply(x, self.source, self.position)

    def from_blocks(self, x: torch.Tensor) -> torch.Tensor:
        """The buckets' blocks (blocks, ...) -> packed (total, ...), padding dropped."""
        return _Rows.apply(x, self.position, self.target)


def length_groups(lengths: list[int], n_buckets: int, slack: float = 1.1) -> list[list[int]]:
    """The non-empty sequences' indices, shortest first, cut into at most `n_buckets` groups of
    equal count; a group joins the next when that adds at most `slack` - 1 (10%) to their
    attention work (sum of n * length^2 over the buckets, each padded to its longest).

    Each bucket costs a few more kernel calls; a batch whose lengths are already close (length-
    grouped batches) is best attended as one: lengths [100, 120, 126, 128], 2 buckets -> one group
    (4 * 128^2 is 1.06x 2 * 120^2 + 2 * 128^2); [20, 30, 120, 128] -> [[0, 1], [2, 3]].
    """
    order = [b for b in sorted(range(len(lengths)), key=lengths.__getitem__) if lengths[b] > 0]
    size = -(-len(order) // n_buckets) if order else 1
    groups = [order[i:i + size] for i in range(0, len(order), size)]
    merged: list[list[int]] = []
    for group in groups:
        if merged:
            prev, longest = merged[-1], lengths[group[-1]]
            separate = len(prev) * lengths[prev[-1]] ** 2 + len(group) * longest ** 2
            if (len(prev) + len(group)) * longest ** 2 <= slack * separate:
                merged[-1] = prev + group
                continue
        merged.append(group)
    return merged


class _Rows(torch.autograd.Function):
    """x.index_select(0, index), whose gradient is again a gather (`back`: for each row of x, the
    row of the output's gradient it takes, or len(index) for none), not torch's scatter-add.

    The packing's two moves are such one-to-one maps, up to padding rows that carry no gradient
    (masked keys, dropped queries); a scatter-add was most of the backward pass at ~200 tokens.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor, index: torch.Tensor,
                back: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(back)
        return x.index_select(0, index)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor
                 ) -> tuple[torch.Tensor, None, None]:
        (back,) = ctx.saved_tensors
        grad = torch.cat((grad, grad.new_zeros(1, *grad.shape[1:])))    # the row `back` names for none
        return grad.index_select(0, back), None, None


def _bucket(starts: list[int], lengths: list[int], total: int, dtype: torch.dtype, device: torch.device
            ) -> tuple[Bucket, torch.Tensor, torch.Tensor]:
    """The bucket of the sequences at packed rows `starts` with `lengths` (ascending), and its
    block's source and target rows (host tensors)."""
    length = lengths[-1]
    t = torch.arange(length)
    starts_ = torch.tensor(starts)[:, None]
    valid = t[None, :] < torch.tensor(lengths)[:, None]                  # (n, length)
    rows = starts_ + t[None, :]
    source = torch.where(valid, rows, starts_).flatten()
    target = torch.where(valid, rows, total).flatten()
    mask = None if lengths[0] == length else additive_mask(valid, dtype).to(device, non_blocking=True)
    return Bucket(len(starts), length, mask), source, target


class KVCache:
    """One attention layer's keys and values so far, `k` and `v`, each (batch, heads, seen, head_dim).

    Self-attention appends each step's keys and values; cross-attention fills it once from the
    encoder's output (`fill`). `reorder` follows beam search when it keeps, drops or copies
    hypotheses. Appended keys and values live in one buffer, (2, batch, heads, capacity, head_dim),
    with room to spare (its capacity doubles when full), so a step writes in place instead of
    copying the whole cache (torch.cat); `k` and `v` are views of it.
    """

    def __init__(self) -> None:
        self.seen = 0                                    # how many positions the cache holds
        self._kv: torch.Tensor | None = None             # (2, batch, heads, capacity, head_dim)
        self._fixed: tuple[torch.Tensor, torch.Tensor] | None = None     # filled at once
        self._flat: tuple | None = None                  # `step`'s sizes and strides of _kv

    @property
    def k(self) -> torch.Tensor | None:
        if self._fixed is not None:
            return self._fixed[0]
        return None if self._kv is None else self._kv[0].narrow(2, 0, self.seen)

    @property
    def v(self) -> torch.Tensor | None:
        if self._fixed is not None:
            return self._fixed[1]
        return None if self._kv is None else self._kv[1].narrow(2, 0, self.seen)

    def fill(self, k: torch.Tensor, v: torch.Tensor) -> None:
        """Hold these (batch, heads, seq, d) keys and values as they are (cross-attention)."""
        self._fixed, self._kv, self._flat, self.seen = (k, v), None, None, k.shape[-2]

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add this step's (batch, heads, new, d) keys/values; return all of them so far."""
        seen, end = self.seen, self.seen + k.shape[-2]
        buffer = self._kv
        if buffer is None or buffer.shape[1] != k.shape[0] or end > buffer.shape[3]:
            capacity = max(2 * end, 64)
            buffer = k.new_empty(2, *k.shape[:-2], capacity, k.shape[-1])
            if seen:
                buffer[:, :, :, :seen] = self._kv[:, :, :, :seen]
            self._kv, self._flat = buffer, None
        buffer[0, :, :, seen:end] = k
        buffer[1, :, :, seen:end] = v
        self.seen = end
        return self.k, self.v

    def step(self, kv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`append` of one position, kv (2, batch, heads, d) its keys and values, written straight
        into the buffer; returns the keys transposed, (batch * heads, d, seen), and the values,
        (batch * heads, seen, d), as one query's attention multiplies them (views, no copy).

        The views are made by `as_strided` from sizes and strides kept per buffer: this runs
        right after a matrix-vector product has swept the CPU caches, where each tensor call
        costs 10-30 µs, and narrow/select are several calls each."""
        buffer, seen = self._kv, self.seen
        if buffer is None or seen == buffer.shape[3] or buffer.shape[1] != kv.shape[1]:
            self.append(kv[0].unsqueeze(2), kv[1].unsqueeze(2))          # a new buffer, twice as long
            buffer = self._kv
        flat = self._flat
        if flat is None:
            _, batch, heads, capacity, d = buffer.shape
            n, offset = batch * heads, buffer.storage_offset()
            row = capacity * d                                             # one head's keys
            flat = self._flat = ((2, batch, heads, d), (n * row, heads * row, row, 1),
                                 (row, 1, d), (row, d, 1), n, d, offset)
        size, stride, kt_stride, v_stride, n, d, offset = flat
        if self.seen == seen:
            torch.as_strided(buffer, size, stride, offset + seen * d).copy_(kv)
            self.seen = seen + 1
        seen += 1
        return (torch.as_strided(buffer, (n, d, seen), kt_stride, offset),
                torch.as_strided(buffer, (n, seen, d), v_stride, offset + stride[0]))

    def reorder(self, index: torch.Tensor) -> None:
        """Keep the batch rows at `index` (batch',), in that order."""
        if self._fixed is not None:
            self._fixed = (self._fixed[0].index_select(0, index), self._fixed[1].index_select(0, index))
        elif self._kv is not None:
            self._kv, self._flat = self._kv.index_select(1, index), None


def causal_mask(n_queries: int, n_keys: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(queries, keys) additive mask: 0 where a query may look, −∞ on the keys after it.

    The queries are the last `n_queries` of the `n_keys` positions (decoding with a cache: one new
    query sees every key so far), so query i sees keys 0 .. n_keys - n_queries + i. E.g. 3 x 3:
        [[0, -inf, -inf],
         [0,    0, -inf],
         [0,    0,    0]]
    """
    future = torch.ones(n_queries, n_keys, dtype=torch.bool, device=device).triu(n_keys - n_queries + 1)
    return torch.zeros(n_queries, n_keys, dtype=dtype, device=device).masked_fill(future, float("-inf"))


class MultiHeadAttention(nn.Module):
    """Multi-head attention: q, k, v projections, scaled dot-product per head, output projection.

    Built from a BertConfig, or from `hidden` size, `n_heads` and attention `dropout` (the decoders).
    """

    def __init__(self, config: BertConfig | int, n_heads: int = 1, dropout: float = 0.0):
        super().__init__()
        if isinstance(config, int):
            hidden, self.n_heads, self.dropout = config, n_heads, dropout
        else:
            hidden, self.n_heads = config.hidden_size, config.num_attention_heads
            self.dropout = config.attention_probs_dropout_prob
        self.head_dim = hidden // self.n_heads
        self.q = nn.Linear(hidden, hidden)
        self.k = nn.Linear(hidden, hidden)
        self.v = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, hidden)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(..., seq, hidden) -> (..., heads, seq, head_dim)"""
        return x.unflatten(-1, (self.n_heads, self.head_dim)).transpose(-3, -2)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None,
               causal: bool = False, need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Scaled dot-product attention on (batch, heads, seq, head_dim) tensors.

        `mask` is additive and broadcastable to (batch, heads, queries, keys); `causal` also hides
        every later position from each query (`causal_mask`). Returns the context and, when
        `need_weights`, the attention probabilities (batch, heads, queries, keys).
        """
        p = self.dropout if self.training else 0.0
        n_q, n_k = q.shape[-2], k.shape[-2]
        causal = causal and n_q > 1             # one query is the last position: it sees every key
        if causal and mask is None and n_q == n_k and not need_weights:   # the fused causal kernel
            return F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True), None
        if causal:
            future = causal_mask(n_q, n_k, q.dtype, q.device)               # (queries, keys)
            mask = future if mask is None else torch.minimum(mask, future)
        if not need_weights:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p), None
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)   # (batch, heads, queries, keys)
        if mask is not None:
            scores = scores + mask
        probs = scores.softmax(dim=-1)
        context = F.dropout(probs, p=p, training=self.training) @ v
        return context, probs

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, packing: Packing | None = None,
                output_attentions: bool = False, causal: bool = False, memory: torch.Tensor | None = None,
                cache: KVCache | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x: (batch, seq, hidden) with an additive `mask`, or packed (total, hidden) with `packing`.

        Decoder uses: `memory` (batch, src_seq, hidden), the encoder's output, makes it
        cross-attention (queries from x, keys and values from memory; `mask` then masks the
        source's padding); `cache` keeps keys and values across decoding steps.
        """
        if memory is None and cache is None:
            context, probs = self.context(self.project_qkv(x), mask, packing, output_attentions, causal)
            return self.out(context), probs
        q, k, v = self.decoder_qkv(x, memory, cache)                       # (batch, heads, seq, d)
        context, probs = self.attend(q, k, v, mask, causal and memory is None, output_attentions)
        return self.out(context.transpose(1, 2).flatten(2)), probs

    def decoder_qkv(self, x: torch.Tensor, memory: torch.Tensor | None, cache: KVCache | None,
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q from x; k, v from x (self-attention, appended to `cache`) or from `memory`
        (cross-attention: computed at the first step, then read back from `cache`)."""
        if memory is None:
            # three GEMMs: decoding feeds one token a step, where concatenating the weights first
            # (project_qkv) would copy them every step for no gain
            q, k, v = self.split_heads(self.q(x)), self.split_heads(self.k(x)), self.split_heads(self.v(x))
            if cache is not None:
                k, v = cache.append(k, v)                                  # (batch, heads, seen, d)
            return q, k, v
        q = self.split_heads(self.q(x))
        if cache is not None and cache.k is not None:
            return q, cache.k, cache.v
        weight = torch.cat((self.k.weight, self.v.weight))                 # (2 * hidden, hidden)
        k, v = (self.split_heads(t) for t in F.linear(memory, weight, torch.cat((self.k.bias, self.v.bias)))
                .chunk(2, dim=-1))
        if cache is not None:
            cache.fill(k, v)
        return q, k, v

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
        if not packing.buckets:                                          # no real token at all
            return qkv[:, :hidden]
        blocks = packing.to_blocks(qkv).split([b.n * b.length for b in packing.buckets])
        contexts = []
        for b, block in zip(packing.buckets, blocks, strict=True):
            block = block.view(b.n, b.length, 3 * hidden)
            q, k, v = (self.split_heads(t) for t in block.chunk(3, dim=-1))       # (n, heads, length, d)
            context, _ = self.attend(q, k, v, b.mask, causal)
            contexts.append(context.transpose(1, 2).reshape(-1, hidden))          # (n * length, hidden)
        return packing.from_blocks(torch.cat(contexts))
