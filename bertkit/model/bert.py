"""BERT (Devlin et al. 2019): the encoder, what every model class shares, and the output dataclasses.

Every class keeps its `config`, reads and writes Hugging Face checkpoint directories
(`from_pretrained` / `save_pretrained`, see hf.py, through the class's `layout`), and returns a
small output dataclass. The heads (MLM, NSP, sequence and token classification, QA, multiple
choice) live in heads.py, on any encoder of the family, and are importable from here as before.
Head models hold the encoder as `.bert`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from bertkit.errors import DataError
from bertkit.io import PathLike
from bertkit.model import inference
from bertkit.model.attention import Packing, additive_mask
from bertkit.model.config import BertConfig
from bertkit.model.hf import BERT, load_pretrained, save_pretrained
from bertkit.model.layers import Embeddings, EncoderLayer, init_weights

Tensor = torch.Tensor
LAYOUT = BERT          # BERT's checkpoint layout (hf.py), as each family module names its own


class _Output:
    """Attribute access plus `out["loss"]`, like transformers' ModelOutput."""

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def keys(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name) is not None]


@dataclass
class BertOutput(_Output):
    last_hidden_state: Tensor                      # (batch, seq, hidden); zeros at padding when unpadded
    pooler_output: Tensor | None = None            # (batch, hidden): tanh(W h_[CLS] + b)
    hidden_states: tuple[Tensor, ...] | None = None  # embeddings output, then each layer's
    attentions: tuple[Tensor, ...] | None = None     # per layer (batch, heads, seq, seq)


@dataclass
class MaskedLMOutput(_Output):
    loss: Tensor | None = None
    logits: Tensor | None = None                   # (n_masked, vocab) with labels, else (batch, seq, vocab)
    masked_positions: Tensor | None = None         # (batch, seq) bool: where the logits' rows come from
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None


@dataclass
class PreTrainingOutput(_Output):
    loss: Tensor | None = None                     # mlm_loss + nsp_loss
    mlm_loss: Tensor | None = None
    nsp_loss: Tensor | None = None
    logits: Tensor | None = None                   # MLM logits, sparse as in MaskedLMOutput
    nsp_logits: Tensor | None = None               # (batch, 2): 0 = B follows A, 1 = B is random
    masked_positions: Tensor | None = None
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None


@dataclass
class ClassifierOutput(_Output):
    loss: Tensor | None = None
    logits: Tensor | None = None                   # (batch, num_labels) or (batch, seq, num_labels)
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None


@dataclass
class QuestionAnsweringOutput(_Output):
    loss: Tensor | None = None                     # mean of the start and end cross-entropies
    start_logits: Tensor | None = None             # (batch, seq)
    end_logits: Tensor | None = None               # (batch, seq)
    hidden_states: tuple[Tensor, ...] | None = None
    attentions: tuple[Tensor, ...] | None = None


