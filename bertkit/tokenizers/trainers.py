"""Training entry point: stream texts, count words, learn a model with OUR algorithm, and return a
`tokenizers.Tokenizer` (the Rust runtime) that encodes with it.

    tok = train_runtime(lines, algorithm="wordpiece", vocab_size=8000)   # or a TokenizerTrainConfig

Every algorithm sees the same pipeline: normalize (normalizers.py) -> pre-tokenize
(pretokenizers.py) -> count distinct words -> learn (bpe.py, wordpiece.py, unigram.py,
bytelevel.py, baselines.py). Only the word counts are held in memory, never the corpus.
`reference.reference_encode` runs the same pipeline in pure Python (for parity tests).

Per-algorithm choices:
- "bpe": BERT normalization and pre-tokenization, no continuation prefix (merges read like the
  textbook: "a" + "u" -> "au"); decoding therefore cannot tell word boundaries apart and joins
  tokens with spaces. Unknown characters become the unknown token.
- "wordpiece": likelihood-scored merges, "##" continuation prefix, greedy longest-match encoding.
  `wordpiece_score` picks "log_likelihood_gain" (default; compresses about as well as BPE) or
  "likelihood_ratio" (the course's formula, the teaching version); see wordpiece.py.
- "unigram": SentencePiece-style Metaspace ("▁" starts each word), Viterbi encoding.
- "byte_bpe": GPT-2/RoBERTa byte-level BPE, with RoBERTa's special tokens by default and NO
  normalization unless asked (so decode returns the exact input).
- "word" / "char": frequency-ranked words or characters, the unknown token for the rest.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import itertools
import multiprocessing
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from tokenizers import Tokenizer, decoders
from tqdm.auto import tqdm

from bertkit.errors import ConfigError, DataError
from bertkit.io import iter_lines
from bertkit.tokenizers.baselines import train_baseline
from bertkit.tokenizers.bpe import train_bpe
from bertkit.tokenizers.bytelevel import train_byte_bpe
from bertkit.tokenizers.config import TokenizerTrainConfig
from bertkit.tokenizers.normalizers import NormalizerOptions, normalize_ascii, runtime_normalizer
from bertkit.tokenizers.pretokenizers import bert_split_regex, runtime_pre_tokenizer
from bertkit.tokenizers.unigram import train_unigram
from bertkit.tokenizers.wordpiece import train_wordpiece

_SCHEME = {"bpe": "bert", "wordpiece": "bert", "unigram": "metaspace", "byte_bpe": "byte_level",
           "word": "bert", "char": "bert"}
_CHUNK_CHARS = 1 << 16  # texts are normalized and pre-tokenized ~64k characters at a time
_BATCH_CHUNKS = 16  # chunks per task for a counting worker (~1 MB of text)
PARALLEL_AFTER_CHARS = 4 << 20  # count in worker processes past this many characters
# Every character for which str.isspace() is true (Python's str.split() splits on exactly these).
_PY_SPACES = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200b))) \
    + "\u2028\u2029\u202f\u205f\u3000"


def _bert_counter(counts: Counter[str]):
    """Count the BERT pre-tokenized words of normalized texts (one chunk) into `counts`, fast.

    The regex is run once per DISTINCT whitespace-separated piece of the chunk (weighted by its
    count) instead of over the whole text. That is exact because no regex match spans a character
    the regex treats as a separator; texts holding a str.isspace() character that is not such a
    separator (the \x1c-\x1f controls, kept when clean_text is off) take the plain path.
    Words are counted in the order they first occur either way.
    """
    findall = bert_split_regex().findall
    unsafe = "".join(c for c in _PY_SPACES if findall(f"a{c}b") != ["a", "b"])
    has_unsafe = re.compile(f"[{re.escape(unsafe)}]").search if unsafe else (lambda _: None)

    def add(texts: list[str]) -> None:
        if any(has_unsafe(text) for text in texts):
            for text in texts:
                counts.update(findall(text))
            return
        pieces: Counter[str] = Counter()
        for text in texts:
            pieces.update(text.split())
        for piece, n in pieces.items():
            if piece.isalnum():  # no punctuation in it (tested on every code point): one word
                counts[piece] += n
                continue
            words = findall(piece)
            if len(words) == 1:
                counts[words[0]] += n
            else:
                for w in words:
                    counts[w] += n

    return add


def _word_counter(normalizer: NormalizerOptions | None, scheme: str
                  ) -> tuple[Counter[str], Callable[[list[str]], None]]:
    """An empty Counter and `flush(chunk)`, which adds the words of a chunk of texts to it.

    Uses the runtime normalizer (str methods on runs of ASCII lines, `normalize_ascii`) and a
    regex (or the runtime) pre-tokenizer on chunks of text for speed; they are equal to the
    readable pure-Python ones (tested), so the counts are the same, in the same order.
    """
    norm = runtime_normalizer(normalizer)
    counts: Counter[str] = Counter()
    if scheme == "bert":
        add_words = _bert_counter(counts)
    else:
        pre = runtime_pre_tokenizer(scheme)

        def add_words(texts: list[str]) -> None:
            for text in texts:
                counts.update(w for w, _ in pre.pre_tokenize_str(text))

    def flush(chunk: list[str]) -> None:
        if norm is None:
            add_words(["\n".join(chunk)])
        elif scheme != "bert":
            add_words([norm.normalize_str("\n".join(chunk))])
        else:  # runs of ASCII lines take the C-speed path (in order: words keep their first-seen order)
            add_words([normalize_ascii("\n".join(run), normalizer) if is_ascii
                       else norm.normalize_str("\n".join(run))
                       for is_ascii, run in itertools.groupby(chunk, key=str.isascii)])

    return counts, flush


def _count_task(normalizer: NormalizerOptions | None, scheme: str, chunks: list[list[str]]) -> Counter[str]:
    """A worker's share of `count_words`: the words of consecutive chunks, in first-seen order."""
    counts, flush = _word_counter(normalizer, scheme)
    for chunk in chunks:
        flush(chunk)
    return counts


