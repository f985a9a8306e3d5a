"""What every explanation starts from: a model and tokenizer loaded from a directory, one encoded
input (ids, tokens, words), and the windows that cover inputs longer than the model's positions.

Windows: the interior of `[CLS] t1 ... tn [SEP]` is cut into overlapping slices of at most
`max_positions - 2` tokens (consecutive slices share `overlap` tokens); each slice is run as
`[CLS] slice [SEP]`. Results are mapped back to the full sequence: every window's [CLS] is the
full sequence's [CLS], its [SEP] is the final [SEP]. How each explanation merges overlaps is
documented where it does so (attention.py, attributions.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bertkit.model.bert as bm
from bertkit.errors import CheckpointError, ConfigError, DataError
from bertkit.model.config import read_config_json
from bertkit.model.hf import ARCHITECTURES, head_class
from bertkit.tokenizers import Tokenizer

DECODERS = ("gpt2", "bertkit-transformer")      # model_types `load` reads with model.auto.load_model


@dataclass
class Encoded:
    """One tokenized input, without padding or truncation."""

    ids: list[int]
    tokens: list[str]
    type_ids: list[int]
    word_ids: list[int | None]      # index of the word each token belongs to; None for specials
    special: list[bool]             # True for [CLS], [SEP], ...

    def __len__(self) -> int:
        return len(self.ids)

    def words(self) -> list[tuple[str, list[int]]]:
        """(word text, token positions) for each word in order; specials are words of their own.

        A word's text is its tokens joined with WordPiece's `##` continuation marks removed.
        """
        out: list[tuple[str, list[int]]] = []
        prev: tuple[int, int] | None = None
        segment = 0
        for i, (tok, w) in enumerate(zip(self.tokens, self.word_ids, strict=True)):
            if self.special[i] or w is None:
                out.append((tok, [i]))
                segment += 1
                prev = None
                continue
            key = (segment, w)
            if key == prev:
                text, pos = out[-1]
                out[-1] = (text + (tok[2:] if tok.startswith("##") else tok), pos + [i])
            else:
                out.append((tok[2:] if tok.startswith("##") else tok, [i]))
            prev = key
        return out


@dataclass
class Window:
    """One model-sized slice of an `Encoded`: its ids and where each of its tokens sits globally."""

    ids: list[int]
    type_ids: list[int]
    positions: list[int]            # global token index of each window token


def encode(tokenizer: Any, text: str, pair: str | None = None) -> Encoded:
    """Tokenize `text` (and `pair`) with no truncation and no padding.

    Works with a bertkit `Tokenizer` and with a `tokenizers.Tokenizer`.
    """
    if not isinstance(text, str) or not text.strip():
        raise DataError("empty text: there is nothing to explain (give at least one word)")
    if pair is not None and not pair.strip():
        raise DataError("empty pair text: give at least one word, or no pair")
    if hasattr(tokenizer, "no_truncation"):      # a raw tokenizers.Tokenizer (may carry its own limits)
        tokenizer.no_truncation()
        tokenizer.no_padding()
        enc = tokenizer.encode(text, pair)
    else:
        enc = tokenizer.encode(text, pair=pair, truncation=False, padding=False)
    n = sum(enc.attention_mask) if getattr(enc, "attention_mask", None) else len(enc.ids)
    special = [bool(s) for s in enc.special_tokens_mask[:n]]
    word_ids = list(enc.word_ids[:n]) if getattr(enc, "word_ids", None) is not None else [None] * n
    if all(w is None for w, s in zip(word_ids, special, strict=True) if not s):
        word_ids = _word_ids_from_pieces(enc.tokens[:n], special)
    return Encoded(list(enc.ids[:n]), list(enc.tokens[:n]), list(enc.type_ids[:n]), word_ids, special)


def _word_ids_from_pieces(tokens: list[str], special: list[bool]) -> list[int | None]:
    """Word indices from WordPiece `##` marks, for tokenizers that do not report word ids."""
    out: list[int | None] = []
    w = -1
    for tok, s in zip(tokens, special, strict=True):
        if s:
            out.append(None)
            continue
        if not tok.startswith("##") or w < 0:
            w += 1
        out.append(w)
    return out


def windows(enc: Encoded, max_positions: int, overlap: int | None = None) -> list[Window]:
    """Cover `enc` with windows of at most `max_positions` tokens (one window if it fits)."""
    n = len(enc)
    if n <= max_positions:
        return [Window(enc.ids, enc.type_ids, list(range(n)))]
    if max_positions < 3:
        raise ConfigError(f"max_positions={max_positions} leaves no room between [CLS] and [SEP]")
    cap = max_positions - 2
    overlap = cap // 4 if overlap is None else overlap
    if not 0 <= overlap < cap:
        raise ConfigError(
            f"window overlap must be in [0, {cap - 1}] for {max_positions} positions, got {overlap}")
    out = []
    start = 1
    while True:
        end = min(start + cap, n - 1)
        pos = [0, *range(start, end), n - 1]
        out.append(Window([enc.ids[i] for i in pos], [enc.type_ids[i] for i in pos], pos))
        if end >= n - 1:
            return out
        start = end - overlap


def model_dims(model: Any) -> tuple[int, int, int]:
    """(layers, heads, max positions) from a model's config."""
    cfg = model.config
    return cfg.num_hidden_layers, cfg.num_attention_heads, cfg.max_position_embeddings


