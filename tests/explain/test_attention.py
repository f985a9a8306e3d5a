"""Attention extraction: parity with transformers, stitched windows, Clark et al.'s previous-token head."""

from __future__ import annotations

import numpy as np
import pytest

from bertkit.errors import ConfigError, DataError
from bertkit.explain.attention import extract_attention
from bertkit.explain.inputs import encode, windows

TEXT = "The quick brown fox jumps over the lazy dog, and the dog sleeps."


def test_matches_transformers_attentions(minilm, minilm_dir):
    import torch
    from transformers import BertModel

    model, tok = minilm
    ours = extract_attention(model, tok, TEXT)
    hf = BertModel.from_pretrained(minilm_dir, attn_implementation="eager").eval()
    with torch.no_grad():
        out = hf(torch.tensor([ours.encoded.ids]), output_attentions=True)
    theirs = torch.cat(out.attentions).numpy()
    assert ours.shape == theirs.shape == (6, 12, len(ours.tokens), len(ours.tokens))
    assert np.abs(ours.weights - theirs).max() < 1e-5


def test_rows_sum_to_one_and_tokens_match_tokenizer(minilm):
    model, tok = minilm
    a = extract_attention(model, tok, TEXT)
    assert a.tokens[0] == "[CLS]" and a.tokens[-1] == "[SEP]" and "fox" in a.tokens
    np.testing.assert_allclose(a.weights.sum(-1), 1.0, atol=1e-5)


def test_previous_token_head_exists_in_minilm(minilm):
    # Clark et al. 2019, "What does BERT look at?", Sec. 3: some heads attend to the previous token
    # with over 50% of their attention on most tokens; all-MiniLM-L6-v2 keeps such a head.
    model, tok = minilm
    heads = extract_attention(model, tok, TEXT).patterns()
    (layer, head, score), *_ = heads.top("previous", 1)
    assert score > 0.5


def test_windows_cover_every_token_with_overlap():
    from bertkit.explain.inputs import Encoded

    n = 40
    enc = Encoded(list(range(n)), [str(i) for i in range(n)], [0] * n, [None] + list(range(n - 2)) + [None],
                  [True] + [False] * (n - 2) + [True])
    ws = windows(enc, 12, overlap=3)
    assert all(len(w.ids) <= 12 and w.positions[0] == 0 and w.positions[-1] == n - 1 for w in ws)
    covered = sorted({p for w in ws for p in w.positions})
    assert covered == list(range(n))
    for a, b in zip(ws, ws[1:], strict=False):
        assert len(set(a.positions[1:-1]) & set(b.positions[1:-1])) == 3


def test_long_input_is_stitched_from_windows(minilm):
    model, tok = minilm
    text = " ".join(f"sentence number {i} is here." for i in range(12))
    full = extract_attention(model, tok, text)
    stitched = extract_attention(model, tok, text, max_positions=24, overlap=6)
    assert stitched.n_windows > 2 and stitched.shape == full.shape
    np.testing.assert_allclose(stitched.weights.sum(-1), 1.0, atol=1e-5)
    # tokens 1 and the last ordinary token never share a window: no attention between them
    assert stitched.weights[:, :, 1, -2].max() == 0.0


def test_text_longer_than_positions_runs_by_windows(minilm):
    model, tok = minilm
    text = "word " * 700
    a = extract_attention(model, tok, text)
    assert len(a.tokens) > 512 and a.n_windows >= 2


def test_bad_input_messages(minilm):
    model, tok = minilm
    with pytest.raises(DataError, match="empty text"):
        extract_attention(model, tok, "   ")
    a = extract_attention(model, tok, "a short text")
    with pytest.raises(ConfigError, match=r"0\.\.5"):
        a.head(6, 0)
    with pytest.raises(ConfigError, match=r"0\.\.11"):
        a.head(0, 12)


def test_png_heatmaps_are_written(minilm, tmp_path):
    model, tok = minilm
    a = extract_attention(model, tok, "the cat sat")
    for args, name in (((0, 2), "one.png"), ((1, None), "layer.png"), ((None, None), "all.png")):
        path = a.save_png(tmp_path / name, *args)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_encode_reports_words(minilm):
    _, tok = minilm
    enc = encode(tok, "Tokenization works")
    words = [w for w, pos in enc.words() if not enc.special[pos[0]]]
    assert words == ["tokenization", "works"]
