"""Bag of words and TF-IDF: equal to scikit-learn on a tokenizer's output, the textbook formula, search."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from bertkit.classic.config import SparseConfig
from bertkit.classic.sparse import DocumentIndex, SparseVectorizer
from bertkit.errors import ConfigError, DataError

DOCS = ["the cat sat on the mat", "the dog sat on the log", "cats and dogs are friends"]


@pytest.fixture(scope="module")
def tokenizer(minilm_dir):
    from bertkit.tokenizers import Tokenizer

    return Tokenizer.from_pretrained(minilm_dir)


@pytest.mark.parametrize("sublinear,smooth", [(False, True), (True, False)])
def test_tfidf_equals_sklearn_on_the_tokenizers_tokens(tokenizer, sublinear, smooth):
    docs = DOCS + ["unbelievably unaffable cats", "the the the cat"]
    config = SparseConfig(kind="tfidf", sublinear_tf=sublinear, smooth_idf=smooth)
    ours = SparseVectorizer(config, tokenizer).fit(docs)

    def tokens(text):
        enc = tokenizer.encode(text)
        return [t for t, s in zip(enc.tokens, enc.special_tokens_mask, strict=True) if not s]

    ref = TfidfVectorizer(analyzer=tokens, sublinear_tf=sublinear, smooth_idf=smooth).fit(docs)
    assert ours.vocabulary == list(ref.get_feature_names_out())
    assert "##ffa" in ours.vocabulary or any(t.startswith("##") for t in ours.vocabulary)
    np.testing.assert_allclose(ours.transform(docs).toarray(), ref.transform(docs).toarray())


def test_tfidf_is_the_textbook_formula():
    vec = SparseVectorizer(SparseConfig(kind="tfidf", norm="none")).fit(DOCS)
    m = vec.transform(DOCS).toarray()
    col = vec.vocabulary.index("the")
    # scikit-learn's smooth idf: ln((1 + n) / (1 + df)) + 1; "the" is in 2 of 3 documents, twice in each
    assert m[0, col] == pytest.approx(2 * (math.log(4 / 3) + 1))
    assert vec.idf[vec.vocabulary.index("friends")] == pytest.approx(math.log(4 / 2) + 1)


def test_counts_binary_ngrams_and_one_hot():
    counts = SparseVectorizer(SparseConfig(kind="count")).fit(DOCS)
    assert counts.transform(["the the cat"]).toarray().sum() == 3
    binary = SparseVectorizer(SparseConfig(kind="binary", ngram=(1, 2))).fit(DOCS)
    assert "sat on" in binary.vocabulary
    assert binary.transform(["the the cat"]).toarray().max() == 1
    units, m = counts.one_hot("the cat flew")  # "flew" is unknown: no row
    assert units == ["the", "cat"] and m.shape == (2, len(counts.vocabulary))
    assert m.sum(axis=1).tolist() == [[1.0], [1.0]] and m[1, counts.vocabulary.index("cat")] == 1


def test_table_shows_documents_by_terms():
    vec = SparseVectorizer(SparseConfig(kind="count")).fit(DOCS)
    table = vec.table(DOCS, max_terms=5)
    lines = table.splitlines()
    assert lines[0] == "3 documents x 12 terms (count, showing 5)"
    assert "the" in lines[1].split() and len(lines) == 5
    assert lines[2].startswith("the cat sat on the mat") and lines[2].split()[-1] == "2"  # "the" twice


def test_document_search_finds_the_closest():
    index = DocumentIndex(DOCS)
    (best, sim), *_ = index.search("a dog on a log")
    assert best == 1 and 0 < sim <= 1
    assert index.search("zebra", 1)[0][1] == 0.0


def test_bad_options_and_input():
    with pytest.raises(ConfigError, match="ngram"):
        SparseConfig(ngram=(2, 1))
    with pytest.raises(ConfigError, match="kind must be one of"):
        SparseConfig(kind="word2vec")
    with pytest.raises(DataError, match="no terms to count in the 1 documents"):
        SparseVectorizer().fit(["! ?"])
    with pytest.raises(DataError, match="no documents"):
        DocumentIndex([])
