"""Where training numbers go: `metrics.jsonl` (one JSON object per line), `loss.png`, and
TensorBoard when it is installed. Only the main process writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bertkit.io import atomic_write_bytes, save_figure


class MetricsLog:
    """Append-only JSON lines; on resume, lines past the checkpoint's step are dropped."""

    def __init__(self, out_dir: Path, enabled: bool = True, tensorboard: bool = True) -> None:
        self.path = out_dir / "metrics.jsonl"
        self.enabled = enabled
        self.writer = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(out_dir / "tensorboard"))
            except ImportError:
                self.writer = None

    def truncate_after(self, step: int) -> None:
        if not (self.enabled and self.path.is_file()):
            return
        kept = [line for line in self.path.read_text(encoding="utf-8").splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= step]
        atomic_write_bytes(self.path, "".join(line + "\n" for line in kept).encode("utf-8"))

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            prefix = record.get("split", "train")
            for key, value in record.items():
                if isinstance(value, (int, float)) and key not in ("step", "epoch"):
                    self.writer.add_scalar(f"{prefix}/{key}", value, record["step"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def plot_loss(history: list[dict[str, Any]], path: Path) -> None:
    """Training loss (and held-out loss when evaluated) against the optimizer step."""
    import matplotlib  # ~0.5 s to import with pyplot: only runs that plot pay for it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    plotted = False
    for split, style in (("train", "-"), ("eval", "o-")):
        points = [(r["step"], r["loss"]) for r in history if r.get("split") == split and "loss" in r]
        if points:
            steps, losses = zip(*points, strict=True)
            ax.plot(steps, losses, style, label=f"{split} loss")
            plotted = True
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    if plotted:  # nothing logged yet (a checkpoint before the first log line): no legend
        ax.legend()
    fig.tight_layout()
    save_figure(fig, path)
