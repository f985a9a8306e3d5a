"""The page at `/` as a person sees it: Debian's headless Chromium driven by Playwright, against a
real uvicorn on 127.0.0.1, with every request that is not to that server refused.

Needs /usr/bin/chromium and the `playwright` package (never `playwright install`); skips without.
"""

from __future__ import annotations

import io
import re

import pytest

from bertkit.serve.app import create_app
from bertkit.serve.config import ServeConfig
from tests.serve.conftest import serving


@pytest.fixture(scope="module")
def server(classifier_run, classifier_engine):
    app = create_app(ServeConfig(model=str(classifier_run), explain_steps=4), classifier_engine)
    with serving(app) as url:
        yield url


@pytest.fixture()
def page(browser, server):
    """The page, loaded with the network off: only the bertkit server itself answers."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    outside, errors, fetched = [], [], []

    def route(r):
        if r.request.url.startswith(server + "/"):
            fetched.append(r.request.url[len(server):])
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    pg = context.new_page()
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(server + "/")
    pg.wait_for_selector("body[data-loaded='1']", timeout=10000)
    yield pg, outside, errors, fetched
    context.close()


def test_page_loads_offline_without_errors(page):
    pg, outside, errors, fetched = page
    assert errors == [] and outside == []
    assert set(fetched) == {"/", "/static/explain/views.css", "/static/page.css", "/static/page.js"}
    assert pg.is_hidden("#bk-pair-row")                   # a single-text classifier: no second box


def test_submitting_a_sentence_shows_prediction_colours_and_head_view(page, tmp_path, classifier_engine):
    import matplotlib.image as mpimg

    pg, outside, errors, fetched = page
    text = "The film was a quiet delight, and the cast was great."
    pg.fill("#bk-text", text)
    pg.click("#bk-submit")
    pg.wait_for_selector("body[data-ready='1']", timeout=20000)
    want = classifier_engine.finetuned.predict([text])[0]["label"]
    assert pg.text_content("#bk-pred") == want
    assert pg.locator("#bk-scores tr").count() == 2
    colours = pg.eval_on_selector_all(".bk-word", "ws => ws.map(w => getComputedStyle(w).backgroundColor)")
    assert len(colours) >= 10
    assert all(re.match(r"rgba\((0, 160, 60|220, 30, 30), [0-9.]+\)", c) for c in colours), colours
    assert pg.locator("#bk-headview line").count() > 0 and pg.locator(".bk-thumb").count() == 2 * 2
    assert pg.locator("#bk-heads tr").count() > 3
    pg.select_option("#bk-layer", "1")                    # the report's head view, driven as there
    assert pg.get_attribute("#bk-headview", "data-layer") == "1"
    shot = pg.screenshot(full_page=True)
    (tmp_path / "page.png").write_bytes(shot)
    assert mpimg.imread(io.BytesIO(shot), format="png").std() > 0.05
    # a second sentence redraws rather than appends
    pg.fill("#bk-text", "a dull plot")
    pg.click("#bk-submit")
    pg.wait_for_selector("body[data-ready='1']", timeout=20000)
    assert pg.locator(".bk-word").count() == 3 and pg.locator(".bk-thumb").count() == 4
    assert pg.locator("#bk-headview text").count() == 2 * 5
    assert errors == [] and outside == []


def test_an_error_is_shown_not_thrown(page):
    pg, _, errors, _ = page
    pg.fill("#bk-text", "x" * 60_000)                     # over the server's --max-chars
    pg.click("#bk-submit")
    pg.wait_for_selector("#bk-status.bk-error", timeout=20000)
    assert "inputs" in pg.text_content("#bk-status")
    assert [e for e in errors if "413" not in e] == []    # the browser logs the failed fetch itself
