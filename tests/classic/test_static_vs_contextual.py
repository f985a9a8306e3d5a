"""Static vs contextual: "bank" has one word2vec vector but different BERT vectors by sentence."""

from __future__ import annotations

import numpy as np
import pytest

from bertkit.classic.vectors import WordVectors
from bertkit.errors import DataError

RIVER = "We sat on the bank of the river and watched the water."
MONEY = "He deposited the money at the bank this morning."
MONEY2 = "The bank approved my loan and opened a savings account."


@pytest.fixture(scope="module")
def minilm(minilm_dir):
    from bertkit.explain.inputs import load

    return load(minilm_dir)


@pytest.fixture(scope="module")
def static():
    words = ["bank", "river", "money", "water"]
    return WordVectors(words, np.random.default_rng(0).normal(size=(4, 10)))


def test_same_static_vector_different_contextual_vectors(minilm, static, tmp_path):
    from bertkit.explain.embeddings import plot_static_vs_contextual, static_vs_contextual

    model, tok = minilm
    cmp = static_vs_contextual(model, tok, static, "bank", [RIVER, MONEY, MONEY2])
    np.testing.assert_array_equal(cmp["static_similarity"], np.ones((3, 3)))
    sims = cmp["contextual_similarity"]
    assert sims[0, 1] < sims[1, 2] < 0.999  # river vs money < money vs money < identical
    np.testing.assert_allclose(np.diag(sims), 1.0, atol=1e-5)
    contextual = {f"bank @ {i + 1}": v for i, v in enumerate(cmp["contextual_vectors"])}
    png = plot_static_vs_contextual({w: static[w] for w in static.words}, contextual, tmp_path / "p.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(DataError, match="not in the vocabulary .*'castle'"):
        static_vs_contextual(model, tok, static, "castle", [RIVER])


def test_cli_prints_both_similarities(minilm_dir, static, tmp_path, capsys):
    from bertkit.cli import main

    static.save(tmp_path / "v.txt")
    assert main(["word2vec", "context", "bank", RIVER, MONEY, "--vectors", str(tmp_path / "v.txt"),
                 "--model", str(minilm_dir), "--png", str(tmp_path / "p.png")]) == 0
    out = capsys.readouterr().out
    assert "static (word2vec) cosine" in out and "contextual (BERT" in out and (tmp_path / "p.png").is_file()
    # one home: the same text as `bertkit explain embeddings` (static rows all 1: one vector per word)
    assert "   1    1.000   1.000\n   2    1.000   1.000" in out and "plot: " in out
