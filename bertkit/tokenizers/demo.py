"""Demo stage: train every tokenizer on the embedded corpus and see how each splits the same text.

Leaves the WordPiece tokenizer in `ctx.workdir / "tokenizer"` (`ctx.artifacts["tokenizer_dir"]`)
for the pretraining stage.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from bertkit.datasets import corpus_files
from bertkit.io import atomic_write_text, iter_lines, read_text
from bertkit.tokenizers.compare import Comparison, compare_tokenizers, format_comparison
from bertkit.tokenizers.normalizers import NormalizerOptions, normalize
from bertkit.tokenizers.tokenizer import Tokenizer

SENTENCES = (
    "Você já pediu o cartão da empresa?",                      # Portuguese, bank/FAQ style
    "The central bank raised interest rates again on Thursday.",
)
# (name, algorithm, vocab size, vocab size with --quick, options); word/char: the natural baselines.
# WordPiece twice: the default log-likelihood gain compresses like BPE (the demo pretrains on
# it); the course's score freq(ab)/(freq(a)·freq(b)), the teaching version, merges rare pairs first.
PLAN = (
    ("wordpiece", "wordpiece", 8000, 2000, {}),
    ("wp-ratio", "wordpiece", 8000, 2000, {"wordpiece_score": "likelihood_ratio"}),
    ("bpe", "bpe", 8000, 2000, {}),
    ("unigram", "unigram", 8000, 2000, {}),
    ("byte_bpe", "byte_bpe", 8000, 2000, {}),
    ("word", "word", 8000, 2000, {}),
    ("char", "char", None, None, {}),
)


def _subset(out: Path, files: list[Path], max_bytes: int) -> Path:
    """The first `max_bytes` of each corpus file, one sentence per line."""
    lines: list[str] = []
    for path in files:
        size = 0
        for line in iter_lines(path):
            lines.append(line)
            size += len(line.encode("utf-8")) + 1
            if size >= max_bytes:
                break
    atomic_write_text(out, "\n".join(lines) + "\n")
    return out


def _char_vocab_size(path: Path, n_specials: int = 5) -> int:
    """Every character seen at least twice (after BERT-style normalization), plus the specials."""
    counts = Counter(ch for ch in normalize(read_text(path), NormalizerOptions()) if not ch.isspace())
    return n_specials + sum(1 for c in counts.values() if c >= 2)


def run(ctx: Any) -> None:
    per_file = 80_000 if ctx.quick else 700_000
    train_file = _subset(ctx.workdir / "tokenizer_corpus.txt", corpus_files("train"), per_file)
    held_out = _subset(ctx.workdir / "tokenizer_heldout.txt", corpus_files("valid"), 60_000)
    print(f"Training six tokenizers on {train_file.stat().st_size / 1e6:.1f} MB of Portuguese FAQ + English "
          f"news ({train_file}).\nThe same text, lowercased with accents kept, goes to every algorithm.\n")
    trained: dict[str, Tokenizer] = {}
    for name, algorithm, size, quick_size, options in PLAN:
        vocab_size = (quick_size if ctx.quick else size) or _char_vocab_size(train_file)
        start = time.perf_counter()
        tok = Tokenizer.train(train_file, algorithm=algorithm, vocab_size=vocab_size, show_progress=False,
                              **options)
        trained[name] = tok
        seconds = time.perf_counter() - start
        print(f"  {name:<10} {tok.vocab_size:>6,} tokens   trained in {seconds:5.1f} s")
    print("  (wordpiece: the default log-likelihood gain score; wp-ratio: the course's"
          " freq(ab)/(freq(a)·freq(b)),\n   the teaching version, which merges rare pairs first:"
          " see docs/tokenizers.md)")

    comparison = compare_tokenizers(trained, held_out, max_lines=1000 if ctx.quick else 4000,
                                    samples=list(SENTENCES))
    print("\nHow each splits the same sentences (· between tokens, token count in brackets):")
    for text, segmentations in comparison.samples:
        print(f"\n“{text}”")
        for name, tokens in segmentations.items():
            print(f"  {name:<10} {' · '.join(tokens)} ({len(tokens)})")
    print(f"\nOn held-out text ({held_out.name}): words become more tokens the smaller the units;"
          f"\nword-level has the fewest tokens but the most unknowns.\n")
    print(format_comparison(Comparison(rows=comparison.rows, samples=[])))

    out = trained["wordpiece"].save(ctx.workdir / "tokenizer")
    ctx.artifacts["tokenizer_dir"] = out
    enc = trained["wordpiece"].encode(SENTENCES[0], SENTENCES[1])
    print(f"\nBERT input for the pair: {' '.join(enc.tokens)}")
    print(f"token_type_ids:          {enc.type_ids}")
    print(f"\nSaved the WordPiece tokenizer to {out}/ (tokenizer.json + vocab.txt, loads in transformers).")
