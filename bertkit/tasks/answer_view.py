"""Answers shown in their context: one offline HTML page (`bertkit predict --html`).

The page follows bertkit.explain's conventions (`explain.html.render_page`): self-contained, no
network, every piece of user text escaped. Each question gets its context with the answer's
characters marked, its score and the next-best answers; an unanswered question (v2.0) says so.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from bertkit.tasks.readers import Example

_STYLE = """<style>
.bk-qa { margin: 1.2em 0; padding: .6em .9em; border: 1px solid #ddd; border-radius: 6px; }
.bk-qa mark { background: #ffe066; padding: 0 .1em; border-radius: 3px; }
.bk-qa .bk-context { line-height: 1.6; white-space: pre-wrap; }
.bk-qa .bk-alt { color: #555; font-size: .9em; }
</style>"""


def marked_context(context: str, start: int | None, end: int | None) -> str:
    """The context as HTML with characters [start, end) in <mark>; all of it escaped.

    ("Paris is big", 0, 5) -> '<mark>Paris</mark> is big'
    """
    if start is None or end is None:
        return html.escape(context)
    return (f"{html.escape(context[:start])}<mark>{html.escape(context[start:end])}</mark>"
            f"{html.escape(context[end:])}")


def _alternatives(pred: dict[str, Any], k: int) -> str:
    others = [n for n in pred.get("nbest", []) if n["text"] != pred["answer"]][:k]
    if not others:
        return ""
    items = ", ".join(f"{html.escape(n['text'])} ({n['probability']:.2f})" for n in others)
    return f'<div class="bk-alt">next best: {items}</div>'


def question_section(example: Example, pred: dict[str, Any], alternatives: int = 3) -> str:
    """One question: the question, the verdict with its score, the marked context, the next best."""
    if pred["answer"]:
        verdict = (f'answer <b class="bk-answer">{html.escape(pred["answer"])}</b> '
                   f'(characters {pred["start"]}-{pred["end"]}, score {pred["score"]:.2f})')
    else:
        verdict = f'no answer in the context (null odds {pred["null_odds"]:+.2f})'
    qid = html.escape(str(example.meta.get("id", "")))
    return (f'<section class="bk-qa" data-id="{qid}"><h3>{html.escape(example.text)}</h3>'
            f"<div>{verdict}</div>"
            f'<p class="bk-context">{marked_context(example.pair, pred["start"], pred["end"])}</p>'
            f"{_alternatives(pred, alternatives)}</section>")


def answers_page(examples: Sequence[Example], preds: Sequence[dict[str, Any]],
                 title: str = "bertkit answers") -> str:
    """The offline page of every question's answer in its context."""
    from bertkit.explain.html import render_page

    sections = [question_section(ex, p) for ex, p in zip(examples, preds, strict=True)]
    return render_page(title, extra_html=_STYLE + "\n".join(sections))

