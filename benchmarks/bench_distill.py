"""Task distillation on real movie-review sentiment: all-MiniLM-L6-v2 (6 layers) fine-tuned as the
teacher -> a 3-layer student (teacher layers 0, 2, 4), beside the same student trained on the hard
labels alone (same init, same steps) and TF-IDF + logistic regression.

Targets (issue 14): the student keeps >= 97% of the teacher's dev accuracy at >= 1.8x its inference
throughput; distillation steps/s within 1.2x of the student's plain fine-tuning (teacher logits cached).
Throughput: dev sentences/s of `FineTuned.predict`, teacher and student alternating, median of
--repeats. Training speed (`step_rates`): the same 3-layer student trained on the same batches (32
sentences of <= 64 tokens) by the distillation objective (cached teacher logits, alpha 0.5) and by
plain fine-tuning (labels only), forward + backward + AdamW step, in alternating rounds so load
changes hit both alike; median and best round of each. Prints ONE JSON line. `--train N --epochs E`
change the size; `--steps-only` measures the training speed alone (minutes, not an hour).
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

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _train_tokens_per_s(run_dir: Path) -> float:
    """Median training tokens/s over the log windows of metrics.jsonl (both students see the same
    batches in the same order, so the ratio of tokens/s is the ratio of steps/s)."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = [r["tokens_per_s"] for r in records if r.get("split") == "train" and "tokens_per_s" in r]
    return statistics.median(train) if train else float("nan")


def _throughput(run_dir: Path, texts: list[str], repeats: int) -> list[float]:
    from bertkit.tasks.predict import FineTuned

    model = FineTuned.load(run_dir)
    model.predict(texts[:64])                           # warm-up
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict(texts, batch_size=64)
        rates.append(len(texts) / (time.perf_counter() - start))
    return rates


def _step_rates(teacher_dir: Path | None, texts: list[str], labels: list[int], rounds: int, steps: int
                ) -> dict[str, object]:
    """Steps/s of distillation (cached logits) and of plain fine-tuning, interleaved, same student."""
    import torch

    from bertkit.distill.objective import Distiller, TeacherLogitBatches, stack_logits
    from bertkit.distill.student import make_student
    from bertkit.model import BertForSequenceClassification
    from bertkit.tasks.demo import minilm_dir
    from bertkit.tasks.evaluate import feature_logits
    from bertkit.tasks.features import Feature
    from bertkit.tasks.registry import TASKS
    from bertkit.tokenizers import Tokenizer

    source = teacher_dir or minilm_dir()
    tokenizer = Tokenizer.from_pretrained(source)
    teacher = BertForSequenceClassification.from_pretrained(source, num_labels=2).eval()
    features = []
    for i, (text, label) in enumerate(zip(texts, labels, strict=True)):
        enc = tokenizer.encode(text, max_length=64, truncation=True)
        features.append(Feature(list(enc.ids), list(enc.type_ids), i, label))
    pad = tokenizer.pad_token_id or 0
    logits, _ = feature_logits(teacher, TASKS["classification"], features, 64, pad)
    batches = list(TeacherLogitBatches(features, stack_logits(logits), 32, seed=0, pad_id=pad)(0))[:steps]
    torch.manual_seed(0)
    models = {"distill": Distiller(make_student(teacher, [0, 2, 4]), 2.0, 0.5),
              "finetune": make_student(teacher, [0, 2, 4])}
    optims = {k: torch.optim.AdamW(m.parameters(), lr=1e-5) for k, m in models.items()}

    def one_round(name: str) -> float:
        model, opt = models[name], optims[name]
        model.train()
        start = time.perf_counter()
        for b in batches:
            inputs = b if name == "distill" else {k: v for k, v in b.items() if k != "teacher_logits"}
            model(**inputs).loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        return len(batches) / (time.perf_counter() - start)

    rates: dict[str, list[float]] = {"distill": [], "finetune": []}
    for name in rates:
        one_round(name)                                 # warm-up
    for _ in range(rounds):
        for name in rates:
            rates[name].append(one_round(name))
    med = {k: statistics.median(v) for k, v in rates.items()}
    best = {k: max(v) for k, v in rates.items()}
    return {"steps_per_s_median": {k: round(v, 3) for k, v in med.items()},
            "steps_per_s_best": {k: round(v, 3) for k, v in best.items()},
            "finetune_over_distill_median": med["finetune"] / med["distill"],
            "finetune_over_distill_best": best["finetune"] / best["distill"],
            "rounds": rounds, "steps_per_round": len(batches)}


