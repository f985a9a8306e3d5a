"""Where the course starts: one-hot, bag of words, TF-IDF, and word2vec's static word vectors,
to set beside BERT's contextual ones."""

from bertkit._modules import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["SparseConfig", "Word2VecConfig"], "bertkit.classic.config"),
    **dict.fromkeys(["DocumentIndex", "SparseVectorizer", "vectorizer"], "bertkit.classic.sparse"),
    "split_words": "bertkit.classic.units",
    "WordVectors": "bertkit.classic.vectors",
    "Word2Vec": "bertkit.classic.word2vec",
    **dict.fromkeys(["analogy_accuracy", "evaluate", "word_similarity"], "bertkit.classic.evaluate"),
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