def count_words(
    texts: Iterable[str], normalizer: NormalizerOptions | None, scheme: str, *,
    show_progress: bool = False, total_bytes: int | None = None, workers: int | None = None,
) -> Counter[str]:
    """Distinct pre-tokenized words and their counts, streaming over `texts`.

    Texts are counted ~64k characters at a time. Past the first PARALLEL_AFTER_CHARS characters,
    `workers` processes (default: 2 on Linux with >= 2 cores; 1 = all in this process)
    count batches of chunks while this one reads ahead; their counts are added in the texts'
    order, so the result is the same Counter, words in the same first-seen order. At most
    2 x workers batches (~1 MB of text each) are in flight, so memory stays bounded.
    """
    if workers is None:
        workers = min(2, os.cpu_count() or 1)
    if not sys.platform.startswith("linux"):  # fork is unsafe on macOS, absent on Windows
        workers = 1
    counts, flush = _word_counter(normalizer, scheme)
    bar = tqdm(total=total_bytes, unit="B", unit_scale=True, desc="counting words",
               disable=not show_progress)

    def chunks() -> Iterator[list[str]]:
        chunk: list[str] = []
        size = 0
        for text in texts:
            chunk.append(text)
            size += len(text)
            bar.update(len(text.encode("utf-8")) + 1 if total_bytes else len(text) + 1)
            if size >= _CHUNK_CHARS:
                yield chunk
                chunk, size = [], 0
        if chunk:
            yield chunk

    stream, seen = chunks(), 0
    for chunk in stream:  # small corpora (and the start of big ones) stay in this process
        flush(chunk)
        seen += _CHUNK_CHARS
        if workers > 1 and seen >= PARALLEL_AFTER_CHARS:
            _count_in_workers(stream, counts, normalizer, scheme, workers)
            break
    bar.close()
    if not counts:
        raise DataError("empty corpus: the input texts contain no words to train on")
    return counts


def _count_in_workers(stream: Iterator[list[str]], counts: Counter[str], normalizer: NormalizerOptions | None,
                      scheme: str, workers: int) -> None:
    """Add the words of the remaining chunks to `counts`, counted by `workers` forked processes.

    Forked, not spawned: a spawned worker re-imports the caller's __main__, which runs an
    unguarded script's training again. The workers only run str methods, a regex and the Rust
    normalizer's single-threaded `normalize_str`, so thread pools the parent holds do not matter.
    """
    pending: collections.deque = collections.deque()
    context = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        while batch := list(itertools.islice(stream, _BATCH_CHUNKS)):
            pending.append(pool.submit(_count_task, normalizer, scheme, batch))
            while len(pending) > 2 * workers or (pending and pending[0].done()):
                counts.update(pending.popleft().result())
        while pending:
            counts.update(pending.popleft().result())