class BertPreTrainedModel(nn.Module):
    """What every bertkit BERT-family class shares: config, initialisation, checkpoint I/O.

    `layout` is the family's checkpoint layout (family.py), `head` the class's kind: "Model" for
    an encoder, else the suffix of the transformers class ("ForSequenceClassification").
    """

    layout = BERT
    head = "Model"

    def __init__(self, config: BertConfig):
        super().__init__()
        if not isinstance(config, BertConfig):
            raise TypeError(f"expected a BertConfig, got {type(config).__name__}")
        self.config = config

    def init_weights(self) -> None:
        """BERT's initialisation (normal(0, initializer_range)) for every submodule."""
        std = self.config.initializer_range
        self.apply(lambda m: init_weights(m, std))

    @classmethod
    def from_pretrained(cls, directory: PathLike, ignore_mismatched_sizes: bool = False, **overrides: Any):
        """Load a bertkit or Hugging Face directory; keyword arguments override config fields.

        A BERT class given a RoBERTa, DistilBERT or ALBERT directory builds that family's class
        of the same head (as transformers' Auto classes do).

        A checkpoint that does not fit the config (a weight of another shape, encoder weights
        missing) is a CheckpointError naming the weights; `ignore_mismatched_sizes=True` initialises
        those weights anew instead, with a warning.
        """
        return load_pretrained(cls, directory, ignore_mismatched_sizes=ignore_mismatched_sizes, **overrides)

    def save_pretrained(self, directory: PathLike) -> None:
        """Write config.json + model.safetensors that transformers' Auto* classes load."""
        save_pretrained(self, directory)

    def train(self, mode: bool = True):
        """Switch train/eval mode; also drops the packed inference copies of the weights."""
        inference.forget(self)
        return super().train(mode)

    def set_inference_kernels(self, kernels: str = "auto"):
        """Choose the CPU inference kernels: "auto" (the default), "onednn" or "plain"; returns self.

        "auto" runs oneDNN's packed linears where the CPU has AVX-512, else the plain modules
        (`BERTKIT_ONEDNN=0|1` overrides it); see bertkit/model/inference.py for when they apply.
        """
        inference.resolve(kernels)                      # a bad name fails here, not at the next forward
        for module in self.modules():
            if isinstance(module, BertModel):
                module.kernels = kernels
        return self

    @property
    def inference_kernels(self) -> str:
        """What CPU inference runs on this machine with this model's setting: "onednn" or "plain"."""
        encoder = self if isinstance(self, BertModel) else self.bert
        return inference.resolve(encoder.kernels)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.bert.embeddings.word

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def _check_shapes(cfg: BertConfig, input_ids: Tensor | None, attention_mask: Tensor | None,
                  token_type_ids: Tensor | None, position_ids: Tensor | None,
                  inputs_embeds: Tensor | None, width: int) -> tuple[int, int]:
    """The (batch, seq) shape of the inputs, or a DataError naming the input that does not fit;
    `width` is the size of a token embedding (the hidden size, ALBERT's embedding_size)."""
    if (input_ids is None) == (inputs_embeds is None):
        raise DataError("give exactly one of input_ids and inputs_embeds")
    if input_ids is not None:
        if input_ids.dim() != 2 or input_ids.is_floating_point():
            raise DataError(f"input_ids must be integer ids of shape (batch, seq), got "
                            f"{input_ids.dtype} of shape {tuple(input_ids.shape)}")
        shape = tuple(input_ids.shape)
    else:
        if inputs_embeds.dim() != 3 or inputs_embeds.shape[-1] != width:
            raise DataError(f"inputs_embeds must have shape (batch, seq, {width}), got "
                            f"{tuple(inputs_embeds.shape)}")
        shape = tuple(inputs_embeds.shape[:2])
    if position_ids is None and shape[1] > cfg.max_position_embeddings:
        raise DataError(
            f"sequence length {shape[1]} exceeds max_position_embeddings {cfg.max_position_embeddings}; "
            f"truncate (tokenizer: truncation=True, max_length={cfg.max_position_embeddings}) or split "
            f"long texts into sliding windows (stride=...)")
    for name, t in (("attention_mask", attention_mask), ("token_type_ids", token_type_ids),
                    ("position_ids", position_ids)):
        if t is not None and tuple(t.shape) != shape:
            raise DataError(f"{name} has shape {tuple(t.shape)} but the input ids have shape {shape}")
    return shape


def _read_back(ids: dict[str, Tensor | None], attention_mask: Tensor | None,
               ) -> tuple[dict[str, tuple[int, int]], list[int] | None]:
    """(min, max) of each non-empty id tensor, and the row sums of `attention_mask`, computed on
    the device and copied to the host together: one sync, however many inputs there are."""
    named = [(name, t) for name, t in ids.items() if t is not None and t.numel()]
    parts = [torch.stack((t.min(), t.max())).long() for _, t in named]
    if attention_mask is not None:
        parts.append(attention_mask.ne(0).sum(1))
    values = torch.cat(parts).tolist() if parts else []
    ranges = {name: (values[2 * i], values[2 * i + 1]) for i, (name, _) in enumerate(named)}
    return ranges, (values[2 * len(named):] if attention_mask is not None else None)


def _check_ranges(cfg: BertConfig, ranges: dict[str, tuple[int, int]]) -> None:
    """A DataError for an id outside its table (vocabulary, positions, segments)."""
    if "input_ids" in ranges:
        lo, hi = ranges["input_ids"]
        if lo < 0 or hi >= cfg.vocab_size:
            bad = hi if hi >= cfg.vocab_size else lo
            raise DataError(
                f"token id {bad} is out of range for this model's vocab_size {cfg.vocab_size} "
                f"(max id in the batch: {hi}); was the text encoded with another tokenizer?")
    if "position_ids" in ranges:
        lo, hi = ranges["position_ids"]
        if hi >= cfg.max_position_embeddings or lo < 0:
            bad = hi if hi >= cfg.max_position_embeddings else lo
            raise DataError(f"position id {bad} is out of range for max_position_embeddings "
                            f"{cfg.max_position_embeddings}; truncate or use sliding windows")
    if "token_type_ids" in ranges:
        lo, hi = ranges["token_type_ids"]
        if hi >= max(cfg.type_vocab_size, 1) or lo < 0:
            bad = hi if hi >= max(cfg.type_vocab_size, 1) else lo
            raise DataError(f"token_type_id {bad} is out of range for type_vocab_size {cfg.type_vocab_size}")


