"""The num2words task: targets as num2words writes them, a split by number ranges, the vocabulary."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit.errors import DataError
from bertkit.seq2seq.task import (
    SPECIALS,
    SPLITS,
    Num2WordsTask,
    block_size,
    check_number,
    number_words,
    split_of,
    tokens_to_words,
    words_to_tokens,
)


def test_known_numbers():
    # the issue's example, with num2words' comma between the thousands and the hundreds
    assert number_words(1947) == "mil, novecentos e quarenta e sete"
    assert number_words(100) == "cem" and number_words(101) == "cento e um"
    assert number_words(1100) == "mil e cem" and number_words(21_000) == "vinte e um mil"
    assert number_words(2_000_000) == "dois milhões"


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10 ** 9 - 1))
def test_targets_round_trip_through_tokens_and_ids(n):
    task = Num2WordsTask(9)
    text = number_words(n)
    assert tokens_to_words(words_to_tokens(text)) == text
    ids = task.target_ids(text)                                   # every word is in the vocabulary
    assert ids[-1] == 2 and min(ids[:-1]) >= len(SPECIALS)
    assert task.decode(ids) == text
    assert [task.tokens[i] for i in task.source_ids(n)] == list(str(n))


def test_vocabulary():
    small, big = Num2WordsTask(6), Num2WordsTask(9)
    assert small.tokens[:4] == SPECIALS and small.tokens[4:14] == tuple("0123456789")
    assert "mil" in small.ids and "," in small.ids and "milhão" not in small.ids
    assert {"milhão", "milhões"} <= set(big.ids)
    assert Num2WordsTask.from_dict(small.to_dict(), "x").tokens == small.tokens


def test_split_is_by_whole_blocks_and_disjoint():
    task = Num2WordsTask(5)
    seen = np.full(10 ** 5, -1)
    for code, split in enumerate(SPLITS):
        for d in range(1, 6):
            numbers = task.numbers(split, d)
            assert (seen[numbers] == -1).all() and {len(str(n)) for n in numbers.tolist()} <= {d}
            seen[numbers] = code
    assert (seen >= 0).all()                                       # every number, exactly once
    for n in range(0, 10 ** 5, 97):
        size = block_size(len(str(n)))
        assert SPLITS[seen[n]] == split_of(n)
        assert seen[n] == seen[n - n % size] == seen[n - n % size + size - 1]   # a block goes whole
    assert (seen[:100] == 0).all()
    shares = np.bincount(seen) / len(seen)
    assert 0.04 < shares[1] < 0.06 and 0.04 < shares[2] < 0.06


def test_split_does_not_depend_on_the_range():
    assert Num2WordsTask(4).numbers("test", 4).tolist() == Num2WordsTask(7).numbers("test", 4).tolist()


def test_test_split_exercises_all_the_structure():
    task = Num2WordsTask(6)
    assert task.magnitudes("test") == [3, 4, 5, 6] and task.magnitudes("train") == [1, 2, 3, 4, 5, 6]
    test = [n for d in task.magnitudes("test") for n in task.numbers("test", d).tolist()]
    for d in (5, 6):                                    # from 5 digits on: every digit at every position
        numbers = [str(n) for n in test if len(str(n)) == d]
        for pos in range(d):
            assert {s[pos] for s in numbers} == set("0123456789") - ({"0"} if pos == 0 else set())
    # every word of the vocabulary but "zero" occurs in a test target (units via numbers ending in 1-19)
    words = {w for n in test[::3] for w in words_to_tokens(number_words(n))}
    assert words == set(task.tokens[14:]) - {"zero"}


def test_sampling_is_reproducible_and_stays_in_its_split():
    task = Num2WordsTask(6)
    a = task.sample("train", 500, np.random.default_rng(3))
    assert a == task.sample("train", 500, np.random.default_rng(3))
    assert all(split_of(n) == "train" for n in a)
    assert {len(str(n)) for n in a} == {1, 2, 3, 4, 5, 6}
    assert all(split_of(n) == "test" for n in task.eval_numbers("test", 50))
    assert len(task.eval_numbers("test", 50)) == 200 == len(set(task.eval_numbers("test", 50)))


@pytest.mark.parametrize("text, message", [("19a7", "digits 0-9 only"), ("", "digits 0-9 only"),
                                           ("-5", "digits 0-9 only"), ("1.5", "digits 0-9 only"),
                                           ("١٢", "digits 0-9 only"), ("1000000", "out of range")])
def test_bad_numbers_are_named(text, message):
    with pytest.raises(DataError, match=message):
        check_number(text, 6, where="argument 1")
    assert check_number(" 0042 ", 6) == 42


def test_max_digits_is_checked():
    with pytest.raises(DataError, match="3..9"):
        Num2WordsTask(2)
    with pytest.raises(DataError, match="3..9"):
        Num2WordsTask(10)
