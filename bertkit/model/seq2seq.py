"""The encoder-decoder Transformer of Vaswani et al. (2017), "Attention Is All You Need".

    source -> embed·√d + sinusoidal positions -> [post-LN encoder layer] x N -> memory
    target -> embed·√d + sinusoidal positions -> [masked self-attn, cross-attn on memory, FFN] x N
           -> linear (tied to the embeddings when shared) -> next-token logits

The encoder is bertkit's own `EncoderLayer` (layers.py) and every attention is the one of
attention.py: causal in the decoder's self-attention, cross-attention with `memory`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bertkit.errors import CheckpointError, ConfigError
from bertkit.io import PathLike, decode_utf8
from bertkit.model import hf
from bertkit.model.attention import KVCache, MultiHeadAttention, additive_mask
from bertkit.model.config import BertConfig
from bertkit.model.generation import DecodingState, generate
from bertkit.model.layers import EncoderLayer, FeedForward, sinusoidal_positions

MODEL_TYPE = "bertkit-transformer"     # config.json's model_type (load_model's key)
# name -> (layers per stack, d_model, heads, d_ff); base and big: Vaswani et al. 2017, Table 3.
TRANSFORMER_PRESETS: dict[str, tuple[int, int, int, int]] = {
    "tiny": (2, 64, 4, 256),
    "mini": (2, 128, 4, 512),
    "small": (3, 256, 4, 1024),
    "base": (6, 512, 8, 2048),
    "big": (6, 1024, 16, 4096),
}


@dataclass
class TransformerConfig:
    vocab_size: int = 37000            # one vocabulary for source and target (shared BPE, §5.1)
    d_model: int = 512
    n_heads: int = 8
    d_ff: int = 2048
    n_encoder_layers: int = 6
    n_decoder_layers: int = 6
    dropout: float = 0.1               # P_drop, §5.4
    label_smoothing: float = 0.1       # ε_ls, §5.4
    share_embeddings: bool = True      # source, target and output weights are one matrix (§3.4)
    max_positions: int = 512
    layer_norm_eps: float = 1e-6
    warmup_steps: int = 4000           # of the learning-rate schedule, §5.3
    pad_token_id: int = 0
    bos_token_id: int = 1              # the decoder's start token
    eos_token_id: int | None = 2

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "n_heads", "d_ff", "n_encoder_layers", "n_decoder_layers",
                     "max_positions"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"TransformerConfig.{name} must be a positive integer, got {value!r}")
        if self.d_model % self.n_heads:
            raise ConfigError(f"TransformerConfig.d_model ({self.d_model}) must be divisible by "
                              f"n_heads ({self.n_heads})")

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> TransformerConfig:
        if name not in TRANSFORMER_PRESETS:
            raise ConfigError(f"unknown Transformer preset {name!r}; "
                              f"choose one of {', '.join(TRANSFORMER_PRESETS)}")
        layers, d_model, heads, d_ff = TRANSFORMER_PRESETS[name]
        return cls(**{"n_encoder_layers": layers, "n_decoder_layers": layers, "d_model": d_model,
                      "n_heads": heads, "d_ff": d_ff, **overrides})

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "model_type": MODEL_TYPE}

    @classmethod
    def from_pretrained(cls, directory: PathLike) -> TransformerConfig:
        """Read `directory/config.json` as `Seq2SeqTransformer.save_pretrained` wrote it."""
        path = Path(directory) / "config.json"
        try:
            d = json.loads(decode_utf8(path.read_bytes(), path))
            names = {f.name for f in dataclasses.fields(cls)}
            return cls(**{k: v for k, v in d.items() if k in names})
        except (OSError, ValueError, TypeError, AttributeError) as e:
            raise ConfigError(f"{path}: not a Seq2SeqTransformer config ({e})") from None

    def layer_config(self) -> BertConfig:
        """The sizes in the names layers.py's EncoderLayer and FeedForward read (post-LN, ReLU)."""
        return BertConfig(vocab_size=self.vocab_size, hidden_size=self.d_model,
                          num_attention_heads=self.n_heads, intermediate_size=self.d_ff, hidden_act="relu",
                          hidden_dropout_prob=self.dropout, attention_probs_dropout_prob=self.dropout,
                          layer_norm_eps=self.layer_norm_eps, pad_token_id=self.pad_token_id,
                          norm_position="post")


def transformer_lr(step: int, d_model: int, warmup_steps: int) -> float:
    """§5.3: lr = d_model^-0.5 · min(step^-0.5, step · warmup_steps^-1.5), rising linearly for
    `warmup_steps` steps then decaying as 1/√step. Steps count from 1."""
    step = max(step, 1)
    return d_model ** -0.5 * min(step ** -0.5, step * warmup_steps ** -1.5)


@dataclass
class Seq2SeqOutput:
    logits: Tensor                  # (batch, tgt_seq, vocab)
    loss: Tensor | None = None      # label-smoothed cross-entropy over the non-padding targets


class DecoderLayer(nn.Module):
    """Post-LN: x = LN(x + self_attn(x, causal)); x = LN(x + cross_attn(x, memory)); x = LN(x + ffn(x))."""

    def __init__(self, config: BertConfig):
        super().__init__()
        d, heads, p = config.hidden_size, config.num_attention_heads, config.attention_probs_dropout_prob
        self.attn = MultiHeadAttention(d, heads, p)
        self.attn_norm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.cross = MultiHeadAttention(d, heads, p)
        self.cross_norm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.ffn = FeedForward(config)
        self.ffn_norm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, x: Tensor, memory: Tensor, memory_mask: Tensor | None,
                cache: tuple[KVCache, KVCache] | None = None) -> Tensor:
        self_cache, cross_cache = cache if cache is not None else (None, None)
        a, _ = self.attn(x, causal=True, cache=self_cache)
        x = self.attn_norm(x + self.dropout(a))
        c, _ = self.cross(x, memory_mask, memory=memory, cache=cross_cache)
        x = self.cross_norm(x + self.dropout(c))
        return self.ffn_norm(x + self.dropout(self.ffn(x)))


