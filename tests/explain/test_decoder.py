"""Explaining the decoders: the trace of GPT's masked self-attention and of the encoder-decoder's
cross-attention equals the models' own forward pass, and the attention views are causal (GPT,
decoder) or (target x source) (cross), equal to transformers' GPT-2 attentions on the same weights."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from bertkit.cli import main
from bertkit.errors import ConfigError, DataError
from bertkit.explain.decoder import decoder_attention
from bertkit.explain.trace import trace_attention
from bertkit.explain.trace_decoder import toy_gpt, toy_seq2seq

pytestmark = pytest.mark.usefixtures("no_grad")

TEXT = "the cat sat on the mat"


def relative_diff(t) -> float:
    checked = [s for s in t.steps if s.model_diff is not None]
    return max(s.model_diff / max(1.0, float(np.abs(s.value).max())) for s in checked)


def assert_causal_softmax(w: np.ndarray) -> None:
    """Rows sum to 1; every weight above the diagonal is exactly 0; the diagonal is not."""
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-6)
    upper = np.triu(np.ones(w.shape[-2:], dtype=bool), 1)
    assert (w[..., upper] == 0.0).all()
    assert (np.diagonal(w, axis1=-2, axis2=-1) > 0).all()


@pytest.mark.parametrize("head", [0, 1])
def test_gpt_trace_equals_the_model(head):
    model, tok = toy_gpt()
    t = trace_attention(model, tok, TEXT, layer=0, head=head)
    assert relative_diff(t) <= 1e-6                                   # float32 model
    names = [s.name for s in t.steps]
    assert names.index("QKᵀ/√d") < names.index("causal mask") < names.index("QKᵀ/√d + mask") < \
        names.index("softmax")
    mask = t.step("causal mask").value
    upper = np.triu(np.ones((6, 6), dtype=bool), 1)
    assert (mask[upper] == -np.inf).all() and (mask[~upper] == 0).all()
    assert (t.step("QKᵀ/√d + mask").value[upper] == -np.inf).all()
    assert_causal_softmax(t.step("softmax").value)
    # the model's own explicit path, called directly, gives the same weights and output
    x = torch.tensor(t.step("LayerNorm(X)").value, dtype=torch.float32)[None]
    out, probs = model.layers[0].attn(x, causal=True, output_attentions=True)
    np.testing.assert_allclose(t.step("softmax").value, probs[0, head].double().numpy(), atol=1e-6)
    np.testing.assert_allclose(t.step("output projection").value, out[0].double().numpy(), atol=1e-6)
    # and the layer's output, through the final LayerNorm and the tied head, is the model's logits
    ids = torch.tensor([tok.encode(TEXT).ids])
    h = torch.tensor(t.step("layer output").value, dtype=torch.float32)
    logits = model.final_norm(h) @ model.word.weight.T
    torch.testing.assert_close(logits, model(ids).logits[0], atol=1e-5, rtol=1e-5)
    model.double()
    assert trace_attention(model, tok, TEXT, layer=0, head=head).max_model_diff() <= 1e-10


def test_seq2seq_trace_has_masked_self_attention_then_cross_attention():
    model, tok = toy_seq2seq()
    t = trace_attention(model, tok, "one nine four seven", layer=0, head=1, target="mil novecentos e")
    assert relative_diff(t) <= 1e-6
    assert t.tokens == ["<s>", "mil", "novecentos", "e"]
    assert t.source_tokens == ["one", "nine", "four", "seven"]
    assert_causal_softmax(t.step("softmax").value)
    cross = t.step("softmax (cross)").value
    assert cross.shape == (4, 4 - 0) and t.step("QKᵀ (cross)").shape == (4, 4)
    np.testing.assert_allclose(cross.sum(-1), 1.0, atol=1e-12)
    assert (cross > 0).all()                                          # cross-attention sees the whole source
    assert t.step("K (cross)").rows == t.source_tokens
    # the model's own cross-attention on the trace's h and M
    block = model.decoder[0]
    h = torch.tensor(t.step("LayerNorm(X + self-attention)").value, dtype=torch.float32)[None]
    memory = torch.tensor(t.step("M").value, dtype=torch.float32)[None]
    out, probs = block.cross(h, memory=memory, output_attentions=True)
    np.testing.assert_allclose(cross, probs[0, 1].double().numpy(), atol=1e-6)
    np.testing.assert_allclose(t.step("output projection (cross)").value, out[0].double().numpy(), atol=1e-6)
    # the last decoder layer's output, through the shared embeddings, is the model's logits
    src, tgt = tok.encode("one nine four seven").ids, [1, *tok.encode("mil novecentos e").ids]
    logits = model(torch.tensor([src]), decoder_input_ids=torch.tensor([tgt])).logits[0]
    out = torch.tensor(t.step("layer output").value, dtype=torch.float32) @ model.embed.weight.T
    torch.testing.assert_close(out, logits, atol=1e-5, rtol=1e-5)
    assert trace_attention(model.double(), tok, "one nine four", 0, 0, "mil").max_model_diff() <= 1e-10


def test_seq2seq_without_a_target_traces_its_own_greedy_output():
    model, tok = toy_seq2seq()
    t = trace_attention(model, tok, "one nine four seven", layer=0, head=0)
    greedy = model.generate(torch.tensor([tok.encode("one nine four seven").ids]), max_new_tokens=24)[0]
    greedy = greedy.tolist()[1:]
    if 2 in greedy:
        greedy = greedy[:greedy.index(2)]
    assert len(t.tokens) == 1 + len(greedy) and t.tokens[0] == "<s>"


def test_views_are_causal_and_target_by_source():
    model, tok = toy_seq2seq(seed=2)
    a = decoder_attention(model, tok, "one nine four seven", "mil novecentos")
    assert [v.kind for v in a.views] == ["encoder", "decoder", "cross"]
    enc, dec, cross = a.views
    assert enc.shape == (1, 2, 4, 4) and dec.shape == (1, 2, 3, 3) and cross.shape == (1, 2, 3, 4)
    assert cross.tokens == ["<s>", "mil", "novecentos"]
    assert cross.key_tokens == ["one", "nine", "four", "seven"]
    assert_causal_softmax(dec.weights)
    t = trace_attention(model, tok, "one nine four seven", 0, 1, "mil novecentos")
    np.testing.assert_allclose(cross.head(0, 1), t.step("softmax (cross)").value, atol=1e-6)
    np.testing.assert_allclose(dec.head(0, 1), t.step("softmax").value, atol=1e-6)
    with pytest.raises(ConfigError, match=r"valid heads are 0\.\.1"):
        cross.head(0, 2)


def test_gpt_attention_equals_transformers_gpt2(tmp_path):
    transformers = pytest.importorskip("transformers")
    from bertkit.model.gpt import GPTConfig, GPTLanguageModel

    torch.manual_seed(0)
    model = GPTLanguageModel(GPTConfig.preset("tiny", vocab_size=128, n_positions=32, n_layer=2)).eval()
    model.save_pretrained(tmp_path)
    ref = transformers.GPT2LMHeadModel.from_pretrained(tmp_path, attn_implementation="eager").eval()
    _, tok = toy_gpt()
    view = decoder_attention(model, tok, TEXT).view("decoder")
    with torch.no_grad():
        theirs = ref(torch.tensor([tok.encode(TEXT).ids]), output_attentions=True).attentions
    np.testing.assert_allclose(view.weights, torch.cat(theirs).numpy(), atol=1e-6)
    assert_causal_softmax(view.weights)


@pytest.fixture(scope="module")
def decoder_dirs(tmp_path_factory, minilm_dir):
    """A tiny GPT and a tiny encoder-decoder saved with all-MiniLM's tokenizer (vocabulary 30522)."""
    from bertkit.model.gpt import GPTConfig, GPTLanguageModel
    from bertkit.model.seq2seq import Seq2SeqTransformer, TransformerConfig

    root = tmp_path_factory.mktemp("decoders")
    torch.manual_seed(0)
    gpt = GPTConfig(vocab_size=30522, n_positions=64, n_embd=16, n_layer=2, n_head=2)
    s2s = TransformerConfig(vocab_size=30522, d_model=16, n_heads=2, d_ff=32, n_encoder_layers=1,
                            n_decoder_layers=2, max_positions=64, bos_token_id=101, eos_token_id=102)
    models = {"gpt": GPTLanguageModel(gpt), "seq2seq": Seq2SeqTransformer(s2s)}
    for name, model in models.items():
        model.save_pretrained(root / name)
        shutil.copy(minilm_dir / "tokenizer.json", root / name / "tokenizer.json")
    return root


