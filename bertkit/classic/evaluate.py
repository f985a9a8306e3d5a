"""Intrinsic evaluation of word vectors on the standard sets gensim's wheel carries in its test data:

- WordSim-353 (Finkelstein et al., 2002): 353 word pairs with human similarity scores 0-10; the
  score is the Spearman correlation of cosine similarity with the human mean.
- The Google analogy questions (Mikolov et al., 2013, `questions-words.txt`): 19,544 questions
  "a b c d" (Athens Greece Baghdad Iraq) in 14 sections; a question is right when the nearest word
  to b - a + c, leaving out a, b and c, is d.

Words are lowercased (as the models' corpora are). Pass `vocab` (e.g. the words two models share)
to score every model on the same pairs and questions, so that the numbers are comparable.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from bertkit.classic.vectors import WordVectors
from bertkit.datasets.packages import package_file
from bertkit.errors import DataError
from bertkit.io import iter_lines

GENSIM = "gensim==4.4.0"


def wordsim353_path() -> Path:
    return package_file("gensim", "gensim/test/test_data/wordsim353.tsv", GENSIM)


def analogies_path() -> Path:
    return package_file("gensim", "gensim/test/test_data/questions-words.txt", GENSIM)


def read_word_pairs(path: str | Path) -> list[tuple[str, str, float]]:
    """(word, word, human score) rows of a tab-separated file; lines starting with # are comments."""
    rows = []
    for lineno, line in enumerate(iter_lines(path), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        try:
            rows.append((parts[0].lower(), parts[1].lower(), float(parts[2])))
        except (IndexError, ValueError):
            raise DataError(f"{path}, line {lineno}: expected 'word<TAB>word<TAB>score', "
                            f"got {line!r}") from None
    return rows


def read_analogies(path: str | Path) -> list[tuple[str, list[tuple[str, str, str, str]]]]:
    """The sections of an analogy file: `: name` lines, then one question `a b c d` per line."""
    sections: list[tuple[str, list[tuple[str, str, str, str]]]] = []
    for lineno, line in enumerate(iter_lines(path), 1):
        if line.startswith(":"):
            sections.append((line[1:].strip(), []))
            continue
        words = line.lower().split()
        if not words:
            continue
        if len(words) != 4 or not sections:
            raise DataError(f"{path}, line {lineno}: expected a ': section' line or four words, got {line!r}")
        sections[-1][1].append((words[0], words[1], words[2], words[3]))
    return sections


@dataclass
class Score:
    value: float  # Spearman rho (-1..1) or accuracy (0..1)
    used: int     # pairs or questions whose words are all in the vocabulary
    total: int

    def as_dict(self) -> dict[str, float | int]:
        return {"value": round(self.value, 4), "used": self.used, "total": self.total}


def word_similarity(wv: WordVectors, pairs: Iterable[tuple[str, str, float]],
                    vocab: Collection[str] | None = None) -> Score:
    """Spearman correlation between cosine similarity and the human scores, over the pairs whose
    two words are in `vocab` (default: the vectors' own vocabulary)."""
    pairs = list(pairs)
    vocab = wv.index if vocab is None else vocab
    used = [(a, b, s) for a, b, s in pairs if a in vocab and b in vocab and a in wv and b in wv]
    if len(used) < 2:
        return Score(float("nan"), len(used), len(pairs))
    rho = spearmanr([wv.similarity(a, b) for a, b, _ in used], [s for _, _, s in used]).statistic
    return Score(float(rho), len(used), len(pairs))


def analogy_accuracy(wv: WordVectors, questions: Iterable[tuple[str, str, str, str]],
                     vocab: Collection[str] | None = None, batch: int = 512) -> Score:
    """Share of questions a:b = c:d answered d by 3CosAdd (nearest to b - a + c, inputs left out),
    over the questions whose four words are in `vocab`; candidates are the words of `vocab` too."""
    questions = list(questions)
    vocab = wv.index if vocab is None else vocab
    allowed = np.array([w in vocab for w in wv.words])
    used = [q for q in questions if all(w in vocab and w in wv for w in q)]
    if not used:
        return Score(float("nan"), 0, len(questions))
    ids = np.array([wv.ids(q) for q in used])                         # (Q, 4)
    unit = wv.unit
    right = 0
    for lo in range(0, len(ids), batch):
        a, b, c, d = ids[lo:lo + batch].T
        target = unit[b] - unit[a] + unit[c]                          # (q, dim)
        sims = target @ unit.T                                        # (q, V)
        sims[:, ~allowed] = -np.inf
        rows = np.arange(len(a))
        sims[rows, a] = sims[rows, b] = sims[rows, c] = -np.inf
        right += int((sims.argmax(axis=1) == d).sum())
    return Score(right / len(used), len(used), len(questions))


def evaluate(wv: WordVectors, vocab: Collection[str] | None = None) -> dict[str, dict[str, float | int]]:
    """WordSim-353 Spearman and Google analogy accuracy (all sections together)."""
    questions = [q for _, qs in read_analogies(analogies_path()) for q in qs]
    return {"wordsim353": word_similarity(wv, read_word_pairs(wordsim353_path()), vocab).as_dict(),
            "analogy": analogy_accuracy(wv, questions, vocab).as_dict()}
