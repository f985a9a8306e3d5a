"""The answer view: user text escaped, the answer marked at its characters, an offline page."""

from __future__ import annotations

import html
import re

from bertkit.tasks.answer_view import answers_page, marked_context, question_section
from bertkit.tasks.qa import _example
from bertkit.tasks.registry import get_task

CONTEXT = 'Tom & Jerry <script>alert("x")</script> live in "Paris" since 1940.'
START = CONTEXT.index("Paris")


def pred(start, end, answer):
    nbest = [{"text": answer, "probability": 0.9}, {"text": "<b>1940</b>", "probability": 0.1}]
    return {"answer": answer, "start": start, "end": end, "score": 7.5, "null_odds": -3.0, "nbest": nbest}


def test_marked_context_is_escaped_and_marks_the_answer_characters():
    assert marked_context("Paris is big", 0, 5) == "<mark>Paris</mark> is big"
    page = marked_context(CONTEXT, START, START + 5)
    assert "<script>" not in page and "&lt;script&gt;" in page and "Tom &amp; Jerry" in page
    before, marked, after = re.fullmatch(r"(.*)<mark>(.*)</mark>(.*)", page, re.S).groups()
    assert html.unescape(before) == CONTEXT[:START]           # the mark starts at character START
    assert html.unescape(marked) == "Paris"
    assert html.unescape(before + marked + after) == CONTEXT   # nothing lost or added


def test_page_is_offline_and_escapes_the_question_and_alternatives():
    ex = _example("<input>", "q<1>", "Where do <i>they</i> live?", CONTEXT, [], [], False)
    unanswered = _example("<input>", "q2", "Who?", "No one & nothing.", [], [], False)
    page = answers_page([ex, unanswered], [pred(START, START + 5, "Paris"), pred(None, None, "")])
    assert "Content-Security-Policy" in page and not re.search(r"(src|href)=[\"']?https?:", page)
    assert "&lt;i&gt;they&lt;/i&gt;" in page and "<i>they</i>" not in page
    assert "&lt;b&gt;1940&lt;/b&gt; (0.10)" in page and 'data-id="q&lt;1&gt;"' in page
    assert page.count("<mark>") == 1 and "no answer in the context (null odds -3.00)" in page
    assert "characters 37-42" in question_section(ex, pred(37, 42, CONTEXT[37:42]))


def test_only_qa_has_a_view():
    assert get_task("classification").html_view([], []) is None
    assert get_task("qa").html_view([], []).startswith("<!DOCTYPE html>")
