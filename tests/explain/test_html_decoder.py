"""The decoder's views in headless Chromium (network off): the causal decoder heads draw no line to a
later token, the cross-attention view joins target tokens (left) to source tokens (right)."""

from __future__ import annotations

import json
import re

import pytest

from bertkit.explain.decoder import decoder_attention
from bertkit.explain.trace_decoder import toy_seq2seq

SOURCE = "one nine four"
TARGET = "mil novecentos e quarenta"


@pytest.fixture(scope="module")
def attention():
    import torch

    from bertkit.model.seq2seq import Seq2SeqTransformer, TransformerConfig

    torch.manual_seed(0)
    config = TransformerConfig(vocab_size=128, d_model=16, n_heads=4, d_ff=32, n_encoder_layers=2,
                               n_decoder_layers=3, dropout=0.0, max_positions=32)
    model = Seq2SeqTransformer(config).eval()
    return decoder_attention(model, toy_seq2seq()[1], SOURCE, TARGET)


@pytest.fixture(scope="module")
def page_path(tmp_path_factory, attention):
    return attention.save_html(tmp_path_factory.mktemp("dec") / "page.html", "decoder")


def test_page_data_has_one_view_per_kind(page_path):
    page = page_path.read_text(encoding="utf-8")
    data = json.loads(re.search(r'id="bertkit-data">(.*?)</script>', page, re.S).group(1))
    assert [(v["kind"], v["suffix"], len(v["tokens"]), len(v["keys"])) for v in data["views"]] == [
        ("encoder", "", 3, 3), ("decoder", "-decoder", 5, 5), ("cross", "-cross", 5, 3)]
    assert "Decoder self-attention (causal): Head view" in page and "Cross-attention: Head view" in page


@pytest.fixture()
def page(browser, page_path):
    context = browser.new_context(offline=True, viewport={"width": 1100, "height": 900})
    requests, errors = [], []
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://")
                  else (requests.append(route.request.url), route.abort()))
    pg = context.new_page()
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(page_path.as_uri())
    pg.wait_for_selector("body[data-ready='1']", timeout=10000)
    yield pg, errors
    assert requests == []
    context.close()


def lines(pg, suffix: str) -> list[tuple[int, int, float]]:
    return pg.evaluate(f"""Array.from(document.querySelectorAll('#bk-headview{suffix} line'))
        .map(l => [+l.getAttribute('data-r'), +l.getAttribute('data-c'), +l.getAttribute('data-w')])""")


def side(pg, suffix: str, which: str) -> list[str]:
    selector = f"#bk-headview{suffix} text[data-side='{which}']"
    return pg.evaluate(f"""Array.from(document.querySelectorAll("{selector}")).map(t => t.textContent)""")


def test_decoder_heads_never_look_ahead(page):
    pg, errors = page
    for layer in range(3):
        for head in range(4):
            pg.select_option("#bk-layer-decoder", str(layer))
            pg.select_option("#bk-head-decoder", str(head))
            drawn = lines(pg, "-decoder")
            assert drawn and all(c <= r for r, c, _ in drawn), (layer, head)
            assert any(r == 0 and c == 0 for r, c, _ in drawn)   # the first token can only see itself
    assert pg.locator("#bk-modelview-decoder .bk-thumb").count() == 3 * 4
    # the decoder's thumbnails are dark on the diagonal and white above it (no weight there)
    above = pg.evaluate("""(() => { const c = document.querySelector('#bk-modelview-decoder .bk-thumb');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let ink = 0;
        for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) {
          const r = Math.floor(y * 5 / c.height), k = Math.floor(x * 5 / c.width);
          if (k > r && d[4 * (y * c.width + x)] < 255) ink++; } return ink; })()""")
    assert above == 0
    assert errors == []


def test_cross_attention_joins_target_rows_to_source_columns(page, attention):
    pg, errors = page
    cross = attention.view("cross")
    assert side(pg, "-cross", "left") == cross.tokens == ["<s>", "mil", "novecentos", "e", "quarenta"]
    assert side(pg, "-cross", "right") == cross.key_tokens == SOURCE.split()
    pg.select_option("#bk-layer-cross", "2")
    pg.select_option("#bk-head-cross", "3")
    drawn = lines(pg, "-cross")
    expected = {(r, c) for r in range(5) for c in range(3) if cross.weights[2, 3, r, c] >= 0.01}
    assert {(r, c) for r, c, _ in drawn} == expected and max(c for _, c, _ in drawn) == 2
    size = pg.evaluate("""(() => { const c = document.querySelector('#bk-modelview-cross .bk-thumb');
        return [c.width, c.height]; })()""")
    assert size[0] < size[1]                                     # 3 source columns, 5 target rows
    assert pg.get_attribute("#bk-headview-cross", "data-kind") == "cross"
    pg.click("#bk-modelview-cross .bk-thumb[data-layer='1'][data-head='2']")
    assert pg.get_attribute("#bk-headview-cross", "data-layer") == "1"
    assert pg.get_attribute("#bk-headview", "data-layer") == "0"        # the other views stay put
    assert errors == []
