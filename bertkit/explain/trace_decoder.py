"""The learning view of a decoder layer, as the course walks through it, each step checked against
the model's own forward pass (hooks.py: forward hooks and the model's own `attend`).

GPT (pre-LN):  X -> LayerNorm -> Q, K, V -> QKᵀ/√d -> + causal mask (−∞ above the diagonal) ->
               softmax (masked entries exactly 0, rows sum to 1) -> A·V -> heads -> W_O -> residual
               -> LayerNorm -> FFN -> residual.
Encoder-decoder (post-LN, Vaswani et al. 2017, §3.1): the same masked self-attention on the target,
               residual + LayerNorm, then cross-attention: Q from the decoder, K and V from the
               encoder's output M, a (target x source) weight matrix; residual + LayerNorm, FFN,
               residual + LayerNorm.
`toy_gpt()` and `toy_seq2seq()` are the course's tiny sizes (hidden 8, 2 heads of dimension 4).
"""

from __future__ import annotations

from typing import Any

import torch

from bertkit.errors import ConfigError
from bertkit.explain.decoder import architecture, decoder_inputs, run
from bertkit.explain.hooks import Recorder, record_attention
from bertkit.explain.trace import (
    ToyTokenizer,
    Trace,
    attention_steps,
    batch_dropped,
    ffn_steps,
    layer_norm,
)


def toy_gpt(seed: int = 0) -> tuple[Any, ToyTokenizer]:
    """A tiny random GPT (hidden 8, 2 heads, one layer, no dropout) and the whitespace tokenizer."""
    from bertkit.model.gpt import GPTConfig, GPTLanguageModel

    torch.manual_seed(seed)
    config = GPTConfig(vocab_size=128, n_positions=32, n_embd=8, n_layer=1, n_head=2, resid_pdrop=0.0,
                       embd_pdrop=0.0, attn_pdrop=0.0, initializer_range=0.5)
    return GPTLanguageModel(config).eval(), ToyTokenizer()


def toy_seq2seq(seed: int = 0) -> tuple[Any, ToyTokenizer]:
    """A tiny random encoder-decoder Transformer (d_model 8, 2 heads, one layer each side)."""
    from bertkit.model.seq2seq import Seq2SeqTransformer, TransformerConfig

    torch.manual_seed(seed)
    config = TransformerConfig(vocab_size=128, d_model=8, n_heads=2, d_ff=32, n_encoder_layers=1,
                               n_decoder_layers=1, dropout=0.0, max_positions=32)
    return Seq2SeqTransformer(config).eval(), ToyTokenizer()


def _check(blocks: Any, layer: int, head: int) -> None:
    n_heads = blocks[0].attn.n_heads
    if not 0 <= layer < len(blocks):
        raise ConfigError(f"layer {layer} out of range: this model has decoder layers 0..{len(blocks) - 1}")
    if not 0 <= head < n_heads:
        raise ConfigError(f"head {head} out of range: this model has heads 0..{n_heads - 1} per layer")


def trace_decoder(model: Any, tokenizer: Any, text: str, layer: int = 0, head: int = 0,
                  target: str | None = None) -> Trace:
    """The masked self-attention (GPT), or masked self-attention and cross-attention (encoder-
    decoder: `text` is the source, `target` the decoder's text, default the model's greedy output)
    of decoder `layer`, `head`, with the residuals, LayerNorms and FFN."""
    arch = architecture(model)
    blocks = model.layers if arch == "gpt" else model.decoder
    _check(blocks, layer, head)
    inp = decoder_inputs(model, tokenizer, text, target)
    block = blocks[layer]
    modules = {"layer": block, "attn": block.attn, "attn_norm": block.attn_norm, "ffn.up": block.ffn.up,
               "ffn": block.ffn, "ffn_norm": block.ffn_norm}
    if arch == "seq2seq":
        modules.update(cross=block.cross, cross_norm=block.cross_norm, memory=model.encoder[-1])
    rec = Recorder(modules)
    attentions = {"self": block.attn} if arch == "gpt" else {"self": block.attn, "cross": block.cross}
    try:
        with record_attention(attentions) as seen:
            run(model, inp)
    finally:
        rec.remove()
    m = batch_dropped(rec.values)
    seen = {k: batch_dropped(v) for k, v in seen.items()}
    t = Trace(inp.tokens, layer, head, block.attn.head_dim, source_tokens=inp.source_tokens or None)
    with torch.no_grad():
        if arch == "gpt":
            t.title = (f"Masked self-attention of GPT layer {layer}, head {head} (d = {t.head_dim}) on "
                       f"{len(t.tokens)} tokens: {' '.join(t.tokens)}")
            _gpt_steps(t, block, m, seen)
        else:
            t.title = (f"Decoder layer {layer}, head {head} (d = {t.head_dim}): masked self-attention on the "
                       f"target {' '.join(t.tokens)}, then cross-attention over the source "
                       f"{' '.join(inp.source_tokens)}")
            _seq2seq_steps(t, block, m, seen)
    return t


def _gpt_steps(t: Trace, block: Any, m: dict, seen: dict) -> None:
    """Pre-LN: x + attn(LN(x)), then h + FFN(LN(h))."""
    x = t.add("X", f"input of layer {t.layer}: one row per token", m["layer.in"], m["layer.in"])
    a_in = t.add("LayerNorm(X)", "pre-LN: normalise before attention", layer_norm(x, block.attn_norm),
                 m["attn_norm"])
    proj = attention_steps(t, block.attn, a_in, seen["self"], m["attn"], causal=True)
    h = t.add("X + attention", "residual (pre-LN: no norm here)", x + proj)
    f_in = t.add("LayerNorm(h)", "pre-LN before the FFN", layer_norm(h, block.ffn_norm), m["ffn_norm"])
    t.add("layer output", "h + FFN (pre-LN)", h + ffn_steps(t, block.ffn, f_in, m), m["layer"])


def _seq2seq_steps(t: Trace, block: Any, m: dict, seen: dict) -> None:
    """Post-LN: LN(x + self_attn(x)), LN(h + cross_attn(h, M)), LN(h + FFN(h))."""
    x = t.add("X", f"input of decoder layer {t.layer}: one row per target token", m["layer.in"],
              m["layer.in"])
    proj = attention_steps(t, block.attn, x, seen["self"], m["attn"], causal=True)
    h = t.add("LayerNorm(X + self-attention)", "residual, then LayerNorm",
              layer_norm(x + proj, block.attn_norm), m["attn_norm"])
    memory = t.add("M", "the encoder's output: one row per source token", m["memory"], m["memory"],
                   t.source_tokens)
    cross = attention_steps(t, block.cross, h, seen["cross"], m["cross"], memory=memory, tag="cross")
    h = t.add("LayerNorm(h + cross-attention)", "residual, then LayerNorm",
              layer_norm(h + cross, block.cross_norm), m["cross_norm"])
    t.add("layer output", "LayerNorm(h + FFN)", layer_norm(h + ffn_steps(t, block.ffn, h, m), block.ffn_norm),
          m["layer"])
