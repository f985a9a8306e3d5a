"""The learners' shared pair table: a merge moves counts exactly as recounting would, and the
packed heap keys order like (-count, pair)."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit.tokenizers.pairs import PairTable, pack, unpack, weighted_counts
from bertkit.tokenizers.vocab import merge_word


def test_docstring_example():
    table = PairTable([[1, 2, 3, 1, 2]], [5])
    assert dict(table.pair_counts) == {"\x01\x02": 10, "\x02\x03": 5, "\x03\x01": 5}
    assert table.merge("\x01\x02", "\x04") == ({"\x04\x03", "\x03\x04"}, 10)
    assert table.symbols() == [[4, 3, 4]]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from([1, 2, 3]), max_size=12), min_size=1, max_size=4),
       st.integers(1, 5))
def test_local_pair_updates_equal_recounting(words, c):
    """`PairTable.merge` leaves the pair counts that recounting the merged words gives (runs like
    "a b a b" and a == b included), reports every new pair holding the merged symbol, the number
    of merged occurrences, and the words `merge_word` gives; (1, 2) and (1, 1) are merged."""
    counts = [c * (i + 1) for i in range(len(words))]
    for a, b in ((1, 2), (1, 1)):
        table = PairTable([list(w) for w in words], list(counts))
        touched, merged = table.merge(chr(a) + chr(b), chr(9))
        new = [merge_word(list(w), a, b, 9) or list(w) for w in words]
        assert table.symbols() == new
        assert merged == sum(n * (len(w) - len(m)) for w, m, n in zip(words, new, counts, strict=True))
        expected: Counter = Counter()
        for m, n in zip(new, counts, strict=True):
            for p in pairwise(m):
                expected[chr(p[0]) + chr(p[1])] += n
        assert {p: v for p, v in table.pair_counts.items() if v} == dict(expected)
        # every new pair with the merged symbol is reported (an undone (ab, a) may be too)
        assert touched >= {p for p in expected if "\x09" in p}
        # and each word holding a pair is listed for it (`where` tolerates stale entries)
        for wi, m in enumerate(new):
            for p in pairwise(m):
                assert wi in table.where[chr(p[0]) + chr(p[1])]


@given(st.lists(st.tuples(st.integers(1, 10**12), st.integers(0, 0x10FFFF), st.integers(0, 0x10FFFF)),
                min_size=1, max_size=20))
def test_packed_keys_sort_like_count_then_pair(entries):
    keys = [pack(c, chr(a) + chr(b)) for c, a, b in entries]
    assert [unpack(k) for k in keys] == [(c, chr(a) + chr(b)) for c, a, b in entries]
    by_count_then_pair = sorted(entries, key=lambda e: (-e[0], e[1], e[2]))
    assert sorted(keys) == [pack(c, chr(a) + chr(b)) for c, a, b in by_count_then_pair]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(alphabet="abcé", max_size=6), st.integers(0, 4)), max_size=12))
def test_weighted_counts_and_string_words(items):
    """Characters counted by groups of equal count give the plain weighted count; a table built
    from strings of chr(id) equals one built from lists of ids."""
    strings, counts = [s for s, _ in items], [c for _, c in items]
    plain: Counter[str] = Counter()
    for s, c in items:
        for ch in s:
            plain[ch] += c
    assert weighted_counts(strings, counts) == plain
    words = [[ord(ch) for ch in s] for s in strings]
    from_ids, from_text = PairTable(words, counts), PairTable(list(strings), counts)
    assert (from_text.text, from_text.pair_counts, from_text.where) == \
        (from_ids.text, from_ids.pair_counts, from_ids.where)
