"""GPTLanguageModel: parity with transformers' GPT2LMHeadModel, the HF directory both ways, config."""

from __future__ import annotations

import pytest
import torch
import transformers

from bertkit import GPTConfig, GPTLanguageModel, load_model
from bertkit.errors import CheckpointError, ConfigError
from bertkit.model.gpt import from_hf_state_dict, to_hf_state_dict


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=99, n_positions=64, n_embd=32, n_layer=2, n_head=4,
                                  bos_token_id=98, eos_token_id=98)
    ref = transformers.GPT2LMHeadModel(cfg).eval()
    directory = tmp_path_factory.mktemp("gpt2")
    ref.save_pretrained(directory)
    return directory, ref


def test_logits_equal_transformers(hf_dir):
    directory, ref = hf_dir
    model = GPTLanguageModel.from_pretrained(directory).eval()
    ids = torch.randint(0, 99, (3, 17), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours, theirs = model(ids, labels=ids), ref(ids, labels=ids)
    assert (ours.logits - theirs.logits).abs().max() <= 1e-5
    assert abs(ours.loss.item() - theirs.loss.item()) <= 1e-5


def test_saved_directory_loads_in_auto_model_for_causal_lm(hf_dir, tmp_path):
    model = GPTLanguageModel.from_pretrained(hf_dir[0]).eval()
    model.save_pretrained(tmp_path)
    back = transformers.AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert type(back).__name__ == "GPT2LMHeadModel"
    ids = torch.randint(0, 99, (2, 9))
    with torch.no_grad():
        assert (back(ids).logits - model(ids).logits).abs().max() <= 1e-5
    assert type(load_model(tmp_path)) is GPTLanguageModel


def test_key_table_round_trip_and_buffers_skipped(hf_dir):
    _, ref = hf_dir
    state = ref.state_dict()
    state["transformer.h.0.attn.bias"] = torch.ones(1, 1, 64, 64)      # older checkpoints' mask buffers
    state["transformer.h.0.attn.masked_bias"] = torch.tensor(-1e4)
    ours = from_hf_state_dict(state)
    assert "layers.0.attn.q.weight" in ours and not any("bias" in k and "attn.bias" in k for k in ours)
    # Conv1D stores (in, out): c_attn's weight is (32, 96), our q is (32, 32) taken from its first third
    assert torch.equal(ours["layers.0.attn.q.weight"], state["transformer.h.0.attn.c_attn.weight"][:, :32].T)
    back = to_hf_state_dict(ours)
    expected = {k for k in ref.state_dict() if k != "lm_head.weight"}
    assert set(back) == expected
    assert all(torch.equal(back[k], ref.state_dict()[k]) for k in back)


def test_tied_embeddings_and_presets():
    model = GPTLanguageModel(GPTConfig.preset("tiny", vocab_size=50))
    assert model.num_parameters() == sum(p.numel() for p in model.state_dict().values())   # no lm_head copy
    with torch.device("meta"):              # sizes only, no memory
        small = GPTLanguageModel(GPTConfig.preset("small"))
    # the released GPT-2 small ("gpt2") has 124,439,808 parameters (Radford et al. 2019, Table 2: "117M")
    assert small.num_parameters() == 124_439_808
    with pytest.raises(ConfigError, match="n_head"):
        GPTConfig(n_embd=30, n_head=4)
    with pytest.raises(ConfigError, match="unknown GPT preset"):
        GPTConfig.preset("huge")


def test_context_window_and_bad_directories(tmp_path):
    model = GPTLanguageModel(GPTConfig.preset("tiny", vocab_size=50, n_positions=8))
    with pytest.raises(ValueError, match="context window of 8"):
        model(torch.zeros(1, 9, dtype=torch.long))
    GPTLanguageModel(GPTConfig.preset("tiny", vocab_size=50)).save_pretrained(tmp_path / "a")
    config = (tmp_path / "a" / "config.json").read_text().replace('"vocab_size": 50', '"vocab_size": 60')
    (tmp_path / "a" / "config.json").write_text(config)
    with pytest.raises(CheckpointError, match="do not match config.json"):
        GPTLanguageModel.from_pretrained(tmp_path / "a")


def test_loss_decreases_with_training():
    torch.manual_seed(0)
    model = GPTLanguageModel(GPTConfig.preset("tiny", vocab_size=20, n_positions=32, resid_pdrop=0.0,
                                              embd_pdrop=0.0, attn_pdrop=0.0))
    ids = torch.arange(32).remainder(5)[None].repeat(4, 1)           # a repeating pattern
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = model(ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]


def test_fused_loss_and_gradients_equal_transformers(hf_dir):
    """The loss fused with the tied output layer (fused_loss.py): same loss and same gradients as
    transformers' logits -> cross_entropy, -100 labels ignored, rows split over several chunks."""
    directory, _ = hf_dir
    ref = transformers.GPT2LMHeadModel.from_pretrained(directory).eval()     # eval: no dropout
    model = GPTLanguageModel.from_pretrained(directory).eval()
    ids = torch.randint(0, 99, (3, 17), generator=torch.Generator().manual_seed(2))
    labels = ids.clone()
    labels[0, 5:9] = -100
    ours, theirs = model(ids, labels=labels).loss, ref(ids, labels=labels).loss
    assert abs(ours.item() - theirs.item()) <= 1e-5
    ours.backward()
    theirs.backward()
    ours_grads = model.state_dict(keep_vars=True)
    for hf_name, ours_name in (("transformer.wte.weight", "word.weight"),
                               ("transformer.h.1.mlp.c_fc.weight", "layers.1.ffn.up.weight"),
                               ("transformer.ln_f.weight", "final_norm.weight")):
        want = ref.get_parameter(hf_name).grad
        got = ours_grads[ours_name].grad
        got = got.T if hf_name.endswith("c_fc.weight") else got           # Conv1D is (in, out)
        assert (got - want).abs().max() <= 1e-5, hf_name


def test_linear_cross_entropy_equals_the_plain_loss_in_any_chunking():
    from bertkit.model.fused_loss import linear_cross_entropy

    torch.manual_seed(0)
    h = torch.randn(37, 16, requires_grad=True)
    w = torch.randn(50, 16, requires_grad=True)
    y = torch.randint(0, 50, (37,))
    y[[3, 10]] = -100
    plain = torch.nn.functional.cross_entropy(h @ w.T, y, ignore_index=-100)
    want = torch.autograd.grad(plain * 2.0, (h, w))
    for chunk in (1, 8, 37, 100):
        loss = linear_cross_entropy(h, w, y, chunk=chunk)
        got = torch.autograd.grad(loss * 2.0, (h, w))                # the upstream gradient scales both
        assert abs(loss.item() - plain.item()) <= 1e-5
        assert all((g - e).abs().max() <= 1e-5 for g, e in zip(got, want, strict=True))
    nothing = torch.full((37,), -100)
    assert linear_cross_entropy(h, w, nothing).item() == 0.0         # nothing scored: zero, not NaN


def test_linear_cross_entropy_of_no_rows_has_zero_gradients():
    from bertkit.model.fused_loss import linear_cross_entropy

    h, w = torch.zeros(0, 4, requires_grad=True), torch.randn(6, 4, requires_grad=True)
    linear_cross_entropy(h, w, torch.zeros(0, dtype=torch.long)).backward()
    assert w.grad.abs().max() == 0 and h.grad.shape == (0, 4)


def test_linear_cross_entropy_of_a_hopeless_label_is_exact():
    """A label with probability below float32's range (loss ~ 1000): −log p comes from the row's
    log-softmax, not from the underflowed softmax, and equals the plain loss."""
    from bertkit.model.fused_loss import linear_cross_entropy

    torch.manual_seed(1)
    h = torch.randn(5, 8)
    w = torch.randn(30, 8)
    w[7] = -100 * h[2] / h[2].norm()          # row 2's logit for label 7 is about -100 |h|
    y = torch.tensor([1, 2, 7, 4, 5])
    h.requires_grad_(True)
    w.requires_grad_(True)
    plain = torch.nn.functional.cross_entropy(h @ w.T, y)
    assert plain.item() > 50
    got = linear_cross_entropy(h, w, y, chunk=2)
    assert abs(got.item() - plain.item()) <= 1e-4 * plain.item()
    want, grads = torch.autograd.grad(plain, (h, w)), torch.autograd.grad(got, (h, w))
    assert all((g - e).abs().max() <= 1e-5 for g, e in zip(grads, want, strict=True))
