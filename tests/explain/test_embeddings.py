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
