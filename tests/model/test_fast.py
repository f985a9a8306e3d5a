"""The oneDNN inference path: same numbers as the plain fp32 path (<= 1e-4), never used for autograd."""

from __future__ import annotations

import copy

import pytest
import torch

from bertkit.model import BertConfig, BertForSequenceClassification, BertModel, fast

needs_onednn = pytest.mark.skipif(not fast._onednn_ops_available(), reason="oneDNN not in this torch build")


def _batch(vocab=120):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, vocab, (4, 20), generator=g)
    mask = torch.ones(4, 20, dtype=torch.long)
    mask[1, 12:] = 0
    mask[3, 5:] = 0
    return ids * mask, mask


def _run(model, ids, mask, onednn: bool, monkeypatch):
    monkeypatch.setenv("BERTKIT_ONEDNN", "1" if onednn else "0")
    fast._packed.clear()
    with torch.inference_mode():
        return model(ids, mask).last_hidden_state, model(ids).last_hidden_state


@needs_onednn
@pytest.mark.parametrize("act", ["gelu", "gelu_new", "relu"])
def test_onednn_path_equals_plain_path(act, monkeypatch):
    torch.manual_seed(0)
    model = BertModel(BertConfig.preset("mini", vocab_size=120, hidden_act=act)).eval()
    ids, mask = _batch()
    fast_padded, fast_full = _run(model, ids, mask, True, monkeypatch)
    assert all(p.packed for p in fast._packed[model.layers[0].ffn].values())   # the path was taken
    ref_padded, ref_full = _run(model, ids, mask, False, monkeypatch)
    real = mask.bool()
    assert (fast_padded[real] - ref_padded[real]).abs().max() <= 1e-4
    assert (fast_full - ref_full).abs().max() <= 1e-4


@needs_onednn
def test_packed_weights_follow_training_updates(monkeypatch):
    monkeypatch.setenv("BERTKIT_ONEDNN", "1")
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig.preset("tiny", vocab_size=120)).eval()
    ids, mask = _batch()
    with torch.inference_mode():
        before = model(ids, mask).logits
    model.train()
    loss = model(ids, mask, labels=torch.tensor([0, 1, 1, 0])).loss     # autograd: plain path
    loss.backward()
    assert model.bert.layers[0].ffn.up.weight.grad is not None
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.eval()
    with torch.inference_mode():
        after = model(ids, mask).logits
    monkeypatch.setenv("BERTKIT_ONEDNN", "0")
    with torch.inference_mode():
        plain = model(ids, mask).logits
    assert (after - before).abs().max() > 1e-3            # the update is seen ...
    assert (after - plain).abs().max() <= 1e-4            # ... by freshly packed weights
    copy.deepcopy(model)                                   # packed copies live outside the module


@needs_onednn
def test_updates_that_skip_version_counters_are_seen(monkeypatch):
    """Fused AdamW writes weights in place without bumping their version: eval() must still see them."""
    monkeypatch.setenv("BERTKIT_ONEDNN", "1")
    torch.manual_seed(0)
    model = BertModel(BertConfig.preset("tiny", vocab_size=120)).eval()
    ids, mask = _batch()
    with torch.inference_mode():
        before = model(ids, mask).last_hidden_state
    model.train()
    for p in model.parameters():
        p.data.add_(0.05 * torch.randn_like(p))       # .data: the version counter does not move
    model.eval()
    with torch.inference_mode():
        after = model(ids, mask).last_hidden_state
    monkeypatch.setenv("BERTKIT_ONEDNN", "0")
    with torch.inference_mode():
        plain = model(ids, mask).last_hidden_state
    assert (after - before).abs().max() > 1e-3
    assert (after - plain).abs().max() <= 1e-4


def test_training_mode_never_uses_packed_copies():
    model = BertModel(BertConfig.preset("tiny", vocab_size=120))    # train mode
    ids, mask = _batch()
    with torch.no_grad():
        model(ids, mask)
    assert model.layers[0].ffn not in fast._packed


def test_choice_is_cached_and_boolean(monkeypatch):
    monkeypatch.delenv("BERTKIT_ONEDNN", raising=False)
    first = fast.onednn_pays(64, 256)
    assert isinstance(first, bool) and fast._choice[(64, 256)] is first
    assert fast.onednn_pays(64, 256) is first
    monkeypatch.setenv("BERTKIT_ONEDNN", "0")
    assert fast.onednn_pays(64, 256) is False


def test_hooked_linears_are_called():
    """Interpretation tools hook nn.Linear modules: then the modules themselves run."""
    torch.manual_seed(0)
    model = BertModel(BertConfig.preset("tiny", vocab_size=120)).eval()
    seen = []
    layer = model.layers[1]
    for m in (layer.attn.q, layer.attn.out, layer.ffn.up):
        m.register_forward_hook(lambda mod, inp, out: seen.append(out.shape))
    ids, mask = _batch()
    with torch.inference_mode():
        model(ids, mask)
    assert len(seen) == 3
