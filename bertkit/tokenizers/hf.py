"""Hugging Face tokenizer files in and out.

Reads `tokenizer.json` (any `tokenizers` pipeline), a BERT `vocab.txt` (WordPiece, built the way
transformers' BertTokenizer builds it) and GPT-2/RoBERTa `vocab.json` + `merges.txt` (byte-level
BPE). Writes `tokenizer.json` (+ `vocab.txt` for WordPiece) with `tokenizer_config.json` and
`special_tokens_map.json`, so `transformers.AutoTokenizer` loads our directories unchanged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import tokenizers
from tokenizers import decoders, normalizers, pre_tokenizers, processors

from bertkit.errors import DataError
from bertkit.io import atomic_write_json, atomic_write_text, read_text
from bertkit.tokenizers.specials import REQUIRED_ROLES, ROLE_CANDIDATES, ROLE_NAMES, ROLES

SUPPORTED_MODELS = ("WordPiece", "BPE", "Unigram", "WordLevel")


class TokenizerParts(NamedTuple):
    """What a tokenizer directory holds: the runtime pipeline, the special tokens by role, the
    algorithm that trained it and the longest input its model takes (`Tokenizer`'s fields)."""

    runtime: tokenizers.Tokenizer
    special_tokens: dict[str, str]
    algorithm: str | None
    model_max_length: int


def bert_template(cls_token: str, cls_id: int, sep_token: str, sep_id: int) -> Any:
    """`[CLS] A [SEP]` and `[CLS] A [SEP] B [SEP]` with token type ids 0 / 1 (BERT, Devlin et al. 2019)."""
    return processors.TemplateProcessing(
        single=f"{cls_token}:0 $A:0 {sep_token}:0",
        pair=f"{cls_token}:0 $A:0 {sep_token}:0 $B:1 {sep_token}:1",
        special_tokens=[(cls_token, cls_id), (sep_token, sep_id)],
    )


def roberta_template(cls_token: str, cls_id: int, sep_token: str, sep_id: int,
                     add_prefix_space: bool = False) -> Any:
    """RoBERTa's `<s> A </s></s> B </s>` (all type ids 0), trimming spaces out of byte-level offsets."""
    return processors.RobertaProcessing(
        (sep_token, sep_id), (cls_token, cls_id), trim_offsets=True, add_prefix_space=add_prefix_space
    )


def read_json(path: Path) -> Any:
    """Parse a JSON file; a syntax error names the file, line and column."""
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None


def _model_type(model: dict) -> str | None:
    """The model type of a tokenizer.json (old files omit "type": infer it from the fields)."""
    if "type" in model:
        return model["type"]
    if "merges" in model:
        return "BPE"
    if "continuing_subword_prefix" in model and "max_input_chars_per_word" in model:
        return "WordPiece"
    if isinstance(model.get("vocab"), list):
        return "Unigram"
    return "WordLevel" if "vocab" in model else None


def _read_config(directory: Path) -> dict[str, Any]:
    """tokenizer_config.json merged over special_tokens_map.json (either may be absent)."""
    config: dict[str, Any] = {}
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        if (directory / name).is_file():
            data = read_json(directory / name)
            if isinstance(data, dict):
                config.update(data)
    return config


def _special_tokens(config: dict[str, Any], vocab: dict[str, int]) -> dict[str, str]:
    """Role -> token from the config files, else the usual names found in the vocabulary."""
    specials: dict[str, str] = {}
    for role in ROLES:
        value = config.get(f"{role}_token")
        if isinstance(value, dict):
            value = value.get("content")
        if isinstance(value, str) and value in vocab:
            specials[role] = value
            continue
        found = next((t for t in ROLE_CANDIDATES[role] if t in vocab), None)
        if found is not None:
            specials[role] = found
    return dict(sorted(specials.items(), key=lambda kv: vocab[kv[1]]))


def _require(specials: dict[str, str], roles: tuple[str, ...], path: Path) -> None:
    for role in roles:
        if role not in specials:
            names = " or ".join(ROLE_CANDIDATES[role])
            raise DataError(f"{path}: the vocabulary has no {ROLE_NAMES[role]} token ({names}); "
                            f"a BERT tokenizer needs it")


def _load_tokenizer_json(path: Path, config: dict[str, Any]) -> TokenizerParts:
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
        raise DataError(f"{path}: not a tokenizer.json (no \"model\" object)")
    kind = _model_type(data["model"])
    if kind not in SUPPORTED_MODELS:
        raise DataError(f"{path}: model type {kind!r} is not supported; "
                        f"supported: {', '.join(SUPPORTED_MODELS)}")
    try:
        runtime = tokenizers.Tokenizer.from_str(json.dumps(data))
    except Exception as e:
        raise DataError(f"{path}: cannot build the tokenizer ({kind}): {e}") from None
    vocab = runtime.get_vocab(with_added_tokens=True)
    specials = _special_tokens(config, vocab)
    if kind == "WordPiece" and data["model"].get("unk_token") not in vocab:
        raise DataError(f"{path}: the vocabulary has no unknown token {data['model'].get('unk_token')!r} "
                        f"(WordPiece needs it for words it cannot split)")
    algorithm = config.get("bertkit_algorithm") or _algorithm(kind, data)
    return TokenizerParts(runtime, specials, algorithm, _max_length(config))


def _algorithm(kind: str, data: dict) -> str:
    if kind == "BPE":
        return "byte_bpe" if "ByteLevel" in json.dumps(data.get("pre_tokenizer")) else "bpe"
    return {"WordPiece": "wordpiece", "Unigram": "unigram", "WordLevel": "word"}[kind]


def _max_length(config: dict[str, Any]) -> int:
    value = config.get("model_max_length")
    return int(value) if isinstance(value, (int, float)) and 0 < value < 1_000_000 else 512


def load_vocab_txt(path: Path, config: dict[str, Any] | None = None) -> TokenizerParts:
    """A BERT vocab.txt as transformers' BertTokenizer builds it (do_lower_case etc. from the config)."""
    config = config or {}
    lines = read_text(path).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    vocab = {token: i for i, token in enumerate(lines)}
    specials = _special_tokens(config, vocab)
    _require(specials, REQUIRED_ROLES, path)
    runtime = tokenizers.Tokenizer(tokenizers.models.WordPiece(vocab, unk_token=specials["unk"]))
    runtime.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=config.get("tokenize_chinese_chars", True),
        strip_accents=config.get("strip_accents"), lowercase=config.get("do_lower_case", True),
    )
    runtime.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    runtime.decoder = decoders.WordPiece(prefix="##")
    runtime.post_processor = bert_template(specials["cls"], vocab[specials["cls"]],
                                           specials["sep"], vocab[specials["sep"]])
    runtime.add_special_tokens(list(specials.values()))
    return TokenizerParts(runtime, specials, "wordpiece", _max_length(config))


