"""Real text and labelled data from registry packages, with their sources and licences."""

from bertkit.datasets.corpus import (
    aia_bde_faqs,
    corpus_file,
    corpus_files,
    news_articles,
    split_sentences,
)
from bertkit.datasets.packages import cache_dir

__all__ = ["aia_bde_faqs", "cache_dir", "corpus_file", "corpus_files", "news_articles", "split_sentences"]
