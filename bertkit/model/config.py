"""`BertConfig`: one validated dataclass whose field names are Hugging Face's config.json names.

Presets are data (Google's BERT sizes, Turc et al. 2019 "Well-Read Students Learn Better"), not
subclasses. Keys of a Hugging Face config that bertkit does not use are kept in `extra` and written
back on save, so a round trip through bertkit loses nothing.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bertkit.errors import ConfigError
from bertkit.io import PathLike, atomic_write_json, decode_utf8

# name -> (layers, hidden, heads); intermediate is 4x hidden, 512 positions.
PRESETS: dict[str, tuple[int, int, int]] = {
    "tiny": (2, 128, 2),
    "mini": (4, 256, 4),
    "small": (4, 512, 8),
    "medium": (8, 512, 8),
    "base": (12, 768, 12),
    "large": (24, 1024, 16),
}

ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu")
PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")


def read_config_json(directory: PathLike) -> tuple[Path, dict[str, Any]]:
    """(path, contents) of `directory/config.json`; ConfigError naming the file, line and column."""
    path = Path(directory) / "config.json"
    if not path.is_file():
        raise ConfigError(f"{path}: no such file (is {directory} a model directory?)")
    try:
        d = json.loads(decode_utf8(path.read_bytes(), path))
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    if not isinstance(d, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    return path, d


@dataclass
class BertConfig:
    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"                 # "gelu" is the exact (erf) GELU, as in BERT
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    initializer_range: float = 0.02
    classifier_dropout: float | None = None  # None: use hidden_dropout_prob
    num_labels: int = 2
    problem_type: str | None = None          # None: inferred from the labels, like transformers
    id2label: dict[int, str] | None = None
    label2id: dict[str, int] | None = None
    # bertkit's own options (transformers ignores them)
    position_embedding_type: str = "absolute"  # "absolute" (learned) | "sinusoidal" (fixed)
    norm_position: str = "post"                # "post" (BERT) | "pre" (pre-LN, more stable)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)  # unknown HF keys, kept

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError naming the field when a value cannot work."""
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "num_labels"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"BertConfig.{name} must be a positive integer, got {value!r}")
        if not isinstance(self.type_vocab_size, int) or self.type_vocab_size < 0:
            raise ConfigError(f"BertConfig.type_vocab_size must be >= 0, got {self.type_vocab_size!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(
                f"BertConfig.hidden_size ({self.hidden_size}) must be divisible by "
                f"num_attention_heads ({self.num_attention_heads})"
            )
        if self.hidden_act not in ACTIVATIONS:
            raise ConfigError(f"BertConfig.hidden_act {self.hidden_act!r} is not one of {ACTIVATIONS}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value < 1.0:
                raise ConfigError(f"BertConfig.{name} must be in [0, 1), got {value!r}")
        if self.position_embedding_type not in ("absolute", "sinusoidal"):
            raise ConfigError(
                f"BertConfig.position_embedding_type {self.position_embedding_type!r} is not "
                f"'absolute' or 'sinusoidal'"
            )
        if self.norm_position not in ("post", "pre"):
            raise ConfigError(f"BertConfig.norm_position {self.norm_position!r} is not 'post' or 'pre'")
        if self.problem_type is not None and self.problem_type not in PROBLEM_TYPES:
            raise ConfigError(f"BertConfig.problem_type {self.problem_type!r} is not one of {PROBLEM_TYPES}")
        if self.pad_token_id is not None and not 0 <= self.pad_token_id < self.vocab_size:
            raise ConfigError(
                f"BertConfig.pad_token_id ({self.pad_token_id}) must be < vocab_size ({self.vocab_size})"
            )
        if self.id2label is not None:
            self.id2label = {int(k): str(v) for k, v in self.id2label.items()}
            if self.label2id is None:
                self.label2id = {v: k for k, v in self.id2label.items()}
        if self.label2id is not None:
            self.label2id = {str(k): int(v) for k, v in self.label2id.items()}

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> BertConfig:
        """A config of one of Google's BERT sizes; keyword arguments override any field."""
        if name not in PRESETS:
            raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        layers, hidden, heads = PRESETS[name]
        values = dict(num_hidden_layers=layers, hidden_size=hidden, num_attention_heads=heads,
                      intermediate_size=4 * hidden, max_position_embeddings=512)
        return cls.from_dict(values).replace(**overrides)

    def replace(self, **overrides: Any) -> BertConfig:
        """A copy with some fields changed; a misspelt field name is an error, not a silent extra."""
        names = [f.name for f in dataclasses.fields(self) if f.name != "extra"]
        for key in overrides:
            if key not in names:
                close = difflib.get_close_matches(key, names, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(f"BertConfig has no field {key!r}{hint}")
        return BertConfig.from_dict({**self.to_dict(), **overrides})

    def to_dict(self) -> dict[str, Any]:
        """The config as config.json content: HF names, unknown keys kept, `model_type: bert`."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        if d["id2label"] is not None:
            d["id2label"] = {str(k): v for k, v in d["id2label"].items()}
        out = {**self.extra, **d, "model_type": "bert"}
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BertConfig:
        """Build from a config.json dict; unknown keys are kept in `extra` (and saved back).

        Without a `num_labels` key the label count is that of `id2label`, as transformers writes
        config.json (id2label and label2id, no num_labels).
        """
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in d.items() if k in names}
        if "num_labels" not in known and isinstance(known.get("id2label"), dict) and known["id2label"]:
            known["num_labels"] = len(known["id2label"])
        extra = {k: v for k, v in d.items() if k not in names and k != "model_type"}
        extra.update(d.get("extra", {}) or {})
        return cls(**known, extra=extra)

    @classmethod
    def from_pretrained(cls, directory: PathLike) -> BertConfig:
        """Read `directory/config.json` (a bertkit or Hugging Face BERT model directory)."""
        path, d = read_config_json(directory)
        model_type = d.get("model_type", "bert")
        if model_type != "bert":
            raise ConfigError(
                f"{path}: model_type is {model_type!r}, not 'bert'; bertkit loads BERT checkpoints only"
            )
        try:
            return cls.from_dict(d)
        except TypeError as e:
            raise ConfigError(f"{path}: {e}") from None

    def save(self, directory: PathLike) -> None:
        """Write `directory/config.json` atomically."""
        atomic_write_json(Path(directory) / "config.json", self.to_dict())
