"""The HTML views as a person sees them: headless Chromium, network off, Playwright driving it.

Needs Debian's `chromium` (/usr/bin/chromium) and the `playwright` Python package; never
`playwright install`. Without them these tests skip and say why.
"""

from __future__ import annotations

import io
import json
import re
import types

import numpy as np
import pytest

from bertkit.explain.attention import extract_attention
from bertkit.explain.attributions import integrated_gradients
from bertkit.explain.html import render_page


def test_page_is_self_contained(minilm):
    model, tok = minilm
    page = extract_attention(model, tok, "the cat sat").to_html()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "default-src 'none'" in page                      # the browser may fetch nothing
    assert "<script src" not in page and "<link" not in page


@pytest.fixture(scope="module")
def report_page(tmp_path_factory, minilm, tiny_classifier):
    model, tok = minilm
    text = "The film was a quiet delight, and the cast was great."
    attn = extract_attention(model, tok, text)
    attr = integrated_gradients(*tiny_classifier, text, n_steps=8)
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(render_page("test report", attention=attn, attribution=attr, heads=attn.patterns()),
                    encoding="utf-8")
    return path


@pytest.fixture()
def page(browser, report_page):
    context = browser.new_context(offline=True, viewport={"width": 1100, "height": 900})
    requests, errors = [], []
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://")
                  else (requests.append(route.request.url), route.abort()))
    pg = context.new_page()
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(report_page.as_uri())
    pg.wait_for_selector("body[data-ready='1']", timeout=10000)
    yield pg, requests, errors
    context.close()


def drawn(pg) -> str:
    return pg.evaluate("""Array.from(document.querySelectorAll('#bk-headview line'))
        .map(l => [l.getAttribute('y1'), l.getAttribute('y2'), l.getAttribute('data-w')].join(','))
        .join(';')""")


def test_loads_offline_without_errors(page):
    pg, requests, errors = page
    assert errors == [] and requests == []
    assert pg.locator("#bk-headview text").count() > 10
    assert pg.locator(".bk-thumb").count() == 6 * 12
    assert pg.locator(".bk-word").count() >= 10


def test_layer_and_head_selectors_change_the_drawing(page):
    pg, _, errors = page
    first = drawn(pg)
    assert first
    pg.select_option("#bk-layer", "3")
    assert pg.get_attribute("#bk-headview", "data-layer") == "3"
    third = drawn(pg)
    pg.select_option("#bk-head", "7")
    assert pg.get_attribute("#bk-headview", "data-head") == "7"
    assert len({first, third, drawn(pg)}) == 3
    # hovering a token keeps only its lines
    all_lines = pg.locator("#bk-headview line").count()
    pg.hover("#bk-headview text[data-side='left'][data-index='3']")
    assert 0 < pg.locator("#bk-headview line").count() < all_lines
    # clicking a model-view thumbnail opens that head in the head view
    pg.click(".bk-thumb[data-layer='1'][data-head='2']")
    assert pg.get_attribute("#bk-headview", "data-layer") == "1"
    assert pg.get_attribute("#bk-headview", "data-head") == "2"
    assert errors == []


def test_screenshot_and_thumbnails_are_not_blank(page, tmp_path):
    import matplotlib.image as mpimg

    pg, _, _ = page
    shot = pg.screenshot(full_page=True)
    (tmp_path / "report.png").write_bytes(shot)
    pixels = mpimg.imread(io.BytesIO(shot), format="png")
    assert pixels.std() > 0.05
    thumb = pg.evaluate("""(() => { const c = document.querySelector('.bk-thumb');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let dark = 0; for (let i = 0; i < d.length; i += 4) if (d[i] < 200) dark++; return dark; })()""")
    assert thumb > 0
    assert np.prod(pixels.shape[:2]) > 1000 * 800


HOSTILE = ["[CLS]", "<!--", "</script>", "<script>alert(1)</script>", "a&amp;b", "-->", "\\", "[SEP]"]


@pytest.fixture(scope="module")
def hostile_page(tmp_path_factory, minilm):
    """A page whose tokens try to open an HTML comment and close the data's <script> element."""
    model, tok = minilm
    attn = extract_attention(model, tok, "one two three four five six")
    fake = types.SimpleNamespace(weights=attn.weights, tokens=HOSTILE, n_windows=1)
    path = tmp_path_factory.mktemp("hostile") / "page.html"
    path.write_text(render_page("<!-- title", attention=fake), encoding="utf-8")
    return path


def test_embedded_data_is_valid_json_whatever_the_tokens(hostile_page):
    page = hostile_page.read_text(encoding="utf-8")
    found = re.search(r'<script type="application/json" id="bertkit-data">(.*?)</script>', page, re.S)
    data = json.loads(found.group(1))
    assert data["attention"]["tokens"] == HOSTILE
    assert "<!--" not in found.group(1) and "<\\!--" not in page


def test_hostile_tokens_render_as_text(browser, hostile_page):
    context = browser.new_context(offline=True)
    pg = context.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("dialog", lambda d: (errors.append("dialog"), d.dismiss()))
    pg.goto(hostile_page.as_uri())
    pg.wait_for_selector("body[data-ready='1']", timeout=10000)
    shown = pg.evaluate("""Array.from(document.querySelectorAll("#bk-headview text[data-side='left']"))
        .map(t => t.textContent)""")
    assert errors == [] and shown == HOSTILE
    assert pg.locator(".bk-thumb").count() == 6 * 12
    context.close()
