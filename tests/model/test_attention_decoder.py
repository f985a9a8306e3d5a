"""The one attention on the decoder side: the −∞ causal mask, cross-attention, the KV cache."""

from __future__ import annotations

import math

import torch

from bertkit.model.attention import KVCache, MultiHeadAttention, additive_mask, causal_mask


def _attn() -> MultiHeadAttention:
    torch.manual_seed(0)
    return MultiHeadAttention(32, 4, 0.0).eval()


def test_causal_mask_is_minus_infinity_above_the_diagonal():
    m = causal_mask(3, 3, torch.float32, torch.device("cpu"))
    inf = float("-inf")
    assert m.tolist() == [[0, inf, inf], [0, 0, inf], [0, 0, 0]]
    # one new query after 3 cached keys sees all 4; two new queries: the first sees 3 of 4
    assert causal_mask(1, 4, torch.float32, torch.device("cpu")).tolist() == [[0, 0, 0, 0]]
    assert causal_mask(2, 4, torch.float32, torch.device("cpu")).tolist() == [[0, 0, 0, inf], [0, 0, 0, 0]]


def test_causal_explicit_path_is_the_formula_and_equals_the_fused_path():
    attn = _attn()
    x = torch.randn(2, 6, 32)
    fast, _ = attn(x, causal=True)
    slow, probs = attn(x, causal=True, output_attentions=True)
    q, k = attn.split_heads(attn.q(x)), attn.split_heads(attn.k(x))
    scores = q @ k.transpose(-2, -1) / math.sqrt(8) + causal_mask(6, 6, x.dtype, x.device)
    assert (probs - scores.softmax(-1)).abs().max() <= 1e-6
    assert (fast - slow).abs().max() <= 1e-6
    assert probs[..., 0, 1:].abs().max() == 0            # the first token sees only itself


def test_cross_attention_explicit_equals_fast_and_ignores_source_padding():
    attn = _attn()
    x, memory = torch.randn(2, 5, 32), torch.randn(2, 7, 32)
    mask = torch.ones(2, 7)
    mask[1, 4:] = 0
    m = additive_mask(mask, x.dtype)
    fast, _ = attn(x, m, memory=memory)
    slow, probs = attn(x, m, memory=memory, output_attentions=True)
    assert probs.shape == (2, 4, 5, 7) and probs[1, ..., 4:].abs().max() == 0
    assert (fast - slow).abs().max() <= 1e-6
    changed = memory.clone()
    changed[1, 4:] = 100.0                                  # padding of the source changes nothing
    again, _ = attn(x, m, memory=changed)
    assert (again[1] - fast[1]).abs().max() <= 1e-5


def test_cached_steps_equal_the_full_causal_pass():
    attn = _attn()
    x = torch.randn(3, 8, 32)
    full, _ = attn(x, causal=True)
    cache = KVCache()
    first, _ = attn(x[:, :5], causal=True, cache=cache)      # the prompt in one go
    steps = [attn(x[:, t:t + 1], causal=True, cache=cache)[0] for t in range(5, 8)]   # then one by one
    assert cache.k.shape == (3, 4, 8, 8)
    assert (torch.cat([first, *steps], 1) - full).abs().max() <= 1e-5


def test_cross_attention_cache_computes_keys_once():
    attn = _attn()
    x, memory = torch.randn(2, 3, 32), torch.randn(2, 7, 32)
    cache = KVCache()
    a, _ = attn(x, memory=memory, cache=cache)
    k = cache.k
    b, _ = attn(x, memory=torch.zeros_like(memory), cache=cache)   # the cached keys are used
    assert cache.k is k and torch.equal(a, b)
    cache.reorder(torch.tensor([1, 1]))
    assert torch.equal(cache.k[0], k[1])


def test_cache_grows_in_place_and_reorders_like_concatenation():
    """The preallocated cache holds exactly what torch.cat of the steps holds, across regrowth
    (capacity 64, then 2 x 65), one-position `step`s and beam-search reorders; a step within
    capacity copies nothing old, and `step` returns the keys transposed and the values, flat."""
    torch.manual_seed(1)
    cache, ks, vs = KVCache(), [], []
    for step in range(70):
        new = 4 if step == 0 else 1                     # the buffer grows at step 61, a `step`
        k, v = torch.randn(3, 2, new, 4), torch.randn(3, 2, new, 4)
        buffer = cache._kv
        if step % 2:
            keys_t, values = cache.step(torch.stack((k[:, :, 0], v[:, :, 0])))
            got_k = keys_t.transpose(1, 2).unflatten(0, (3, 2))
            assert torch.equal(values.unflatten(0, (3, 2)), cache.v)
        else:
            got_k, _ = cache.append(k, v)
        ks.append(k)
        vs.append(v)
        assert torch.equal(got_k, torch.cat(ks, -2))
        if step in (1, 2, 40):
            assert cache._kv is buffer and got_k.data_ptr() == buffer.data_ptr()   # written in place
        if step % 7 == 3:                                   # a beam search step keeps rows 2, 0, 0
            rows = torch.tensor([2, 0, 0])
            cache.reorder(rows)
            ks, vs = [t[rows] for t in ks], [t[rows] for t in vs]
        assert torch.equal(cache.k, torch.cat(ks, -2)) and torch.equal(cache.v, torch.cat(vs, -2))
    assert cache.seen == 73 and cache._kv.shape[3] == 130
