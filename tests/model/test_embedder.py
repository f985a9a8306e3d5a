"""Embedder: the same vectors as sentence-transformers on all-MiniLM-L6-v2; the `embed` command."""

from __future__ import annotations

import functools

import pytest
import torch

from bertkit.cli import main
from bertkit.errors import ConfigError
from bertkit.model import Embedder

TEXTS = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A monkey is playing drums.",
    "Stock markets fell sharply on Monday after the central bank raised interest rates again.",
    "O serviço de cartão de cidadão está disponível online.",
    "hi",
]


@functools.lru_cache(maxsize=1)
def _sentence_transformers(path: str) -> torch.Tensor:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(path, device="cpu")
    return model.encode(TEXTS, convert_to_tensor=True, batch_size=4)


def test_matches_sentence_transformers(minilm_dir):
    embedder = Embedder(minilm_dir)
    ours = embedder.encode(TEXTS, batch_size=4)
    ref = _sentence_transformers(str(minilm_dir)).cpu()
    assert ours.shape == (len(TEXTS), 384)
    assert (ours - ref).abs().max() <= 1e-5
    assert torch.allclose(ours.norm(dim=1), torch.ones(len(TEXTS)), atol=1e-5)
    assert embedder.max_length == 256     # from sentence_bert_config.json


def test_similarity_ranks_paraphrases_first(minilm_dir):
    embedder = Embedder(minilm_dir)
    sim = embedder.similarity(TEXTS[:4])
    assert sim.shape == (4, 4)
    assert torch.allclose(sim.diagonal(), torch.ones(4), atol=1e-5)
    assert sim[0, 1] == sim[0, 1:].max()     # the two eating sentences are closest
    single = embedder.encode(TEXTS[2:3])
    assert (single - embedder.encode(TEXTS)[2:3]).abs().max() <= 1e-5   # batching does not change vectors


def test_cls_pooling_and_raw_vectors(minilm_dir):
    embedder = Embedder(minilm_dir, pooling="cls", normalize=False)
    vec = embedder.encode(["a cat"])
    enc = embedder.tokenizer.encode("a cat")
    with torch.no_grad():
        hidden = embedder.model(torch.tensor([enc.ids])).last_hidden_state
    assert torch.allclose(vec[0], hidden[0, 0], atol=1e-6)
    with pytest.raises(ConfigError, match="pooling"):
        Embedder(minilm_dir, pooling="max")


def test_embed_command(minilm_dir, capsys):
    assert main(["embed", "--model", str(minilm_dir), TEXTS[0], TEXTS[1], TEXTS[3]]) == 0
    out = capsys.readouterr().out
    assert "3 embeddings of dimension 384" in out and "cosine similarity" in out
    assert "norm 1.0000" in out and "1.000" in out