def load_vocab_merges(vocab_path: Path, merges_path: Path, config: dict[str, Any] | None = None
                      ) -> TokenizerParts:
    """GPT-2/RoBERTa byte-level BPE files; RoBERTa's `<s> A </s></s> B </s>` when it has <s> and </s>."""
    config = config or {}
    vocab = read_json(vocab_path)
    if not isinstance(vocab, dict):
        raise DataError(f"{vocab_path}: expected a JSON object of token -> id")
    merges = []
    for n, line in enumerate(read_text(merges_path).split("\n"), 1):
        if not line or (n == 1 and line.startswith("#version")):
            continue
        parts = line.split(" ")
        if len(parts) != 2:
            raise DataError(f"{merges_path}, line {n}: expected two tokens separated by a space, "
                            f"got {line!r}")
        merges.append((parts[0], parts[1]))
    try:
        model = tokenizers.models.BPE(vocab, merges, continuing_subword_prefix="", end_of_word_suffix="",
                                      fuse_unk=False)
    except Exception as e:
        raise DataError(f"{vocab_path}, {merges_path}: {e}") from None
    add_prefix_space = bool(config.get("add_prefix_space", False))
    runtime = tokenizers.Tokenizer(model)
    runtime.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space)
    runtime.decoder = decoders.ByteLevel()
    specials = _special_tokens(config, vocab)
    is_gpt2 = str(config.get("tokenizer_class", "")).startswith("GPT2")
    if not is_gpt2 and "cls" in specials and "sep" in specials:
        runtime.post_processor = roberta_template(specials["cls"], vocab[specials["cls"]], specials["sep"],
                                                  vocab[specials["sep"]], add_prefix_space=add_prefix_space)
    runtime.add_special_tokens(list(specials.values()))
    return TokenizerParts(runtime, specials, "byte_bpe", _max_length(config))


def load(path: str | os.PathLike) -> TokenizerParts:
    """Load a tokenizer from a directory (ours or Hugging Face's) or a single file."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    if path.is_file():
        config = _read_config(path.parent)
        if path.suffix == ".json":
            return _load_tokenizer_json(path, config)
        if path.suffix == ".txt":
            return load_vocab_txt(path, config)
        raise DataError(f"{path}: expected tokenizer.json or vocab.txt")
    config = _read_config(path)
    if (path / "tokenizer.json").is_file():
        return _load_tokenizer_json(path / "tokenizer.json", config)
    if (path / "vocab.txt").is_file():
        return load_vocab_txt(path / "vocab.txt", config)
    if (path / "vocab.json").is_file() and (path / "merges.txt").is_file():
        return load_vocab_merges(path / "vocab.json", path / "merges.txt", config)
    raise DataError(f"{path}: no tokenizer here "
                    f"(looked for tokenizer.json, vocab.txt, vocab.json + merges.txt)")


def save(tok: TokenizerParts, out_dir: str | os.PathLike) -> Path:
    """Write the tokenizer files into `out_dir` (other files there, e.g. a model's, are left alone)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: exists and is not a directory")
    runtime = tok.runtime
    runtime.no_truncation()
    runtime.no_padding()
    atomic_write_text(out / "tokenizer.json", runtime.to_str(pretty=True) + "\n")
    if isinstance(runtime.model, tokenizers.models.WordPiece):
        vocab = runtime.get_vocab(with_added_tokens=False)
        by_id = sorted(vocab.items(), key=lambda kv: kv[1])
        if [i for _, i in by_id] == list(range(len(by_id))):
            atomic_write_text(out / "vocab.txt", "".join(t + "\n" for t, _ in by_id))
    special_map = {f"{role}_token": token for role, token in tok.special_tokens.items()}
    if tok.algorithm == "byte_bpe" and "cls" in tok.special_tokens and "sep" in tok.special_tokens:
        special_map.update(bos_token=tok.special_tokens["cls"], eos_token=tok.special_tokens["sep"])
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": tok.model_max_length,
        "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "token_type_ids", "attention_mask"],
        **special_map,
        "bertkit_algorithm": tok.algorithm,
    }
    atomic_write_json(out / "special_tokens_map.json", special_map)
    atomic_write_json(out / "tokenizer_config.json", config)
    return out