def _learn(counts: Counter[str], cfg: TokenizerTrainConfig):
    """Run the configured learner on word counts: (model, decoder or None)."""
    specials, unk = cfg.special_token_list, cfg.specials["unk"]
    common = dict(vocab_size=cfg.vocab_size, special_tokens=specials, verbose=cfg.verbose,
                  show_progress=cfg.show_progress)
    if cfg.algorithm == "bpe":
        return train_bpe(counts, unk_token=unk, min_frequency=cfg.min_frequency,
                         limit_alphabet=cfg.limit_alphabet, **common), None
    if cfg.algorithm == "wordpiece":
        model = train_wordpiece(counts, unk_token=unk, min_frequency=cfg.min_frequency,
                                limit_alphabet=cfg.limit_alphabet,
                                max_input_chars_per_word=cfg.max_input_chars_per_word,
                                score=cfg.wordpiece_score, **common)
        return model, decoders.WordPiece(prefix="##")
    if cfg.algorithm == "unigram":
        model = train_unigram(counts, unk_token=unk, limit_alphabet=cfg.limit_alphabet,
                              max_piece_length=16, **common)
        return model, decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    if cfg.algorithm == "byte_bpe":
        return train_byte_bpe(counts, min_frequency=cfg.min_frequency, **common), decoders.ByteLevel()
    return train_baseline(counts, level=cfg.algorithm, unk_token=unk, **common), None


def train_runtime(texts: Iterable[str], config: TokenizerTrainConfig | None = None, *,
                  total_bytes: int | None = None, **options) -> Tokenizer:
    """Train a tokenizer with bertkit's own algorithms and return it as a `tokenizers.Tokenizer`.

    `config` (or the `TokenizerTrainConfig` fields as keywords, which override it) says how. The
    vocabulary has exactly `vocab_size` entries, the special tokens first (ids 0..k-1, registered
    as special). No post-processor is set; the caller adds the [CLS]/[SEP] template.
    `total_bytes` sizes the progress bar.
    """
    if config is None:
        cfg = TokenizerTrainConfig(**options)
    else:
        cfg = dataclasses.replace(config, **options) if options else config
    normalizer = cfg.normalizer()
    scheme = _SCHEME[cfg.algorithm]
    counts = count_words(texts, normalizer, scheme, show_progress=cfg.show_progress, total_bytes=total_bytes)
    model, decoder = _learn(counts, cfg)
    tok = Tokenizer(model.to_runtime())
    norm = runtime_normalizer(normalizer)
    if norm is not None:
        tok.normalizer = norm
    tok.pre_tokenizer = runtime_pre_tokenizer("bert_chars" if cfg.algorithm == "char" else scheme)
    if decoder is not None:
        tok.decoder = decoder
    tok.add_special_tokens(cfg.special_token_list)
    size = tok.get_vocab_size(with_added_tokens=True)
    if size != cfg.vocab_size:  # a bug, not a user error: every learner promises the exact size
        raise AssertionError(f"{cfg.algorithm}: trained vocabulary has {size} entries, not {cfg.vocab_size}")
    return tok


def iter_texts(paths: Iterable, errors: str = "strict") -> Iterator[str]:
    """The lines of UTF-8 files, streamed (errors name the file and byte offset)."""
    for path in paths:
        yield from iter_lines(path, errors=errors)


Source = str | os.PathLike | Sequence[str | os.PathLike] | Iterable[str]


def corpus_lines(source: Source | None, texts: Iterable[str] | None, errors: str
                 ) -> tuple[Iterator[str], int | None]:
    """Turn `Tokenizer.train`'s inputs into (non-blank lines, total bytes for the progress bar).

    `source` is a path, a list of paths, or an iterator of strings; `texts` an iterable of
    strings. The first line is read up front so that an empty corpus fails here, with the names.
    """
    if (source is None) == (texts is None):
        raise ConfigError("give either files (a path or list of paths) or texts= (an iterable of strings)")
    if texts is None and not isinstance(source, (str, os.PathLike, list, tuple)):
        texts, source = source, None  # an iterator or generator of strings
    total: int | None = None
    if texts is not None:
        if isinstance(texts, str):
            raise ConfigError("texts= must be an iterable of strings, not one string")
        lines, where = iter(texts), "the texts given"
    else:
        paths = _corpus_files(source)
        total = sum(p.stat().st_size for p in paths)
        lines = itertools.chain.from_iterable(iter_lines(p, errors=errors) for p in paths)
        where = ", ".join(str(p) for p in paths)
    nonblank = (line for line in lines if line.strip())
    first = next(nonblank, None)
    if first is None:
        raise DataError(f"empty corpus: {where} contain(s) no text")
    return itertools.chain([first], nonblank), total


def _corpus_files(source: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """The corpus files, each checked to be a readable file (a directory is named as one)."""
    items = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    if not items:
        raise DataError("empty corpus: no files given")
    for item in items:
        path = Path(item)
        if path.is_dir():
            raise DataError(f"{item}: is a directory, not a text file (give the files in it)")
        if not path.is_file():
            hint = " (to train on strings in memory, pass texts=[...])" if isinstance(item, str) else ""
            raise DataError(f"{item}: no such file{hint}")
    return [Path(p) for p in items]
