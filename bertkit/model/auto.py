"""`load_model(dir)`: any model directory bertkit can read, by config.json's `model_type`.

One line per architecture in `LOADERS`: model_type -> "module:callable", the callable taking the
directory and returning the model (imported only when that type is loaded). The BERT family
(bert, roberta, distilbert, albert) is one line each in `FAMILIES`: the module that defines the
family's classes (`RobertaModel`, `RobertaForSequenceClassification`, ...) and its `LAYOUT`; its
directories load as the class config.json's `architectures` names.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from bertkit.errors import CheckpointError
from bertkit.io import PathLike

FAMILIES: dict[str, str] = {
    "bert": "bertkit.model.bert",
    "roberta": "bertkit.model.roberta",
    "distilbert": "bertkit.model.distilbert",
    "albert": "bertkit.model.albert",
}
LOADERS: dict[str, str] = {
    **dict.fromkeys(FAMILIES, "bertkit.model.auto:load_family"),
    "gpt2": "bertkit.model.gpt:GPTLanguageModel.from_pretrained",
    "bertkit-transformer": "bertkit.model.seq2seq:Seq2SeqTransformer.from_pretrained",
}


def family_layout(model_type: str, directory: PathLike | None = None) -> Any:
    """The `Layout` of a BERT-family model_type; another type is a CheckpointError."""
    if model_type not in FAMILIES:
        where = f"{Path(directory) / 'config.json'}: " if directory is not None else ""
        raise CheckpointError(f"{where}model_type is {model_type!r}, not one of the BERT family bertkit "
                              f"builds ({', '.join(FAMILIES)})")
    return importlib.import_module(FAMILIES[model_type]).LAYOUT


def family_class(model_type: str, head: str, directory: PathLike | None = None) -> type:
    """The class of `head` ("Model", "ForSequenceClassification", ...) in the family of `model_type`:
    ("roberta", "ForMaskedLM") -> RobertaForMaskedLM."""
    layout = family_layout(model_type, directory)
    cls = getattr(importlib.import_module(FAMILIES[model_type]), layout.name + head, None)
    if cls is None:
        raise CheckpointError(f"{layout.name}{head}: bertkit has no such class for model_type {model_type!r}")
    return cls


def load_family(directory: PathLike):
    """The BERT-family class config.json's `architectures` names (the encoder when none)."""
    from bertkit.model.hf import head_class

    return head_class(directory).from_pretrained(directory)


def load_model(directory: PathLike):
    """Load a bertkit or Hugging Face model directory with the loader of its `model_type`."""
    path = Path(directory) / "config.json"
    try:
        model_type = json.loads(path.read_text(encoding="utf-8")).get("model_type", "bert")
    except (OSError, json.JSONDecodeError, AttributeError) as e:
        raise CheckpointError(f"{path}: cannot read its model_type ({e})") from None
    if model_type not in LOADERS:
        raise CheckpointError(f"{path}: model_type {model_type!r} is not one bertkit loads "
                              f"({', '.join(sorted(LOADERS))})")
    module, _, attr = LOADERS[model_type].partition(":")
    loader = importlib.import_module(module)
    for part in attr.split("."):
        loader = getattr(loader, part)
    return loader(directory)
