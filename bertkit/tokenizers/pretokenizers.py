"""Pre-tokenization: splitting normalized text into the "words" a subword model then segments.

Three schemes, each as a readable pure-Python function and its `tokenizers` runtime twin:
- `bert_split`: whitespace, with every punctuation character its own word (BERT, WordPiece, BPE);
- `metaspace_split`: spaces become "▁", each word starts with one (SentencePiece, Unigram);
- `byte_level_split`: GPT-2's regex, then every UTF-8 byte mapped to a printable character.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import regex
from tokenizers import Regex, pre_tokenizers

from bertkit.tokenizers.normalizers import WHITESPACE

METASPACE = "▁"
# GPT-2's pre-tokenization regex: contractions, letters, numbers, other symbols, whitespace.
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def _code_points(*items: int | tuple[int, int]) -> frozenset[int]:
    """Single code points and inclusive (first, last) ranges, as one set."""
    spans = (it if isinstance(it, tuple) else (it, it) for it in items)
    return frozenset(cp for first, last in spans for cp in range(first, last + 1))


# The Rust runtime's Unicode tables are older than Python 3.11's unicodedata (14.0): these code
# points were added or changed category since. Listed so that the reference splits exactly like
# the runtime (a test compares every code point).
_RUNTIME_NOT_PUNCTUATION = _code_points(
    0x061D, 0x09FD, 0x0A76, 0x0C77, 0x0C84, (0x1B7D, 0x1B7E), (0x2E43, 0x2E4F), (0x2E52, 0x2E5D),
    0x10EAD, (0x10F55, 0x10F59), (0x10F86, 0x10F89), (0x1144B, 0x1144F), (0x1145A, 0x1145B), 0x1145D,
    (0x11660, 0x1166C), 0x116B9, 0x1183B, (0x11944, 0x11946), 0x119E2, (0x11A3F, 0x11A46),
    (0x11A9A, 0x11A9C), (0x11A9E, 0x11AA2), (0x11C41, 0x11C45), (0x11C70, 0x11C71), (0x11EF7, 0x11EF8),
    0x11FFF, (0x12FF1, 0x12FF2), (0x16E97, 0x16E9A), 0x16FE2, (0x1E95E, 0x1E95F),
)
_RUNTIME_PUNCTUATION = _code_points(0x166D, 0x111C9)


def is_punctuation(ch: str) -> bool:
    """BERT's punctuation: all ASCII non-alphanumeric printables plus Unicode category P*."""
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    if cp in _RUNTIME_PUNCTUATION or cp in _RUNTIME_NOT_PUNCTUATION:
        return cp in _RUNTIME_PUNCTUATION
    return unicodedata.category(ch).startswith("P")


def bert_split(text: str) -> list[str]:
    """Split on whitespace and isolate each punctuation character (BertPreTokenizer)."""
    words: list[str] = []
    current: list[str] = []
    for ch in text:
        if ch in WHITESPACE or is_punctuation(ch):
            if current:
                words.append("".join(current))
                current = []
            if ch not in WHITESPACE:
                words.append(ch)
        else:
            current.append(ch)
    if current:
        words.append("".join(current))
    return words


@lru_cache(maxsize=1)
def bert_split_regex():
    """A compiled regex equal to `bert_split` (`findall`), faster than the runtime on big
    chunks; used for counting words when training."""

    def char_class(codepoints) -> str:
        ranges: list[list[int]] = []
        for cp in codepoints:
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1][1] = cp
            else:
                ranges.append([cp, cp])
        return "".join(re.escape(chr(a)) + ("" if a == b else "-" + re.escape(chr(b))) for a, b in ranges)

    # is_punctuation on every code point, in one pass over the categories (4x faster)
    category = unicodedata.category
    ascii_punct = {cp for cp in range(128) if is_punctuation(chr(cp))}
    unicode_punct = {cp for cp in range(128, 0x110000) if category(chr(cp))[0] == "P"}
    unicode_punct = (unicode_punct - _RUNTIME_NOT_PUNCTUATION) | _RUNTIME_PUNCTUATION
    punct = char_class(sorted(ascii_punct | unicode_punct))
    space = char_class(sorted(map(ord, WHITESPACE)))
    return re.compile(f"[^{space}{punct}]+|[{punct}]")


def metaspace_split(text: str) -> list[str]:
    """Replace " " by "▁", prepend one, and start a new word at every "▁" (Metaspace)."""
    if not text:
        return []
    text = text.replace(" ", METASPACE)
    if not text.startswith(METASPACE):
        text = METASPACE + text
    words: list[str] = []
    current = ""
    for ch in text:
        if ch == METASPACE and current:
            words.append(current)
            current = ""
        current += ch
    words.append(current)
    return words


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's map from the 256 byte values to printable characters (so byte strings are text).

    Printable Latin-1 bytes map to themselves; the rest (control bytes, space...) are shifted to
    256 + n, which is why a leading space shows up as "Ġ" (U+0120).
    """
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    keep += list(range(ord("®"), ord("ÿ") + 1))
    mapping = {b: chr(b) for b in keep}
    n = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + n)
            n += 1
    return mapping


@lru_cache(maxsize=1)
def _gpt2_regex():
    return regex.compile(GPT2_PATTERN)


def byte_level_split(text: str) -> list[str]:
    """GPT-2 pre-tokenization: regex pieces, each as its UTF-8 bytes in printable form."""
    table = bytes_to_unicode()
    return ["".join(table[b] for b in piece.encode("utf-8")) for piece in _gpt2_regex().findall(text)]


def byte_level_decode(tokens: list[str]) -> str:
    """Inverse of the byte map: concatenate tokens, map characters back to bytes, decode UTF-8."""
    inverse = {c: b for b, c in bytes_to_unicode().items()}
    return bytes(inverse[c] for c in "".join(tokens)).decode("utf-8", errors="replace")


def bert_char_split(text: str) -> list[str]:
    """BERT's words, then each character on its own (the character-level baseline)."""
    return [ch for word in bert_split(text) for ch in word]


SCHEMES = ("bert", "metaspace", "byte_level", "bert_chars")


def split(text: str, scheme: str) -> list[str]:
    """Pre-tokenize with the named scheme (pure Python)."""
    schemes = {"bert": bert_split, "metaspace": metaspace_split, "byte_level": byte_level_split,
               "bert_chars": bert_char_split}
    return schemes[scheme](text)


def runtime_pre_tokenizer(scheme: str):
    """The `tokenizers` pre-tokenizer equal to `split(text, scheme)`."""
    if scheme == "bert_chars":
        return pre_tokenizers.Sequence([pre_tokenizers.BertPreTokenizer(),
                                        pre_tokenizers.Split(Regex("."), behavior="isolated")])
    if scheme == "bert":
        return pre_tokenizers.BertPreTokenizer()
    if scheme == "metaspace":
        return pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    if scheme == "byte_level":
        return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    raise ValueError(f"unknown pre-tokenization scheme {scheme!r}; choose from {SCHEMES}")


def scheme_of(runtime_pre_tokenizer) -> str:
    """Which scheme a runtime pre-tokenizer implements (for the reference encoder)."""
    name = type(runtime_pre_tokenizer).__name__
    mapping = {"BertPreTokenizer": "bert", "Metaspace": "metaspace", "ByteLevel": "byte_level",
               "Sequence": "bert_chars"}
    if name not in mapping:
        raise ValueError(f"no pure-Python reference for pre-tokenizer {name}")
    return mapping[name]
