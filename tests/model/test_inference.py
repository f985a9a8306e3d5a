"""CPU inference kernels: chosen by setting and machine only, equal to the plain path, unused in training."""

from __future__ import annotations

import copy

import pytest
import torch

from bertkit.errors import ConfigError
from bertkit.model import BertConfig, BertForMaskedLM, BertForSequenceClassification, BertModel, inference

needs_onednn = pytest.mark.skipif(not inference.onednn_available(), reason="oneDNN not in this torch build")


def _batch(vocab=120):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, vocab, (4, 20), generator=g)
    mask = torch.ones(4, 20, dtype=torch.long)
    mask[1, 12:] = 0
    mask[3, 5:] = 0
    return ids * mask, mask


def _run(model, ids, mask, kernels):
    model.set_inference_kernels(kernels)
    with torch.inference_mode():
        return model(ids, mask).last_hidden_state, model(ids).last_hidden_state


@needs_onednn
@pytest.mark.parametrize("norm_position", ["post", "pre"])
@pytest.mark.parametrize("act", ["gelu", "gelu_new", "relu"])
def test_onednn_path_equals_plain_path(act, norm_position):
    torch.manual_seed(0)
    cfg = BertConfig.preset("mini", vocab_size=120, hidden_act=act, norm_position=norm_position)
    model = BertModel(cfg).eval()
    ids, mask = _batch()
    fast_padded, fast_full = _run(model, ids, mask, "onednn")
    assert set(inference._packed[model.layers[0].ffn]) == {"up", "down"}     # the path was taken
    ref_padded, ref_full = _run(model, ids, mask, "plain")
    real = mask.bool()
    assert (fast_padded[real] - ref_padded[real]).abs().max() <= 1e-5
    assert (fast_full - ref_full).abs().max() <= 1e-5
    assert fast_padded[~real].abs().max() == 0


def test_the_choice_depends_on_setting_and_machine_only(monkeypatch):
    monkeypatch.delenv("BERTKIT_ONEDNN", raising=False)
    monkeypatch.setattr(inference, "onednn_available", lambda: True)
    for capability, expected in (("AVX512", "onednn"), ("AVX2", "plain"), ("DEFAULT", "plain")):
        monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda c=capability: c)
        assert {inference.resolve("auto") for _ in range(3)} == {expected}
        assert inference.resolve("plain") == "plain" and inference.resolve("onednn") == "onednn"
    monkeypatch.setenv("BERTKIT_ONEDNN", "1")                 # the override beats the CPU ...
    assert inference.resolve("auto") == "onednn"
    monkeypatch.setenv("BERTKIT_ONEDNN", "0")
    assert inference.resolve("auto") == "plain"
    assert inference.resolve("onednn") == "onednn"            # ... but not an explicit setting
    monkeypatch.setattr(inference, "onednn_available", lambda: False)
    monkeypatch.setenv("BERTKIT_ONEDNN", "1")
    assert inference.resolve("auto") == "plain"
    with pytest.raises(ConfigError, match="no oneDNN"):
        inference.resolve("onednn")


def test_setting_is_checked_and_reaches_the_encoder():
    model = BertForSequenceClassification(BertConfig.preset("tiny", vocab_size=120))
    assert model.bert.kernels == "auto"
    assert model.set_inference_kernels("plain") is model
    assert model.bert.kernels == "plain" and model.inference_kernels == "plain"
    with pytest.raises(ConfigError, match="'fast' is not one of auto, onednn, plain"):
        model.set_inference_kernels("fast")


@needs_onednn
def test_training_is_unaffected_by_the_setting():
    """Same loss and gradients, bit for bit, whatever the setting: training never takes the kernels."""
    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig.preset("tiny", vocab_size=120, hidden_dropout_prob=0.0,
                                              attention_probs_dropout_prob=0.0)).train()
    ids, mask = _batch()
    labels = torch.where(mask.bool(), ids, -100)
    results = []
    for kernels in ("onednn", "plain"):
        model.set_inference_kernels(kernels).zero_grad()
        model(ids, mask, labels=labels).loss.backward()
        results.append([p.grad.clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*results, strict=True))
    assert model not in inference._packed and model.bert.layers[0].ffn not in inference._packed
    with torch.no_grad():                                      # train mode, even without gradients
        model(ids, mask)
    assert model.bert.layers[0].ffn not in inference._packed


@needs_onednn
def test_packed_weights_follow_training_updates():
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig.preset("tiny", vocab_size=120)).eval()
    model.set_inference_kernels("onednn")
    ids, mask = _batch()
    with torch.inference_mode():
        before = model(ids, mask).logits
    model.train()
    loss = model(ids, mask, labels=torch.tensor([0, 1, 1, 0])).loss
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.eval()
    with torch.inference_mode():
        after = model(ids, mask).logits
        plain = model.set_inference_kernels("plain")(ids, mask).logits
    assert (after - before).abs().max() > 1e-3            # the update is seen ...
    assert (after - plain).abs().max() <= 1e-5            # ... by freshly packed weights
    copy.deepcopy(model)                                   # packed copies live outside the module


@needs_onednn
def test_updates_that_skip_version_counters_are_seen():
    """Fused AdamW writes weights in place without bumping their version: eval() must still see them."""
    torch.manual_seed(0)
    model = BertModel(BertConfig.preset("tiny", vocab_size=120)).eval().set_inference_kernels("onednn")
    ids, mask = _batch()
    with torch.inference_mode():
        before = model(ids, mask).last_hidden_state
    model.train()
    for p in model.parameters():
        p.data.add_(0.05 * torch.randn_like(p))       # .data: the version counter does not move
    model.eval()
    with torch.inference_mode():
        after = model(ids, mask).last_hidden_state
        plain = model.set_inference_kernels("plain")(ids, mask).last_hidden_state
    assert (after - before).abs().max() > 1e-3
    assert (after - plain).abs().max() <= 1e-5


