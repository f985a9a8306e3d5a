"""Hugging Face checkpoint interop: the one place where bertkit's parameter names meet transformers'.

bertkit names read like the paper (`layers.3.attn.q`, `layers.3.ffn.up`); transformers names
follow its module tree (`encoder.layer.3.attention.self.query`, `encoder.layer.3.intermediate.dense`).
`RENAMES` maps one to the other, both ways. Loading accepts every common BERT layout: `bert.`
prefixed or bare, `cls.predictions.*`, `cls.seq_relationship.*`, `classifier.*`, TF-era
`gamma`/`beta` LayerNorm names, model.safetensors (also sharded) or pytorch_model.bin (read
with `torch.load(weights_only=True)`, never unpickled).

`RENAMES` is BERT's `Layout` (`BERT`, family.py); RoBERTa, DistilBERT and ALBERT keep theirs in
their own modules. `load_pretrained` and `save_pretrained` work through the class's layout, so every
family's heads load, report and save the same way.
"""

from __future__ import annotations

import json
import logging
import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from bertkit.errors import CheckpointError
from bertkit.io import PathLike, atomic_write_bytes, atomic_write_json
from bertkit.model.config import BertConfig
from bertkit.model.family import Layout, compile_table, model_type_of, rename

log = logging.getLogger(__name__)

# (bertkit, transformers) name patterns; `{i}` is a layer number. Order matters only for readability.
RENAMES: list[tuple[str, str]] = [
    ("embeddings.word.", "embeddings.word_embeddings."),
    ("embeddings.position.", "embeddings.position_embeddings."),
    ("embeddings.segment.", "embeddings.token_type_embeddings."),
    ("embeddings.norm.", "embeddings.LayerNorm."),
    ("layers.{i}.attn.q.", "encoder.layer.{i}.attention.self.query."),
    ("layers.{i}.attn.k.", "encoder.layer.{i}.attention.self.key."),
    ("layers.{i}.attn.v.", "encoder.layer.{i}.attention.self.value."),
    ("layers.{i}.attn.out.", "encoder.layer.{i}.attention.output.dense."),
    ("layers.{i}.attn_norm.", "encoder.layer.{i}.attention.output.LayerNorm."),
    ("layers.{i}.ffn.up.", "encoder.layer.{i}.intermediate.dense."),
    ("layers.{i}.ffn.down.", "encoder.layer.{i}.output.dense."),
    ("layers.{i}.ffn_norm.", "encoder.layer.{i}.output.LayerNorm."),
    ("final_norm.", "encoder.final_norm."),           # pre-LN only; transformers has no such layer
    ("pooler.", "pooler.dense."),
    ("mlm.transform.", "cls.predictions.transform.dense."),
    ("mlm.norm.", "cls.predictions.transform.LayerNorm."),
    ("mlm.bias", "cls.predictions.bias"),
    ("nsp.", "cls.seq_relationship."),
    ("classifier.", "classifier."),
    ("qa_outputs.", "qa_outputs."),
]
HEAD_PREFIXES = ("mlm.", "nsp.", "classifier.", "qa_outputs.")      # bertkit names outside `.bert`
HF_HEAD_PREFIXES = ("cls.", "classifier.", "qa_outputs.")
# the head classes every family builds (heads.py), by the suffix of their transformers name
HEADS = ("Model", "ForMaskedLM", "ForPreTraining", "ForSequenceClassification", "ForTokenClassification",
         "ForQuestionAnswering", "ForMultipleChoice")
# config.json `architectures` names of BERT that bertkit builds
ARCHITECTURES = tuple("Bert" + h for h in HEADS)

_ENCODER_KEYS = ("embeddings.", "layers.", "final_norm.", "pooler.")
BERT = Layout(
    model_type="bert", name="Bert", prefix="bert.",
    encoder=tuple((a, b) for a, b in RENAMES if a.startswith(_ENCODER_KEYS)),
    heads=tuple((a, b) for a, b in RENAMES if not a.startswith(_ENCODER_KEYS)),
    tied=("cls.predictions.decoder.weight", "cls.predictions.decoder.bias"))

_TO_HF, _FROM_HF = compile_table(RENAMES)


