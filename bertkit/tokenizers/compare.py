"""Compare tokenizers on the same text: how many pieces they cut words into, and how.

Words are counted the same way for every tokenizer (runs of letters/digits, or one punctuation
mark: the regex `\\w+|[^\\w\\s]`), and each token is assigned to the word its first non-space
character falls in (a bare word-start marker such as `▁` goes to the word after it). Then:

- fertility: tokens per word (1.0 = every word is one token; lower-level tokenizers score higher);
- % unknown: tokens that are the unknown token (information lost);
- % words split: words cut into two or more tokens;
- characters per token: how much text each token carries (compression).
"""

from __future__ import annotations

import bisect
import itertools
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from tokenizers import decoders

from bertkit.errors import DataError
from bertkit.io import iter_lines
from bertkit.tokenizers.tokenizer import Tokenizer

WORD = re.compile(r"\w+|[^\w\s]")


@dataclass
class CompareRow:
    name: str
    algorithm: str | None
    vocab_size: int
    words: int
    tokens: int
    fertility: float         # tokens per word
    unknown_pct: float       # % of tokens that are the unknown token
    split_pct: float         # % of words cut into 2+ tokens
    chars_per_token: float   # characters of text (newlines excluded) per token


@dataclass
class Comparison:
    rows: list[CompareRow]
    samples: list[tuple[str, dict[str, list[str]]]]  # (text, tokenizer name -> readable tokens)

    def to_dict(self) -> dict:
        return {"rows": [asdict(r) for r in self.rows],
                "samples": [{"text": t, "tokens": s} for t, s in self.samples]}


def _tokens_per_word(text: str, offsets: list[tuple[int, int]]) -> list[int]:
    """How many tokens fall in each word of `text` (see the module docstring for the rule)."""
    spans = [m.span() for m in WORD.finditer(text)]
    starts = [s for s, _ in spans]
    counts = [0] * len(spans)
    for start, end in offsets:
        pos = start
        while pos < end and text[pos].isspace():
            pos += 1
        i = bisect.bisect_right(starts, pos) - 1
        if i < 0 or pos >= spans[i][1]:
            i += 1  # a marker or space before a word belongs to that word
        if 0 <= i < len(spans):
            counts[i] += 1
    return counts


def readable_tokens(tok: Tokenizer, tokens: Sequence[str]) -> list[str]:
    """Tokens as a person reads them: byte-level BPE's bytes turned back into characters."""
    if tok.algorithm != "byte_bpe":
        return list(tokens)
    byte_level = decoders.ByteLevel()
    return [byte_level.decode([t]).replace(" ", "Ġ") for t in tokens]


def read_lines(path: str | os.PathLike, max_lines: int | None = None, errors: str = "strict") -> list[str]:
    lines = (line for line in iter_lines(path, errors=errors) if line.strip())
    return list(itertools.islice(lines, max_lines))


def compare_tokenizers(tokenizers: Mapping[str, Tokenizer], path: str | os.PathLike, *,
                       max_lines: int | None = None, samples: Sequence[str] | int = 2,
                       errors: str = "strict") -> Comparison:
    """Statistics of each tokenizer on the non-blank lines of `path`, and sample segmentations.

    `samples`: texts to show segmented, or how many lines of the file to take as samples.
    """
    lines = read_lines(path, max_lines, errors)
    if not lines:
        raise DataError(f"{path}: no text to compare on")
    sample_texts = lines[:samples] if isinstance(samples, int) else list(samples)
    chars = sum(len(line) for line in lines)
    rows, shown = [], {t: {} for t in sample_texts}
    for name, tok in tokenizers.items():
        encs = tok.encode_texts(lines, add_special_tokens=False)
        unk = tok.unk_token_id
        n_tokens = n_unk = n_words = n_split = 0
        for line, enc in zip(lines, encs, strict=True):
            n_tokens += len(enc.ids)
            n_unk += sum(1 for i in enc.ids if i == unk) if unk is not None else 0
            per_word = _tokens_per_word(line, enc.offsets)
            n_words += len(per_word)
            n_split += sum(1 for c in per_word if c > 1)
        rows.append(CompareRow(
            name=name, algorithm=tok.algorithm, vocab_size=tok.vocab_size, words=n_words, tokens=n_tokens,
            fertility=n_tokens / max(n_words, 1), unknown_pct=100 * n_unk / max(n_tokens, 1),
            split_pct=100 * n_split / max(n_words, 1), chars_per_token=chars / max(n_tokens, 1),
        ))
        for text, enc in zip(sample_texts, tok.encode_texts(sample_texts, add_special_tokens=False),
                             strict=True):
            shown[text][name] = readable_tokens(tok, enc.tokens)
    return Comparison(rows=rows, samples=list(shown.items()))


def format_comparison(comparison: Comparison, width: int = 100) -> str:
    """A plain-text table of the statistics, then each sample as each tokenizer splits it."""
    header = ("tokenizer", "algorithm", "vocab", "tokens/word", "% unknown", "% words split", "chars/token")
    body = [(r.name, r.algorithm or "?", f"{r.vocab_size:,}", f"{r.fertility:.3f}", f"{r.unknown_pct:.2f}",
             f"{r.split_pct:.1f}", f"{r.chars_per_token:.2f}") for r in comparison.rows]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]

    def fmt(row: Sequence[str]) -> str:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [cell.rjust(w) for cell, w in zip(row[2:], widths[2:], strict=True)]
        return "  ".join(cells)

    out = [fmt(header), "  ".join("-" * w for w in widths), *(fmt(row) for row in body)]
    name_width = max((len(r.name) for r in comparison.rows), default=0)
    for text, segmentations in comparison.samples:
        shown = text if len(text) <= width else text[:width - 1] + "…"
        out += ["", f"“{shown}”"]
        for name, tokens in segmentations.items():
            pieces = " · ".join(tokens)
            out.append(f"  {name.ljust(name_width)}  {pieces} ({len(tokens)})")
    return "\n".join(out)