def check_layer_head(model: Any, layer: int | None, head: int | None) -> None:
    """Raise ConfigError naming the valid range when `layer` or `head` does not exist."""
    n_layers, n_heads, _ = model_dims(model)
    if layer is not None and not 0 <= layer < n_layers:
        raise ConfigError(f"layer {layer} out of range: this model has layers 0..{n_layers - 1}")
    if head is not None and not 0 <= head < n_heads:
        raise ConfigError(f"head {head} out of range: this model has heads 0..{n_heads - 1} per layer")


def base_model(model: Any) -> Any:
    """The encoder inside a head model (`model.bert`), or the model itself."""
    return getattr(model, "bert", model)


def encoder_layers(model: Any) -> list[Any]:
    """The transformer blocks of the encoder, in order."""
    base = base_model(model)
    layers = getattr(base, "layers", None)                              # bertkit
    if layers is None and hasattr(base, "encoder"):
        layers = base.encoder.layer                                     # transformers
    if layers is None:
        raise CheckpointError(f"{type(model).__name__}: cannot find the encoder's layers")
    return list(layers)


def load(model_dir: str | Path, head: str | None = None) -> tuple[Any, Any]:
    """Load (model, tokenizer) from a Hugging Face-layout directory, in eval mode.

    GPT and encoder-decoder directories (config.json's model_type in `DECODERS`) load through
    `bertkit.model.auto.load_model`; a `bertkit seq2seq train` RUN (task.json, no tokenizer.json)
    through `bertkit.seq2seq.train.load_run`, its task's vocabulary as the tokenizer. For BERT,
    the head class comes from config.json's `architectures` (`bertkit.model.hf.head_class`: an
    entry bertkit cannot build is an error naming it) unless `head` names one
    ("BertForSequenceClassification", ...); a directory without such an entry gives a BertModel.
    """
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise CheckpointError(f"{model_dir}: no config.json (is this a model directory?)")
    if head is None and read_config_json(model_dir)[1].get("model_type") in DECODERS:
        if (model_dir / "task.json").is_file() and not (model_dir / "tokenizer.json").is_file():
            from bertkit.explain.decoder import TaskTokenizer
            from bertkit.seq2seq.train import load_run

            model, task = load_run(model_dir)        # a `bertkit seq2seq train` RUN: its task's vocabulary
            return model, TaskTokenizer(task)
        from bertkit.model.auto import load_model

        return load_model(model_dir).eval(), load_tokenizer(model_dir)
    if head is None:
        cls = head_class(model_dir)          # any family's head: BERT, RoBERTa, DistilBERT, ALBERT
    elif head in ARCHITECTURES:
        cls = getattr(bm, head)              # from_pretrained dispatches on the directory's family
    else:
        raise ConfigError(f"unknown model class {head!r}; choose one of {', '.join(ARCHITECTURES)}")
    model = cls.from_pretrained(model_dir)
    model.eval()
    return model, load_tokenizer(model_dir)


def load_tokenizer(model_dir: str | Path) -> Any:
    """bertkit's Tokenizer for `model_dir` (tokenizer.json or vocab.txt)."""
    return Tokenizer.from_pretrained(model_dir)


def require_head(model: Any, kind: str) -> None:
    """Raise ConfigError if `model` has no classification head of `kind` ('sequence' or 'token')."""
    name = type(model).__name__
    want = {"sequence": "ForSequenceClassification", "token": "ForTokenClassification"}[kind]
    if not name.endswith(want):
        raise ConfigError(
            f"{name} has no {kind}-classification head: attributions need a fine-tuned "
            f"*{want} model (bertkit finetune makes one); attention views work with any model"
        )
