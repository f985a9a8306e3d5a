"""The self-attention trace equals the model's own forward pass at every step."""

from __future__ import annotations

import numpy as np
import pytest

from bertkit.errors import ConfigError
from bertkit.explain.trace import toy_model, trace_attention

STEPS = ["X", "W_Q", "W_K", "W_V", "Q", "K", "V", "QKᵀ", "QKᵀ/√d", "softmax", "A·V", "concat(heads)", "W_O",
         "output projection", "LayerNorm(X + attention)", "FFN up", "GELU", "FFN down", "layer output"]


def relative_diff(t) -> float:
    """Worst step difference relative to the step's magnitude (float32 rounds relative to size)."""
    checked = [s for s in t.steps if s.model_diff is not None]
    return max(s.model_diff / max(1.0, float(np.abs(s.value).max())) for s in checked)


@pytest.mark.parametrize("head", [0, 1])
def test_toy_trace_is_the_course_example_and_equals_the_model(head):
    model, tok = toy_model()
    assert relative_diff(trace_attention(model, tok, "the cat sat", layer=0, head=head)) <= 1e-6  # float32
    model.double()                  # in float64 the recomputation and the model agree to rounding
    t = trace_attention(model, tok, "the cat sat", layer=0, head=head)
    assert [s.name for s in t.steps] == STEPS
    assert t.step("X").shape == (3, 8) and t.step("Q").shape == (3, 4) and t.step("softmax").shape == (3, 3)
    assert t.step("concat(heads)").shape == (3, 8)
    checked = [s for s in t.steps if s.model_diff is not None]
    assert len(checked) >= 10
    assert t.max_model_diff() <= 1e-10
    np.testing.assert_allclose(t.step("softmax").value.sum(-1), 1.0, atol=1e-12)
    # A·V of this head is its slice of the concatenation
    np.testing.assert_allclose(t.step("A·V").value, t.step("concat(heads)").value[:, head * 4:(head + 1) * 4],
                               atol=1e-12)
    np.testing.assert_allclose(t.step("QKᵀ/√d").value, t.step("QKᵀ").value / 2.0)


def test_pre_norm_model_trace():
    import torch

    from bertkit.explain.trace import ToyTokenizer, toy_config
    from bertkit.model.bert import BertModel

    torch.manual_seed(3)
    model = BertModel(toy_config(norm_position="pre", num_hidden_layers=2), add_pooling_layer=False).eval()
    t = trace_attention(model, ToyTokenizer(), "a b c d", layer=1, head=0)
    assert "LayerNorm(X)" in [s.name for s in t.steps]
    assert relative_diff(t) <= 1e-6
    t = trace_attention(model.double(), ToyTokenizer(), "a b c d", layer=1, head=0)
    assert t.max_model_diff() <= 1e-10


def test_minilm_trace_matches_to_float32_precision(minilm):
    model, tok = minilm
    t = trace_attention(model, tok, "the cat sat on the mat", layer=2, head=5)
    # float32 model vs float64 recomputation; the trace hooks the layer, so the plain kernels run
    assert relative_diff(t) <= 1e-6


def test_formats_and_bad_indices():
    model, tok = toy_model()
    t = trace_attention(model, tok, "the cat sat", layer=0, head=1)
    term = t.format("terminal")
    assert "QKᵀ/√d" in term and "shape (3, 8)" in term and "the " in term
    assert "```" in t.format("markdown")
    assert "<table" in t.format("html")
    with pytest.raises(ConfigError, match=r"heads 0\.\.1"):
        trace_attention(model, tok, "the cat", layer=0, head=2)
    with pytest.raises(ConfigError, match=r"layers 0\.\.0"):
        trace_attention(model, tok, "the cat", layer=1, head=0)
