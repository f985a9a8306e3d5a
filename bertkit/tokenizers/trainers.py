"""Training entry point: stream texts, count words, learn a model with OUR algorithm, and return a
`tokenizers.Tokenizer` (the Rust runtime) that encodes with it.

    tok = train_runtime(lines, algorithm="wordpiece", vocab_size=8000)

Every algorithm sees the same pipeline: normalize (normalizers.py) -> pre-tokenize
(pretokenizers.py) -> count distinct words -> learn (bpe.py, wordpiece.py, unigram.py,
bytelevel.py, baselines.py). Only the word counts are held in memory, never the corpus.

`reference_encode` runs the same pipeline in pure Python (for learners and parity tests).

Per-algorithm choices:
- "bpe": BERT normalization and pre-tokenization, no continuation prefix (merges read like the
  textbook: "a" + "u" -> "au"); decoding therefore cannot tell word boundaries apart and joins
  tokens with spaces. Unknown characters become `unk_token`.
- "wordpiece": likelihood-scored merges, "##" continuation prefix, greedy longest-match encoding.
  `wordpiece_score` picks "likelihood_ratio" (default) or "log_likelihood_gain" (compresses about
  as well as BPE); see wordpiece.py for the measured trade-off.
- "unigram": SentencePiece-style Metaspace ("▁" starts each word), Viterbi encoding.
- "byte_bpe": GPT-2/RoBERTa byte-level BPE. With `special_tokens=None` its specials are RoBERTa's
  ("<s>", "<pad>", "</s>", "<unk>", "<mask>"); with the default `normalizer` it normalizes
  NOTHING (so decode returns the exact input); pass explicit NormalizerOptions to normalize.
- "word" / "char": frequency-ranked words or characters, `unk_token` for the rest.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

from bertkit.errors import ConfigError, DataError
from bertkit.tokenizers.normalizers import NormalizerOptions, normalize, runtime_normalizer
from bertkit.tokenizers.pretokenizers import bert_split_regex, runtime_pre_tokenizer, scheme_of, split

ALGORITHMS = ("bpe", "wordpiece", "unigram", "byte_bpe", "word", "char")
BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
ROBERTA_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
DEFAULT_NORMALIZER = NormalizerOptions()
_SCHEME = {"bpe": "bert", "wordpiece": "bert", "unigram": "metaspace", "byte_bpe": "byte_level",
           "word": "bert", "char": "bert"}
_CHUNK_CHARS = 1 << 16  # texts are normalized and pre-tokenized ~64k characters at a time
# Every character for which str.isspace() is true (Python's str.split() splits on exactly these).
_PY_SPACES = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200b))) \
    + "\u2028\u2029\u202f\u205f\u3000"


def _bert_counter(counts: Counter[str]):
    """Count the BERT pre-tokenized words of a normalized text into `counts`, fast.

    The regex is run once per DISTINCT whitespace-separated piece (weighted by its count) instead
    of over the whole text. That is exact because no regex match spans a character the regex
    treats as a separator; texts holding a str.isspace() character that is not such a separator
    (the \x1c-\x1f controls, kept when clean_text is off) take the plain path.
    """
    import re

    findall = bert_split_regex().findall
    unsafe = "".join(c for c in _PY_SPACES if findall(f"a{c}b") != ["a", "b"])
    has_unsafe = re.compile(f"[{re.escape(unsafe)}]").search if unsafe else (lambda _: None)

    def add(text: str) -> None:
        if has_unsafe(text):
            counts.update(findall(text))
            return
        for piece, n in Counter(text.split()).items():
            words = findall(piece)
            if len(words) == 1:
                counts[words[0]] += n
            else:
                for w in words:
                    counts[w] += n

    return add


def count_words(
    texts: Iterable[str], normalizer: NormalizerOptions | None, scheme: str, *,
    show_progress: bool = False, total_bytes: int | None = None,
) -> Counter[str]:
    """Distinct pre-tokenized words and their counts, streaming over `texts`.

    Uses the runtime normalizer and a regex (or the runtime) pre-tokenizer on chunks of text for
    speed; they are equal to the readable pure-Python ones (tested), so the counts are the same.
    """
    from tqdm.auto import tqdm

    norm = runtime_normalizer(normalizer)
    counts: Counter[str] = Counter()
    if scheme == "bert":
        add_words = _bert_counter(counts)
    else:
        pre = runtime_pre_tokenizer(scheme)

        def add_words(text: str) -> None:
            counts.update(w for w, _ in pre.pre_tokenize_str(text))

    bar = tqdm(total=total_bytes, unit="B", unit_scale=True, desc="counting words",
               disable=not show_progress)

    def flush(chunk: list[str]) -> None:
        text = "\n".join(chunk)
        if norm is not None:
            text = norm.normalize_str(text)
        add_words(text)

    chunk: list[str] = []
    size = 0
    for text in texts:
        chunk.append(text)
        size += len(text)
        bar.update(len(text.encode("utf-8")) + 1 if total_bytes else len(text) + 1)
        if size >= _CHUNK_CHARS:
            flush(chunk)
            chunk, size = [], 0
    if chunk:
        flush(chunk)
    bar.close()
    if not counts:
        raise DataError("empty corpus: the input texts contain no words to train on")
    return counts


def train_runtime(
    texts: Iterable[str], *, algorithm: str, vocab_size: int,
    special_tokens: Sequence[str] | None = BERT_SPECIALS,
    unk_token: str = "[UNK]", min_frequency: int = 2, limit_alphabet: int | None = None,
    normalizer: NormalizerOptions | None = DEFAULT_NORMALIZER, max_input_chars_per_word: int = 100,
    show_progress: bool = True, verbose: bool = False, total_bytes: int | None = None,
    wordpiece_score: str = "likelihood_ratio",
):
    """Train a tokenizer with bertkit's own algorithms and return it as a `tokenizers.Tokenizer`.

    The vocabulary has exactly `vocab_size` entries, `special_tokens` first (ids 0..k-1, registered
    as special). No post-processor is set; the caller adds [CLS]/[SEP] templates.
    """
    from tokenizers import Tokenizer, decoders

    if algorithm not in ALGORITHMS:
        raise ConfigError(f"unknown algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")
    if special_tokens is None:
        special_tokens = ROBERTA_SPECIALS if algorithm == "byte_bpe" else BERT_SPECIALS
        if algorithm == "byte_bpe" and unk_token == "[UNK]":
            unk_token = "<unk>"
    special_tokens = list(dict.fromkeys(special_tokens))
    if algorithm != "byte_bpe" and unk_token not in special_tokens:
        raise ConfigError(f"unk_token {unk_token!r} must be one of the special tokens {special_tokens}")
    if vocab_size <= len(special_tokens):
        raise ConfigError(f"vocab_size={vocab_size} must exceed the {len(special_tokens)} special tokens")
    if algorithm == "byte_bpe" and normalizer is DEFAULT_NORMALIZER:
        normalizer = None
    scheme = _SCHEME[algorithm]
    counts = count_words(texts, normalizer, scheme, show_progress=show_progress, total_bytes=total_bytes)
    common = dict(vocab_size=vocab_size, special_tokens=special_tokens, verbose=verbose,
                  show_progress=show_progress)
    if algorithm == "bpe":
        from bertkit.tokenizers.bpe import train_bpe

        model = train_bpe(counts, unk_token=unk_token, min_frequency=min_frequency,
                          limit_alphabet=limit_alphabet, **common)
        decoder = None
    elif algorithm == "wordpiece":
        from bertkit.tokenizers.wordpiece import train_wordpiece

        model = train_wordpiece(counts, unk_token=unk_token, min_frequency=min_frequency,
                                limit_alphabet=limit_alphabet,
                                max_input_chars_per_word=max_input_chars_per_word,
                                score=wordpiece_score, **common)
        decoder = decoders.WordPiece(prefix="##")
    elif algorithm == "unigram":
        from bertkit.tokenizers.unigram import train_unigram

        model = train_unigram(counts, unk_token=unk_token, limit_alphabet=limit_alphabet,
                              max_piece_length=16, **common)
        decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    elif algorithm == "byte_bpe":
        from bertkit.tokenizers.bytelevel import train_byte_bpe

        model = train_byte_bpe(counts, min_frequency=min_frequency, **common)
        decoder = decoders.ByteLevel()
    else:
        from bertkit.tokenizers.baselines import train_baseline

        model = train_baseline(counts, level=algorithm, unk_token=unk_token, **common)
        decoder = None

    tok = Tokenizer(model.to_runtime())
    norm = runtime_normalizer(normalizer)
    if norm is not None:
        tok.normalizer = norm
    tok.pre_tokenizer = runtime_pre_tokenizer("bert_chars" if algorithm == "char" else scheme)
    if decoder is not None:
        tok.decoder = decoder
    tok.add_special_tokens(special_tokens)
    size = tok.get_vocab_size(with_added_tokens=True)
    if size != vocab_size:  # a bug, not a user error: every learner promises the exact size
        raise AssertionError(f"{algorithm}: trained vocabulary has {size} entries, not {vocab_size}")
    return tok


def iter_texts(paths: Iterable, errors: str = "strict") -> Iterator[str]:
    """The lines of UTF-8 files, streamed (errors name the file and byte offset)."""
    from bertkit.io import iter_lines

    for path in paths:
        yield from iter_lines(path, errors=errors)


# ---------------------------------------------------------------- pure-Python reference encoding

def reference_model(runtime_tokenizer):
    """The pure-Python model equal to a runtime tokenizer's model (read from its JSON)."""
    import json

    spec = json.loads(runtime_tokenizer.to_str())["model"]
    kind = spec["type"]
    if kind == "BPE":
        from bertkit.tokenizers.bpe import BPEModel

        merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in spec["merges"]]
        return BPEModel(vocab=spec["vocab"], merges=merges, unk_token=spec.get("unk_token"))
    if kind == "WordPiece":
        from bertkit.tokenizers.wordpiece import WordPieceModel

        return WordPieceModel(vocab=spec["vocab"], unk_token=spec["unk_token"],
                              max_input_chars_per_word=spec["max_input_chars_per_word"])
    if kind == "Unigram":
        from bertkit.tokenizers.unigram import UnigramModel

        return UnigramModel(pieces=[tuple(p) for p in spec["vocab"]], unk_id=spec["unk_id"])
    if kind == "WordLevel":
        from bertkit.tokenizers.baselines import WordLevelModel

        return WordLevelModel(vocab=spec["vocab"], unk_token=spec["unk_token"])
    raise ConfigError(f"no pure-Python reference for model type {kind!r}")


def _options_of(runtime_normalizer_obj) -> NormalizerOptions | None:
    """Recover NormalizerOptions from a runtime normalizer built by `runtime_normalizer`."""
    import json

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
    import re

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
