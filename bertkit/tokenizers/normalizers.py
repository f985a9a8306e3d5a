"""Text normalization before tokenization, as BERT does it, with accents kept by default.

Two implementations of one definition:
- `runtime_normalizer(opts)` builds the `tokenizers` (Rust) normalizer used for speed;
- `normalize(text, opts)` is the readable pure-Python reference that gives the same string.

Steps, in order: Unicode form (NFC/NFKC) -> clean text (drop control/format/private-use
characters, U+0000 and U+FFFD; every whitespace character becomes " ") -> spaces around CJK
ideographs -> strip accents (opt-in: NFD, then drop non-spacing marks) -> lowercase.

Unlike Hugging Face's `BertNormalizer`, whose `strip_accents` defaults to `lowercase`,
lowercasing here KEEPS accents unless asked: "Você" -> "você", never "voce".

Parity note: the Rust runtime classifies characters with older Unicode tables than Python 3.11's
`unicodedata` (about Unicode 10 vs 14). For characters assigned or re-categorised after that
(some scripts' new marks and punctuation) the two can differ; everything in common use -- Latin,
Greek, Cyrillic, CJK, Arabic, emoji, combining accents -- agrees, and the tests check it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from tokenizers import normalizers as rt

from bertkit.errors import ConfigError

UNICODE_FORMS = ("NFC", "NFKC", None)

# Unicode's White_Space property (what Rust's `char::is_whitespace` tests).
WHITESPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)

# BERT's "Chinese character" ranges (the CJK Unified Ideographs blocks and their extensions).
_CJK_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)


@dataclass(frozen=True)
class NormalizerOptions:
    """How text is normalized before it is split into words."""

    lowercase: bool = True
    strip_accents: bool = False       # opt-in! "Você" -> "você" by default, never "voce"
    unicode_form: str | None = "NFC"  # "NFC", "NFKC", or None
    clean_text: bool = True           # remove control chars, normalise whitespace (BERT)
    handle_chinese_chars: bool = True # spaces around CJK ideographs (BERT)

    def __post_init__(self) -> None:
        if self.unicode_form not in UNICODE_FORMS:
            raise ConfigError(f"unicode_form must be one of {UNICODE_FORMS}, got {self.unicode_form!r}")


def is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def _is_control(ch: str) -> bool:
    """Characters BERT's clean-up deletes: control, format and private-use ones, NUL and U+FFFD."""
    if ch in "\t\n\r":
        return False
    return ch in "\x00\ufffd" or unicodedata.category(ch) in ("Cc", "Cf", "Co")


def clean_text(text: str) -> str:
    return "".join(" " if ch in WHITESPACE else ch for ch in text if not _is_control(ch))


def space_cjk(text: str) -> str:
    return "".join(f" {ch} " if is_cjk(ch) else ch for ch in text)


def strip_accents(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) != "Mn")


def lowercase(text: str) -> str:
    # Character by character, like the runtime: no context-dependent final sigma.
    return "".join(ch.lower() for ch in text)


def normalize(text: str, opts: NormalizerOptions | None = NormalizerOptions()) -> str:
    """The pure-Python reference normalizer; equals `runtime_normalizer(opts).normalize_str`."""
    if opts is None:
        return text
    if opts.unicode_form:
        text = unicodedata.normalize(opts.unicode_form, text)
    if opts.clean_text:
        text = clean_text(text)
    if opts.handle_chinese_chars:
        text = space_cjk(text)
    if opts.strip_accents:
        text = strip_accents(text)
    if opts.lowercase:
        text = lowercase(text)
    return text


# ASCII control characters (clean_text deletes them; \t \n \r become spaces instead).
_ASCII_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def normalize_ascii(text: str, opts: NormalizerOptions | None) -> str:
    """`normalize` for ASCII-only text, at C speed (the Rust normalizer tracks offsets for every
    character and runs ~30x slower than str.lower): on ASCII the Unicode form, CJK spacing and
    accent stripping change nothing, so only clean_text and lowercasing remain."""
    if opts is None:
        return text
    if opts.clean_text:
        if _ASCII_CONTROL.search(text):
            text = _ASCII_CONTROL.sub("", text)
        text = text.replace("\t", " ").replace("\n", " ").replace("\r", " ")
    return text.lower() if opts.lowercase else text


def runtime_normalizer(opts: NormalizerOptions | None = NormalizerOptions()):
    """The same normalization as a `tokenizers.normalizers.Normalizer` (None when opts is None)."""
    if opts is None:
        return None
    steps = []
    if opts.unicode_form:
        steps.append(getattr(rt, opts.unicode_form)())
    steps.append(
        rt.BertNormalizer(
            clean_text=opts.clean_text,
            handle_chinese_chars=opts.handle_chinese_chars,
            strip_accents=opts.strip_accents,  # explicit: HF would default it to `lowercase`
            lowercase=opts.lowercase,
        )
    )
    return rt.Sequence(steps)
