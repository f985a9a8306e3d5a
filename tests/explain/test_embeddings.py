"""Embedding inspection on all-MiniLM-L6-v2."""

from __future__ import annotations

import pytest

from bertkit.errors import DataError
from bertkit.explain.embeddings import contextual_similarity, nearest_tokens

RIVER = "We sat on the bank of the river and watched the water."
MONEY = "He deposited the money at the bank this morning."
MONEY2 = "The bank approved my loan and opened a savings account."


def test_nearest_tokens_by_cosine(minilm):
    model, tok = minilm
    near = [t for t, _ in nearest_tokens(model, tok, "king", 5)]
    assert "queen" in near and "king" not in near


def test_bank_by_the_river_differs_from_bank_for_money(minilm):
    # the English analogue of the course's "banco" example: a contextual model separates word senses
    model, tok = minilm
    across = contextual_similarity(model, tok, "bank", RIVER, MONEY)
    within = contextual_similarity(model, tok, "bank", MONEY, MONEY2)
    assert across < within < 1.0


def test_missing_word_is_a_clear_error(minilm):
    model, tok = minilm
    with pytest.raises(DataError, match="is not a word of"):
        contextual_similarity(model, tok, "castle", RIVER, MONEY)


# ---- static vs contextual (issue 16): a tiny random BERT with all-MiniLM's tokenizer ----------------

@pytest.fixture(scope="module")
def tiny_bert(minilm):
    import torch

    from bertkit.model.bert import BertModel
    from tests.explain.conftest import tiny_config

    torch.manual_seed(0)
    return BertModel(tiny_config(), add_pooling_layer=False).eval(), minilm[1]


@pytest.fixture(scope="module")
def static():
    import numpy as np

    from bertkit.classic.vectors import WordVectors

    words = ["bank", "river", "money", "water", "loan", "account"]
    return WordVectors(words, np.random.default_rng(0).normal(size=(len(words), 12)).astype(np.float32))


def direct_vector(model, tok, sentence: str, word: str):
    """The word's last hidden state, straight from the model (the word is one WordPiece here)."""
    import torch

    enc = tok.encode(sentence)
    with torch.no_grad():
        hidden = model(input_ids=torch.tensor([enc.ids]), output_hidden_states=True).hidden_states[-1][0]
    return hidden[enc.tokens.index(word)].double().numpy()


def test_static_cosine_is_exactly_one_and_contextual_equals_the_hidden_states(tiny_bert, static):
    import numpy as np

    from bertkit.explain.embeddings import static_vs_contextual

    model, tok = tiny_bert
    sentences = [RIVER, MONEY, MONEY2]
    cmp = static_vs_contextual(model, tok, static, "bank", sentences)
    assert (cmp["static_similarity"] == 1.0).all()               # one row of the table, whatever the sentence
    vectors = [direct_vector(model, tok, s, "bank") for s in sentences]
    direct = np.array([[a @ b / np.linalg.norm(a) / np.linalg.norm(b) for b in vectors] for a in vectors])
    np.testing.assert_allclose(cmp["contextual_similarity"], direct, atol=1e-6)
    off = direct[~np.eye(3, dtype=bool)]
    assert (off < 0.999).all() and len(set(np.round(off, 6))) == 3   # three different pairs, none identical
    np.testing.assert_allclose(cmp["contextual_vectors"][0], vectors[0], atol=1e-6)


def test_explain_embeddings_cli(tiny_run_dir, static, tmp_path, capsys):
    import matplotlib.image as mpimg

    from bertkit.cli import main

    static.save(tmp_path / "v.txt")
    png = tmp_path / "plot.png"
    assert main(["explain", "embeddings", "--model", str(tiny_run_dir), "--vectors", str(tmp_path / "v.txt"),
                 "bank", RIVER, MONEY, "--plot", str(png), "--plot-words", "river", "money"]) == 0
    out = capsys.readouterr().out
    static_rows = out.split("static (word2vec) cosine")[1].split("contextual")[0]
    assert static_rows.count("1.000") == 4 and "contextual (BERT, last layer) cosine" in out
    assert f"plot: {png}" in out and mpimg.imread(png).std() > 0.01
    for argv, message in [(["bank", RIVER], "at least two SENTENCEs"),
                          (["castle", RIVER, MONEY], "not in the vocabulary"),
                          (["water", RIVER, MONEY], "is not a word of")]:
        assert main(["explain", "embeddings", "--model", str(tiny_run_dir), "--vectors",
                     str(tmp_path / "v.txt"), *argv]) == 2
        assert message in capsys.readouterr().err
    assert main(["explain", "embeddings", "--model", str(tiny_run_dir), "bank", RIVER, MONEY]) == 2
    assert "--vectors is required" in capsys.readouterr().err


def test_plot_points_label_each_word_in_each_sentence(tiny_bert, static):
    from bertkit.explain.embeddings import plot_points, static_vs_contextual

    model, tok = tiny_bert
    cmp = static_vs_contextual(model, tok, static, "bank", [RIVER, MONEY])
    still, moving = plot_points(static, cmp, ["river", "money"], model, tok)
    assert list(still) == ["bank", "river", "money"]
    assert list(moving) == ["bank @ 1", "bank @ 2", "river @ 1", "money @ 2"]