@needs_onednn
def test_hooks_and_attention_weights_take_the_plain_path():
    """Interpretation tools hook the modules or ask for the weights: then the modules themselves run."""
    torch.manual_seed(0)
    model = BertModel(BertConfig.preset("tiny", vocab_size=120)).eval().set_inference_kernels("onednn")
    ids, mask = _batch()
    with torch.inference_mode():
        out = model(ids, mask, output_attentions=True)
    assert len(out.attentions) == 2 and model.layers[0].ffn not in inference._packed
    seen = []
    layer = model.layers[1]
    for m in (layer.attn_norm, layer.attn.out, layer.ffn.up):
        m.register_forward_hook(lambda mod, inp, out: seen.append(out.shape))
    with torch.inference_mode():
        model(ids, mask)
    assert len(seen) == 3 and model.layers[0].ffn not in inference._packed


@needs_onednn
@pytest.mark.parametrize("shape", [(1, 5), (37,), (3, 64), (2, 41)])
@pytest.mark.parametrize("act", ["none", "gelu", "residual"])
def test_packed_linear_rounds_rows_and_equals_f_linear(monkeypatch, shape, act):
    # oneDNN keeps state per row count; once EXACT_SHAPES counts were seen, rows are rounded, which
    # keeps a server's memory bounded under batches of ever-new sizes, and must not change the result
    torch.manual_seed(0)
    lin = torch.nn.Linear(16, 24)
    x = torch.randn(*shape, 16)
    residual = torch.randn(*shape, 24) if act == "residual" else None
    monkeypatch.setattr(inference, "_exact_rows", set(range(10_000, 10_000 + inference.EXACT_SHAPES)))
    seen = []
    real = inference._pad_rows
    monkeypatch.setattr(inference, "_pad_rows", lambda t, pad: seen.append(real(t, pad).shape[0]) or
                        real(t, pad))
    with torch.no_grad():
        got = inference.PackedLinear().get([lin])(x, act="gelu" if act == "gelu" else "none",
                                                  residual=residual)
        want = torch.nn.functional.linear(x, lin.weight, lin.bias)
        want = torch.nn.functional.gelu(want) if act == "gelu" else want
        want = want + residual if residual is not None else want
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert seen and all(n == inference.round_rows(n) for n in seen)


def test_rows_round_to_few_sizes_with_little_padding():
    sizes = {inference.round_rows(n) for n in range(1, 4097)}
    assert all(n <= inference.round_rows(n) <= max(n + 7, n * 9 / 8) for n in range(1, 4097))
    assert len(sizes) <= 8 * 13           # about 8 per doubling up to 4096
    assert [inference.round_rows(n) for n in (1, 8, 32, 33, 1000)] == [8, 8, 32, 40, 1024]


@needs_onednn
def test_first_row_counts_run_exact(monkeypatch):
    monkeypatch.setattr(inference, "_exact_rows", set())
    pads = []
    real = inference._pad_rows
    monkeypatch.setattr(inference, "_pad_rows", lambda t, pad: pads.append(pad) or real(t, pad))
    linear = inference.PackedLinear().get([torch.nn.Linear(8, 8)])
    with torch.no_grad():
        for rows in range(1, inference.EXACT_SHAPES + 3):
            linear(torch.randn(rows, 8))
    assert pads[: inference.EXACT_SHAPES] == [0] * inference.EXACT_SHAPES
    assert pads[inference.EXACT_SHAPES:] == [inference.round_rows(n) - n for n in
                                            range(inference.EXACT_SHAPES + 1, inference.EXACT_SHAPES + 3)]


def _gpt():
    from bertkit import GPTConfig, GPTLanguageModel

    torch.manual_seed(0)
    width = inference.DECODER_MIN_WIDTH
    return GPTLanguageModel(GPTConfig(vocab_size=300, n_positions=64, n_embd=width, n_layer=2, n_head=8,
                                      eos_token_id=None)).eval()


@needs_onednn
def test_gpt_packed_path_equals_plain_and_decoding_steps_stay_plain():
    model = _gpt()
    ids = torch.randint(0, 300, (3, 9), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, :4] = 0                                         # a left-padded prompt
    with torch.no_grad():
        plain = model.set_inference_kernels("plain")(ids, attention_mask=mask).logits
        fast = model.set_inference_kernels("onednn")(ids, attention_mask=mask).logits
    assert set(inference._packed[model.layers[0].ffn]) == {"up", "down"}
    assert "head" in inference._packed[model]
    assert (fast - plain).abs().max() <= 1e-5
    inference.forget(model)
    with torch.no_grad():                                   # one row: F.linear's matrix-vector product
        one = model(ids[:1, :1]).logits
    assert model.layers[0].ffn not in inference._packed and model not in inference._packed
    assert (one - model.set_inference_kernels("plain")(ids[:1, :1]).logits).abs().max() == 0
    model.set_inference_kernels("onednn")
    greedy = model.generate(ids, attention_mask=mask, max_new_tokens=6)
    assert torch.equal(greedy, model.generate(ids, attention_mask=mask, max_new_tokens=6, use_cache=False))
    assert torch.equal(greedy, model.set_inference_kernels("plain").generate(ids, attention_mask=mask,
                                                                            max_new_tokens=6))


@needs_onednn
def test_gpt_training_never_takes_the_packed_path():
    model = _gpt().set_inference_kernels("onednn").train()
    ids = torch.randint(0, 300, (2, 8))
    model(ids, labels=ids).loss.backward()
    assert model not in inference._packed and model.layers[0].attn not in inference._packed
