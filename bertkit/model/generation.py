"""Generation for every bertkit decoder (GPT and the encoder-decoder Transformer): greedy, sampling
(temperature, top-k, top-p, seed), beam search (length penalty, early stopping), stop tokens.

A model takes part through two methods:
    start_decoding(input_ids, attention_mask, use_cache) -> (tokens, DecodingState)
        the output's first tokens (GPT: the prompt; seq2seq: the start token) and the state;
    decode_next(tokens, state) -> (batch, vocab) logits of the next token
        (with a cache, only tokens the state has not seen are fed).
Beam search keeps, drops and copies hypotheses with `state.reorder(rows)`.

The beam search follows transformers' (v4.x-5.x semantics, so outputs are equal): at each step the
2·beams best continuations of all beams are ranked; one ending in a stop token among the first
`beams` becomes a finished hypothesis scored sum(log p) / generated_length ** length_penalty, the
first `beams` others continue; a batch row is done when it has `beams` finished hypotheses and its
best running beam, scored at the current length, cannot beat the worst of them.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from bertkit.model.attention import KVCache


@dataclass
class DecodingState:
    """What a model keeps between decoding steps; rows are reordered together by beam search."""

    caches: list[KVCache] = field(default_factory=list)   # every attention layer's cache
    seen: int = 0                          # output tokens already in the self-attention caches
    key_mask: Tensor | None = None         # (batch, seen) 1/0: left padding of GPT prompts
    memory: Tensor | None = None           # (batch, src_seq, hidden): the encoder's output
    memory_mask: Tensor | None = None      # (batch, src_seq) 1/0: the source's padding
    plan: object | None = None             # the model's tensors bound for lean one-token steps

    def reorder(self, rows: Tensor) -> None:
        """Keep the batch rows at `rows` (new_batch,), in that order."""
        for cache in self.caches:
            cache.reorder(rows)
        for name in ("key_mask", "memory", "memory_mask"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, value.index_select(0, rows))


def top_k_filter(logits: Tensor, k: int) -> Tensor:
    """Keep the k largest logits of each row, -inf elsewhere; k = 0 keeps all.

    [1., 3., 2., 0.], k=2 -> [-inf, 3., 2., -inf]
    """
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = logits.topk(k, dim=-1).values[..., -1:]                     # (batch, 1)
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: Tensor, p: float) -> Tensor:
    """Nucleus filtering: keep the fewest most probable tokens whose probabilities sum to ≥ p.

    probabilities [0.5, 0.3, 0.15, 0.05], p=0.7 -> the first two kept (0.5 < 0.7 ≤ 0.8).
    """
    if p >= 1.0:
        return logits
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.softmax(-1)
    before = probs.cumsum(-1) - probs           # mass of the more probable tokens
    drop_sorted = before >= p                   # the nucleus is already full without this one
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def check_arguments(max_new_tokens: int, num_beams: int, temperature: float, top_k: int,
                    top_p: float) -> None:
    """ValueError naming the argument when a decoding setting cannot work."""
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if num_beams < 1:
        raise ValueError(f"num_beams must be >= 1, got {num_beams}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0 (0: no top-k filtering), got {top_k}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")


@torch.no_grad()
def generate(model, input_ids: Tensor, max_new_tokens: int = 20, num_beams: int = 1,
             length_penalty: float = 1.0, do_sample: bool = False, temperature: float = 1.0,
             top_k: int = 0, top_p: float = 1.0, use_cache: bool = True, seed: int | None = None,
             eos_token_id: int | Sequence[int] | None = -1, pad_token_id: int | None = None,
             early_stopping: bool | str = False, attention_mask: Tensor | None = None,
             on_token: Callable[[Tensor], None] | None = None) -> Tensor:
    """Continue `input_ids` (batch, seq); returns the output token ids (batch, out_len).

    GPT: the prompt followed by the new tokens; seq2seq: the start token followed by them.
    `eos_token_id`, one stop id or a list of them as transformers takes (default: the config's;
    None or []: never stop early), ends a sequence; finished sequences are filled with
    `pad_token_id` (default: the first stop id). `on_token` receives each step's new tokens
    (batch,) as they come (greedy and sampling).
    """
    check_arguments(max_new_tokens, num_beams, temperature, top_k, top_p)
    if input_ids.dim() != 2 or input_ids.shape[1] == 0:
        raise ValueError(f"input_ids must be (batch, seq) with seq >= 1, got shape {tuple(input_ids.shape)}")
    stops = stop_ids(model.config.eos_token_id if eos_token_id == -1 else eos_token_id)
    pad = pad_token_id if pad_token_id is not None else (stops[0] if stops else 0)
    was_training = model.training
    if was_training:            # only when needed: switching modes drops packed inference weights
        model.eval()
    try:
        if num_beams > 1:
            return beam_search(model, input_ids, attention_mask, max_new_tokens, num_beams, length_penalty,
                               early_stopping, stops, pad, use_cache)
        generator = None
        if seed is not None:
            generator = torch.Generator(input_ids.device).manual_seed(seed)
        tokens, state = model.start_decoding(input_ids, attention_mask, use_cache)
        _check_length(model, tokens, max_new_tokens)
        finished = torch.zeros(tokens.shape[0], dtype=torch.bool, device=tokens.device)
        stop_tensor = torch.tensor(stops, dtype=tokens.dtype, device=tokens.device)
        for _ in range(max_new_tokens):
            logits = model.decode_next(tokens, state)                          # (batch, vocab)
            if logits.dtype != torch.float32:
                logits = logits.float()
            if do_sample:
                logits = top_p_filter(top_k_filter(logits / temperature, top_k), top_p)
                next_tokens = torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(1)
            else:
                next_tokens = logits.max(-1).indices      # argmax (the first of equal maxima), 2.7x faster
            if stops:
                next_tokens = next_tokens.masked_fill(finished, pad)
                finished |= torch.isin(next_tokens, stop_tensor)
            tokens = torch.cat((tokens, next_tokens[:, None]), dim=1)
            if on_token is not None:
                on_token(next_tokens)
            if stops and finished.all():
                break
        return tokens
    finally:
        if was_training:
            model.train()


def stop_ids(eos_token_id: int | Sequence[int] | None) -> tuple[int, ...]:
    """The stop ids as a tuple: 7 -> (7,), [7, 9] -> (7, 9), None -> () (never stop early)."""
    if eos_token_id is None:
        return ()
    try:
        many = not hasattr(eos_token_id, "__index__")
        ids = tuple(map(operator.index, eos_token_id if many else [eos_token_id]))
    except TypeError:
        ids = (-1,)
    if not all(i >= 0 for i in ids) or any(isinstance(i, bool) for i in ids):
        raise ValueError(f"eos_token_id must be a token id or a list of them, got {eos_token_id!r}")
    return ids


def _check_length(model, tokens: Tensor, max_new_tokens: int) -> None:
    limit = model.context_window
    if tokens.shape[1] + max_new_tokens > limit:
        room = (f"keep at most the prompt's last {limit - max_new_tokens} tokens, or ask for fewer new tokens"
                if max_new_tokens < limit else f"ask for fewer than {limit} new tokens")
        raise ValueError(f"{tokens.shape[1]} tokens + max_new_tokens={max_new_tokens} exceed the model's "
                         f"context window of {limit} positions: {room}")


@dataclass
class _Row:
    """One batch row's finished hypotheses (score, tokens), best first, at most `num_beams`."""

    num_beams: int
    hyps: list[tuple[float, list[int]]] = field(default_factory=list)
    done: bool = False

    def add(self, score: float, tokens: list[int]) -> None:
        self.hyps.append((score, tokens))
        self.hyps.sort(key=lambda h: -h[0])
        del self.hyps[self.num_beams:]

    def full(self) -> bool:
        return len(self.hyps) == self.num_beams


