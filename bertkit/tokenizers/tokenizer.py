"""The user-facing tokenizer: train, save, load, encode, decode.

`Tokenizer` wraps a `tokenizers.Tokenizer` (the Rust runtime) so encoding is fast and batched,
and adds what a BERT user needs around it: special tokens by role (pad/unk/cls/sep/mask), the
`[CLS] A [SEP] B [SEP]` template, per-call truncation/padding/stride, tensors, and Hugging Face
files in and out (see `hf.py`). `Encoding` is a plain dataclass of lists, easy to print and test.
"""

from __future__ import annotations

import dataclasses
import os
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tokenizers

from bertkit.errors import ConfigError, DataError
from bertkit.tokenizers import hf
from bertkit.tokenizers.config import TokenizerTrainConfig
from bertkit.tokenizers.pretokenizers import METASPACE
from bertkit.tokenizers.specials import BERT_SPECIALS
from bertkit.tokenizers.trainers import Source, corpus_lines, train_runtime

TRUNCATION_STRATEGIES = ("longest_first", "only_first", "only_second")
PADDING_STRATEGIES = ("longest", "max_length")


@dataclass
class Encoding:
    """One encoded text (or text pair): parallel lists, one entry per token."""

    ids: list[int]
    tokens: list[str]
    type_ids: list[int]
    attention_mask: list[int]
    offsets: list[tuple[int, int]]          # character offsets into the ORIGINAL string(s)
    special_tokens_mask: list[int]
    word_ids: list[int | None]
    sequence_ids: list[int | None]          # 0 for text, 1 for pair, None for special/padding
    overflowing: list[Encoding] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_runtime(cls, enc: tokenizers.Encoding, text: str, pair: str | None = None) -> Encoding:
        return cls(
            ids=enc.ids,
            tokens=enc.tokens,
            type_ids=enc.type_ids,
            attention_mask=enc.attention_mask,
            offsets=source_offsets(enc.offsets, enc.sequence_ids, enc.tokens, text, pair),
            special_tokens_mask=enc.special_tokens_mask,
            word_ids=enc.word_ids,
            sequence_ids=enc.sequence_ids,
            overflowing=[cls.from_runtime(o, text, pair) for o in enc.overflowing],
        )


def source_offsets(offsets: list[tuple[int, int]], sequence_ids: list[int | None], tokens: list[str],
                   text: str, pair: str | None = None) -> list[tuple[int, int]]:
    """The runtime's character spans, made disjoint within each sequence and complete.

    - A span grows over the combining marks that follow it when no other token covers them: the
      runtime drops a mark that ends a word from every span (NFD "Você" gives "ce" for the last
      token, not "cê"), so slicing the original would lose the accent.
    - A word-start marker "▁" that Metaspace adds (before the first word, around CJK characters)
      stands for no input character, but the runtime gives it its neighbour's character: the
      marker's span leaves that character to the neighbour (a lone "▁" gets an empty span).
    Pieces of one character (byte-level BPE splits a character's bytes) share that character.
    """
    marks = not (text.isascii() and (pair is None or pair.isascii()))
    if not marks and METASPACE not in tokens:
        return offsets
    sources = {0: text, 1: pair}
    covered = {seq: bytearray(len(src)) for seq, src in sources.items() if src is not None}
    for (start, end), seq in zip(offsets, sequence_ids, strict=True):
        if seq is not None and end > start:
            covered[seq][start:end] = b"\x01" * (end - start)
    out = list(offsets)
    for i, ((start, end), seq) in enumerate(zip(offsets, sequence_ids, strict=True)):
        if seq is None or end <= start:
            continue
        src, cov = sources[seq], covered[seq]
        shares_next = i + 1 < len(out) and sequence_ids[i + 1] == seq and out[i + 1][0] < end
        if tokens[i].startswith(METASPACE):  # the marker must not claim a neighbour's character
            prev_end = out[i - 1][1] if i > 0 and sequence_ids[i - 1] == seq else 0
            if tokens[i] == METASPACE and shares_next:
                out[i] = (start, start)
                continue
            if start < prev_end:
                start = min(prev_end, end)
                out[i] = (start, end)
        if shares_next:  # one piece of a character: the last piece takes the marks after it
            continue
        new_end = end
        while (marks and new_end < len(src) and not cov[new_end]
               and unicodedata.category(src[new_end]).startswith("M")):
            cov[new_end] = 1
            new_end += 1
        if new_end != end:
            out[i] = (start, new_end)
    return out