def test_cli_traces_and_reports_decoder_directories(decoder_dirs, tmp_path, capsys):
    gpt, s2s = str(decoder_dirs / "gpt"), str(decoder_dirs / "seq2seq")
    assert main(["explain", "trace", "--model", gpt, "the cat sat", "--layer", "1", "--head", "1"]) == 0
    out = capsys.readouterr().out
    assert "Masked self-attention of GPT layer 1, head 1" in out and "causal mask" in out and "−∞" in out
    assert main(["explain", "trace", "--model", s2s, "--arch", "seq2seq", "um dois tres",
                 "--target-text", "one two three", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    # target [CLS] one two three (4) x source um doi ##s tres (4)
    assert "### 12. softmax" in out and "softmax (cross)" in out and "shape `(4, 4)`" in out
    page = tmp_path / "s2s.html"
    assert main(["explain", "--model", s2s, "um dois tres", "--target-text", "one two", "--out", str(page),
                 "--png", str(tmp_path / "a.png")]) == 0
    out = capsys.readouterr().out
    assert "Seq2SeqTransformer: the report shows its attention (Encoder self-attention, Decoder " in out
    html = page.read_text(encoding="utf-8")
    assert 'id="bk-headview-cross"' in html and 'id="bk-headview-decoder"' in html
    assert {p.name for p in tmp_path.glob("*.png")} == {"a.png", "a-decoder.png", "a-cross.png"}


def test_cli_errors_name_the_problem(decoder_dirs, minilm_dir, capsys):
    gpt = str(decoder_dirs / "gpt")
    cases = [(["trace", "--model", gpt, "the cat", "--arch", "seq2seq"], "holds a gpt model"),
             (["trace", "--model", gpt, "the cat", "--layer", "2"], "decoder layers 0..1"),
             (["trace", "--model", gpt, "the cat", "--target-text", "x"], "encoder-decoder models"),
             (["trace", "--model", str(minilm_dir), "the cat", "--target-text", "x"], "encoder-decoder"),
             (["--model", gpt, "the cat", "--target", "positive"], "no classifier to attribute"),
             (["trace", "--model", gpt, " ".join(["word"] * 80)], "has 64 positions"),
             (["heads", "--model", gpt, "the cat"], "scores BERT encoder heads"),
             (["embeddings", "--model", gpt, "--vectors", "v.txt", "bank", "a bank", "the bank"],
              "GPTLanguageModel is a decoder")]
    for argv, message in cases:
        assert main(["explain", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)


def test_decoder_input_errors():
    model, tok = toy_gpt()
    with pytest.raises(DataError, match="empty text"):
        decoder_attention(model, tok, "  ")
    s2s, tok = toy_seq2seq()
    with pytest.raises(DataError, match="empty target text"):
        decoder_attention(s2s, tok, "one", " ")


@pytest.fixture()
def no_grad():
    with torch.no_grad():
        yield


def test_a_seq2seq_train_run_uses_its_task_vocabulary(tmp_path, capsys):
    """A `bertkit seq2seq train` RUN has task.json (its vocabulary) instead of a tokenizer.json."""
    train = pytest.importorskip("bertkit.seq2seq.train")
    from bertkit.io import atomic_write_json
    from bertkit.model.seq2seq import Seq2SeqTransformer, TransformerConfig
    from bertkit.seq2seq.task import Num2WordsTask

    task = Num2WordsTask(max_digits=3)
    torch.manual_seed(0)
    config = TransformerConfig(vocab_size=task.vocab_size, d_model=16, n_heads=2, d_ff=32, n_encoder_layers=1,
                               n_decoder_layers=1, max_positions=32)
    Seq2SeqTransformer(config).save_pretrained(tmp_path)
    atomic_write_json(tmp_path / train.TASK_FILE, task.to_dict())
    assert main(["explain", "trace", "--model", str(tmp_path), "947", "--target-text",
                 "novecentos e quarenta e sete", "--head", "1"]) == 0
    out = capsys.readouterr().out
    assert "target <s> novecentos e quarenta e sete, then cross-attention over the source 9 4 7" in out
    assert "softmax (cross)  each row sums to 1: the attention weights  shape (6, 3)" in out
    assert main(["explain", "trace", "--model", str(tmp_path), "947", "--target-text", "nine"]) == 2
    assert "'nine' (in 'nine') is not in the task's vocabulary" in capsys.readouterr().err
