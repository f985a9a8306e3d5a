"""One-hot, bag of words and TF-IDF: the sparse representations the course starts from, thin over
scikit-learn's vectorizers.

The units are scikit-learn's words (lowercased runs of two or more letters/digits) or the tokens of
a bertkit tokenizer. Every document becomes one row over the vocabulary (the columns):

    count   how often each term occurs
    binary  1 if it occurs (a document's one-hot vectors added up and clipped at 1)
    tfidf   tf * idf, idf = ln((1 + n) / (1 + df)) + 1 with smooth_idf (as if one more document held
            every term), ln(n / df) + 1 without; sublinear_tf replaces tf by 1 + ln(tf); rows L2-normed

    vec = SparseVectorizer(SparseConfig(kind="tfidf")).fit(docs)
    vec.vocabulary          # the terms, in column order
    print(vec.table(docs))  # the document-by-term table
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from bertkit.classic.config import SparseConfig
from bertkit.classic.units import analyzer as make_analyzer
from bertkit.errors import DataError


def vectorizer(config: SparseConfig | None = None, tokenizer: Any = None) -> CountVectorizer:
    """The scikit-learn vectorizer for `config`; units from `tokenizer` (a bertkit Tokenizer or its
    directory) when given, else scikit-learn's own lowercased words."""
    cfg = config or SparseConfig()
    units: dict[str, Any] = {}
    if tokenizer is not None:  # the tokenizer's tokens, n-grams built by scikit-learn on top
        units = {"tokenizer": make_analyzer(tokenizer), "lowercase": False, "token_pattern": None}
    common = {"ngram_range": tuple(cfg.ngram), "min_df": cfg.min_df, "max_features": cfg.max_features,
              **units}
    if cfg.kind == "tfidf":
        return TfidfVectorizer(sublinear_tf=cfg.sublinear_tf, smooth_idf=cfg.smooth_idf,
                               norm=None if cfg.norm == "none" else cfg.norm, **common)
    return CountVectorizer(binary=cfg.kind == "binary", **common)


class SparseVectorizer:
    """A fitted vectorizer with its vocabulary on show: columns, IDF weights, a printable table."""

    def __init__(self, config: SparseConfig | None = None, tokenizer: Any = None) -> None:
        self.config = config or SparseConfig()
        self.tokenizer = tokenizer
        self.sklearn = vectorizer(self.config, tokenizer)

    def fit(self, documents: Sequence[str]) -> SparseVectorizer:
        try:
            self.sklearn.fit(list(documents))
        except ValueError as e:  # "empty vocabulary; perhaps the documents only contain stop words"
            raise DataError(f"no terms to count in the {len(documents)} documents ({e})") from None
        return self

    def transform(self, documents: Sequence[str]) -> sparse.csr_matrix:
        """(documents, terms) sparse matrix."""
        return self.sklearn.transform(list(documents)).tocsr()

    def fit_transform(self, documents: Sequence[str]) -> sparse.csr_matrix:
        return self.fit(documents).transform(documents)

    @property
    def vocabulary(self) -> list[str]:
        """The terms, in column order."""
        return list(self.sklearn.get_feature_names_out())

    @property
    def idf(self) -> np.ndarray | None:
        """Each column's IDF weight (tfidf only)."""
        return getattr(self.sklearn, "idf_", None)

    def units(self, text: str) -> list[str]:
        """The terms of `text` in order, as the vectorizer counts them (n-grams included)."""
        return self.sklearn.build_analyzer()(text)

    def one_hot(self, text: str) -> tuple[list[str], sparse.csr_matrix]:
        """(units, matrix): row i is the one-hot vector of the i-th unit of `text` (known units)."""
        index = self.sklearn.vocabulary_
        units = [u for u in self.units(text) if u in index]
        cols = [index[u] for u in units]
        m = sparse.csr_matrix((np.ones(len(cols)), (np.arange(len(cols)), cols)),
                              shape=(len(cols), len(index)))
        return units, m

    def table(self, documents: Sequence[str], max_terms: int = 12, digits: int = 2,
              width: int = 24) -> str:
        """The document-by-term table as text: one row per document, the `max_terms` columns of
        largest total weight in these documents (all, if fewer), in vocabulary order."""
        m = self.transform(documents)
        vocab = self.vocabulary
        weight = np.asarray(m.sum(axis=0)).ravel()
        cols = np.sort(np.argsort(-weight, kind="stable")[:max_terms]) if len(vocab) > max_terms \
            else np.arange(len(vocab))
        dense = m[:, cols].toarray()
        names = [vocab[c][:10] for c in cols]
        cell = max(6, digits + 3, *(len(n) + 1 for n in names))
        fmt = (lambda x: f"{x:.{digits}f}") if self.config.kind == "tfidf" else (lambda x: f"{x:g}")
        head = " " * width + "".join(f"{n:>{cell}}" for n in names)
        lines = [f"{len(documents)} documents x {len(vocab)} terms ({self.config.kind}"
                 f"{', showing ' + str(len(cols)) if len(cols) < len(vocab) else ''})", head]
        for doc, row in zip(documents, dense, strict=True):
            label = doc if len(doc) <= width - 2 else doc[: width - 5] + "..."
            lines.append(f"{label:<{width}}" + "".join(f"{fmt(x):>{cell}}" for x in row))
        return "\n".join(lines)


class DocumentIndex:
    """Cosine-similarity search over a document collection in one sparse representation."""

    def __init__(self, documents: Sequence[str], config: SparseConfig | None = None,
                 tokenizer: Any = None) -> None:
        if not documents:
            raise DataError("no documents to index")
        self.documents = list(documents)
        self.vectorizer = SparseVectorizer(config, tokenizer)
        self.matrix = _unit_rows(self.vectorizer.fit_transform(self.documents))

    def search(self, query: str, k: int = 5) -> list[tuple[int, float]]:
        """The k documents most cosine-similar to `query`: (document number, similarity)."""
        q = _unit_rows(self.vectorizer.transform([query]))
        sims = (self.matrix @ q.T).toarray().ravel()
        top = np.argsort(-sims, kind="stable")[:k]
        return [(int(i), float(sims[i])) for i in top]


def _unit_rows(m: sparse.csr_matrix) -> sparse.csr_matrix:
    """Rows scaled to length 1 (empty rows stay zero), so a dot product is a cosine similarity."""
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    return sparse.diags(1.0 / np.maximum(norms, 1e-12)) @ m
