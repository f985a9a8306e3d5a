"""Packed (unpadded) attention: the buckets' gather and write-back, and their hand-written gradient."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit.model.attention import MultiHeadAttention, Packing, additive_mask


def _mask(lengths: list[int], seq: int) -> torch.Tensor:
    return (torch.arange(seq)[None, :] < torch.tensor(lengths)[:, None]).long()


def test_blocks_hold_each_sequence_padded_to_its_bucket():
    # lengths 3, 5, 1 in 2 buckets: sorted 1, 3 | 5 -> block rows [8, 8, 8 | 0, 1, 2] and [3..7]
    packing = Packing.from_mask(_mask([3, 5, 1], 5), n_buckets=2)
    assert [(b.n, b.length) for b in packing.buckets] == [(2, 3), (1, 5)]
    assert packing.source.tolist() == [8, 8, 8, 0, 1, 2, 3, 4, 5, 6, 7]
    assert packing.target.tolist() == [8, 9, 9, 0, 1, 2, 3, 4, 5, 6, 7]   # 9 = total: dropped
    assert packing.position.tolist() == [3, 4, 5, 6, 7, 8, 9, 10, 0]
    x = torch.arange(9.0)[:, None]
    assert torch.equal(packing.from_blocks(packing.to_blocks(x)), x)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(0, 9), min_size=1, max_size=7), st.integers(1, 4), st.booleans())
def test_packed_gradients_equal_padded(lengths, n_buckets, causal):
    """The gather's backward is a gather through `position`/`target` (not a scatter-add): equal to
    the padded computation's gradients, also when buckets hold padding (its rows carry none)."""
    torch.manual_seed(len(lengths))
    attn = MultiHeadAttention(8, n_heads=2).train()       # dropout 0: the two paths compare exactly
    seq = max(max(lengths), 1)
    mask = _mask(lengths, seq)
    x = torch.randn(len(lengths), seq, 8, requires_grad=True)
    w = torch.randn(len(lengths), seq, 8) * mask[..., None]              # loss on real tokens only

    attn.zero_grad()
    packing = Packing.from_mask(mask, n_buckets=n_buckets)
    out, _ = attn(packing.pack(x), packing=packing, causal=causal)
    (packing.unpack(out) * w).sum().backward()
    fast = [x.grad.clone(), *(p.grad.clone() for p in attn.parameters())]

    x.grad = None
    attn.zero_grad()
    out, _ = attn(x, additive_mask(mask, x.dtype), causal=causal)
    (out * w).sum().backward()
    ref = [x.grad, *(p.grad for p in attn.parameters())]
    for a, b in zip(fast, ref, strict=True):
        assert (a - b).abs().max() <= 1e-5


def test_no_real_token_gives_an_empty_packed_output():
    packing = Packing.from_mask(torch.zeros(2, 4, dtype=torch.long))
    out, _ = MultiHeadAttention(8, n_heads=2)(torch.randn(0, 8), packing=packing)
    assert out.shape == (0, 8)


@pytest.mark.parametrize("n_buckets", [1, 3])
def test_gather_gradient_matches_autograd_index_select(n_buckets):
    """to_blocks' hand-written backward equals torch's (a scatter-add) on the rows that carry one."""
    packing = Packing.from_mask(_mask([4, 2, 6, 1], 6), n_buckets=n_buckets)
    x = torch.randn(packing.total, 3, requires_grad=True)
    keep = (packing.target < packing.total).float()[:, None]            # padding rows: no gradient
    g = torch.randn(len(packing.source), 3) * keep
    (packing.to_blocks(x) * g).sum().backward()
    ref = torch.zeros_like(x).index_add_(0, packing.source, g)
    assert torch.allclose(x.grad, ref)


def test_close_lengths_share_one_bucket():
    """A group joins the next when padding it to the next's longest adds <= 10% attention work."""
    from bertkit.model.attention import length_groups

    assert length_groups([100, 120, 126, 128], 2) == [[0, 1, 2, 3]]       # 65536 <= 1.1 * 61568
    assert length_groups([20, 30, 120, 128], 2) == [[0, 1], [2, 3]]
    assert length_groups([128, 0, 126, 120, 100], 2) == [[4, 3, 2, 0]]   # empty rows: no bucket
    assert [len(g) for g in length_groups(list(range(16, 128, 4)), 4)] == [7, 7, 7, 7]
    packing = Packing.from_mask(_mask([213, 217, 217, 217], 217), n_buckets=4)
    assert [(b.n, b.length) for b in packing.buckets] == [(4, 217)]
