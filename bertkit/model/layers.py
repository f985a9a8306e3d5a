"""The building blocks of the encoder: embeddings, the feed-forward network, the encoder layer."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bertkit.model.attention import MultiHeadAttention, Packing
from bertkit.model.config import BertConfig


def sinusoidal_positions(n_positions: int, dim: int) -> torch.Tensor:
    """The fixed position encodings of Vaswani et al. (2017), "Attention Is All You Need", §3.5:

    PE(pos, 2i) = sin(pos / 10000^(2i/d)),  PE(pos, 2i+1) = cos(pos / 10000^(2i/d)).
    Returns (n_positions, dim) float32.
    """
    pos = torch.arange(n_positions, dtype=torch.float64)[:, None]
    two_i = torch.arange(0, dim, 2, dtype=torch.float64)
    angle = pos / torch.pow(10000.0, two_i / dim)            # (n_positions, ceil(dim / 2))
    pe = torch.zeros(n_positions, dim, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : dim // 2])
    return pe.float()


def activation(name: str):
    """The FFN non-linearity by its config.json name; "gelu" is the exact erf form, as in BERT."""
    if name == "gelu":
        return F.gelu
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return lambda x: F.gelu(x, approximate="tanh")
    return F.relu


class Embeddings(nn.Module):
    """token + segment + position embeddings, then LayerNorm and dropout."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.word = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        if config.position_embedding_type == "sinusoidal":
            self.position = None
            table = sinusoidal_positions(config.max_position_embeddings, config.hidden_size)
            self.register_buffer("sinusoidal", table, persistent=False)
        else:
            self.position = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        types = config.type_vocab_size
        self.segment = nn.Embedding(types, config.hidden_size) if types else None
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def position_table(self) -> torch.Tensor:
        """(max_positions, hidden): the learned or the sinusoidal position vectors."""
        return self.sinusoidal if self.position is None else self.position.weight

    def forward(self, input_ids: torch.Tensor | None = None, token_type_ids: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """Any leading shape: (batch, seq) ids -> (batch, seq, hidden); packed (total,) ids work too."""
        x = self.word(input_ids) if inputs_embeds is None else inputs_embeds
        shape = x.shape[:-1]
        if position_ids is None:
            position_ids = torch.arange(shape[-1], device=x.device).expand(shape)
        x = x + F.embedding(position_ids, self.position_table())
        if self.segment is not None:
            if token_type_ids is None:
                x = x + self.segment.weight[0]
            else:
                x = x + self.segment(token_type_ids)
        return self.dropout(self.norm(x))


class FeedForward(nn.Module):
    """up-projection, GELU, down-projection (the position-wise FFN)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.up = nn.Linear(config.hidden_size, config.intermediate_size)
        self.down = nn.Linear(config.intermediate_size, config.hidden_size)
        self.act = activation(config.hidden_act)
        # the activation as the fused inference kernels name it (inference.PackedLinear)
        self.act_name = {"gelu": "gelu", "relu": "relu"}.get(config.hidden_act, "gelu_tanh")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.act(self.up(x)))


class EncoderLayer(nn.Module):
    """attention and FFN sublayers, each with a residual and a LayerNorm (post-LN as BERT, or pre-LN)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.attn = MultiHeadAttention(config)
        self.attn_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.ffn = FeedForward(config)
        self.ffn_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.pre_norm = config.norm_position == "pre"

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, packing: Packing | None = None,
                output_attentions: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x: (batch, seq, hidden) with an additive `mask`, or packed (total, hidden) with `packing`."""
        if self.pre_norm:
            a, probs = self.attn(self.attn_norm(x), mask, packing, output_attentions)
            x = x + self.dropout(a)
            return x + self.dropout(self.ffn(self.ffn_norm(x))), probs
        a, probs = self.attn(x, mask, packing, output_attentions)
        x = self.attn_norm(x + self.dropout(a))
        return self.ffn_norm(x + self.dropout(self.ffn(x))), probs


def init_weights(module: nn.Module, std: float) -> None:
    """BERT's initialisation: normal(0, std) weights, zero biases, unit LayerNorm, zero padding row."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, 0.0, std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, 0.0, std)
        if module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)

