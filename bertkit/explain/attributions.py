"""Integrated gradients (Sundararajan et al. 2017, "Axiomatic Attribution for Deep Networks").

attr_i = (x_i - x'_i) * ∫₀¹ ∂F(x' + α(x - x')) / ∂x_i dα, with x the output of a layer (the word
embeddings by default, or an encoder layer's output) and F the target logit. Completeness: the
attributions sum to F(x) - F(x'); the gap, the convergence delta, measures the quadrature error and is
reported. The integral uses Gauss-Legendre nodes (as Captum does) or the trapezoid rule, evaluated in
batches of `internal_batch_size` interpolation points.

Baselines: "pad" replaces every ordinary token by [PAD] and keeps [CLS]/[SEP] (the layer's output on
that input is x'); "zeros" uses x' = 0. Per-token scores sum x's hidden dimension.

Long inputs run as windows (inputs.py): each window is attributed on its own (completeness holds per
window) and a token's score is the mean over the windows that contain it; the prediction is the mean
of the windows' probabilities (for token classification only windows containing the token count).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from bertkit.errors import ConfigError, DataError
from bertkit.explain.html import iframe, render_page
from bertkit.explain.inputs import Encoded, encode, encoder_layers, model_dims, require_head, windows
from bertkit.explain.terminal import format_attribution


@dataclass
class WindowResult:
    logit_input: float
    logit_baseline: float
    total: float
    delta: float


@dataclass
class Attribution:
    """Integrated-gradient scores of one input for one target class (and token)."""

    encoded: Encoded
    scores: np.ndarray                  # (seq,) per-token attribution
    target: int
    labels: list[str]
    probs: np.ndarray                   # (num_labels,) predicted probabilities
    n_steps: int
    baseline: str
    layer: int | None = None
    token_index: int | None = None
    window_results: list[WindowResult] = field(default_factory=list)

    @property
    def predicted(self) -> int:
        return int(np.argmax(self.probs))

    @property
    def predicted_label(self) -> str:
        return self.labels[self.predicted]

    @property
    def predicted_prob(self) -> float:
        return float(self.probs[self.predicted])

    @property
    def target_label(self) -> str:
        return self.labels[self.target]

    @property
    def total(self) -> float:
        return float(self.scores.sum())

    @property
    def logit_input(self) -> float:
        return float(np.mean([w.logit_input for w in self.window_results]))

    @property
    def logit_baseline(self) -> float:
        return float(np.mean([w.logit_baseline for w in self.window_results]))

    @property
    def delta(self) -> float:
        """Convergence delta |Σ attr - (F(x) - F(x'))|, the worst over windows."""
        return max(w.delta for w in self.window_results)

    @property
    def layer_name(self) -> str:
        return "word embeddings" if self.layer is None else f"output of encoder layer {self.layer}"

    def target_note(self) -> str:
        if self.token_index is None:
            return ""
        return f" for token {self.token_index} ({self.encoded.tokens[self.token_index]!r})"

    def windows_note(self) -> str:
        n = len(self.window_results)
        return "" if n == 1 else f", {n} windows averaged"

    def token_scores(self) -> list[tuple[str, float]]:
        return [(t, float(s)) for t, s in zip(self.encoded.tokens, self.scores, strict=True)]

    def word_scores(self) -> list[tuple[str, float]]:
        """Sub-token scores summed per word ([CLS]/[SEP] left out), as transformers-interpret shows."""
        return [(w, float(self.scores[pos].sum())) for w, pos in self.encoded.words()
                if not self.encoded.special[pos[0]]]

    def top_words(self, k: int = 5) -> list[tuple[str, float]]:
        return sorted(self.word_scores(), key=lambda ws: -ws[1])[:k]

    def to_dict(self) -> dict[str, Any]:
        return {
            "predicted_label": self.predicted_label, "predicted_prob": self.predicted_prob,
            "target_label": self.target_label, "token_index": self.token_index,
            "tokens": [[t, round(s, 6)] for t, s in self.token_scores()],
            "words": [[w, round(s, 6)] for w, s in self.word_scores()],
            "total": self.total, "logit_input": self.logit_input, "logit_baseline": self.logit_baseline,
            "delta": self.delta, "n_steps": self.n_steps, "baseline": self.baseline,
            "layer": self.layer, "windows": len(self.window_results),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    def to_html(self, title: str = "Word attributions") -> str:
        return render_page(title, attribution=self)

    def to_terminal(self, colour: bool = True) -> str:
        return format_attribution(self, colour)

    def _repr_html_(self) -> str:
        return iframe(self.to_html(), height=260)


def quadrature(n_steps: int, method: str = "gausslegendre") -> tuple[np.ndarray, np.ndarray]:
    """Points α in [0, 1] and weights whose weighted sum approximates ∫₀¹ f(α) dα."""
    if n_steps < 2:
        raise ConfigError(f"n_steps must be at least 2, got {n_steps}")
    if method == "gausslegendre":
        x, w = np.polynomial.legendre.leggauss(n_steps)
        return (x + 1) / 2, w / 2
    if method == "trapezoid":
        alphas = np.linspace(0.0, 1.0, n_steps)
        w = np.full(n_steps, 1.0 / (n_steps - 1))
        w[[0, -1]] /= 2
        return alphas, w
    raise ConfigError(f"unknown integration method {method!r}; choose 'gausslegendre' or 'trapezoid'")


class _Replace:
    """Forward hook: capture a module's output, or replace it with a given tensor.

    The replacement may have more rows than the model's input: the model runs one copy of the input
    up to the hooked module and the batch of interpolation points from there on (no attention mask is
    passed, so nothing else depends on the batch size).
    """

    def __init__(self, module: Any):
        self.value = None
        self.captured = None
        self.handle = module.register_forward_hook(self)

    def __call__(self, module: Any, inputs: Any, output: Any) -> Any:
        first = output[0] if isinstance(output, tuple) else output
        self.captured = first
        if self.value is None:
            return None
        return (self.value, *output[1:]) if isinstance(output, tuple) else self.value


def _target_fn(logits: Any, target: int, token_index: int | None) -> Any:
    return logits[:, target] if token_index is None else logits[:, token_index, target]


def _endpoints(model: Any, module: Any, hook: _Replace, x_ids: Any, b_ids: Any | None, types: Any,
               layer: int | None) -> tuple[Any, Any]:
    """The layer's output x on the input and x' on the baseline (b_ids None: zeros), each (1, seq, hidden).

    At the word embeddings this is a table lookup; at an encoder layer one no-grad pass of the input
    and the baseline batched together.
    """
    with torch.no_grad():
        if layer is None:
            x = module(x_ids)
            return x, (torch.zeros_like(x) if b_ids is None else module(b_ids))
        both = x_ids if b_ids is None else torch.cat([x_ids, b_ids])
        model(input_ids=both, token_type_ids=types.expand(both.shape[0], -1))
        out = hook.captured.detach()
        return out[:1], (torch.zeros_like(out[:1]) if b_ids is None else out[1:])


def _ig_window(model: Any, ids: list[int], type_ids: list[int], special: list[bool], target: int | None,
               token_index: int | None, baseline: str, n_steps: int, batch_size: int, layer: int | None,
               method: str, bar: Any = None) -> tuple[np.ndarray, np.ndarray, int, WindowResult]:
    """IG for one model-sized window: (per-token scores, probabilities, target, completeness check).

    One forward + backward per batch of interpolation points and nothing else: the input x and the
    baseline x' ride in the first batch (their rows give F(x), F(x') and the prediction; target None
    picks the predicted class there), so no extra single-sequence passes are made.
    """
    module = model.get_input_embeddings() if layer is None else encoder_layers(model)[layer]
    pad = model.config.pad_token_id or 0
    x_ids = torch.tensor([ids])
    types = torch.tensor([type_ids])
    b_ids = None
    if baseline == "pad":                       # [PAD] for every ordinary token, specials kept
        b_ids = torch.tensor([[i if s else pad for i, s in zip(ids, special, strict=True)]])
    alphas, weights = quadrature(n_steps, method)
    hook = _Replace(module)
    try:
        x, b = _endpoints(model, module, hook, x_ids, b_ids, types, layer)
        grad_sum = torch.zeros_like(x[0])
        f_x = f_b = 0.0
        probs = None
        for start in range(0, n_steps, batch_size):
            a = torch.tensor(alphas[start:start + batch_size], dtype=x.dtype)[:, None, None]
            wts = torch.tensor(weights[start:start + batch_size], dtype=x.dtype)
            point = b + a * (x - b)                                     # (k, seq, hidden)
            if start == 0:                                              # + the two endpoints, weight 0
                point = torch.cat([point, x, b])
                wts = torch.cat([wts, wts.new_zeros(2)])
            point.requires_grad_(True)
            hook.value = point
            k = point.shape[0]
            out = model(input_ids=x_ids, token_type_ids=types).logits            # (k, ...) from the hook
            if start == 0:
                row = out[-2] if token_index is None else out[-2, token_index]
                probs = row.detach().float().softmax(-1)
                target = int(probs.argmax()) if target is None else target
                f = _target_fn(out[-2:], target, token_index).detach()
                f_x, f_b = float(f[0]), float(f[1])
            (grad,) = torch.autograd.grad(_target_fn(out, target, token_index).sum(), point)
            grad_sum += (grad * wts[:, None, None]).sum(0)
            if bar is not None:
                bar.update(k - 2 if start == 0 else k)
    finally:
        hook.handle.remove()
    scores = ((x[0] - b[0]) * grad_sum).sum(-1).double().numpy()
    total = float(scores.sum())
    result = WindowResult(f_x, f_b, total, abs(total - (f_x - f_b)))
    return scores, probs.double().numpy(), target, result


def integrated_gradients(
    model: Any,
    tokenizer: Any,
    text: str,
    pair: str | None = None,
    target: int | str | None = None,
    token_index: int | None = None,
    baseline: str = "pad",
    n_steps: int = 50,
    internal_batch_size: int = 50,
    layer: int | None = None,
    method: str = "gausslegendre",
    overlap: int | None = None,
    max_positions: int | None = None,
    progress: bool = False,
) -> Attribution:
    """Attribute a classifier's logit for `target` (default: the predicted class) to the input tokens.

    Sequence classification (text, or text + pair) by default; a token-classification model needs
    `token_index` (position in the encoded tokens, [CLS] = 0). `layer` attributes at that encoder
    layer's output instead of the word embeddings. `progress` shows a tqdm bar over the steps.
    """
    kind = "token" if token_index is not None else "sequence"
    require_head(model, kind)
    if baseline not in ("pad", "zeros"):
        raise ConfigError(f"unknown baseline {baseline!r}; choose 'pad' or 'zeros'")
    if internal_batch_size < 1:
        raise ConfigError(f"internal_batch_size must be >= 1, got {internal_batch_size}")
    n_layers, _, max_pos = model_dims(model)
    if layer is not None and not 0 <= layer < n_layers:
        raise ConfigError(f"layer {layer} out of range: this model has layers 0..{n_layers - 1}")
    labels = _labels(model)
    enc = encode(tokenizer, text, pair)
    if token_index is not None and not 0 <= token_index < len(enc):
        raise DataError(f"token index {token_index} out of range: the input has tokens 0..{len(enc) - 1}")
    wins = windows(enc, max_positions or max_pos, overlap)
    if token_index is not None:
        wins = [w for w in wins if token_index in w.positions]
    target = _target_index(target, labels)

    with _input_gradients_only(model):
        if target is None and len(wins) > 1:    # the class predicted over all windows
            with torch.no_grad():
                target = _predict(model, enc, wins, token_index)
        bar = tqdm(total=n_steps * len(wins), unit="step", desc="integrated gradients", disable=not progress)
        total = np.zeros(len(enc))
        count = np.zeros(len(enc))
        probs = []
        results = []
        for w in wins:
            local = None if token_index is None else w.positions.index(token_index)
            special = [enc.special[p] for p in w.positions]
            s, pr, target, r = _ig_window(model, w.ids, w.type_ids, special, target, local, baseline,
                                          n_steps, internal_batch_size, layer, method, bar)
            total[w.positions] += s
            count[w.positions] += 1
            probs.append(pr)
            results.append(r)
        bar.close()
    scores = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    return Attribution(enc, scores, target, labels, np.mean(probs, 0), n_steps, baseline, layer,
                       token_index, results)


@contextlib.contextmanager
def _input_gradients_only(model: Any) -> Iterator[None]:
    """Eval mode and no weight gradients (only the input's are needed) while the body runs; the
    model's mode and `requires_grad` flags are restored afterwards."""
    was_training = model.training
    grads = [p.requires_grad for p in model.parameters()]
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, g in zip(model.parameters(), grads, strict=True):
            p.requires_grad_(g)
        model.train(was_training)


def _labels(model: Any) -> list[str]:
    cfg = model.config
    n = cfg.num_labels
    id2label = getattr(cfg, "id2label", None) or {}
    return [str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}"))) for i in range(n)]


def _target_index(target: int | str | None, labels: list[str]) -> int | None:
    if target is None:
        return None
    if isinstance(target, str) and not target.lstrip("-").isdigit():
        if target not in labels:
            raise ConfigError(f"unknown target label {target!r}; this model's labels are {labels}")
        return labels.index(target)
    t = int(target)
    if not 0 <= t < len(labels):
        raise ConfigError(f"target class {t} out of range: this model has classes 0..{len(labels) - 1} "
                          f"({', '.join(labels)})")
    return t


def _predict(model: Any, enc: Encoded, wins: list, token_index: int | None) -> int:
    probs = []
    for w in wins:
        logits = model(input_ids=torch.tensor([w.ids]), token_type_ids=torch.tensor([w.type_ids])).logits
        p = logits.float().softmax(-1)[0]
        probs.append(p if token_index is None else p[w.positions.index(token_index)])
    return int(torch.stack(probs).mean(0).argmax())
