"""Self-contained HTML pages: the JavaScript, CSS and data are inline, so a page works offline,
from a file, e-mailed or archived. No CDN, no network.

Attention is embedded as one byte per weight (0..255, base64), which keeps a 6-layer x 12-head
page for 128 tokens near 1.5 MB; the views only need that precision to draw.
"""

from __future__ import annotations

import base64
import html
import json
from importlib import resources
from typing import Any

import numpy as np

from bertkit.explain.patterns import DESCRIPTIONS

# Nothing may be fetched: only the inline script and styles run.
_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"


def _static(name: str) -> str:
    return resources.files("bertkit.explain").joinpath("static", name).read_text(encoding="utf-8")


def _script_json(obj: Any) -> str:
    """JSON that is safe inside a <script> element and still valid JSON.

    `<`, `>` and `&` only occur inside JSON strings, where `\\u003c`... mean the same characters;
    written that way, no token text can close the element (`</script`) or open an HTML comment
    (`<!--`), which would stop the browser from handing the script its whole text.
    """
    text = json.dumps(obj, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def attention_payload(attention, start_layer: int = 0, start_head: int = 0, suffix: str = "") -> dict:
    """The data of one view. `tokens` are the queries (rows, left), `keys` the keys (columns,
    right; the source's tokens for cross-attention); `kind` is "encoder", "decoder" (causal) or
    "cross"; `suffix` ends the ids of the view's elements ("" for the first view of a page)."""
    q = np.clip(np.rint(np.asarray(attention.weights, dtype=np.float32) * 255), 0, 255).astype(np.uint8)
    layers, heads = q.shape[:2]
    return {"tokens": attention.tokens, "keys": getattr(attention, "key_tokens", attention.tokens),
            "kind": getattr(attention, "kind", "encoder"), "suffix": suffix,
            "layers": layers, "heads": heads, "q": base64.b64encode(q.tobytes()).decode("ascii"),
            "start_layer": start_layer, "start_head": start_head}


def score_colour(score: float, scale: float) -> str:
    """Green for evidence for the target, red against; opacity grows with |score| / scale."""
    a = 0.0 if scale <= 0 else min(abs(score) / scale, 1.0) * 0.8
    return f"rgba(0, 160, 60, {a:.2f})" if score >= 0 else f"rgba(220, 30, 30, {a:.2f})"


def attribution_section(attr) -> str:
    words = attr.word_scores()
    scale = max((abs(s) for _, s in words), default=0.0)
    spans = []
    for word, score in words:
        spans.append(f'<span class="bk-word" style="background:{score_colour(score, scale)}" '
                     f'title="{score:+.4f}" data-score="{score:.6f}">{html.escape(word)}</span>')
    pred = html.escape(str(attr.predicted_label))
    target = html.escape(str(attr.target_label))
    return f"""<h2>Word attributions (integrated gradients)</h2>
<div class="bk-summary">Predicted <b id="bk-pred">{pred}</b> with probability
<b>{attr.predicted_prob:.3f}</b>; attributions explain <b>{target}</b>{attr.target_note()}.</div>
<div class="bk-legend"><span style="background:{score_colour(1, 1)}">for {target}</span>
<span style="background:{score_colour(-1, 1)}">against {target}</span></div>
<p class="bk-words" id="bk-words">{' '.join(spans)}</p>
<p class="bk-note">Sum of attributions {attr.total:+.4f} = logit(input) - logit(baseline)
{attr.logit_input - attr.logit_baseline:+.4f}, convergence delta {attr.delta:.2e}
({attr.n_steps} steps, {attr.baseline} baseline, {attr.layer_name}{attr.windows_note()}).</p>"""


# kind -> (heading, what the head view's lines mean)
_VIEW_TEXT = {
    "encoder": ("", "Lines join each token (left, attending) to the tokens it attends to (right)"),
    "decoder": ("Decoder self-attention (causal)",
                "Lines join each token (left, attending) to itself and the earlier tokens it attends to "
                "(right): the causal mask gives every later token weight 0, so no line goes down"),
    "cross": ("Cross-attention (encoder-decoder)",
              "Lines join each target token (left, the decoder's queries) to the source tokens it "
              "attends to (right, the encoder's keys and values)"),
}


def attention_sections(attention, suffix: str = "", heading: str | None = None) -> str:
    """The head view and model view of one attention; `suffix` ends every element id."""
    kind = getattr(attention, "kind", "encoder")
    title, lines = _VIEW_TEXT[kind]
    if heading is None:
        heading = title
    prefix = f"{html.escape(heading)}: " if heading else ""
    note = ""
    if getattr(attention, "n_windows", 1) > 1:
        note = (f" The input was longer than the model's positions: {attention.n_windows} overlapping "
                "windows were run and averaged (tokens that never share a window have weight 0).")
    return f"""<section class="bk-view" data-kind="{kind}">
<h2 id="bk-head-section{suffix}">{prefix}Head view</h2>
<p class="bk-note">{lines}; darker is more attention. Hover a token to focus on it.{note}</p>
<div class="bk-controls"><select id="bk-layer{suffix}" aria-label="layer"></select>
<select id="bk-head{suffix}" aria-label="head"></select></div>
<svg id="bk-headview{suffix}" class="bk-headview" data-kind="{kind}" xmlns="http://www.w3.org/2000/svg"></svg>
<h2>{prefix}Model view</h2>
<p class="bk-note">Every layer (rows) and head (columns); each square is a heatmap of
attention (row = attending token, column = attended token). Click one to open it in the head view.</p>
<div id="bk-modelview{suffix}" class="bk-modelview" data-kind="{kind}"></div>
</section>"""


def heads_section(heads, k: int = 3) -> str:
    rows = []
    for pattern, top in heads.to_dict(k).items():
        cells = ", ".join(f"L{t['layer']}H{t['head']} ({t['score']:.2f})" for t in top) or "n/a"
        rows.append(f"<tr><th style='text-align:left'>{html.escape(DESCRIPTIONS[pattern])}</th>"
                    f"<td style='text-align:left'>{cells}</td></tr>")
    return ("<h2>Head patterns</h2><table class='bk-table'><tr><th>pattern</th>"
            f"<th>top heads (score)</th></tr>{''.join(rows)}</table>")


def render_page(title: str, attention=None, attribution=None, heads=None, extra_html: str = "") -> str:
    """One offline page with whichever of the sections are given."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    data: dict[str, Any] = {}
    if attribution is not None:
        body.append(attribution_section(attribution))
    if heads is not None:
        body.append(heads_section(heads))
    if isinstance(attention, (list, tuple)):           # several views (a decoder's), one section each
        kinds = [getattr(a, "kind", "encoder") for a in attention]
        suffixes = ["" if i == 0 else f"-{kind}" for i, kind in enumerate(kinds)]
        if len(set(suffixes)) < len(suffixes):
            suffixes = ["" if i == 0 else f"-{i}" for i in range(len(kinds))]
        for view, suffix in zip(attention, suffixes, strict=True):
            body.append(attention_sections(view, suffix, _heading(view)))
        data["views"] = [attention_payload(v, suffix=x) for v, x in zip(attention, suffixes, strict=True)]
    elif attention is not None:
        body.append(attention_sections(attention))
        data["attention"] = attention_payload(attention)
    body.append(extra_html)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<title>{html.escape(title)}</title><style>{_static("views.css")}</style></head>
<body>
{chr(10).join(body)}
<script type="application/json" id="bertkit-data">{_script_json(data)}</script>
<script>{_static("views.js")}</script>
</body></html>
"""


def _heading(view) -> str:
    """A view's heading on a page of several: its label without the parenthesis."""
    label = getattr(view, "label", None) or _VIEW_TEXT[getattr(view, "kind", "encoder")][0]
    return label.split(" (")[0] + (" (causal)" if getattr(view, "kind", "") == "decoder" else "")


def iframe(page: str, height: int = 600) -> str:
    """Wrap a page for Jupyter: an isolated iframe, so its script and styles run as in a browser."""
    return (f'<iframe srcdoc="{html.escape(page, quote=True)}" style="width:100%;height:{height}px;'
            'border:1px solid #ddd" sandbox="allow-scripts"></iframe>')
