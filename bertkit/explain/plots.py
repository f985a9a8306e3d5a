"""PNG heatmaps of attention for reports and notebooks (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bertkit.errors import ConfigError


def save_heatmaps(attention, path: str | Path, layer: int | None = None, head: int | None = None) -> Path:
    """One head (layer and head given), one layer's heads (layer given) or every head (neither)."""
    import matplotlib  # here, not at the top: it takes ~0.7 s to import and only PNGs need it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bertkit.io import save_figure

    n_layers, n_heads = attention.weights.shape[:2]
    if head is not None and layer is None:
        raise ConfigError("a head needs a layer: give both, only a layer, or neither")
    if layer is not None:
        attention.head(layer, head if head is not None else 0)   # validates the indices
    cells = ([(layer, head)] if head is not None else
             [(layer, h) for h in range(n_heads)] if layer is not None else
             [(l, h) for l in range(n_layers) for h in range(n_heads)])
    cols = 1 if len(cells) == 1 else n_heads
    rows = (len(cells) + cols - 1) // cols
    tokens = attention.tokens
    keys = getattr(attention, "key_tokens", tokens)         # the source's, for cross-attention
    single = len(cells) == 1
    size = max(4.0, 0.28 * max(len(tokens), len(keys))) if single else 1.6
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), squeeze=False)
    for ax, (l, h) in zip(axes.ravel(), cells, strict=False):
        ax.imshow(np.asarray(attention.weights[l, h]), cmap="Blues", vmin=0, vmax=1)
        ax.set_title(f"layer {l} head {h}", fontsize=10 if single else 7)
        if single:
            ax.set_xticks(range(len(keys)), keys, rotation=90, fontsize=8)
            ax.set_yticks(range(len(tokens)), tokens, fontsize=8)
            ax.set_xlabel("attended to")
            ax.set_ylabel("attending")
        else:
            ax.set_xticks([])
            ax.set_yticks([])
    for ax in axes.ravel()[len(cells):]:
        ax.axis("off")
    fig.tight_layout()
    return save_figure(fig, path)