def beam_search(model, input_ids: Tensor, attention_mask: Tensor | None, max_new_tokens: int, num_beams: int,
                length_penalty: float, early_stopping: bool | str, stops: tuple[int, ...], pad: int,
                use_cache: bool) -> Tensor:
    """The best of `num_beams` hypotheses per row (see the module docstring for the rules)."""
    batch = input_ids.shape[0]
    rows = torch.arange(batch, device=input_ids.device).repeat_interleave(num_beams)
    mask = None if attention_mask is None else attention_mask[rows]
    tokens, state = model.start_decoding(input_ids[rows], mask, use_cache)   # (batch * beams, seq)
    _check_length(model, tokens, max_new_tokens)
    scores = torch.zeros(batch, num_beams, device=tokens.device)
    scores[:, 1:] = -1e9                        # the beams start as copies: only the first is live
    finished = [_Row(num_beams) for _ in range(batch)]
    for step in range(max_new_tokens):
        logprobs = F.log_softmax(model.decode_next(tokens, state).float(), dim=-1)   # (batch * beams, vocab)
        vocab = logprobs.shape[-1]
        total = (scores.view(-1, 1) + logprobs).view(batch, num_beams * vocab)
        top_scores, top_index = total.topk(2 * num_beams, dim=1)                       # (batch, 2 * beams)
        keep_rows, keep_tokens, keep_scores = [], [], []
        for b, row in enumerate(finished):
            kept = _step_row(row, b, top_scores[b].tolist(), top_index[b].tolist(), vocab, tokens,
                             last=step == max_new_tokens - 1, stops=stops, gen_len=step + 1,
                             length_penalty=length_penalty)
            kept = kept or [(b * num_beams, pad, -1e9)] * num_beams   # the last step: nothing continues
            keep_rows += [r for r, _, _ in kept]
            keep_tokens += [t for _, t, _ in kept]
            keep_scores += [s for _, _, s in kept]
            best_len = max_new_tokens if early_stopping == "never" and length_penalty > 0 else step + 1
            best_running = kept[0][2] / best_len ** length_penalty
            if row.full() and (early_stopping is True or best_running <= row.hyps[-1][0]):
                row.done = True
        index = torch.tensor(keep_rows, device=tokens.device)
        state.reorder(index)
        tokens = torch.cat((tokens[index], torch.tensor(keep_tokens, device=tokens.device)[:, None]), dim=1)
        scores = torch.tensor(keep_scores, device=tokens.device).view(batch, num_beams)
        if all(row.done for row in finished):
            break
    best = [row.hyps[0][1] for row in finished]
    length = max(len(seq) for seq in best)
    return torch.tensor([seq + [pad] * (length - len(seq)) for seq in best], device=input_ids.device)


def _step_row(row: _Row, b: int, top_scores: list[float], top_index: list[int], vocab: int, tokens: Tensor,
              last: bool, stops: tuple[int, ...], gen_len: int, length_penalty: float,
              ) -> list[tuple[int, int, float]]:
    """Sort one row's ranked candidates: those that end (stop token, or the last step) and rank among
    the first `beams` become finished hypotheses; the first `beams` others continue, returned as
    (source row, token, score)."""
    num_beams = row.num_beams
    kept: list[tuple[int, int, float]] = []
    for rank, (score, index) in enumerate(zip(top_scores, top_index, strict=True)):
        beam, token = divmod(index, vocab)
        source = b * num_beams + beam
        if last or token in stops:
            if rank < num_beams and not row.done:
                row.add(score / gen_len ** length_penalty, tokens[source].tolist() + [token])
        elif len(kept) < num_beams:
            kept.append((source, token, score))
    return kept
