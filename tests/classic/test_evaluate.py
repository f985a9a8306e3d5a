"""WordSim-353 and the Google analogies: the files, and scores equal to gensim's own evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from bertkit.classic.evaluate import (
    analogies_path,
    analogy_accuracy,
    read_analogies,
    read_word_pairs,
    word_similarity,
    wordsim353_path,
)
from bertkit.classic.vectors import WordVectors
from bertkit.errors import DataError

gensim_models = pytest.importorskip("gensim.models")


@pytest.fixture(scope="module")
def sets():
    return read_word_pairs(wordsim353_path()), read_analogies(analogies_path())


@pytest.fixture(scope="module")
def planted(sets):
    """Random vectors for every word of both sets, with "capital - country" one shared offset, so
    the capital-common-countries section is solvable and the rest is chance."""
    pairs, sections = sets
    words = {w for a, b, _ in pairs for w in (a, b)} | {w for _, qs in sections for q in qs for w in q}
    words = sorted(words)
    rng = np.random.default_rng(0)
    vecs = {w: rng.normal(size=50) for w in words}
    offset = rng.normal(size=50) * 3
    for a, b, _, _ in sections[0][1]:
        vecs[b] = vecs[a] + offset
    return WordVectors(words, np.array([vecs[w] for w in words]))


def test_the_standard_sets(sets):
    pairs, sections = sets
    assert len(pairs) == 353  # Finkelstein et al. (2002): 353 pairs
    assert pairs[0] == ("love", "sex", 6.77)
    # Mikolov et al. (2013), "Efficient Estimation...": 8,869 semantic + 10,675 syntactic questions
    assert sum(len(qs) for _, qs in sections) == 19544 and len(sections) == 14
    assert sections[0][0] == "capital-common-countries" and sections[0][1][0] == ("athens", "greece",
                                                                                 "baghdad", "iraq")


def _gensim(wv: WordVectors):
    kv = gensim_models.KeyedVectors(vector_size=wv.dim)
    kv.add_vectors(wv.words, wv.vectors)
    return kv


def test_scores_equal_gensims(sets, planted):
    pairs, sections = sets
    kv = _gensim(planted)
    ours = word_similarity(planted, pairs)
    theirs = kv.evaluate_word_pairs(str(wordsim353_path()))[1].statistic
    assert ours.used == 353 and ours.value == pytest.approx(theirs, abs=1e-9)
    questions = [q for _, qs in sections[:2] for q in qs]
    acc = analogy_accuracy(planted, questions)
    # gensim's accuracy over the same first two sections
    _, per_section = kv.evaluate_word_analogies(str(analogies_path()))
    right = sum(len(s["correct"]) for s in per_section[:2])
    total = sum(len(s["correct"]) + len(s["incorrect"]) for s in per_section[:2])
    assert acc.used == total and acc.value == pytest.approx(right / total)
    assert analogy_accuracy(planted, sections[0][1]).value == 1.0


def test_restricted_to_a_shared_vocabulary(sets, planted):
    pairs, sections = sets
    shared = set(planted.words[: len(planted) // 2])
    score = word_similarity(planted, pairs, shared)
    assert 0 < score.used < 353 and score.total == 353
    acc = analogy_accuracy(planted, sections[0][1], shared)
    assert acc.used == sum(all(w in shared for w in q) for q in sections[0][1])


def test_bad_lines_are_named(tmp_path):
    bad = tmp_path / "pairs.tsv"
    bad.write_text("# header\ncat\tdog\t7.5\ncat dog 7.5\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"pairs.tsv, line 3: expected 'word<TAB>word<TAB>score'"):
        read_word_pairs(bad)
    q = tmp_path / "q.txt"
    q.write_text(": s\na b c d\na b c\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"q.txt, line 3: expected a ': section' line or four words"):
        read_analogies(q)
