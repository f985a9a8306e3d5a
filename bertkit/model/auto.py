"""`load_model(dir)`: any model directory bertkit can read, by config.json's `model_type`.

One line per architecture in `LOADERS`: model_type -> "module:callable", the callable taking the
directory and returning the model (imported only when that type is loaded).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from bertkit.errors import CheckpointError
from bertkit.io import PathLike

LOADERS: dict[str, str] = {
    "bert": "bertkit.model.auto:load_bert",
    "gpt2": "bertkit.model.gpt:GPTLanguageModel.from_pretrained",
    "bertkit-transformer": "bertkit.model.seq2seq:Seq2SeqTransformer.from_pretrained",
    "roberta": "bertkit.model.roberta:RobertaModel.from_pretrained",
    "distilbert": "bertkit.model.distilbert:DistilBertModel.from_pretrained",
    "albert": "bertkit.model.albert:AlbertModel.from_pretrained",
}


def load_bert(directory: PathLike):
    """The BERT class config.json's `architectures` names (BertModel when none)."""
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
