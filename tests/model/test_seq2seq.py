"""The encoder-decoder Transformer: the paper's size and schedule, cached decoding, a toy task learned."""

from __future__ import annotations

import pytest
import torch

from bertkit import Seq2SeqTransformer, TransformerConfig, load_model
from bertkit.errors import ConfigError
from bertkit.model.seq2seq import shift_right, transformer_lr


def test_base_has_the_papers_parameter_count():
    with torch.device("meta"):
        model = Seq2SeqTransformer(TransformerConfig.preset("base", vocab_size=37000))
    # Vaswani et al. 2017, Table 3: base = 65M parameters (shared 37k BPE vocabulary, §5.1);
    # counted exactly: 63,082,496 (embeddings 18.9M + encoder 18.9M + decoder 25.2M)
    assert model.num_parameters() == 63_082_496
    assert abs(model.num_parameters() - 65e6) / 65e6 < 0.05
    with torch.device("meta"):
        unshared = Seq2SeqTransformer(TransformerConfig.preset("base", share_embeddings=False))
    assert unshared.num_parameters() == 63_082_496 + 2 * 37000 * 512


def test_learning_rate_schedule_of_the_paper():
    # Vaswani et al. 2017, §5.3: lrate = d_model^-0.5 · min(step^-0.5, step · warmup_steps^-1.5)
    d, warmup = 512, 4000
    peak = transformer_lr(warmup, d, warmup)
    assert peak == pytest.approx(512 ** -0.5 * 4000 ** -0.5)               # ≈ 7.0e-4 at the end of warmup
    assert transformer_lr(1000, d, warmup) == pytest.approx(peak / 4)        # linear increase
    assert transformer_lr(16000, d, warmup) == pytest.approx(peak / 2)       # then ∝ 1/√step
    assert max(transformer_lr(s, d, warmup) for s in range(1, 20000, 7)) <= peak


def test_the_loops_inverse_sqrt_schedule_is_the_papers():
    from transformers import get_inverse_sqrt_schedule

    from bertkit.train.optim import lr_lambda

    d, warmup = 512, 4000
    f = lr_lambda("inverse_sqrt", warmup, total_steps=10 ** 6)
    peak = d ** -0.5 * warmup ** -0.5                    # the base lr that makes it §5.3's schedule
    for step in (1, 10, 1000, 3999, 4000, 4001, 16000, 10 ** 5):
        assert f(step) * peak == pytest.approx(transformer_lr(step, d, warmup), rel=1e-12)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    hf = get_inverse_sqrt_schedule(opt, num_warmup_steps=warmup).lr_lambdas[0]
    assert all(f(s) == pytest.approx(hf(s), rel=1e-12) for s in range(0, 50000, 37))


def test_save_and_load_model(tmp_path):
    torch.manual_seed(0)
    model = Seq2SeqTransformer(TransformerConfig.preset("tiny", vocab_size=10, share_embeddings=False)).eval()
    model.save_pretrained(tmp_path)
    back = load_model(tmp_path).eval()
    assert type(back) is Seq2SeqTransformer and back.config == model.config
    src = torch.randint(3, 10, (2, 5))
    assert torch.equal(back(src, labels=src).logits, model(src, labels=src).logits)


def test_config_checks_and_shift_right():
    with pytest.raises(ConfigError, match="divisible"):
        TransformerConfig(d_model=30, n_heads=4)
    assert shift_right(torch.tensor([[5, 6, 2, -100]]), 1, 0).tolist() == [[1, 5, 6, 2]]


def _reverse_batch(n: int, g: torch.Generator, vocab: int = 10, length: int = 5):
    """Sources of 2..length digits (3..vocab-1), padded with 0; targets reversed, then eos (2)."""
    src = torch.randint(3, vocab, (n, length), generator=g)
    lens = torch.randint(2, length + 1, (n,), generator=g)
    src = src.masked_fill(torch.arange(length)[None] >= lens[:, None], 0)
    tgt = torch.zeros(n, length + 1, dtype=torch.long)
    for i, n_i in enumerate(lens.tolist()):
        tgt[i, :n_i] = src[i, :n_i].flip(0)
        tgt[i, n_i] = 2
    return src, (src != 0).long(), tgt


def test_cached_decoding_equals_uncached():
    torch.manual_seed(0)
    model = Seq2SeqTransformer(TransformerConfig.preset("tiny", vocab_size=10, max_positions=16)).eval()
    src, mask, _ = _reverse_batch(4, torch.Generator().manual_seed(0))
    for kw in (dict(), dict(num_beams=3), dict(do_sample=True, seed=1)):
        a = model.generate(src, attention_mask=mask, max_new_tokens=8, **kw)
        assert a[:, 0].eq(1).all()                                          # starts with the start token
        b = model.generate(src, attention_mask=mask, max_new_tokens=8, use_cache=False, **kw)
        assert torch.equal(a, b)


@pytest.mark.slow
def test_learns_to_reverse_digits():
    torch.manual_seed(0)
    cfg = TransformerConfig.preset("tiny", vocab_size=10, max_positions=16, d_model=48, d_ff=96,
                                   dropout=0.0, label_smoothing=0.1, warmup_steps=60)
    model = Seq2SeqTransformer(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)   # §5.3's Adam
    # the schedule's shape, its peak scaled to 1.9e-3 for this small model (the paper's base peaks at 7e-4)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.1 * transformer_lr(s + 1, 48, 60))
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        src, mask, tgt = _reverse_batch(48, g)
        loss = model(src, mask, labels=tgt).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
    src, mask, tgt = _reverse_batch(100, torch.Generator().manual_seed(99))
    out = model.eval().generate(src, attention_mask=mask, max_new_tokens=6)
    want = [row[row.ne(0)].tolist() for row in tgt]                      # reversed digits, then eos
    exact = [out[i, 1:1 + len(w)].tolist() == w for i, w in enumerate(want)]
    assert sum(exact) >= 90
