"""The fine-tuning demo stage end to end (quick mode): it leaves a RUN the explain stage can use."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_demo_stage_quick(tmp_path, capsys):
    from bertkit.demo import DemoContext
    from bertkit.tasks import demo
    from bertkit.tasks.predict import FineTuned

    ctx = DemoContext(workdir=tmp_path, quick=True)
    demo.run(ctx)
    out = capsys.readouterr().out
    assert "TF-IDF + logistic reg." in out and "fine-tuned MiniLM" in out
    ft = FineTuned.load(ctx.artifacts["finetuned_dir"])
    assert ft.spec.labels == ["negative", "positive"]
    assert ft.predict([ctx.artifacts["example_text"]])[0]["label"] in ft.spec.labels
