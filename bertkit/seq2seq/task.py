"""The task that installs with bertkit: digits -> Portuguese number words.

    "1947" -> "mil, novecentos e quarenta e sete"        (num2words(1947, lang="pt_BR"))

Targets are num2words' output, verbatim (its pt_BR writes a comma between the thousands and a
hundreds group that is not joined by "e": "mil, novecentos ..." but "mil e cem").

The split is by number ranges, so the test numbers are unseen: the numbers are cut into blocks
of 100 consecutive numbers (1900-1999, ...; of 10 below 1,000, where 100 would leave 9 blocks)
and each block goes whole to train, dev or test by a hash of its first number (90% / 5% / 5%).
A hash, not a period: every digit count from 3 up has test numbers, from 5 digits on every digit
occurs at every position of them, and a test block such as 1900-1999 keeps "mil, novecentos ..."
out of training, while "novecentos" after other thousands and "... e quarenta e sete" after other
hundreds are there to compose from. 0-99 (the words themselves) are all train. A number's split
does not depend on the range trained on.

Tokens: the source is its digits, one token each; the target is num2words' words, the comma a
token of its own. One vocabulary (the paper's shared embeddings): specials, digits, words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from bertkit.errors import DataError

LANG = "pt_BR"
BLOCK = 100                                 # numbers per block of the split (10 below 1,000)
SPLITS = ("train", "dev", "test")
SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")  # ids 0..3: TransformerConfig's pad, bos and eos ids
MIN_DIGITS, MAX_DIGITS = 3, 9                # dev and test blocks start at 100; below a billion


def block_size(digits: int) -> int:
    return 10 if digits <= 3 else BLOCK


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a well-spread 64-bit hash of each integer (uint64 arithmetic wraps)."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def block_splits(starts: np.ndarray) -> np.ndarray:
    """The split of each block (by its first number): 0 train, 1 dev, 2 test; below 100 train."""
    h = (_mix(starts) % np.uint64(20)).astype(np.int64)
    codes = np.where(h == 0, 2, np.where(h == 1, 1, 0))
    return np.where(starts < 100, 0, codes)


def split_of(n: int) -> str:
    """"train", "dev" or "test": the split of the block that holds `n`."""
    start = n - n % block_size(len(str(n)))
    return SPLITS[int(block_splits(np.array([start]))[0])]


@lru_cache(maxsize=200_000)
def number_words(n: int) -> str:
    """num2words(n, lang="pt_BR"): 1947 -> "mil, novecentos e quarenta e sete"."""
    from num2words import num2words

    return num2words(n, lang=LANG)


def words_to_tokens(text: str) -> list[str]:
    """"mil, novecentos e sete" -> ["mil", ",", "novecentos", "e", "sete"]."""
    return text.replace(",", " ,").split()


def tokens_to_words(tokens: Sequence[str]) -> str:
    """The inverse of words_to_tokens: ["mil", ",", "cem"] -> "mil, cem"."""
    return " ".join(tokens).replace(" ,", ",")


def check_number(text: str, max_digits: int, where: str = "input") -> int:
    """A source as the model reads it: ASCII digits only, below 10**max_digits; leading zeros dropped."""
    stripped = text.strip()
    if not stripped or not (stripped.isascii() and stripped.isdigit()):
        raise DataError(f"{where}: {text!r} is not a number written with the digits 0-9 only")
    n = int(stripped)
    if n >= 10 ** max_digits:
        raise DataError(f"{where}: {stripped} is out of range: the model was trained on 0 .. "
                        f"{10 ** max_digits - 1:,} ({max_digits} digits at most)")
    return n


@dataclass
class Num2WordsTask:
    """Numbers 0 .. 10**max_digits - 1 and their words; the vocabulary and the split."""

    max_digits: int = 6
    tokens: tuple[str, ...] = ()            # the vocabulary; built from num2words when empty

    def __post_init__(self) -> None:
        if not isinstance(self.max_digits, int) or not MIN_DIGITS <= self.max_digits <= MAX_DIGITS:
            raise DataError(f"max_digits must be an integer in {MIN_DIGITS}..{MAX_DIGITS}, "
                            f"got {self.max_digits!r}")
        if not self.tokens:
            self.tokens = SPECIALS + tuple("0123456789") + tuple(sorted(self._words()))
        if tuple(self.tokens[:len(SPECIALS)]) != SPECIALS:
            raise DataError(f"a num2words vocabulary starts with {SPECIALS}, not {tuple(self.tokens[:4])}")
        self.ids = {t: i for i, t in enumerate(self.tokens)}
        self._blocks: dict[tuple[str, int], np.ndarray] = {}

    def _words(self) -> set[str]:
        """Every word num2words uses below 10**max_digits: those of 0-999 and of each power's names
        (mil; milhão, milhões), joined by "e" and ","."""
        numbers = list(range(1000))
        numbers += [m * 10 ** k + 123 for k in range(3, self.max_digits) for m in (1, 2)]
        return {w for n in numbers for w in words_to_tokens(number_words(n))}

    # ---- tokens ----------------------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def source_ids(self, n: int) -> list[int]:
        return [self.ids[d] for d in str(n)]

    def target_ids(self, text: str) -> list[int]:
        """Word ids of `text`, then the end token."""
        try:
            return [self.ids[t] for t in words_to_tokens(text)] + [self.ids["</s>"]]
        except KeyError as e:
            raise DataError(f"the word {e.args[0]!r} (in {text!r}) is not in the vocabulary") from None

    def decode(self, ids: Sequence[int]) -> str:
        """Output ids -> text: stops at the end token, skips the other specials."""
        out, end = [], self.ids["</s>"]
        for i in ids:
            if i == end:
                break
            if i >= len(SPECIALS):
                out.append(self.tokens[i])
        return tokens_to_words(out)

    # ---- numbers ---------------------------------------------------------------------------------

    def blocks(self, split: str, digits: int) -> np.ndarray:
        """The first numbers of the blocks of `split` whose numbers have `digits` digits."""
        key = (split, digits)
        if key not in self._blocks:
            starts = np.arange(10 ** (digits - 1) if digits > 1 else 0, 10 ** digits, block_size(digits))
            self._blocks[key] = starts[block_splits(starts) == SPLITS.index(split)]
        return self._blocks[key]

    def magnitudes(self, split: str) -> list[int]:
        """The digit counts that have numbers in `split` (1 and 2 only in train)."""
        return [d for d in range(1, self.max_digits + 1) if len(self.blocks(split, d))]

    def sample(self, split: str, count: int, rng: np.random.Generator) -> list[int]:
        """`count` numbers of `split`: a digit count d with weight d (longer numbers have more
        structure), then a block of d-digit numbers and a number in it, uniformly."""
        digits = np.array(self.magnitudes(split))
        chosen = rng.choice(digits, size=count, p=digits / digits.sum())
        out = []
        for d in chosen.tolist():
            blocks = self.blocks(split, d)
            out.append(int(blocks[rng.integers(len(blocks))]) + int(rng.integers(block_size(d))))
        return out

    def numbers(self, split: str, digits: int) -> np.ndarray:
        """Every number of `split` with `digits` digits."""
        size = block_size(digits)
        return (self.blocks(split, digits)[:, None] + np.arange(size)[None]).ravel()

    def eval_numbers(self, split: str, per_magnitude: int, seed: int = 0) -> list[int]:
        """A fixed sample of `split`: up to `per_magnitude` distinct numbers of each digit count
        (0 or less: all of them)."""
        rng = np.random.default_rng(seed)
        out: list[int] = []
        for d in self.magnitudes(split):
            pool = self.numbers(split, d)
            if 0 < per_magnitude < len(pool):
                pool = np.sort(rng.choice(pool, size=per_magnitude, replace=False))
            out += pool.tolist()
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"task": "num2words", "lang": LANG, "max_digits": self.max_digits, "tokens": list(self.tokens)}

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str) -> Num2WordsTask:
        if d.get("task") != "num2words" or d.get("lang") != LANG:
            raise DataError(f"{where}: not a num2words task ({d.get('task')!r}, lang {d.get('lang')!r})")
        try:
            return cls(max_digits=d["max_digits"], tokens=tuple(d["tokens"]))
        except (KeyError, TypeError) as e:
            raise DataError(f"{where}: a num2words task needs max_digits and tokens ({e})") from None