def _truncation_strategy(truncation: bool | str | None, max_length: int | None) -> str | None:
    if truncation is None:
        return "longest_first" if max_length is not None else None
    if truncation is False:
        return None
    if truncation is True:
        return "longest_first"
    if truncation not in TRUNCATION_STRATEGIES:
        raise ConfigError(f"truncation={truncation!r}: choose True, False or one of {TRUNCATION_STRATEGIES}")
    return truncation


def _padding_strategy(padding: bool | str | None) -> str | None:
    if padding is None or padding is False:
        return None
    if padding is True:
        return "longest"
    if padding not in PADDING_STRATEGIES:
        raise ConfigError(f"padding={padding!r}: choose True, False or one of {PADDING_STRATEGIES}")
    return padding


class Tokenizer:
    """A trained tokenizer: a Rust `tokenizers.Tokenizer` plus BERT's special tokens and templates."""

    def __init__(self, runtime: tokenizers.Tokenizer, special_tokens: Mapping[str, str] | None = None,
                 *, algorithm: str | None = None, model_max_length: int = 512) -> None:
        self.runtime = runtime
        self.algorithm = algorithm
        self.model_max_length = model_max_length
        vocab = runtime.get_vocab(with_added_tokens=True)
        specials = dict(special_tokens) if special_tokens is not None else dict(BERT_SPECIALS)
        self.special_tokens = {role: tok for role, tok in specials.items() if tok in vocab}
        runtime.no_truncation()  # a loaded tokenizer.json may carry settings; ours are per call
        runtime.no_padding()
        self._settings: tuple | None = None

    # ---------------------------------------------------------------- construction and files
    @classmethod
    def train(cls, source: Source | None = None, algorithm: str | None = None, vocab_size: int | None = None,
              *, texts: Iterable[str] | None = None, config: TokenizerTrainConfig | None = None,
              **options: Any) -> Tokenizer:
        """Train on files (streamed line by line) or on an iterable of strings.

        `source` is a path, a list of paths, or an iterator of strings (a list of strings is read as
        file names; pass strings in memory as `texts=`). `algorithm` ("wordpiece" unless `config`
        says otherwise), `vocab_size` (8000) and `options` are fields of `TokenizerTrainConfig` and
        override `config`: min_frequency, limit_alphabet, lowercase, strip_accents, unicode_form,
        special_tokens ({"pad": ..., "unk": ..., ...}; BERT's layout, RoBERTa's for byte_bpe),
        wordpiece_score, encoding_errors, show_progress, verbose, model_max_length.
        Normalization defaults to lowercasing that keeps accents, and to none at all for
        `byte_bpe` (exact round trip).
        """
        given = {k: v for k, v in (("algorithm", algorithm), ("vocab_size", vocab_size)) if v is not None}
        cfg = (dataclasses.replace(config, **given, **options) if config is not None
               else TokenizerTrainConfig(**given, **options))
        lines, total_bytes = corpus_lines(source, texts, cfg.encoding_errors)
        runtime = train_runtime(lines, cfg, total_bytes=total_bytes)
        specials = cfg.specials
        cls_tok, sep_tok = specials["cls"], specials["sep"]
        make = hf.roberta_template if cfg.algorithm == "byte_bpe" else hf.bert_template
        runtime.post_processor = make(cls_tok, runtime.token_to_id(cls_tok),
                                      sep_tok, runtime.token_to_id(sep_tok))
        return cls(runtime, specials, algorithm=cfg.algorithm, model_max_length=cfg.model_max_length)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike) -> Tokenizer:
        """Load our saved directory or an HF one (tokenizer.json, vocab.txt, vocab.json+merges)."""
        runtime, specials, algorithm, model_max_length = hf.load(path)
        return cls(runtime, specials, algorithm=algorithm, model_max_length=model_max_length)

    def save(self, out_dir: str | os.PathLike) -> Path:
        """Write tokenizer.json (+ vocab.txt for WordPiece) and the HF config files, each atomically."""
        self._settings = None
        parts = hf.TokenizerParts(self.runtime, self.special_tokens, self.algorithm, self.model_max_length)
        return hf.save(parts, out_dir)

    # ---------------------------------------------------------------- vocabulary
    @property
    def vocab_size(self) -> int:
        return self.runtime.get_vocab_size(with_added_tokens=True)

    def __len__(self) -> int:
        return self.vocab_size

    def get_vocab(self) -> dict[str, int]:
        return self.runtime.get_vocab(with_added_tokens=True)

    def token_to_id(self, token: str) -> int | None:
        return self.runtime.token_to_id(token)

    def id_to_token(self, id: int) -> str | None:
        return self.runtime.id_to_token(id)

    def _role_id(self, role: str) -> int | None:
        token = self.special_tokens.get(role)
        return None if token is None else self.runtime.token_to_id(token)

    @property
    def pad_token_id(self) -> int | None:
        return self._role_id("pad")

    @property
    def unk_token_id(self) -> int | None:
        return self._role_id("unk")

    @property
    def cls_token_id(self) -> int | None:
        return self._role_id("cls")

    @property
    def sep_token_id(self) -> int | None:
        return self._role_id("sep")

    @property
    def mask_token_id(self) -> int | None:
        return self._role_id("mask")

    @property
    def all_special_tokens(self) -> list[str]:
        added = [t.content for t in self.runtime.get_added_tokens_decoder().values() if t.special]
        return list(dict.fromkeys([*self.special_tokens.values(), *added]))

    @property
    def all_special_ids(self) -> list[int]:
        return [self.runtime.token_to_id(t) for t in self.all_special_tokens]

    def add_tokens(self, tokens: Sequence[str], special: bool = False) -> int:
        """Add whole tokens (new domain words) at the end of the vocabulary; returns how many were new."""
        if special:
            return self.runtime.add_special_tokens(list(tokens))
        return self.runtime.add_tokens(list(tokens))

    # ---------------------------------------------------------------- encoding
    def _configure(self, max_length: int | None, truncation: bool | str | None, padding: bool | str | None,
                   stride: int, pad_to_multiple_of: int | None, *, is_pair: bool = False,
                   add_special_tokens: bool = True, windows: bool = False) -> None:
        """Set truncation/padding on the runtime (only when they change: the calls are not free)."""
        trunc = _truncation_strategy(truncation, max_length)
        pad = _padding_strategy(padding)
        if trunc is not None or pad == "max_length":
            max_length = self.model_max_length if max_length is None else max_length
        if trunc is not None:
            self._check_room(max_length, stride, is_pair if add_special_tokens else None, windows)
            if windows and is_pair and trunc == "longest_first":
                # the runtime's overflow windows of a pair cut both texts and can exceed max_length
                # (transformers refuses this too): slide over one text, keep the other whole
                raise ConfigError("return_overflowing with a text pair needs truncation='only_first' or "
                                  "'only_second' (the text to slide windows over)")
        settings = (trunc, pad, max_length, stride, pad_to_multiple_of)
        if settings == self._settings:
            return
        if stride and trunc is None:
            raise ConfigError("stride needs truncation: pass max_length (and truncation=True)")
        if trunc is None:
            self.runtime.no_truncation()
        else:
            if max_length < 1:
                raise ConfigError(f"max_length must be positive, got {max_length}")
            self.runtime.enable_truncation(max_length, stride=stride, strategy=trunc)
        if pad is None:
            self.runtime.no_padding()
        else:
            if self.pad_token_id is None:
                raise ConfigError("padding needs a pad token, and this tokenizer has none")
            self.runtime.enable_padding(
                pad_id=self.pad_token_id, pad_token=self.special_tokens["pad"],
                length=max_length if pad == "max_length" else None, pad_to_multiple_of=pad_to_multiple_of,
            )
        self._settings = settings

    def _check_room(self, max_length: int, stride: int, is_pair: bool | None, windows: bool) -> None:
        """Refuse a `max_length` shorter than the template's special tokens (the runtime would
        silently return the whole text), leaving no room for `stride` (it would panic) or, with
        overflowing `windows`, for one token per window. `is_pair` None: no special tokens."""
        template = self.runtime.post_processor
        n = template.num_special_tokens_to_add(is_pair) if template is not None and is_pair is not None else 0
        what = "a text pair" if is_pair else "a text"
        if max_length < n:
            raise ConfigError(f"max_length={max_length} leaves no room: the template adds {n} special "
                              f"tokens to {what}, so max_length must be at least {n}")
        if windows and max_length <= n:
            raise ConfigError(f"return_overflowing needs room for a token in each window: max_length="
                              f"{max_length} must exceed the {n} special tokens added to {what}")
        if stride and stride >= max_length - n:
            raise ConfigError(f"stride={stride} must be less than max_length={max_length} minus the {n} "
                              f"special tokens added to {what}")

    def _run(self, fn: Any, inputs: Any, **kwargs: Any) -> Any:
        """Call the runtime; its errors become ConfigError (bad settings) or DataError (bad text)."""
        try:
            return fn(*inputs, **kwargs)
        except TypeError:
            _check_texts(inputs)
            raise
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # bad settings (e.g. a stride too large for a pair) surface at
            self._settings = None    # encode time, as an error or as a Rust panic (a BaseException)
            raise ConfigError(f"cannot encode with these settings: {e}") from None

    def encode(self, text: str, pair: str | None = None, *, max_length: int | None = None,
               truncation: bool | str | None = None, padding: bool | str | None = False, stride: int = 0,
               pad_to_multiple_of: int | None = None, return_overflowing: bool = False,
               add_special_tokens: bool = True) -> Encoding:
        """Encode one text (or a text pair) with the special-token template.

        Truncation happens when `max_length` is given (default strategy `longest_first`); with
        `return_overflowing`, the cut-off tokens come back as `enc.overflowing` windows that overlap
        by `stride` tokens, each keeping the template (and, for pairs, the unsliced sequence).
        """
        self._configure(max_length, truncation, padding, stride, pad_to_multiple_of, is_pair=pair is not None,
                        add_special_tokens=add_special_tokens, windows=return_overflowing)
        enc = Encoding.from_runtime(self._run(self.runtime.encode, (text, pair),
                                              add_special_tokens=add_special_tokens), text, pair)
        if not return_overflowing:
            enc.overflowing = []
        return enc

    def encode_batch(self, texts: Sequence[str], pairs: Sequence[str] | None = None, *,
                     max_length: int | None = None, truncation: bool | str | None = None,
                     padding: bool | str | None = "longest", stride: int = 0,
                     pad_to_multiple_of: int | None = None, return_tensors: str | None = "pt",
                     return_special_tokens_mask: bool = False, return_offsets: bool = False,
                     return_overflowing: bool = False, add_special_tokens: bool = True) -> dict[str, Any]:
        """Encode many texts at once (in Rust) into a dict of `input_ids`, `attention_mask`,
        `token_type_ids` (+ `special_tokens_mask`, `offset_mapping`, `overflow_to_sample_mapping`).

        `return_tensors`: "pt" (torch), "np" (numpy) or None (lists). Overflowing windows are
        flattened into the batch, and `overflow_to_sample_mapping` says which text each came from.
        """
        if isinstance(texts, str):
            raise TypeError("encode_batch takes a list of texts; use encode for one text")
        if pairs is not None:
            if len(pairs) != len(texts):
                raise ConfigError(f"{len(texts)} texts but {len(pairs)} pairs: give one pair per text")
            inputs: list = list(zip(texts, pairs, strict=True))
        else:
            inputs = list(texts)
        self._configure(max_length, truncation, padding, stride, pad_to_multiple_of,
                        is_pair=pairs is not None, add_special_tokens=add_special_tokens,
                        windows=return_overflowing)
        # encode_batch_fast skips offset tracking; it gets overflowing pairs' type ids wrong
        # (tokenizers 0.23), so windows take the full path.
        slow = return_offsets or return_overflowing or stride
        batch_fn = self.runtime.encode_batch if slow else self.runtime.encode_batch_fast
        encodings = self._run(batch_fn, (inputs,), add_special_tokens=add_special_tokens)
        sample_map = list(range(len(encodings)))
        if return_overflowing:
            flat, sample_map = [], []
            for i, enc in enumerate(encodings):
                for e in (enc, *enc.overflowing):
                    flat.append(e)
                    sample_map.append(i)
            encodings = flat
        out: dict[str, Any] = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        if return_special_tokens_mask:
            out["special_tokens_mask"] = [e.special_tokens_mask for e in encodings]
        if return_offsets:
            out["offset_mapping"] = [
                source_offsets(e.offsets, e.sequence_ids, e.tokens, texts[i],
                               pairs[i] if pairs is not None else None)
                for e, i in zip(encodings, sample_map, strict=True)
            ]
        if return_overflowing:
            out["overflow_to_sample_mapping"] = sample_map
        return _to_tensors(out, return_tensors) if return_tensors else out

    def encode_texts(self, texts: Sequence[str], pairs: Sequence[str] | None = None, **options: Any
                     ) -> list[Encoding]:
        """Like `encode`, for many texts at once: a list of `Encoding` (offsets, word ids, tokens...)."""
        if pairs is not None and len(pairs) != len(texts):
            raise ConfigError(f"{len(texts)} texts but {len(pairs)} pairs: give one pair per text")
        return_overflowing = options.pop("return_overflowing", False)
        add_special_tokens = options.pop("add_special_tokens", True)
        self._configure(options.pop("max_length", None), options.pop("truncation", None),
                        options.pop("padding", False), options.pop("stride", 0),
                        options.pop("pad_to_multiple_of", None), is_pair=pairs is not None,
                        add_special_tokens=add_special_tokens, windows=return_overflowing)
        if options:
            raise TypeError(f"unexpected options: {', '.join(options)}")
        inputs = list(zip(texts, pairs, strict=True)) if pairs is not None else list(texts)
        runtime_encs = self._run(self.runtime.encode_batch, (inputs,), add_special_tokens=add_special_tokens)
        encs = [Encoding.from_runtime(e, t, p) for e, t, p in
                zip(runtime_encs, texts, pairs or [None] * len(texts), strict=True)]
        if not return_overflowing:
            for e in encs:
                e.overflowing = []
        return encs

    # ---------------------------------------------------------------- decoding
    def decode(self, ids: Sequence[int] | Any, skip_special_tokens: bool = True) -> str:
        """Ids (list or tensor) back to text; ids outside the vocabulary are skipped."""
        row = _as_list(ids)
        return _decoding(self.runtime.decode, [row], row, skip_special_tokens=skip_special_tokens)

    def decode_batch(self, batch: Sequence[Sequence[int]] | Any, skip_special_tokens: bool = True
                     ) -> list[str]:
        rows = [_as_list(ids) for ids in batch]
        return _decoding(self.runtime.decode_batch, rows, rows, skip_special_tokens=skip_special_tokens)

    def __repr__(self) -> str:
        model = type(self.runtime.model).__name__
        return f"Tokenizer(algorithm={self.algorithm!r}, model={model}, vocab_size={self.vocab_size})"


