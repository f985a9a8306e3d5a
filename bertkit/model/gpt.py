"""A GPT language model (Radford et al. 2019, "Language Models are Unsupervised Multitask Learners"):
a stack of pre-LN decoder blocks with causal self-attention (the one attention of attention.py),
learned positions, GELU, and the output layer tied to the input embeddings. Reads and writes the
Hugging Face GPT-2 layout (one key table, `RENAMES`, below).

    ids -> word + position embeddings -> [x + attn(ln(x)), x + ffn(ln(x))] x n_layer -> ln -> @ wteᵀ
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bertkit.errors import CheckpointError, ConfigError
from bertkit.io import PathLike
from bertkit.model import hf, inference
from bertkit.model.attention import KVCache, MultiHeadAttention, additive_mask
from bertkit.model.config import read_config_json
from bertkit.model.fused_loss import linear_cross_entropy
from bertkit.model.generation import DecodingState, generate
from bertkit.model.layers import activation

# name -> (n_layer, n_embd, n_head); GPT-2's four sizes are Radford et al. 2019, Table 2.
GPT_PRESETS: dict[str, tuple[int, int, int]] = {
    "tiny": (2, 128, 2),
    "mini": (4, 256, 4),
    "small": (12, 768, 12),     # "gpt2", 124M
    "medium": (24, 1024, 16),   # "gpt2-medium", 355M
    "large": (36, 1280, 20),    # "gpt2-large", 774M
    "xl": (48, 1600, 25),       # "gpt2-xl", 1.5B
}


@dataclass
class GPTConfig:
    """GPT-2's config.json fields under their Hugging Face names (`model_type: gpt2`)."""

    vocab_size: int = 50257
    n_positions: int = 1024           # the context window
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: int | None = None        # None: 4 * n_embd
    activation_function: str = "gelu_new"   # GPT-2's tanh GELU
    resid_pdrop: float = 0.1
    embd_pdrop: float = 0.1
    attn_pdrop: float = 0.1
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02
    bos_token_id: int | None = 50256
    eos_token_id: int | None = 50256
    pad_token_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)   # other HF keys, kept

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"GPTConfig.{name} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head:
            raise ConfigError(f"GPTConfig.n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        for name in ("resid_pdrop", "embd_pdrop", "attn_pdrop"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"GPTConfig.{name} must be in [0, 1), got {getattr(self, name)!r}")

    @property
    def inner(self) -> int:
        return self.n_inner or 4 * self.n_embd

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> GPTConfig:
        """A config of one of the `GPT_PRESETS` sizes; keyword arguments override any field."""
        if name not in GPT_PRESETS:
            raise ConfigError(f"unknown GPT preset {name!r}; choose one of {', '.join(GPT_PRESETS)}")
        n_layer, n_embd, n_head = GPT_PRESETS[name]
        return cls(**{"n_layer": n_layer, "n_embd": n_embd, "n_head": n_head, **overrides})

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return {**self.extra, **d, "model_type": "gpt2"}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GPTConfig:
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        extra = {k: v for k, v in d.items() if k not in names and k != "model_type"}
        return cls(**{k: v for k, v in d.items() if k in names}, extra=extra)

    @classmethod
    def from_pretrained(cls, directory: PathLike) -> GPTConfig:
        """Read `directory/config.json` of a bertkit or Hugging Face GPT-2 directory."""
        path, d = read_config_json(directory)
        if d.get("model_type") != "gpt2":
            raise ConfigError(f"{path}: model_type is {d.get('model_type')!r}, not 'gpt2'")
        try:
            return cls.from_dict(d)
        except TypeError as e:
            raise ConfigError(f"{path}: {e}") from None


@dataclass
class CausalLMOutput:
    """The loss and the logits (batch, seq, vocab), computed from `hidden` when first read: with
    labels the loss is fused with the output layer (fused_loss.py), so training never makes them."""

    loss: Tensor | None = None       # mean next-token cross-entropy when labels are given
    hidden: Tensor | None = None     # (batch, seq, n_embd): the final layer norm's output
    head: Callable[[Tensor], Tensor] | None = field(default=None, repr=False)
    _logits: Tensor | None = field(default=None, repr=False)

    @property
    def logits(self) -> Tensor:
        if self._logits is None:
            self._logits = self.head(self.hidden)
        return self._logits


class FeedForward(nn.Module):
    """up-projection, activation, down-projection (sized by the decoder configs' own fields)."""

    def __init__(self, hidden: int, inner: int, act: str):
        super().__init__()
        self.up = nn.Linear(hidden, inner)
        self.down = nn.Linear(inner, hidden)
        self.act = activation(act)
        # the activation as the fused inference kernels name it (inference.PackedLinear)
        self.act_name = {"gelu": "gelu", "relu": "relu"}.get(act, "gelu_tanh")

    def forward(self, x: Tensor) -> Tensor:
        return self.down(self.act(self.up(x)))


class Block(nn.Module):
    """A pre-LN decoder block: x + attn(ln(x)) with the causal mask, then x + ffn(ln(x))."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.attn_norm = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = MultiHeadAttention(config.n_embd, config.n_head, config.attn_pdrop)
        self.ffn_norm = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.ffn = FeedForward(config.n_embd, config.inner, config.activation_function)
        self.dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, x: Tensor, mask: Tensor | None = None, cache: KVCache | None = None) -> Tensor:
        a, _ = self.attn(self.attn_norm(x), mask, causal=True, cache=cache)
        x = x + self.dropout(a)
        return x + self.dropout(self.ffn(self.ffn_norm(x)))

    def step_tensors(self, qkv: Tensor) -> tuple:
        """What `step` reads, bound once per generation, `qkv` (rows, 3 * n_embd) the generation's
        buffer for the q, k, v projections: the norms' (shape, weight, bias, eps), the linears'
        biases and transposed weights (views: `torch.addmm(b, x, wᵀ)` is what F.linear runs), and
        q, k, v as one (n_embd, 3 * n_embd) matrix, a copy freed with the generation, with q's
        rows scaled by 1/√head_dim (exact for a power-of-two head_dim)."""
        attn, ffn = self.attn, self.ffn
        heads, d = attn.n_heads, attn.head_dim
        scale = 1.0 / math.sqrt(d)
        qkv_w = torch.cat((attn.q.weight * scale, attn.k.weight, attn.v.weight)).t()
        qkv_b = torch.cat((attn.q.bias * scale, attn.k.bias, attn.v.bias))
        rows = qkv.shape[0]
        split = qkv.view(rows, 3, heads, d)
        q = split[:, 0].reshape(rows * heads, 1, d) if rows == 1 else None   # a view of the buffer
        act = {"gelu": "none", "gelu_tanh": "tanh"}.get(ffn.act_name)           # None: ReLU
        norm = lambda n: (n.normalized_shape, n.weight, n.bias, n.eps)          # noqa: E731
        return (norm(self.attn_norm), qkv_w, qkv_b, qkv, q, split[:, 1:].transpose(0, 1), attn.out.weight.t(),
                attn.out.bias, norm(self.ffn_norm), ffn.up.weight.t(), ffn.up.bias, ffn.down.weight.t(),
                ffn.down.bias, act, heads, d)

    @staticmethod
    def step(x: Tensor, mask: Tensor | None, cache: KVCache, tensors: tuple) -> Tensor:
        """`forward` for one decoding step in inference (no dropout, no hooks) on x (rows, n_embd),
        one new token per row, with `tensors` from `step_tensors`: the same operations without the
        module calls, views and copies, a tenth of a step of a 768-wide model at one token a step.
        q, k and v come from one matrix product into a buffer, the keys and values are written
        from there straight into the cache, the one query attends by hand (q kᵀ, softmax, @ v: no
        mask to build, no kernel set-up)."""
        (norm1, qkv_w, qkv_b, qkv, q, kv, out_w, out_b, norm2, up_w, up_b, down_w, down_b, act,
         heads, d) = tensors
        rows = x.shape[0]
        torch.addmm(qkv_b, torch.native_layer_norm(x, *norm1)[0], qkv_w, out=qkv)
        keys_t, values = cache.step(kv)                     # (rows * heads, d, seen), (rows * heads, seen, d)
        if q is None:
            q = qkv.view(rows, 3, heads, d)[:, 0].reshape(rows * heads, 1, d)
        scores = torch.bmm(q, keys_t)                       # (rows * heads, 1, seen), already scaled
        if mask is not None:                                # (rows, 1, 1, seen)
            scores.view(rows, heads, -1).add_(mask.view(rows, 1, -1))
        context = torch.bmm(scores.softmax(-1), values)     # (rows * heads, 1, d)
        h = torch.addmm(out_b, context.view(rows, -1), out_w).add_(x)
        up = torch.addmm(up_b, torch.native_layer_norm(h, *norm2)[0], up_w)
        up = up.relu_() if act is None else F.gelu(up, approximate=act)   # in place measured no faster
        return torch.addmm(down_b, up, down_w).add_(h)


@dataclass
class StepPlan:
    """A generation's tensors for one-token cached steps: each block's `step_tensors`, the final
    norm's (shape, weight, bias, eps), the tied output layer's transposed weight (a view) and the
    embedding tables."""

    layers: list[tuple]
    final_norm: tuple
    head: Tensor
    word: Tensor
    position: Tensor


class GPTLanguageModel(nn.Module):
    """The decoder-only LM: `forward` gives next-token logits (and the loss with `labels`);
    `generate` continues prompts (see generation.py).

    In inference on the CPU the blocks and the output layer may run on oneDNN's packed linears
    (`set_inference_kernels`, bertkit/model/inference.py): the same numbers to float32 rounding.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.kernels = "auto"
        self.word = nn.Embedding(config.vocab_size, config.n_embd)
        self.position = nn.Embedding(config.n_positions, config.n_embd)
        self.dropout = nn.Dropout(config.embd_pdrop)
        self.layers = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.final_norm = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.apply(self._init)
        for layer in self.layers:   # GPT-2: residual projections scaled by 1/√(2·n_layer)
            for proj in (layer.attn.out, layer.ffn.down):
                nn.init.normal_(proj.weight, 0.0, config.initializer_range / math.sqrt(2 * config.n_layer))

    def _init(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, 0.0, self.config.initializer_range)
        if isinstance(module, nn.Linear):
            nn.init.zeros_(module.bias)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def context_window(self) -> int:
        return self.config.n_positions

    def train(self, mode: bool = True):
        """Switch train/eval mode; also drops the packed inference copies of the weights."""
        inference.forget(self)
        return super().train(mode)

    def set_inference_kernels(self, kernels: str = "auto") -> GPTLanguageModel:
        """Choose the CPU inference kernels: "auto" (the default), "onednn" or "plain"; returns self."""
        inference.resolve(kernels)                      # a bad name fails here, not at the next forward
        self.kernels = kernels
        return self

    @property
    def inference_kernels(self) -> str:
        """What CPU inference runs on this machine with this model's setting: "onednn" or "plain"."""
        return inference.resolve(self.kernels)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None, labels: Tensor | None = None,
                position_ids: Tensor | None = None, cache: list[KVCache] | None = None) -> CausalLMOutput:
        """input_ids (batch, seq) -> logits (batch, seq, vocab).

        `attention_mask` (batch, past + seq) 1/0 hides padding keys (left-padded prompts);
        `cache` holds each layer's keys/values of the `past` tokens already seen. With `labels`
        (batch, seq), -100 ignored, the loss is that of predicting token t+1 from tokens ≤ t.
        """
        hidden = self.hidden_states(input_ids, attention_mask, position_ids, cache)
        loss = None
        if labels is not None:            # token t predicts token t + 1; no (tokens, vocab) logits kept
            loss = linear_cross_entropy(hidden[:, :-1].flatten(0, 1), self.word.weight,
                                        labels[:, 1:].flatten())
        return CausalLMOutput(loss=loss, hidden=hidden, head=self.head)

    def hidden_states(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                      position_ids: Tensor | None = None, cache: list[KVCache] | None = None) -> Tensor:
        """input_ids (batch, seq) -> the final layer norm's output (batch, seq, n_embd)."""
        batch, seq = input_ids.shape
        past = cache[0].seen if cache is not None else 0
        self._check_window(past + seq)
        if position_ids is None:
            position_ids = torch.arange(past, past + seq, device=input_ids.device).expand(batch, seq)
        x = self.dropout(self.word(input_ids) + self.position(position_ids))   # (batch, seq, n_embd)
        mask = None if attention_mask is None else additive_mask(attention_mask, x.dtype)
        packed = inference.decoder_applies(self, x)
        for i, layer in enumerate(self.layers):
            c = None if cache is None else cache[i]
            x = inference.decoder_block(layer, x, mask, c) if packed else layer(x, mask, c)
        return self.final_norm(x)

    def _check_window(self, positions: int) -> None:
        if positions > self.config.n_positions:
            raise ValueError(f"{positions} tokens do not fit the context window of "
                             f"{self.config.n_positions} positions (n_positions)")

    def step_plan(self, rows: int) -> StepPlan | None:
        """The tensors of one-token cached steps of `rows` rows (`Block.step`), bound for one
        generation; None where the modules must run (gradients, training, hooks: `plain_inference`)
        or the packed kernels take the steps (several rows of a wide model, `inference`)."""
        if not self.plain_inference():
            return None
        if inference.decoder_applies(self, self.word.weight[0].expand(rows, -1)):
            return None
        norm = self.final_norm
        qkv = self.word.weight.new_empty(rows, 3 * self.config.n_embd)      # one buffer for every layer
        return StepPlan([layer.step_tensors(qkv) for layer in self.layers],
                        (norm.normalized_shape, norm.weight, norm.bias, norm.eps), self.word.weight.t(),
                        self.word.weight, self.position.weight)

    def step_logits(self, input_ids: Tensor, attention_mask: Tensor | None, position_ids: Tensor | None,
                    cache: list[KVCache], plan: StepPlan) -> Tensor:
        """Next-token logits (rows, vocab) after one new token per row, input_ids (rows, 1), with the
        cache: `hidden_states` + `head` at the last position, through `Block.step` on `plan`."""
        rows = input_ids.shape[0]
        past = cache[0].seen
        self._check_window(past + 1)
        x = torch.embedding(plan.word, input_ids.view(rows))                       # (rows, n_embd)
        x.add_(plan.position.select(0, past) if position_ids is None
               else torch.embedding(plan.position, position_ids.view(rows)))
        mask = None if attention_mask is None else additive_mask(attention_mask, x.dtype)
        step = Block.step
        for layer, c in zip(plan.layers, cache, strict=True):
            x = step(x, mask, c, layer)
        return torch.mm(torch.native_layer_norm(x, *plan.final_norm)[0], plan.head)

    def plain_inference(self) -> bool:
        """No gradients, eval mode, no hooks on any module: `Block.step` may stand in for the
        modules (checked once per generation: walking the modules costs as much as a step's Python)."""
        return not torch.is_grad_enabled() and not any(
            m.training or m._forward_hooks or m._forward_pre_hooks for m in self.modules())

    def head(self, x: Tensor) -> Tensor:
        """(..., n_embd) -> (..., vocab) logits: the output layer, tied to the input embeddings."""
        if inference.decoder_applies(self, x):
            return inference.tied_head(self, self.word, x)
        return x @ self.word.weight.T

    # decoding (generation.py drives these two)
    def start_decoding(self, input_ids: Tensor, attention_mask: Tensor | None,
                       use_cache: bool) -> tuple[Tensor, DecodingState]:
        """The prompt is the start of the output; the state holds one cache per layer, and with it
        the `step_plan` when one-token steps may skip the modules (checked once per generation:
        walking the modules costs as much as a step's Python)."""
        caches = [KVCache() for _ in self.layers] if use_cache else []
        plan = self.step_plan(input_ids.shape[0]) if use_cache else None
        return input_ids, DecodingState(caches=caches, key_mask=attention_mask, plan=plan)

    def decode_next(self, tokens: Tensor, state: DecodingState) -> Tensor:
        """Logits (batch, vocab) for the token after `tokens` (batch, seq); with a cache only the
        tokens not seen yet are fed."""
        new = tokens[:, state.seen:] if state.caches else tokens
        mask = state.key_mask
        if mask is not None and mask.shape[1] < tokens.shape[1]:      # generated tokens are real
            mask = torch.cat((mask, mask.new_ones(mask.shape[0], tokens.shape[1] - mask.shape[1])), 1)
            state.key_mask = mask
        positions = None
        if mask is not None:   # left padding: positions count real tokens only, as transformers does
            positions = (mask.long().cumsum(1) - 1).clamp(min=0)[:, -new.shape[1]:]
        if state.plan is not None and new.shape[1] == 1:
            # inference mode: each tensor call skips the autograd and version-counter dispatch
            # (~0.7 ms a token of GPT-2 small, 1 thread); the logits are inference tensors
            with torch.inference_mode():
                logits = self.step_logits(new, mask, positions, state.caches, state.plan)
        else:
            x = self.hidden_states(new, mask, positions, state.caches or None)
            logits = self.head(x[:, -1])                    # the output layer at the last position only
        state.seen = tokens.shape[1]
        return logits

    generate = generate

    # Hugging Face GPT-2 checkpoints
    @classmethod
    def from_pretrained(cls, directory: PathLike) -> GPTLanguageModel:
        """Load a bertkit or Hugging Face GPT-2 directory (GPT2LMHeadModel or GPT2Model weights)."""
        directory = Path(directory)
        try:
            config = GPTConfig.from_pretrained(directory)
        except ConfigError as e:
            raise CheckpointError(str(e)) from None
        model = cls(config)
        state = from_hf_state_dict(hf.read_state_dict(directory), directory)
        expected = model.state_dict()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        wrong = [f"{k}: {tuple(t.shape)} in the checkpoint, {tuple(expected[k].shape)} in the model"
                 for k, t in state.items() if k in expected and t.shape != expected[k].shape]
        if missing or unexpected or wrong:
            raise CheckpointError(f"{directory}: the weights do not match config.json: "
                                  f"missing {missing[:4]}, unexpected {unexpected[:4]}, shapes {wrong[:4]}")
        model.load_state_dict(state)
        return model

    def save_pretrained(self, directory: PathLike) -> None:
        """config.json + model.safetensors that transformers.AutoModelForCausalLM loads."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = {**self.config.to_dict(), "architectures": ["GPT2LMHeadModel"], "tie_word_embeddings": True}
        hf.write_checkpoint(directory, to_hf_state_dict(self.state_dict()), config)


# (bertkit, transformers) names of GPT2LMHeadModel. `c_attn` holds q, k and v side by side: the
# pseudo-names `c_attn.q/k/v` are its three thirds (split on import, joined on export).
RENAMES: list[tuple[str, str]] = [
    ("word.", "transformer.wte."),
    ("position.", "transformer.wpe."),
    ("layers.{i}.attn_norm.", "transformer.h.{i}.ln_1."),
    ("layers.{i}.attn.q.", "transformer.h.{i}.attn.c_attn.q."),
    ("layers.{i}.attn.k.", "transformer.h.{i}.attn.c_attn.k."),
    ("layers.{i}.attn.v.", "transformer.h.{i}.attn.c_attn.v."),
    ("layers.{i}.attn.out.", "transformer.h.{i}.attn.c_proj."),
    ("layers.{i}.ffn_norm.", "transformer.h.{i}.ln_2."),
    ("layers.{i}.ffn.up.", "transformer.h.{i}.mlp.c_fc."),
    ("layers.{i}.ffn.down.", "transformer.h.{i}.mlp.c_proj."),
    ("final_norm.", "transformer.ln_f."),
]
SKIPPED = (".attn.bias", ".attn.masked_bias", "lm_head.weight")   # causal-mask buffers; the tied head
CONV1D = (".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.c_fc.weight", ".mlp.c_proj.weight")
_TO_HF, _FROM_HF = hf.compile_table(RENAMES)


def from_hf_state_dict(state: dict[str, Tensor], source: PathLike = "checkpoint") -> dict[str, Tensor]:
    """transformers GPT-2 tensors -> bertkit names: Conv1D (in, out) weights transposed to Linear's
    (out, in), c_attn split into q, k, v, the mask buffers and the tied lm_head dropped."""
    out: dict[str, Tensor] = {}
    for name, t in state.items():
        name = name if name.startswith(("transformer.", "lm_head.")) else "transformer." + name
        if name.endswith(SKIPPED):
            continue
        if name.endswith(CONV1D):
            t = t.T
        if ".attn.c_attn." in name:
            stem, kind = name.rsplit(".", 1)                         # kind: weight | bias
            parts = dict(zip("qkv", t.chunk(3, dim=0), strict=True))
        else:
            stem, kind, parts = name.rsplit(".", 1)[0], name.rsplit(".", 1)[1], {"": t}
        for part, tensor in parts.items():
            hf_name = f"{stem}.{part}.{kind}" if part else f"{stem}.{kind}"
            ours = hf.rename(hf_name, _FROM_HF)
            if ours is None:
                raise CheckpointError(f"{source}: {name} is not a GPT-2 weight bertkit knows")
            out[ours] = tensor.contiguous()
    return out


def to_hf_state_dict(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """bertkit names -> transformers GPT-2 tensors (the inverse of `from_hf_state_dict`)."""
    out: dict[str, Tensor] = {}
    for name, t in state.items():
        out[hf.rename(name, _TO_HF)] = t.detach()
    for name in [k for k in out if ".attn.c_attn.q." in k]:
        stem, kind = name.split(".attn.c_attn.q.")
        out[f"{stem}.attn.c_attn.{kind}"] = torch.cat(
            [out.pop(f"{stem}.attn.c_attn.{p}.{kind}") for p in "qkv"])
    return {k: (t.T if k.endswith(CONV1D) else t).contiguous().clone() for k, t in out.items()}
