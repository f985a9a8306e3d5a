"""Where the course starts: one-hot, bag of words, TF-IDF, and word2vec's static word vectors,
to set beside BERT's contextual ones."""

from bertkit._modules import lazy_exports

_EXPORTS = {
    "Word2Vec": "bertkit.classic.word2vec",
    "Word2VecConfig": "bertkit.classic.word2vec",
    "WordVectors": "bertkit.classic.vectors",
    "split_words": "bertkit.classic.units",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