def _check_texts(inputs: Any) -> None:
    """Raise DataError naming the first text that is a str but not valid Unicode (a lone surrogate,
    as `open(..., errors="surrogateescape")` or a non-UTF-8 command line leaves); other bad input
    keeps the runtime's TypeError."""
    for i, item in enumerate(inputs if isinstance(inputs, (list, tuple)) else [inputs]):
        if isinstance(item, (list, tuple)):
            _check_texts(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as e:
                raise DataError(f"text {i}: character {e.start} ({item[e.start]!r}) is a lone surrogate, "
                                f"not Unicode text; decode your input as UTF-8 (errors='replace' keeps "
                                f"going)") from None


def _decoding(fn: Any, rows: list[list[int]], arg: Any, **kwargs: Any) -> Any:
    """fn(arg, **kwargs), with a clear error for an id the runtime cannot take (not a u32)."""
    try:
        return fn(arg, **kwargs)
    except OverflowError:
        bad = next(i for row in rows for i in row if not 0 <= i < 2**32)
        raise ConfigError(f"token ids must be between 0 and 2**32 - 1; got {bad}") from None


def _as_list(ids: Any) -> list[int]:
    return ids.tolist() if hasattr(ids, "tolist") else list(ids)


def _to_tensors(out: dict[str, Any], kind: str) -> dict[str, Any]:
    if kind not in ("pt", "np"):
        raise ConfigError(f"return_tensors={kind!r}: choose 'pt', 'np' or None")
    rows = out["input_ids"]
    if rows and len({len(r) for r in rows}) > 1:
        raise ConfigError("texts encode to different lengths: pass padding='longest' (or 'max_length') "
                          "to get tensors, or return_tensors=None for lists")
    arrays = {k: np.asarray(v, dtype=np.int64) for k, v in out.items()}
    if "offset_mapping" in arrays and not rows:
        arrays["offset_mapping"] = arrays["offset_mapping"].reshape(0, 0, 2)
    if kind == "np":
        return arrays
    import torch  # here, not at the top: tokenizing alone should not load torch (about a second)

    return {k: torch.from_numpy(v) for k, v in arrays.items()}
