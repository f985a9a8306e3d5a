"""What every learner does with a vocabulary: pick the alphabet, lay out the initial vocabulary,
turn the words into symbol ids, record a merge, and say clearly when the corpus runs out.

A vocabulary is a list `tokens` (id -> token) and a dict `token_ids` (token -> id) kept in step;
a learner appends to both as it mints tokens, so ids are creation order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence

from bertkit.errors import ConfigError, DataError


def alphabet_of(word_counts: Mapping[str, int], limit_alphabet: int | None = None,
                initial: Sequence[str] = ()) -> list[str]:
    """The characters of the corpus (the `limit_alphabet` most frequent ones if given) plus
    `initial`, sorted: {"ab": 2, "b": 1}, limit_alphabet=1 -> ["b"]."""
    chars: Counter[str] = Counter()
    for word, count in word_counts.items():
        for ch in word:
            chars[ch] += count
    keep = [ch for ch, _ in sorted(chars.items(), key=lambda kv: (-kv[1], kv[0]))]
    if limit_alphabet is not None:
        keep = keep[:limit_alphabet]
    return sorted(set(keep) | set(initial))


def check_room(vocab_size: int, n_specials: int, n_alphabet: int) -> None:
    """Raise ConfigError when the special tokens and the alphabet alone exceed `vocab_size`."""
    minimum = n_specials + n_alphabet
    if vocab_size < minimum:
        raise ConfigError(
            f"vocab_size={vocab_size} is too small: the {n_specials} special tokens and the "
            f"{n_alphabet}-character alphabet need at least {minimum} (or set limit_alphabet)"
        )


def initial_vocab(special_tokens: Sequence[str], symbols: Iterable[str], vocab_size: int
                  ) -> tuple[list[str], dict[str, int]]:
    """The vocabulary before any merge: the special tokens (ids 0..k-1), then `symbols` in order;
    a symbol equal to a special token keeps the special's id.

    (["[UNK]"], ["a", "b"], 3) -> (["[UNK]", "a", "b"], {"[UNK]": 0, "a": 1, "b": 2}).
    """
    tokens = list(special_tokens)
    token_ids = {t: i for i, t in enumerate(tokens)}
    for sym in symbols:
        if sym not in token_ids:
            token_ids[sym] = len(tokens)
            tokens.append(sym)
    check_room(vocab_size, len(special_tokens), len(tokens) - len(special_tokens))
    return tokens, token_ids


def build_table(word_counts: Mapping[str, int], token_ids: Mapping[str, int],
                symbols_of: Callable[[str], Iterable[str]] = list) -> tuple[list[list[int]], list[int]]:
    """Words as lists of symbol ids and their counts; symbols outside the vocabulary (characters
    cut by `limit_alphabet`) are dropped, as they will be unknown at encoding time anyway.

    {"ab": 3, "c": 1} with {"a": 0, "b": 1} -> ([[0, 1]], [3]).
    """
    words, counts = [], []
    for word, count in word_counts.items():
        syms = [token_ids[s] for s in symbols_of(word) if s in token_ids]
        if syms:
            words.append(syms)
            counts.append(count)
    return words, counts


def record_merge(tokens: list[str], token_ids: dict[str, int], merges: list[tuple[str, str]],
                 a: int, b: int, join: Callable[[str, str], str]) -> tuple[int, bool]:
    """Record the merge of symbols `a` and `b`: the merged symbol's id, and whether it is new.

    A merged string may exist already ("a" + "bc" and "ab" + "c" both give "abc"): it keeps its id.
    """
    merged = join(tokens[a], tokens[b])
    merges.append((tokens[a], tokens[b]))
    if merged in token_ids:
        return token_ids[merged], False
    token_ids[merged] = len(tokens)
    tokens.append(merged)
    return token_ids[merged], True


def merge_word(symbols: list[int], a: int, b: int, ab: int) -> list[int] | None:
    """Replace each non-overlapping (a, b), left to right, by ab; None if the pair is absent.

    symbols=[1, 2, 3, 1, 2], (a, b)=(1, 2), ab=4 -> [4, 3, 4]; [1, 1, 1] with (1, 1) -> [ab, 1].
    """
    out: list[int] = []
    i, n, found = 0, len(symbols), False
    while True:
        try:
            j = symbols.index(a, i)  # jump to the next `a` in C rather than stepping in Python
        except ValueError:
            break
        if j + 1 < n and symbols[j + 1] == b:
            out += symbols[i:j]
            out.append(ab)
            i = j + 2
            found = True
        else:
            out += symbols[i:j + 1]
            i = j + 1
    if not found:
        return None
    out += symbols[i:]
    return out


def corpus_exhausted(vocab_size: int, reached: int, min_frequency: int) -> DataError:
    """The error for a corpus too small (or too repetitive) to fill `vocab_size`."""
    return DataError(
        f"the corpus supports only {reached} tokens at min_frequency={min_frequency}, fewer than "
        f"vocab_size={vocab_size}: use a smaller vocab_size, a lower min_frequency or more text"
    )