class Seq2SeqTransformer(nn.Module):
    """Encoder-decoder: `forward(input_ids, labels=...)` for training, `generate` to decode."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        lc = config.layer_config()
        self.embed = nn.Embedding(config.vocab_size, config.d_model, padding_idx=config.pad_token_id)
        self.target_embed = None if config.share_embeddings else nn.Embedding(
            config.vocab_size, config.d_model, padding_idx=config.pad_token_id)
        self.register_buffer("positions", sinusoidal_positions(config.max_positions, config.d_model),
                             persistent=False)
        self.dropout = nn.Dropout(config.dropout)
        self.encoder = nn.ModuleList(EncoderLayer(lc) for _ in range(config.n_encoder_layers))
        self.decoder = nn.ModuleList(DecoderLayer(lc) for _ in range(config.n_decoder_layers))
        self.out = (None if config.share_embeddings
                    else nn.Linear(config.d_model, config.vocab_size, bias=False))
        for name, p in self.named_parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def context_window(self) -> int:
        return self.config.max_positions

    def _embed(self, ids: Tensor, table: nn.Embedding, start: int = 0) -> Tensor:
        """§3.4-3.5: embeddings scaled by √d_model plus the sinusoidal positions, then dropout."""
        x = table(ids) * math.sqrt(self.config.d_model)
        return self.dropout(x + self.positions[start:start + ids.shape[1]])

    def encode(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """Source (batch, src_seq) -> memory (batch, src_seq, d_model)."""
        mask = None if attention_mask is None else additive_mask(attention_mask, torch.float32)
        x = self._embed(input_ids, self.embed)
        for layer in self.encoder:
            x, _ = layer(x, mask)
        return x

    def decode(self, decoder_input_ids: Tensor, memory: Tensor, attention_mask: Tensor | None = None,
               caches: list[KVCache] | None = None, start: int = 0) -> Tensor:
        """Target prefix (batch, tgt_seq) attending to `memory` -> logits (batch, tgt_seq, vocab)."""
        table = self.target_embed or self.embed
        mask = None if attention_mask is None else additive_mask(attention_mask, memory.dtype)
        x = self._embed(decoder_input_ids, table, start)
        for i, layer in enumerate(self.decoder):
            x = layer(x, memory, mask, None if caches is None else (caches[2 * i], caches[2 * i + 1]))
        return x @ table.weight.T if self.out is None else self.out(x)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                decoder_input_ids: Tensor | None = None, labels: Tensor | None = None) -> Seq2SeqOutput:
        """Without `decoder_input_ids` the decoder reads `labels` shifted right behind the start token
        (teacher forcing); labels equal to -100 or the padding id are not scored."""
        if decoder_input_ids is None:
            if labels is None:
                raise ValueError("Seq2SeqTransformer needs decoder_input_ids or labels")
            decoder_input_ids = shift_right(labels, self.config.bos_token_id, self.config.pad_token_id)
        logits = self.decode(decoder_input_ids, self.encode(input_ids, attention_mask), attention_mask)
        loss = None
        if labels is not None:
            labels = labels.masked_fill(labels == self.config.pad_token_id, -100)
            loss = F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=-100,
                                   label_smoothing=self.config.label_smoothing)
        return Seq2SeqOutput(logits=logits, loss=loss)

    # decoding (generation.py drives these two)
    def start_decoding(self, input_ids: Tensor, attention_mask: Tensor | None,
                       use_cache: bool) -> tuple[Tensor, DecodingState]:
        """Encode the source once; the output starts with the start token."""
        memory = self.encode(input_ids, attention_mask)
        caches = [KVCache() for _ in range(2 * len(self.decoder))] if use_cache else []
        start = torch.full((input_ids.shape[0], 1), self.config.bos_token_id, device=input_ids.device)
        return start, DecodingState(caches=caches, memory=memory, memory_mask=attention_mask)

    def decode_next(self, tokens: Tensor, state: DecodingState) -> Tensor:
        start = state.seen if state.caches else 0
        logits = self.decode(tokens[:, start:], state.memory, state.memory_mask, state.caches or None, start)
        state.seen = tokens.shape[1]
        return logits[:, -1]

    generate = generate

    def save_pretrained(self, directory: PathLike) -> None:
        """config.json (model_type "bertkit-transformer") + model.safetensors, each atomically.
        transformers has no class for this exact model, so the directory is bertkit's own."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().clone().contiguous() for k, v in self.state_dict().items()}
        hf.write_checkpoint(directory, state, self.config.to_dict())

    @classmethod
    def from_pretrained(cls, directory: PathLike) -> Seq2SeqTransformer:
        model = cls(TransformerConfig.from_pretrained(directory))
        state = hf.read_state_dict(directory)
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            raise CheckpointError(f"{directory}: the weights do not match config.json: {e}") from None
        return model


def shift_right(labels: Tensor, start_id: int, pad_id: int) -> Tensor:
    """[[5, 6, 2]] -> [[start, 5, 6]]: the decoder's input when predicting `labels` (-100 -> pad)."""
    shifted = labels.new_full(labels.shape, start_id)
    shifted[:, 1:] = labels[:, :-1]
    return shifted.masked_fill(shifted == -100, pad_id)
