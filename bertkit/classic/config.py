"""The options of the classic representations, declared once (defaults, help, ranges) for Python
and the CLI. Kept apart from the code that needs numpy, torch and scikit-learn, so that building
the `bertkit` parser imports none of them."""

from __future__ import annotations

from dataclasses import dataclass

from bertkit.errors import ConfigError
from bertkit.options import check_options, option

ARCHITECTURES = ("skipgram", "cbow")
KINDS = ("count", "binary", "tfidf")


@dataclass
class Word2VecConfig:
    """Hyper-parameters of word2vec; defaults are gensim's (and word2vec.c's for skip-gram)."""

    architecture: str = option("skipgram", "skipgram: the center word predicts each context word; "
                               "cbow: the mean of the context predicts the center", choices=ARCHITECTURES)
    vector_size: int = option(100, "dimension of the word vectors", low=1)
    window: int = option(5, "largest distance from the center word (each position draws its window "
                         "from 1..window)", low=1)
    negative: int = option(5, "noise words per positive example", low=1)
    min_count: int = option(5, "ignore words seen fewer times", low=1)
    sample: float = option(1e-3, "subsampling threshold t (0: keep every word)", low=0.0)
    alpha: float = option(0.025, "initial learning rate", low=0.0, low_open=True)
    min_alpha: float = option(1e-4, "final learning rate (linear decay)", low=0.0)
    epochs: int = option(5, "passes over the corpus", low=1)
    shared_negatives: bool = option(False, "skip-gram: the K noise words are shared by the context "
                                    "words of a window (Ji et al. 2016; about 2-3x faster) instead of "
                                    "drawn for every pair")
    batch_size: int = option(2048, "positive examples per SGD step (with --shared-negatives: "
                             "padded context slots, 2*window per position)", low=1)
    workers: int = option(0, "training processes, Hogwild on shared matrices (0: one per CPU core; "
                          "1 trains in this process, exactly reproducible)", low=0)
    lowercase: bool = option(True, "lowercase the words (plain word split only)")
    seed: int = option(0, "random seed: initial vectors, subsampling, windows, noise words", low=0)

    def __post_init__(self) -> None:
        check_options(self)
        if self.min_alpha > self.alpha:
            raise ConfigError(f"min_alpha ({self.min_alpha}) must not exceed alpha ({self.alpha})")
        if self.shared_negatives and self.architecture != "skipgram":
            raise ConfigError("shared_negatives shares noise words across a skip-gram window; CBOW "
                              "already has one example per window (drop shared_negatives)")


@dataclass
class SparseConfig:
    """How documents become sparse vectors (one name per option in Python and on the CLI)."""

    kind: str = option("tfidf", "count, binary (bag of words) or tfidf", choices=KINDS)
    ngram: tuple[int, int] = option((1, 1), "smallest and largest n-gram of units", low=1, metavar="N")
    min_df: int = option(1, "ignore terms found in fewer documents", low=1)
    max_features: int | None = option(None, "keep only this many most frequent terms", low=1)
    sublinear_tf: bool = option(False, "tf -> 1 + ln(tf) (tfidf)")
    smooth_idf: bool = option(True, "tfidf: smooth idf, as if one extra document held every term "
                              "(--no-smooth-idf: ln(n / df) + 1)")
    norm: str = option("l2", "scale each row to unit length (l2, l1) or not (none; tfidf)",
                       choices=("l2", "l1", "none"))

    def __post_init__(self) -> None:
        check_options(self)
        if len(self.ngram) != 2 or not 1 <= self.ngram[0] <= self.ngram[1]:
            raise ConfigError(f"ngram must be (smallest, largest) with 1 <= smallest <= largest; "
                              f"got {self.ngram}")
