"""What the BERT family's checkpoint layouts share: a key table (bertkit name <-> Hugging Face name,
`{i}` a layer number), a prefix the head models put before the encoder's names (`roberta.`,
`distilbert.`), and a config.json with its own `model_type`.

Each architecture keeps its table in its own module (`roberta.py`, `distilbert.py`); this module
reads and writes with one: `load_encoder(cls, directory, table)` and `save_encoder(model, directory,
table, config_json)`. Files are read by hf.py (safetensors, shards, pytorch_model.bin without
unpickling) and written atomically.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bertkit.errors import CheckpointError
from bertkit.io import PathLike
from bertkit.model.hf import compile_table, read_state_dict, rename, write_checkpoint


@dataclass(frozen=True)
class KeyTable:
    """(bertkit, transformers) name patterns of one architecture's encoder, and its head prefix."""

    renames: tuple[tuple[str, str], ...]
    prefix: str                                    # e.g. "roberta." in RobertaForMaskedLM's keys
    ignorable: tuple[str, ...] = ()                # HF keys bertkit derives (position_ids buffers...)

    def to_hf(self, name: str) -> str:
        hf = rename(name, compile_table(list(self.renames))[0])
        if hf is None:
            raise KeyError(f"no transformers name for {name!r}")
        return hf

    def from_hf(self, name: str) -> str | None:
        name = name[len(self.prefix):] if name.startswith(self.prefix) else name
        return rename(name, compile_table(list(self.renames))[1])


def read_config_json(directory: PathLike, model_type: str) -> dict[str, Any]:
    path = Path(directory) / "config.json"
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: cannot read it ({e})") from None
    if d.get("model_type") != model_type:
        raise CheckpointError(f"{path}: model_type is {d.get('model_type')!r}, not {model_type!r}")
    return d


def load_encoder(model: torch.nn.Module, directory: PathLike, table: KeyTable) -> torch.nn.Module:
    """Fill `model` (an encoder built from the directory's config) with the checkpoint's weights;
    a weight missing or of another shape is a CheckpointError naming it, an unknown one too."""
    state = read_state_dict(directory)
    expected = model.state_dict()
    converted, unknown = {}, []
    for name, tensor in state.items():
        ours = table.from_hf(name)
        if ours in expected:
            converted[ours] = tensor
        elif not name.endswith(table.ignorable) and not name.startswith(("lm_head.", "classifier.",
                                                                         "pre_classifier.", "vocab_")):
            unknown.append(name)
    problems = [f"{table.to_hf(k)} not in the checkpoint" for k in expected if k not in converted]
    problems += [f"{table.to_hf(k)} has shape {tuple(t.shape)}, the config says {tuple(expected[k].shape)}"
                 for k, t in converted.items() if t.shape != expected[k].shape]
    problems += [f"{k} is not a weight of this architecture" for k in unknown]
    if problems:
        raise CheckpointError(f"{directory}: the weights do not fit config.json: {'; '.join(problems[:6])}")
    model.load_state_dict(converted)
    return model


def save_encoder(model: torch.nn.Module, directory: PathLike, table: KeyTable,
                 config: dict[str, Any]) -> None:
    """Write config.json and model.safetensors under transformers' names, each atomically."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {table.to_hf(k): v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    write_checkpoint(directory, tensors, config)
