"""Sinusoidal positions, the one attention (fast path == explicit path), encoder layer options."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from bertkit.model import BertConfig, BertModel, sinusoidal_positions
from bertkit.model.attention import MultiHeadAttention, Packing, additive_mask


def test_sinusoidal_closed_form():
    # Vaswani et al. 2017, §3.5: PE(pos,2i)=sin(pos/10000^(2i/d)), PE(pos,2i+1)=cos(pos/10000^(2i/d))
    n, d = 50, 16
    pe = sinusoidal_positions(n, d)
    assert pe.shape == (n, d)
    for pos in (0, 1, 7, 49):
        for i in range(d // 2):
            angle = pos / 10000 ** (2 * i / d)
            assert pe[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert pe[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)
    assert sinusoidal_positions(4, 7).shape == (4, 7)   # odd dimension: last column is a sine


def test_sinusoidal_nearby_positions_more_similar():
    pe = F.normalize(sinusoidal_positions(128, 64), dim=-1)
    sim = pe @ pe.T
    for p in (10, 40, 80):
        assert sim[p, p + 1] > sim[p, p + 8] > sim[p, p + 40]


def _attn(hidden=32, heads=4):
    cfg = BertConfig(hidden_size=hidden, num_attention_heads=heads, intermediate_size=4 * hidden,
                     num_hidden_layers=1, vocab_size=50, attention_probs_dropout_prob=0.0)
    torch.manual_seed(0)
    return MultiHeadAttention(cfg).eval()


@pytest.mark.parametrize("causal", [False, True])
def test_fast_path_equals_explicit_path(causal):
    attn = _attn()
    x = torch.randn(3, 9, 32)
    mask = torch.ones(3, 9)
    mask[1, 5:] = 0
    mask[2, 2:] = 0
    m = additive_mask(mask, x.dtype)
    fast, none = attn(x, m, causal=causal)
    slow, probs = attn(x, m, output_attentions=True, causal=causal)
    assert none is None and probs.shape == (3, 4, 9, 9)
    assert (fast - slow).abs().max() <= 1e-6
    assert torch.allclose(probs.sum(-1), torch.ones(3, 4, 9))
    assert probs[1, :, :, 5:].abs().max() == 0          # padded keys get no attention
    if causal:
        assert probs[0].triu(1).abs().max() == 0          # no attention to the future


def test_explicit_path_is_the_formula():
    attn = _attn()
    x = torch.randn(2, 5, 32)
    _, probs = attn(x, None, output_attentions=True)
    q = attn.split_heads(attn.q(x))
    k = attn.split_heads(attn.k(x))
    expected = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(8), dim=-1)
    assert (probs - expected).abs().max() <= 1e-6


@pytest.mark.parametrize("n_buckets", [1, 2, 5])
def test_packed_attention_equals_padded(n_buckets):
    attn = _attn()
    x = torch.randn(5, 11, 32)
    mask = torch.ones(5, 11, dtype=torch.long)
    for b, n in enumerate((11, 3, 7, 1, 9)):
        mask[b, n:] = 0
    padded, _ = attn(x, additive_mask(mask, x.dtype))
    packing = Packing.from_mask(mask, n_buckets=n_buckets)
    assert len(packing.buckets) == n_buckets
    packed, _ = attn(packing.pack(x), packing=packing)
    assert packed.shape == (int(mask.sum()), 32)
    assert (packing.unpack(packed) - padded * mask[..., None]).abs().max() <= 1e-6


@pytest.mark.parametrize("causal", [False, True])
def test_packed_attention_equals_padded_with_and_without_causal_mask(causal):
    attn = _attn()
    x = torch.randn(4, 10, 32)
    mask = torch.ones(4, 10, dtype=torch.long)
    for b, n in enumerate((10, 4, 7, 2)):
        mask[b, n:] = 0
    padded, _ = attn(x, additive_mask(mask, x.dtype), causal=causal)
    explicit, _ = attn(x, additive_mask(mask, x.dtype), output_attentions=True, causal=causal)
    packing = Packing.from_mask(mask, n_buckets=2)
    packed, _ = attn(packing.pack(x), packing=packing, causal=causal)
    real = mask.bool()
    assert (explicit[real] - padded[real]).abs().max() <= 1e-6
    assert (packing.unpack(packed)[real] - padded[real]).abs().max() <= 1e-6


@pytest.mark.parametrize("norm_position", ["post", "pre"])
@pytest.mark.parametrize("positions", ["absolute", "sinusoidal"])
def test_encoder_options_run_and_train(norm_position, positions):
    cfg = BertConfig.preset("tiny", vocab_size=60, norm_position=norm_position,
                            position_embedding_type=positions)
    model = BertModel(cfg)
    ids = torch.randint(0, 60, (2, 12))
    out = model(ids)
    assert out.last_hidden_state.shape == (2, 12, 128) and out.pooler_output.shape == (2, 128)
    out.last_hidden_state.sum().backward()
    assert model.embeddings.word.weight.grad is not None
    assert (model.final_norm is not None) == (norm_position == "pre")
    if positions == "sinusoidal":
        assert model.embeddings.position is None and "embeddings.sinusoidal" not in model.state_dict()


def test_embeddings_usable_alone():
    model = BertModel(BertConfig.preset("tiny", vocab_size=60)).eval()
    ids = torch.randint(0, 60, (2, 6))
    emb = model.embeddings(ids, torch.zeros_like(ids), torch.arange(6).expand(2, 6))
    out = model(ids, output_hidden_states=True)
    assert torch.equal(emb, out.hidden_states[0])
    assert model.get_input_embeddings() is model.embeddings.word