class BertModel(BertPreTrainedModel):
    """The encoder: embeddings, N encoder layers, and the [CLS] pooler.

    A padded batch (attention_mask with zeros) runs unpadded: only real tokens go through the
    linear layers and the FFN (see attention.Packing). Set `unpad = False` to compute on padding
    as transformers does. Attention weights or hidden states, when asked for, come from the padded
    path. In inference on the CPU the layers may run on packed kernels (`set_inference_kernels`).
    """

    unpad: bool = True
    n_buckets: int = 4          # length buckets for unpadded attention
    kernels: str = "auto"       # CPU inference kernels, see set_inference_kernels

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True):
        super().__init__(config)
        self.embeddings = Embeddings(config)
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.num_hidden_layers))
        pre = config.norm_position == "pre"
        self.final_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps) if pre else None
        self.pooler = nn.Linear(config.hidden_size, config.hidden_size) if add_pooling_layer else None
        self.init_weights()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word

    @property
    def max_length(self) -> int:
        """The longest sequence the position table holds."""
        return self.config.max_position_embeddings

    def embed(self, input_ids: Tensor | None, token_type_ids: Tensor | None, position_ids: Tensor | None,
              inputs_embeds: Tensor | None) -> Tensor:
        """The input of the first layer, (..., hidden) (ALBERT projects its smaller embeddings here)."""
        return self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds)

    def check_inputs(self, input_ids: Tensor | None, attention_mask: Tensor | None,
                     token_type_ids: Tensor | None, position_ids: Tensor | None,
                     inputs_embeds: Tensor | None) -> tuple[tuple[int, int], list[int] | None]:
        """Checks at the model's door, so bad ids fail here and not deep inside torch.

        Returns the (batch, seq) shape and each sequence's length in `attention_mask` (None
        without a mask). Shapes are checked on the host; the id ranges and the lengths come back
        in one device-to-host copy, the forward pass's one sync point.
        """
        shape = _check_shapes(self.config, input_ids, attention_mask, token_type_ids, position_ids,
                              inputs_embeds, self.embeddings.word.embedding_dim)
        ids = {"input_ids": input_ids, "token_type_ids": token_type_ids, "position_ids": position_ids}
        ranges, lengths = _read_back(ids, attention_mask)
        _check_ranges(self.config, ranges)
        return shape, lengths

    def forward(self, input_ids: Tensor | None = None, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None, position_ids: Tensor | None = None,
                inputs_embeds: Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False) -> BertOutput:
        if self.embeddings.segment is None:
            token_type_ids = None                       # no token types (RoBERTa-style DistilBERT)
        (batch, seq), lengths = self.check_inputs(input_ids, attention_mask, token_type_ids, position_ids,
                                                  inputs_embeds)
        if lengths is not None and min(lengths, default=seq) == seq:
            attention_mask = None                       # nothing to mask: let SDPA skip the mask
        if position_ids is None:
            device = (input_ids if input_ids is not None else inputs_embeds).device
            position_ids = torch.arange(seq, device=device).expand(batch, seq)
        packing = None
        if attention_mask is not None and self.unpad and not output_attentions and not output_hidden_states:
            dtype = self.embeddings.word.weight.dtype
            packing = Packing.from_mask(attention_mask, dtype, self.n_buckets, lengths)
            input_ids, token_type_ids, position_ids, inputs_embeds = (
                None if t is None else packing.pack(t)
                for t in (input_ids, token_type_ids, position_ids, inputs_embeds))   # (total, ...)
        x = self.embed(input_ids, token_type_ids, position_ids, inputs_embeds)
        mask = None
        if attention_mask is not None and packing is None:
            mask = additive_mask(attention_mask, x.dtype)                  # (batch, 1, 1, seq)
        packed_kernels = (not output_attentions and inference.resolve(self.kernels) == "onednn"
                          and inference.applies(x, self))
        hidden_states, attentions = [x], []                            # kept only when asked for
        for layer in self.layers:
            if packed_kernels:
                x = inference.encoder_layer(layer, x, mask, packing)
            else:
                x, probs = layer(x, mask, packing, output_attentions)
                if output_attentions:
                    attentions.append(probs)
            if output_hidden_states:
                hidden_states.append(x)
        if self.final_norm is not None:
            x = self.final_norm(x)
            if output_hidden_states:
                hidden_states[-1] = x
        if packing is not None:
            x = packing.unpack(x)                                       # (batch, seq, hidden)
        return BertOutput(x, self._pool(x), tuple(hidden_states) if output_hidden_states else None,
                          tuple(attentions) if output_attentions else None)

    def _pool(self, hidden: Tensor) -> Tensor | None:
        return None if self.pooler is None else torch.tanh(self.pooler(hidden[:, 0]))




_HEADS = ("BertForMaskedLM", "BertForMultipleChoice", "BertForPreTraining", "BertForQuestionAnswering",
          "BertForSequenceClassification", "BertForTokenClassification", "MaskedLMHead",
          "classification_loss")


def __getattr__(name: str) -> Any:
    """The heads, moved to heads.py, keep their old address (`from bertkit.model.bert import ...`)."""
    if name in _HEADS:
        from bertkit.model import heads

        return getattr(heads, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
