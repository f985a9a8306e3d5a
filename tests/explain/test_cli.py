"""`bertkit explain` end to end: report, heads, trace, errors, and the demo stage."""

from __future__ import annotations

import json

import pytest

from bertkit.cli import main


def test_report_on_a_run_dir(tiny_run_dir, tmp_path, capsys):
    out = tmp_path / "r.html"
    js = tmp_path / "r.json"
    rc = main(["explain", "--model", str(tiny_run_dir), "A wonderful film.", "--out", str(out),
               "--steps", "8", "--json", str(js), "--target", "positive"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "predicted:" in printed and "top words for positive" in printed and str(out) in printed
    page = out.read_text(encoding="utf-8")
    assert "bk-headview" in page and "bk-word" in page
    data = json.loads(js.read_text())
    assert data["target_label"] == "positive" and data["words"][0][0] == "a"


def test_heads_mode_with_text_after_options(minilm_dir, capsys):
    rc = main(["explain", "heads", "--model", str(minilm_dir), "the cat sat on the mat", "dogs bark"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "over 2 input(s)" in out and "previous token" in out and "L0H2" in out


def test_trace_toy_markdown(tmp_path, capsys):
    assert main(["explain", "trace", "--toy", "the cat sat", "--head", "1", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "### 10. softmax" in out and "(3, 8)" in out


def test_errors_are_messages_not_tracebacks(minilm_dir, capsys):
    assert main(["explain", "trace", "--model", str(minilm_dir), "the cat", "--layer", "9"]) == 2
    assert "layers 0..5" in capsys.readouterr().err
    assert main(["explain", "--model", str(minilm_dir), "  "]) == 2
    assert "empty text" in capsys.readouterr().err
    assert main(["explain", "heads", "some text"]) == 2
    assert "--model DIR is required" in capsys.readouterr().err


def test_demo_stage_with_and_without_a_finetuned_model(tiny_run_dir, tmp_path, capsys):
    from bertkit.demo import DemoContext
    from bertkit.explain import demo

    ctx = DemoContext(workdir=tmp_path, quick=True,
                      artifacts={"finetuned_dir": tiny_run_dir, "example_text": "A dull, slow film."})
    demo.run(ctx)
    assert ctx.artifacts["explanation_html"].is_file() and ctx.artifacts["explanation_top_words"]
    assert "top words:" in capsys.readouterr().out
    bare = DemoContext(workdir=tmp_path / "bare", quick=True)
    demo.run(bare)
    assert "attention only" in capsys.readouterr().out and bare.artifacts["explanation_html"].is_file()


def test_an_output_that_is_a_directory_is_refused_before_the_model_runs(tmp_path, capsys):
    for flag in ("--out", "--json", "--png"):
        assert main(["explain", "--model", str(tmp_path / "no-model"), "text", flag, str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert f"{flag} {tmp_path}: is a directory" in err and "Traceback" not in err
    assert main(["explain", "trace", "--toy", "the cat", "--trace-out", str(tmp_path)]) == 2
    assert "--trace-out" in capsys.readouterr().err


def test_numbers_are_checked_at_the_boundary(minilm_dir, capsys):
    bad = [("--steps", "1"), ("--steps", "x"), ("--batch-size", "0"), ("--token", "-1"),
           ("--ig-layer", "-2"), ("--top", "0"), ("--layer", "-1"), ("--head", "-3"), ("--steps", "nan")]
    for flag, value in bad:
        with pytest.raises(SystemExit) as e:
            main(["explain", "--model", str(minilm_dir), "text", flag, value])
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert flag in err and "Traceback" not in err, (flag, value, err)