def to_hf_name(name: str) -> str:
    """bertkit state-dict name -> transformers name (`bert.` prefix kept as is)."""
    prefix, rest = ("bert.", name[5:]) if name.startswith("bert.") else ("", name)
    hf = rename(rest, _TO_HF)
    if hf is None:
        raise KeyError(f"no transformers name for {name!r}")
    return prefix + hf


def from_hf_name(name: str) -> str | None:
    """transformers name -> bertkit name, or None if it is not a BERT weight we know."""
    prefix, rest = ("bert.", name[5:]) if name.startswith("bert.") else ("", name)
    rest = re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", rest)
    rest = re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", rest)
    ours = rename(rest, _FROM_HF)
    return None if ours is None else prefix + ours


def read_state_dict(directory: PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint directory: model.safetensors (or its shards) or pytorch_model.bin."""
    directory = Path(directory)
    single = directory / "model.safetensors"
    index = directory / "model.safetensors.index.json"
    binary = directory / "pytorch_model.bin"
    if single.is_file():
        return _read_safetensors(single)
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text("utf-8"))["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise CheckpointError(f"{index}: not a safetensors index ({type(e).__name__}: {e})") from None
        state: dict[str, torch.Tensor] = {}
        for shard in shards:
            state.update(_read_safetensors(directory / shard))
        return state
    if binary.is_file():
        return _read_torch_bin(binary)
    raise CheckpointError(f"{directory}: no model.safetensors or pytorch_model.bin found")


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file (truncated or corrupt?): {e}"
                              ) from None


def _read_torch_bin(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{path}: torch.load(weights_only=True) refused this pickle ({str(e).splitlines()[0]}). "
            f"bertkit never unpickles arbitrary objects; if you trust the file, convert it to "
            f"model.safetensors with transformers (save_pretrained(safe_serialization=True))."
        ) from None
    except Exception as e:  # noqa: BLE001 - a corrupt zip, truncated file...
        raise CheckpointError(f"{path}: cannot read the checkpoint: {e}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a dict of tensors, got {type(state).__name__}")
    return state


def convert_hf_state_dict(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor],
                          layout: Layout = BERT, head: str | None = None,
                          ) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Rename a transformers state dict to bertkit names for a model with `expected` keys.

    Adds or strips the encoder's prefix as the target needs (`head` "Model": a bare encoder; by
    default read from `expected`). Returns (converted, unused source keys).
    """
    if head is None:
        head = "ForPreTraining" if any(k.startswith("bert.") for k in expected) else "Model"
    out: dict[str, torch.Tensor] = {}
    unused: list[str] = []
    for name, tensor in state.items():
        ours = layout.from_hf(name, head)
        if ours is None or ours not in expected:
            unused.append(name)
        else:
            out[ours] = tensor
    return out, unused


def load_pretrained(cls: type, directory: PathLike, ignore_mismatched_sizes: bool = False, **overrides: Any):
    """Build `cls` from a bertkit or Hugging Face directory of its family (see module docstring).

    A BERT class given another family's directory (config.json `model_type` roberta, distilbert,
    albert) builds that family's class of the same head, as transformers' Auto classes do:
    `BertForSequenceClassification.from_pretrained(roberta_dir)` is a RobertaForSequenceClassification.

    Weights whose shape differs from the config's, and encoder weights the checkpoint lacks, mean
    that config.json does not describe these weights: a CheckpointError naming them, unless
    `ignore_mismatched_sizes` (then they are initialised anew, with a warning). Heads and the
    pooler may be missing (a base checkpoint under a new head): they are initialised with a warning.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: not a directory")
    cls = _family_class(cls, directory)
    layout, head = cls.layout, cls.head
    config = layout.read_config(directory)
    state = read_state_dict(directory)
    config = config.replace(**_num_labels_from_weights(cls, directory, state, overrides))
    config = config.replace(**overrides)       # a misspelt override is a ConfigError
    model = cls(config)
    expected = model.state_dict()
    converted, unused = convert_hf_state_dict(state, expected, layout, head)
    if not converted:
        sample = ", ".join(list(state)[:3])
        raise CheckpointError(f"{directory}: none of its {len(state)} tensors is a "
                              f"{layout.model_type.upper()} weight (e.g. {sample}); is it a checkpoint of "
                              f"another architecture?")
    if config.position_embedding_type == "sinusoidal":
        unused = [k for k in unused if "position_embeddings" not in k]   # the fixed table, exported for HF
    mismatched = [f"{layout.to_hf(k, head)} has shape {tuple(t.shape)} in the checkpoint but "
                  f"{tuple(expected[k].shape)} in the model"
                  for k, t in converted.items() if t.shape != expected[k].shape]
    present = set(converted)
    converted = {k: t for k, t in converted.items() if t.shape == expected[k].shape}
    missing = [k for k in expected if k not in present]
    lacking = [k for k in missing if not _may_be_missing(k)]
    names = [layout.to_hf(k, head) for k in missing]
    if (mismatched or lacking) and not ignore_mismatched_sizes:
        raise CheckpointError(_mismatch_message(directory, config, mismatched,
                                                [layout.to_hf(k, head) for k in lacking]))
    model.load_state_dict({**expected, **converted})
    _check_tied_decoder(state, model)
    unexpected = [k for k in unused if not _is_ignorable(k, layout)]
    _report(cls.__name__, directory, names, mismatched, unexpected, layout)
    model.load_report = {"missing": names, "unexpected": unexpected, "mismatched": mismatched}
    return model


def _family_class(cls: type, directory: Path) -> type:
    """`cls`, or for a BERT class and a directory of another family, that family's class of the head."""
    model_type = model_type_of(directory)
    if cls.layout is not BERT or model_type == "bert":
        return cls
    from bertkit.model.auto import family_class  # here: auto imports the families, which import this

    return family_class(model_type, cls.head, directory)


def _is_ignorable(name: str, layout: Layout) -> bool:
    """Keys transformers writes that bertkit derives instead: buffers and the tied decoder."""
    return name.endswith(layout.ignorable) or name in layout.tied


def _num_labels_from_weights(cls: type, directory: Path, state: dict[str, torch.Tensor],
                             overrides: dict[str, Any]) -> dict[str, Any]:
    """{"num_labels": n} from the classifier's shape when config.json states neither `num_labels`
    nor `id2label` (an older or hand-written config), for a class whose classifier has one row
    per label (`cls.labels_from = "classifier.weight"`, a bertkit name); else {}.

    The label count is read from `num_labels`, then `id2label` (BertConfig.from_dict), then here.
    """
    ours = getattr(cls, "labels_from", None)
    key = None if ours is None else cls.layout.to_hf(ours, cls.head)
    if key is None or "num_labels" in overrides or key not in state or state[key].dim() != 2:
        return {}
    stated = json.loads((directory / "config.json").read_text("utf-8"))
    if stated.get("num_labels") is not None or stated.get("id2label"):
        return {}
    return {"num_labels": int(state[key].shape[0])}


def _may_be_missing(name: str) -> bool:
    """Weights a checkpoint may lack and still fit: the heads and the pooler (new for fine-tuning)."""
    return name.startswith((*HEAD_PREFIXES, "pooler.", "bert.pooler."))


def _mismatch_message(directory: Path, config: BertConfig, mismatched: list[str], lacking: list[str]) -> str:
    problems = mismatched + [f"{k} not in the checkpoint" for k in lacking]
    shown = "; ".join(problems[:6]) + (f"; and {len(problems) - 6} more" if len(problems) > 6 else "")
    return (f"{directory}: config.json does not match the weights ({config.num_hidden_layers} layers, "
            f"hidden {config.hidden_size}, vocab {config.vocab_size}, {config.num_labels} labels): {shown}. "
            f"Fix config.json, or pass ignore_mismatched_sizes=True to initialise these weights anew")


def _report(name: str, directory: Path, missing: list[str], mismatched: list[str],
            unexpected: list[str], layout: Layout) -> None:
    """Warn about weights initialised anew or not used; unused head weights are only logged."""
    heads = [k for k in unexpected if layout.is_head_weight(k)]
    others = [k for k in unexpected if k not in heads]
    if missing:
        warnings.warn(f"{name}: weights newly initialised (not in {directory}), train before use: "
                      f"{', '.join(missing)}", stacklevel=4)
    if mismatched:
        warnings.warn(f"{name}: re-initialised because of a shape mismatch: {'; '.join(mismatched)}",
                      stacklevel=4)
    if others:
        warnings.warn(f"{name}: checkpoint weights not used: {', '.join(others)}", stacklevel=4)
    if heads:
        log.info("%s: checkpoint head weights not used: %s", name, ", ".join(heads))


def _check_tied_decoder(state: dict[str, torch.Tensor], model: torch.nn.Module) -> None:
    tied = model.layout.tied
    decoder = state.get(tied[0]) if tied else None
    if decoder is None or not hasattr(model, "mlm"):
        return
    word = model.bert.embeddings.word.weight
    if decoder.shape == word.shape and not torch.equal(decoder.to(word.dtype), word.detach()):
        warnings.warn("the checkpoint's MLM decoder is not tied to its word embeddings; bertkit ties them "
                      "(the word embeddings are used)", stacklevel=4)


def export_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's weights under transformers' names, ready for safetensors (no shared storage)."""
    layout, head = model.layout, model.head
    out = {layout.to_hf(k, head): v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    if hasattr(model, "mlm") and layout.tied:
        out[layout.tied[0]] = model.bert.embeddings.word.weight.detach().clone().contiguous()
        if len(layout.tied) > 1:
            out[layout.tied[1]] = model.mlm.bias.detach().clone()
    embeddings = model.embeddings if head == "Model" else model.bert.embeddings
    if embeddings.position is None:   # sinusoidal: export the fixed table so transformers runs the same model
        name = layout.to_hf(("" if head == "Model" else "bert.") + "embeddings.position.weight", head)
        out[name] = embeddings.sinusoidal.clone()
    return out


def save_pretrained(model: torch.nn.Module, directory: PathLike) -> None:
    """Write config.json and model.safetensors, each atomically; other files in `directory` are kept."""
    directory = Path(directory)
    if model.config.norm_position == "pre":
        warnings.warn("transformers has no pre-LN BERT: this checkpoint loads correctly only in bertkit",
                      stacklevel=3)
    directory.mkdir(parents=True, exist_ok=True)
    config = model.layout.write_config(model.config, type(model).__name__)
    config["tie_word_embeddings"] = True
    write_checkpoint(directory, export_state_dict(model), config)


def write_checkpoint(directory: Path, tensors: dict[str, torch.Tensor], config: dict[str, Any]) -> None:
    """model.safetensors (weights under transformers' names), then config.json, each atomically."""
    tensors = {k: v.cpu() for k, v in tensors.items()}
    atomic_write_bytes(directory / "model.safetensors", save(tensors, metadata={"format": "pt"}))
    atomic_write_json(directory / "config.json", config)


def head_class(directory: PathLike) -> type:
    """The bertkit class for a checkpoint directory, from config.json's `model_type` and `architectures`.

    No `architectures` entry (a bare encoder) gives the family's encoder (BertModel, RobertaModel...).
    An entry bertkit cannot build (another model's class, or a transformers head bertkit lacks such
    as BertLMHeadModel) is a CheckpointError naming it, rather than a silent fallback to another head.
    """
    path = Path(directory) / "config.json"
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        archs = d.get("architectures") or []
        model_type = d.get("model_type", "bert")
    except (OSError, json.JSONDecodeError, AttributeError) as e:
        raise CheckpointError(f"{path}: cannot read its architectures entry ({e})") from None
    from bertkit.model.auto import family_class, family_layout

    layout = family_layout(model_type, directory)
    name = archs[0] if archs else layout.name + "Model"
    head = name[len(layout.name):] if name.startswith(layout.name) else None
    if head not in HEADS:
        built = ", ".join(layout.name + h for h in HEADS)
        raise CheckpointError(
            f"{path}: architectures names {name!r}, which bertkit cannot build; it builds {built} "
            f"({layout.name}Model.from_pretrained loads any {layout.name} checkpoint's encoder)")
    return family_class(model_type, head, directory)
