"""Readable reference versions of the learners and of encoding, in plain Python.

The fast learners (bpe.py, wordpiece.py) keep incremental tables and lazy heaps; the functions
here recount everything at every step, so each reads as the algorithm's definition. The tests
check that the fast learners give the same merges, and that `reference_encode` gives the same
ids as the Rust runtime.

    bpe_merges({"mau": 10, "baú": 5, "itaú": 7, "uau": 10}, vocab_size=9, min_frequency=1)
    -> [("a", "u"), ("a", "ú")]
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from itertools import pairwise

from bertkit.errors import ConfigError
from bertkit.tokenizers.baselines import WordLevelModel
from bertkit.tokenizers.bpe import BPEModel
from bertkit.tokenizers.normalizers import NormalizerOptions, normalize
from bertkit.tokenizers.pretokenizers import scheme_of, split
from bertkit.tokenizers.unigram import UnigramModel
from bertkit.tokenizers.vocab import merge_word
from bertkit.tokenizers.wordpiece import WordPieceModel, join, symbols_of

# A merge score: (count of the pair ab, freq(a), freq(b), number of symbols N) -> the higher the better.
Score = Callable[[int, int, int, int], float]
MERGE_SCORES: dict[str, Score] = {
    # BPE: the pair's count (Sennrich et al., 2016).
    "frequency": lambda c, fa, fb, n: c,
    # WordPiece (default): the gain in unigram log-likelihood, count * log(count * N / (fa * fb)).
    "log_likelihood_gain": lambda c, fa, fb, n: c * math.log(c * n / (fa * fb)),
    # WordPiece as the Hugging Face course teaches it: freq(ab) / (freq(a) * freq(b)).
    "likelihood_ratio": lambda c, fa, fb, n: c / (fa * fb),
}


def learn_merges(word_counts: Mapping[str, int], vocab_size: int, *, score: Score, min_frequency: int = 2,
                 symbols_of: Callable[[str], Iterable[str]] = list,
                 join: Callable[[str, str], str] = str.__add__) -> list[tuple[str, str]]:
    """Merge the best-scoring adjacent pair until there are `vocab_size` tokens, recounting
    everything at every step. Returns the merges in the order they were learned."""
    # the initial vocabulary: every symbol of the corpus, sorted (so "##b" comes before "a")
    tokens = sorted({s for word in word_counts for s in symbols_of(word)})
    ids = {t: i for i, t in enumerate(tokens)}
    # each distinct word as a list of symbol ids, and how often it occurs
    words = [[ids[s] for s in symbols_of(word)] for word in word_counts]
    counts = list(word_counts.values())
    merges = []
    while len(tokens) < vocab_size:
        # count every symbol and every adjacent pair, weighted by the count of its word
        freq: Counter[int] = Counter()
        pairs: Counter[tuple[int, int]] = Counter()
        for syms, c in zip(words, counts, strict=True):
            for s in syms:
                freq[s] += c
            for pair in pairwise(syms):
                pairs[pair] += c
        n = sum(freq.values())
        # the pairs that occur often enough; stop when there are none
        candidates = [p for p, c in pairs.items() if c >= max(1, min_frequency)]
        if not candidates:
            break
        # find the pair with the highest score (ties: the smallest ids)
        a, b = min(candidates, key=lambda p: (-score(pairs[p], freq[p[0]], freq[p[1]], n), p))
        # mint the merged token (it may exist already: "a" + "bc" and "ab" + "c" are both "abc")
        merged = join(tokens[a], tokens[b])
        merges.append((tokens[a], tokens[b]))
        if merged not in ids:
            ids[merged] = len(tokens)
            tokens.append(merged)
        # replace the pair by the merged token in every word, left to right
        words = [merge_word(syms, a, b, ids[merged]) or syms for syms in words]
    return merges


def bpe_merges(word_counts: Mapping[str, int], vocab_size: int, min_frequency: int = 2
               ) -> list[tuple[str, str]]:
    """BPE: merge the most frequent pair of characters-or-merged-tokens ("a" + "u" -> "au")."""
    return learn_merges(word_counts, vocab_size, score=MERGE_SCORES["frequency"], min_frequency=min_frequency)


def wordpiece_merges(word_counts: Mapping[str, int], vocab_size: int, score: str = "log_likelihood_gain",
                     min_frequency: int = 2) -> list[tuple[str, str]]:
    """WordPiece: symbols after a word's first carry "##" ("ab" -> "a", "##b"); merge by `score`."""
    return learn_merges(word_counts, vocab_size, score=MERGE_SCORES[score], min_frequency=min_frequency,
                        symbols_of=symbols_of, join=join)


# ---------------------------------------------------------------- encoding

def reference_model(runtime_tokenizer):
    """The pure-Python model equal to a runtime tokenizer's model (read from its JSON)."""
    spec = json.loads(runtime_tokenizer.to_str())["model"]
    kind = spec["type"]
    if kind == "BPE":
        merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in spec["merges"]]
        return BPEModel(vocab=spec["vocab"], merges=merges, unk_token=spec.get("unk_token"))
    if kind == "WordPiece":
        return WordPieceModel(vocab=spec["vocab"], unk_token=spec["unk_token"],
                              max_input_chars_per_word=spec["max_input_chars_per_word"])
    if kind == "Unigram":
        return UnigramModel(pieces=[tuple(p) for p in spec["vocab"]], unk_id=spec["unk_id"])
    if kind == "WordLevel":
        return WordLevelModel(vocab=spec["vocab"], unk_token=spec["unk_token"])
    raise ConfigError(f"no pure-Python reference for model type {kind!r}")


def _options_of(runtime_normalizer_obj) -> NormalizerOptions | None:
    """Recover NormalizerOptions from a runtime normalizer built by `runtime_normalizer`."""
    if runtime_normalizer_obj is None:
        return None
    spec = json.loads(runtime_normalizer_obj.__getstate__())
    steps = spec["normalizers"] if spec["type"] == "Sequence" else [spec]
    form = next((s["type"] for s in steps if s["type"] in ("NFC", "NFKC")), None)
    bert = next(s for s in steps if s["type"] == "BertNormalizer")
    return NormalizerOptions(lowercase=bert["lowercase"], strip_accents=bool(bert["strip_accents"]),
                             unicode_form=form, clean_text=bert["clean_text"],
                             handle_chinese_chars=bert["handle_chinese_chars"])


def reference_encode(runtime_tokenizer, text: str) -> list[int]:
    """Encode `text` in pure Python (special tokens matched in the raw text, then normalize ->
    pre-tokenize -> model on the rest) with the vocabulary of a runtime tokenizer trained by
    `train_runtime`; equals `runtime_tokenizer.encode(text, add_special_tokens=False).ids`."""
    opts = _options_of(runtime_tokenizer.normalizer)
    scheme = scheme_of(runtime_tokenizer.pre_tokenizer)
    model = reference_model(runtime_tokenizer)
    vocab = runtime_tokenizer.get_vocab(with_added_tokens=True)
    specials = sorted((t.content for t in runtime_tokenizer.get_added_tokens_decoder().values()),
                      key=len, reverse=True)
    pattern = re.compile("(" + "|".join(map(re.escape, specials)) + ")") if specials else None
    ids: list[int] = []
    for i, segment in enumerate(pattern.split(text) if pattern else [text]):
        if i % 2:  # a special token, kept whole
            ids.append(vocab[segment])
            continue
        for word in split(normalize(segment, opts), scheme):
            ids.extend(vocab[t] for t in model.tokenize(word))
    return ids
