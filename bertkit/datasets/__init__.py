"""Real text and labelled data from registry packages, with their sources and licences."""

from bertkit._modules import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["aia_bde_faqs", "corpus_file", "corpus_files", "news_articles", "split_sentences"],
                    "bertkit.datasets.corpus"),
    "cache_dir": "bertkit.datasets.packages",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