def main() -> None:
    import torch

    from bertkit.datasets import labelled
    from bertkit.distill import DistillConfig, distill
    from bertkit.tasks.baseline import baseline
    from bertkit.tasks.demo import minilm_dir
    from bertkit.tasks.finetune import FinetuneConfig, finetune
    from bertkit.train.config import TrainConfig

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=2000, help="training sentences")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--student-epochs", type=float, default=2.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (on a shared, loaded machine two threads can be far slower than one)")
    ap.add_argument("--steps-only", action="store_true", help="only the training-speed comparison")
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds of the speed comparison")
    ap.add_argument("--round-steps", type=int, default=8, help="optimizer steps per round")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    work = Path(tempfile.mkdtemp(prefix="bench_distill_"))
    fields = ["text", "label"]
    train_rows = labelled.movie_reviews("train")[: args.train]
    names = sorted({r["label"] for r in train_rows})
    speed_texts = [r["text"] for r in train_rows[: 32 * args.round_steps]]
    speed_labels = [names.index(r["label"]) for r in train_rows[: 32 * args.round_steps]]
    if args.steps_only:
        print(json.dumps({"benchmark": "distill_steps", "student_layers": [0, 2, 4],
                          **_step_rates(None, speed_texts, speed_labels, args.rounds, args.round_steps),
                          "threads": torch.get_num_threads(), "load_avg": os.getloadavg()}))
        return
    labelled._write_csv(work / "train.csv", train_rows, fields)
    dev_rows = labelled.movie_reviews("dev")
    labelled._write_csv(work / "dev.csv", dev_rows, fields)
    train, dev = str(work / "train.csv"), str(work / "dev.csv")
    common = dict(batch_size=32, log_every=5, seed=0)
    warnings.simplefilter("ignore")
    teacher_train = TrainConfig(lr=5e-5, warmup_ratio=0.1, epochs=args.epochs, **common)
    finetune(FinetuneConfig(model=str(minilm_dir()), out=str(work / "teacher"), train_file=train,
                            dev_file=dev, max_length=64, train=teacher_train))
    runs = {}
    for name, alpha in (("student_distilled", 0.5), ("student_hard_labels", 0.0)):
        start = time.perf_counter()
        student_train = TrainConfig(lr=1e-4, warmup_ratio=0.1, epochs=args.student_epochs, **common)
        result = distill(DistillConfig(teacher=str(work / "teacher"), out=str(work / name), train_file=train,
                                       dev_file=dev, layers="3", alpha=alpha, temperature=2.0,
                                       train=student_train))
        runs[name] = {"accuracy": result.metrics["accuracy"],
                      "seconds": round(time.perf_counter() - start, 1),
                      "train_tokens_per_s": _train_tokens_per_s(work / name)}
        teacher_acc = result.teacher_metrics["accuracy"]
    texts = [r["text"] for r in dev_rows]
    rates: dict[str, list[float]] = {"teacher": [], "student": []}
    for _ in range(args.repeats):                      # interleaved, so load changes hit both alike
        rates["teacher"] += _throughput(work / "teacher", texts, 1)
        rates["student"] += _throughput(work / "student_distilled", texts, 1)
    tput = {k: statistics.median(v) for k, v in rates.items()}
    tfidf = baseline("classification", train, dev)["accuracy"]
    steps = _step_rates(work / "teacher", speed_texts, speed_labels, args.rounds, args.round_steps)
    kd, plain = runs["student_distilled"], runs["student_hard_labels"]
    print(json.dumps({
        "benchmark": "distill", "teacher": "all-MiniLM-L6-v2 fine-tuned (6 layers)",
        "student_layers": [0, 2, 4], "train": args.train, "dev": len(dev_rows),
        "teacher_accuracy": teacher_acc,
        **runs, "tfidf_accuracy": tfidf, "kept_fraction": kd["accuracy"] / teacher_acc,
        "sentences_per_s": {k: round(v, 1) for k, v in tput.items()},
        "speedup": tput["student"] / tput["teacher"],
        "distill_vs_plain_steps": kd["train_tokens_per_s"] / plain["train_tokens_per_s"],
        "step_rates": steps,
        "threads": torch.get_num_threads(), "load_avg": os.getloadavg()}))


if __name__ == "__main__":
    main()
