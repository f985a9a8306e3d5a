"""Text renderings: coloured word attributions (ANSI), the head-pattern table, and the self-attention
trace as terminal text, markdown or HTML.
"""

from __future__ import annotations

import html

import numpy as np

from bertkit.errors import ConfigError
from bertkit.explain.html import render_page
from bertkit.explain.patterns import DESCRIPTIONS

_RESET = "\033[0m"


def _ansi_bg(score: float, scale: float) -> str:
    """24-bit background: green for, red against, stronger with |score|."""
    a = 0.0 if scale <= 0 else min(abs(score) / scale, 1.0)
    if score >= 0:
        r, g, b = int(255 - 200 * a), 255, int(255 - 200 * a)
    else:
        r, g, b = 255, int(255 - 200 * a), int(255 - 200 * a)
    return f"\033[48;2;{r};{g};{b}m\033[38;2;0;0;0m"


def format_attribution(attr, colour: bool = True, top: int = 5) -> str:
    """The words coloured by attribution, then the prediction and the top words with scores."""
    words = attr.word_scores()
    scale = max((abs(s) for _, s in words), default=0.0)
    if colour:
        line = " ".join(f"{_ansi_bg(s, scale)}{w}{_RESET}" for w, s in words)
    else:
        line = " ".join(f"{w}[{s:+.3f}]" for w, s in words)
    tops = ", ".join(f"{w} {s:+.3f}" for w, s in attr.top_words(top))
    return (f"predicted: {attr.predicted_label} (p={attr.predicted_prob:.3f}); "
            f"explaining: {attr.target_label}{attr.target_note()}\n{line}\n"
            f"top words for {attr.target_label}: {tops}\n"
            f"sum {attr.total:+.4f} vs logit difference {attr.logit_input - attr.logit_baseline:+.4f} "
            f"(delta {attr.delta:.1e}, {attr.n_steps} steps)")


def format_heads(heads, k: int = 3) -> str:
    """One line per pattern: the top-k heads as L<layer>H<head> with their score."""
    lines = [f"head patterns over {heads.n_inputs} input(s) (score = mean attention share; broad = entropy)"]
    width = max(len(d) for d in DESCRIPTIONS.values())
    for pattern, top in heads.to_dict(k).items():
        cells = "  ".join(f"L{t['layer']}H{t['head']} {t['score']:.2f}" for t in top)
        cells = cells or "n/a (no repeated word)"
        lines.append(f"  {DESCRIPTIONS[pattern]:<{width}}  {cells}")
    return "\n".join(lines)


def _matrix_text(a: np.ndarray, max_rows: int, max_cols: int, row_labels: list[str] | None = None) -> str:
    a = np.atleast_2d(a)
    rows, cols = a.shape
    shown = a[:max_rows, :max_cols]
    labels = row_labels[:max_rows] if row_labels is not None and len(row_labels) == rows else None
    lw = max((len(x) for x in labels), default=0) if labels else 0
    out = []
    for i, row in enumerate(shown):
        cells = " ".join(_cell(v) for v in row) + (" …" if cols > max_cols else "")
        out.append((f"{labels[i]:>{lw}} " if labels else "") + cells)
    if rows > max_rows:
        out.append(" " * (lw + 1 if labels else 0) + "…")
    return "\n".join(out)


def _cell(v: float, width: int = 8) -> str:
    """A matrix entry; the causal mask's −∞ written as the course writes it."""
    return f"{'−∞' if v == float('-inf') else f'{v:.3f}':>{width}}"


def _row_labels(trace, step) -> list[str] | None:
    if step.rows is not None:
        return step.rows
    return trace.tokens if step.value.shape[0] == len(trace.tokens) else None


def format_trace(trace, fmt: str = "terminal", max_cols: int = 8, max_rows: int = 12) -> str:
    """The trace in `fmt` ("terminal", "markdown" or "html"), matrices cut to max_rows x max_cols."""
    head = trace.title or (f"Self-attention of layer {trace.layer}, head {trace.head} (d = {trace.head_dim}) "
                           f"on {len(trace.tokens)} tokens: {' '.join(trace.tokens)}")
    check = (f"every step checked against the model's forward pass: max |difference| "
             f"{trace.max_model_diff():.1e}")
    if fmt == "terminal":
        parts = [head, check, ""]
        for i, s in enumerate(trace.steps, 1):
            ok = "" if s.model_diff is None else f"   [= model, diff {s.model_diff:.1e}]"
            parts.append(f"{i:2d}. {s.name}  {s.formula}  shape {s.shape}{ok}")
            parts.append(_matrix_text(s.value, max_rows, max_cols, _row_labels(trace, s)))
            parts.append("")
        return "\n".join(parts)
    if fmt == "markdown":
        parts = [f"## {head}", "", f"_{check}_", ""]
        for i, s in enumerate(trace.steps, 1):
            ok = "" if s.model_diff is None else f" — equals the model's own value (diff {s.model_diff:.1e})"
            parts += [f"### {i}. {s.name}", "", f"{s.formula}; shape `{s.shape}`{ok}", "", "```",
                      _matrix_text(s.value, max_rows, max_cols, _row_labels(trace, s)), "```", ""]
        return "\n".join(parts)
    if fmt == "html":
        parts = [f"<p>{html.escape(head)}</p><p class='bk-note'>{html.escape(check)}</p>"]
        for i, s in enumerate(trace.steps, 1):
            ok = "" if s.model_diff is None else f" — equals the model's own value (diff {s.model_diff:.1e})"
            table = _matrix_html(s.value, max_rows, max_cols, _row_labels(trace, s))
            parts.append(f"<h2>{i}. {html.escape(s.name)}</h2><p>{html.escape(s.formula)}; shape "
                         f"{s.shape}{html.escape(ok)}</p>{table}")
        return render_page("The attention trace", extra_html="\n".join(parts))
    raise ConfigError(f"unknown format {fmt!r}; choose terminal, markdown or html")


def _matrix_html(a: np.ndarray, max_rows: int, max_cols: int, labels: list[str] | None) -> str:
    a = np.atleast_2d(a)
    rows = []
    for i, row in enumerate(a[:max_rows]):
        lab = f"<th>{html.escape(labels[i])}</th>" if labels else ""
        more = "<td>…</td>" if a.shape[1] > max_cols else ""
        rows.append(f"<tr>{lab}{''.join(f'<td>{_cell(v, 0)}</td>' for v in row[:max_cols])}{more}</tr>")
    if a.shape[0] > max_rows:
        rows.append("<tr><td>…</td></tr>")
    return f"<table class='bk-table'>{''.join(rows)}</table>"
