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

from bertkit.errors import ConfigError
from bertkit.tokenizers import hf
from bertkit.tokenizers.config import TokenizerTrainConfig
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
            offsets=include_marks(enc.offsets, enc.sequence_ids, text, pair),
            special_tokens_mask=enc.special_tokens_mask,
            word_ids=enc.word_ids,
            sequence_ids=enc.sequence_ids,
            overflowing=[cls.from_runtime(o, text, pair) for o in enc.overflowing],
        )


def include_marks(offsets: list[tuple[int, int]], sequence_ids: list[int | None], text: str,
                  pair: str | None = None) -> list[tuple[int, int]]:
    """Extend each token's span over combining marks that follow it in the original text.

    The runtime drops a combining mark that ends a word from every span (NFD "Você" gives "ce"
    for the last token, not "cê"), so slicing the original would lose the accent. Spans stay
    disjoint: a span only grows over marks that no other token covers.
    """
    if text.isascii() and (pair is None or pair.isascii()):
        return offsets
    out = list(offsets)
    for i, (start, end) in enumerate(out):
        seq = sequence_ids[i]
        if seq is None or end <= start:
            continue
        src = text if seq == 0 else pair
        stop = len(src)
        if i + 1 < len(out) and sequence_ids[i + 1] == seq and out[i + 1][0] >= end:
            stop = min(stop, out[i + 1][0])
        new_end = end
        while new_end < stop and unicodedata.category(src[new_end]).startswith("M"):
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
                   stride: int, pad_to_multiple_of: int | None) -> None:
        """Set truncation/padding on the runtime (only when they change: the calls are not free)."""
        trunc = _truncation_strategy(truncation, max_length)
        pad = _padding_strategy(padding)
        if trunc is not None or pad == "max_length":
            max_length = self.model_max_length if max_length is None else max_length
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

    def _run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except TypeError:
            raise
        except Exception as e:  # the runtime reports bad settings (e.g. stride too large) at encode time
            self._settings = None
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
        self._configure(max_length, truncation, padding, stride, pad_to_multiple_of)
        enc = Encoding.from_runtime(self._run(self.runtime.encode, text, pair,
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
        self._configure(max_length, truncation, padding, stride, pad_to_multiple_of)
        # encode_batch_fast skips offset tracking; it gets overflowing pairs' type ids wrong
        # (tokenizers 0.23), so windows take the full path.
        slow = return_offsets or return_overflowing or stride
        batch_fn = self.runtime.encode_batch if slow else self.runtime.encode_batch_fast
        encodings = self._run(batch_fn, inputs, add_special_tokens=add_special_tokens)
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
                include_marks(e.offsets, e.sequence_ids, texts[i], pairs[i] if pairs is not None else None)
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
                        options.pop("pad_to_multiple_of", None))
        if options:
            raise TypeError(f"unexpected options: {', '.join(options)}")
        inputs = list(zip(texts, pairs, strict=True)) if pairs is not None else list(texts)
        runtime_encs = self._run(self.runtime.encode_batch, inputs, add_special_tokens=add_special_tokens)
        encs = [Encoding.from_runtime(e, t, p) for e, t, p in
                zip(runtime_encs, texts, pairs or [None] * len(texts), strict=True)]
        if not return_overflowing:
            for e in encs:
                e.overflowing = []
        return encs

    # ---------------------------------------------------------------- decoding
    def decode(self, ids: Sequence[int] | Any, skip_special_tokens: bool = True) -> str:
        """Ids (list or tensor) back to text."""
        return self.runtime.decode(_as_list(ids), skip_special_tokens=skip_special_tokens)

    def decode_batch(self, batch: Sequence[Sequence[int]] | Any, skip_special_tokens: bool = True
                     ) -> list[str]:
        rows = [_as_list(ids) for ids in batch]
        return self.runtime.decode_batch(rows, skip_special_tokens=skip_special_tokens)

    def __repr__(self) -> str:
        model = type(self.runtime.model).__name__
        return f"Tokenizer(algorithm={self.algorithm!r}, model={model}, vocab_size={self.vocab_size})"


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
