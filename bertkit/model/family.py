"""What the BERT family's checkpoint layouts share, as one `Layout` per architecture.

A layout is data: the config.json `model_type`, the class-name stem transformers uses (`Roberta`
-> `RobertaForSequenceClassification`), the prefix its head models put before the encoder's names
(`bert.`, `roberta.`, `distilbert.`, `albert.`), the encoder's key table (bertkit name <->
transformers name, `{i}` a layer number), the heads' key table, the renames one head class makes
(RoBERTa's sequence classifier keeps its [CLS] projection in `classifier.dense`, not in the
pooler), the tied decoder's names, and how config.json maps onto `BertConfig`.

bertkit's head classes (heads.py) are the same for every family; hf.py's `load_pretrained` and
`save_pretrained` read and write any of them through its class's layout.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from bertkit.errors import BertkitError, CheckpointError
from bertkit.io import PathLike
from bertkit.model.config import BertConfig, read_config_json

Renames = tuple[tuple[str, str], ...]
Rules = list[tuple[re.Pattern, str]]
ENCODER = "bert."              # bertkit's name of the encoder inside every head model


def _compile(src: str, dst: str) -> tuple[re.Pattern, str]:
    pattern = "^" + re.escape(src).replace(r"\{i\}", r"(\d+)")
    return re.compile(pattern), dst.replace("{i}", r"\1")


def compile_table(renames: list[tuple[str, str]] | Renames) -> tuple[Rules, Rules]:
    """A (bertkit, transformers) name table -> (to-HF rules, from-HF rules) for `rename`."""
    return [_compile(a, b) for a, b in renames], [_compile(b, a) for a, b in renames]


def rename(name: str, rules: Rules) -> str | None:
    """`name` renamed by the first rule of `compile_table` that matches, or None."""
    for pattern, repl in rules:
        if pattern.match(name):
            return pattern.sub(repl, name, count=1)
    return None


def _bert_config_out(config: BertConfig, model_type: str) -> dict[str, Any]:
    return {**config.to_dict(), "model_type": model_type}


@dataclass(frozen=True)
class Layout:
    """One architecture's Hugging Face checkpoint layout (see the module docstring)."""

    model_type: str
    name: str                                      # transformers class stem: "Bert", "Roberta", ...
    prefix: str                                    # the encoder's prefix in head checkpoints
    encoder: Renames                               # encoder names, without any prefix
    heads: Renames = ()                            # names outside the encoder (mlm., classifier. ...)
    per_head: dict[str, Renames] = field(default_factory=dict)   # class suffix -> renames first
    tied: tuple[str, ...] = ()                     # the MLM decoder's weight (and bias): derived
    ignorable: tuple[str, ...] = ("position_ids",)  # HF buffers bertkit derives
    mlm_act: str | None = None                     # the MLM transform's activation, if not hidden_act
    config_in: Callable[[dict[str, Any]], BertConfig] = BertConfig.from_dict
    config_out: Callable[[BertConfig, str], dict[str, Any]] = _bert_config_out

    def renames(self, head: str) -> Renames:
        """The table of one model class: `head` "Model" is the bare encoder, else a head suffix."""
        if head == "Model":
            return self.encoder
        first = self.per_head.get(head, ())
        taken = {a for a, _ in first}
        rest = [(ENCODER + a, self.prefix + b) for a, b in self.encoder] + list(self.heads)
        return first + tuple((a, b) for a, b in rest if a not in taken)

    @cached_property
    def _rules(self) -> dict[str, tuple[Rules, Rules]]:
        return {}

    def rules(self, head: str) -> tuple[Rules, Rules]:
        if head not in self._rules:
            self._rules[head] = compile_table(self.renames(head))
        return self._rules[head]

    def to_hf(self, name: str, head: str) -> str:
        """bertkit state-dict name of a `head` model -> the transformers name."""
        hf = rename(name, self.rules(head)[0])
        if hf is None:
            raise KeyError(f"no transformers name for {name!r}")
        return hf

    def from_hf(self, name: str, head: str) -> str | None:
        """transformers name -> bertkit name in a `head` model, or None. A head model takes a bare
        encoder checkpoint's names (the prefix added), a bare encoder a head checkpoint's (the
        prefix stripped); TF-era `gamma`/`beta` LayerNorm names are read as weight/bias."""
        name = re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", name)
        name = re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", name)
        rules = self.rules(head)[1]
        if head == "Model":
            return rename(name[len(self.prefix):] if name.startswith(self.prefix) else name, rules)
        found = rename(name, rules)
        if found is None and not name.startswith(self.prefix):
            found = rename(self.prefix + name, rules)
        return found

    def is_head_weight(self, hf_name: str) -> bool:
        """Whether a transformers name belongs to a head or the pooler (unused ones are only logged)."""
        if "pooler." in hf_name:
            return True
        bare = hf_name[len(self.prefix):] if hf_name.startswith(self.prefix) else hf_name
        return rename(bare, self.rules("Model")[1]) is None and not hf_name.startswith(self.prefix)

    def read_config(self, directory: PathLike) -> BertConfig:
        """The BertConfig of `directory/config.json`; another `model_type` is a CheckpointError."""
        try:
            path, d = read_config_json(directory)
        except BertkitError as e:
            raise CheckpointError(str(e)) from None
        model_type = d.get("model_type", "bert")
        if model_type != self.model_type:
            raise CheckpointError(f"{path}: model_type is {model_type!r}, not {self.model_type!r}")
        try:
            return self.config_in(d)
        except BertkitError as e:
            raise CheckpointError(f"{path}: {e}") from None
        except TypeError as e:
            raise CheckpointError(f"{path}: {e}") from None

    def write_config(self, config: BertConfig, architecture: str) -> dict[str, Any]:
        """config.json content for a model of class `architecture`."""
        return {**self.config_out(config, self.model_type), "architectures": [architecture]}


def model_type_of(directory: PathLike) -> str:
    """config.json's `model_type` ("bert" when it names none); an unreadable file is a CheckpointError."""
    try:
        path, d = read_config_json(directory)
    except BertkitError as e:
        raise CheckpointError(str(e)) from None
    model_type = d.get("model_type", "bert")
    if not isinstance(model_type, str):
        raise CheckpointError(f"{path}: model_type must be a string, got {model_type!r}")
    return model_type
