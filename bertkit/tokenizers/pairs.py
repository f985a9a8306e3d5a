"""The corpus as the merge learners (bpe.py, wordpiece.py) see it, kept in step with every merge.

Each distinct word is a string with one character per symbol (chr(id)), so finding and replacing a
pair runs in C (`str.find`, `str.replace`) and a pair is a 2-character string; strings compare by
code point, so ties break exactly as on (id, id) tuples. Two structures make a merge cheap:
- `pair_counts[pair]`: how often the pair occurs, weighted by word counts, kept incrementally: a
  merge only moves counts between the pairs next to each merge site;
- `where[pair]`: the words that held the pair when it appeared, so a merge only visits those. A
  word may be listed twice or have lost the pair since; visiting it then finds nothing to do.
  (Lists, not sets: a set costs ~4x the memory per entry, and 200 bytes even when it holds one.)

    table = PairTable([[1, 2, 3, 1, 2]], [5])   # one word, "a b c a b", seen 5 times
    table.pair_counts                           # {"\\x01\\x02": 10, "\\x02\\x03": 5, "\\x03\\x01": 5}
    table.merge("\\x01\\x02", "\\x04")             # -> ({"\\x04\\x03", "\\x03\\x04"}, 10): 10 merges
    table.text                                  # ["\\x04\\x03\\x04"]
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from itertools import chain
from operator import add

# Bits for one symbol id in `pack`: every id is a code point (chr), so below 0x110000 = 2**21.
ID_BITS = 21
PAIR_BITS = 2 * ID_BITS
_ID_MASK = (1 << ID_BITS) - 1
_PAIR_MASK = (1 << PAIR_BITS) - 1


def pack(count: int, pair: str) -> int:
    """One int that sorts first for the highest count, then the smallest pair: a heap entry that
    costs a third of a (count, pair) tuple. pack(3, "ab") < pack(3, "ac") < pack(2, "ab")."""
    return (-count << PAIR_BITS) | (ord(pair[0]) << ID_BITS) | ord(pair[1])


def unpack(key: int) -> tuple[int, str]:
    """(count, pair) back from `pack`."""
    p = key & _PAIR_MASK
    return -(key >> PAIR_BITS), chr(p >> ID_BITS) + chr(p & _ID_MASK)


def weighted_counts(strings: Sequence[str], counts: Sequence[int]) -> dict[str, int]:
    """How often each character occurs, each string weighted by its count, counted in C: the
    strings are grouped by count, and each group is joined and counted at once (Zipf's law keeps
    the groups few). weighted_counts(["ab", "b"], [2, 1]) -> {"a": 2, "b": 3} (in some order)."""
    groups: dict[int, list[str]] = defaultdict(list)
    for text, c in zip(strings, counts, strict=True):
        groups[c].append(text)
    total: dict[str, int] = defaultdict(int)
    for c, texts in groups.items():
        for ch, n in Counter("".join(texts)).items():
            total[ch] += n * c
    return total


class PairTable:
    """Distinct words as symbol strings with their counts, pair counts, and pair -> words."""

    def __init__(self, words: list[list[int]] | list[str], counts: list[int]) -> None:
        """Take the words (lists of symbol ids, or strings of chr(id) already; the list is
        emptied here so that they are not held twice) and their counts."""
        if words and isinstance(words[0], str):
            self.text = list(words)
        else:
            self.text = ["".join(map(chr, syms)) for syms in words]
        words.clear()
        self.counts = counts
        self.pair_counts: dict[str, int] = defaultdict(int)
        self.where: dict[str, list[int]] = defaultdict(list)
        if len(self.text) != len(counts):
            raise ValueError(f"{len(self.text)} words but {len(counts)} counts")
        where = self.where
        for wi, word in enumerate(self.text):
            for pair in map(add, word, word[1:]):  # the adjacent pairs, built in C
                where[pair].append(wi)
        weight = counts.__getitem__
        for pair, words in where.items():  # once per site, as each word is listed
            self.pair_counts[pair] = sum(map(weight, words))

    def merge(self, pair: str, ab: str) -> tuple[set[str], int]:
        """Replace each non-overlapping `pair`, left to right, by the symbol `ab` in every word.

        Returns the pairs whose count rose (each holds `ab`) and how many occurrences of `pair`
        were merged, weighted by word counts. At each merge site only the neighbours change:
        (left, a) becomes (left, ab) and (b, right) becomes (ab, right); in a run "a b a b" the
        second site turns the (ab, a) the first one made into (ab, ab). The words are gathered by
        neighbour first (`lefts`, `rights`: symbol -> the words, once per site), and each
        neighbour's counts are moved once at the end, summed in C: a site costs one append.
        """
        text, counts, pair_counts, where = self.text, self.counts, self.pair_counts, self.where
        a, b = pair
        touched: set[str] = set()
        lefts: dict[str, list[int]] = defaultdict(list)
        rights: dict[str, list[int]] = defaultdict(list)
        # a != b: the sites are the pair's occurrences (they cannot overlap), so its count is the
        # number merged; a == b ("a a a" holds two pairs but one site): counted word by word
        merged = pair_counts.get(pair, 0) if a != b else 0
        for wi in where.pop(pair, ()):
            word = text[wi]
            j = word.find(pair)
            if j < 0:  # listed, but lost the pair since (or listed twice)
                continue
            end = -1  # where the previous merge site ended
            while j >= 0:
                if j == end:  # "a b a b": the (ab, a) just made becomes (ab, ab)
                    c = counts[wi]
                    pair_counts[ab + a] -= c
                    born = ab + ab
                    pair_counts[born] += c
                    touched.add(born)
                    where[born].append(wi)
                elif j:
                    lefts[word[j - 1]].append(wi)
                end = j + 2
                if end < len(word):
                    rights[word[end]].append(wi)
                j = word.find(pair, end)
            new = text[wi] = word.replace(pair, ab)  # str.replace: left to right, non-overlapping
            if a == b:
                merged += counts[wi] * (len(word) - len(new))
        weight = counts.__getitem__
        # each neighbour's pair with a (left) or b (right) becomes its pair with ab, in those words
        moves = chain(((left + a, left + ab, words) for left, words in lefts.items()),
                      ((b + right, ab + right, words) for right, words in rights.items()))
        for old, born, words in moves:
            k = sum(map(weight, words))
            pair_counts[old] -= k
            pair_counts[born] += k
            touched.add(born)
            where[born] += words
        pair_counts.pop(pair, None)
        return touched, merged

    def symbols(self) -> list[list[int]]:
        """The words as lists of symbol ids (for tests and inspection)."""
        return [list(map(ord, word)) for word in self.text]
