"""A BERT from scratch on the CPU: movie-review accuracy per pretraining budget, each recipe vs TF-IDF.

The unlabelled text is the bundled English corpus (3,824 news articles, 12.5M characters) plus
the 8.5k movie-review sentences of the train split (labels unused). A WordPiece vocabulary of
--vocab-size is learned on it by bertkit; then, per recipe and budget, `bertkit pretrain --recipe
R` runs for the budget's steps (a budget in minutes is turned into steps with the recipe's
steps/s measured here first: the one-cycle schedule needs the step count), the RUN is
fine-tuned on the first --train labelled train sentences and scored on the dev split (the figure
the issue asks for; settings were chosen on it) and on the test split. Budget 0 fine-tunes the
same architecture untrained (what pretraining adds). TF-IDF + logistic regression is fitted on
the same --train sentences. Fine-tuning runs --seeds seeds per model (mean, spread, each run).
--init-embeddings word2vec starts every model's token embeddings from skip-gram vectors of the
shards (`bertkit pretrain --init-embeddings`), trained once; budget 0 is then that model unpretrained.
The recipe's own training choices apply (cramming: one-cycle to peak lr 1e-3, 10% warmup), as on
the command line; --lr overrides the peak.

    .venv/bin/python benchmarks/bench_from_scratch.py --minutes 15 30 60          # the issue's curve
    .venv/bin/python benchmarks/bench_from_scratch.py --steps 0 150 400 --recipes cramming electra
Prints ONE JSON line: per recipe and budget the steps, pretraining seconds and steps/s, dev and
test accuracy; TF-IDF's; and the load average (the machine is shared: minutes here are wall-clock
minutes under that load).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench_adaptation import finetune_accuracy, summary, write_docs  # noqa: E402  (same folder)


def prepare_data(tmp: Path, args: argparse.Namespace, train_all: list[dict]) -> tuple[Path, Path]:
    """(tokenizer dir, shards dir) of the corpus + movie sentences."""
    from bertkit.data.shards import prepare
    from bertkit.datasets import corpus_file
    from bertkit.tokenizers import Tokenizer

    corpus = corpus_file("en", "train")
    if args.corpus_mb:
        text = corpus.read_text(encoding="utf-8")[: int(args.corpus_mb * 1e6)].rsplit("\n\n", 1)[0]
        corpus = tmp / "corpus.txt"
        corpus.write_text(text + "\n", encoding="utf-8")
    movie = write_docs(tmp / "movie_unlabelled.txt", [r["text"] for r in train_all])
    tok_dir = tmp / "tokenizer"
    if (tmp / "shards" / "meta.json").is_file() and (tok_dir / "tokenizer.json").is_file():
        return tok_dir, tmp / "shards"                     # --work-dir of an earlier run: the same data
    Tokenizer.train([str(corpus), str(movie)], algorithm="wordpiece", vocab_size=args.vocab_size,
                    show_progress=False).save(tok_dir)
    prepare([corpus, movie], tok_dir, tmp / "shards", workers=args.threads, progress=False)
    return tok_dir, tmp / "shards"


def pretrain_config(recipe: str, steps: int, args: argparse.Namespace, vectors: Path | None):
    """The recipe's own config, as `bertkit pretrain --recipe R` builds it: its training choices
    (cramming: peak lr 1e-3, 10% warmup, one-cycle) stay, only the budget and batch are set here."""
    from bertkit.train.pretrain import PretrainConfig

    cfg = PretrainConfig(recipe=recipe, preset=args.preset, seq_len=args.seq_len,
                         init_embeddings=str(vectors) if vectors else None)
    cfg.train = dataclasses.replace(cfg.train, max_steps=max(steps, 1), batch_size=args.batch_size, seed=0,
                                    log_every=25, **({"lr": args.lr} if args.lr is not None else {}))
    return cfg


def pretrain_run(shards: Path, out: Path, recipe: str, steps: int, args: argparse.Namespace,
                 vectors: Path | None = None) -> tuple[float, float]:
    """Pretrain `steps` steps (0: save the untrained model, its embeddings from `vectors` if given);
    returns (wall, CPU) seconds.

    CPU seconds (all threads) say what the run would take on an idle machine when the box is shared.
    """
    from bertkit.data.shards import ShardSet
    from bertkit.tokenizers import Tokenizer
    from bertkit.train.pretrain import build_model, init_token_embeddings, pretrain

    cfg = pretrain_config(recipe, steps, args, vectors)
    start, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if steps == 0:
            import torch

            torch.manual_seed(0)
            tokenizer, data = Tokenizer.from_pretrained(shards), ShardSet(shards, verify=False)
            model = build_model(cfg, data, tokenizer)
            if vectors:
                init_token_embeddings(model, tokenizer, cfg, data, out, seed=0)
            kept = getattr(model, "discriminator", model)
            kept.save_pretrained(out)
            tokenizer.save(out)
        else:
            pretrain(shards, out, cfg, train=cfg.train)
    return time.perf_counter() - start, time.process_time() - cpu


def word2vec_vectors(shards: Path, out: Path, args: argparse.Namespace) -> tuple[Path, float]:
    """--init-embeddings word2vec, trained once for every run: (vectors dir, wall seconds). Trained
    again when a --work-dir holds vectors, so that its time is always measured."""
    from bertkit.data.shards import ShardSet
    from bertkit.model import BertConfig
    from bertkit.tokenizers import Tokenizer
    from bertkit.train.pretrain import word2vec_on_shards

    start = time.perf_counter()
    dim = BertConfig.preset(args.preset).hidden_size
    word2vec_on_shards(ShardSet(shards, verify=False), Tokenizer.from_pretrained(shards), dim, 0, out)
    return out, time.perf_counter() - start


def steps_per_second(shards: Path, tmp: Path, recipe: str, args: argparse.Namespace, n: int = 12) -> float:
    """The recipe's pretraining rate on this machine now: after a warm-up run, the difference of a
    `n`-step and a `4n`-step run (the same start-up cost in both, so it cancels; comparing with a
    first, colder run could leave almost nothing and a rate 10x too high)."""
    for name in ("warm", "short", "long"):
        shutil.rmtree(tmp / f"rate-{recipe}-{name}", ignore_errors=True)
    pretrain_run(shards, tmp / f"rate-{recipe}-warm", recipe, 2, args)
    short, _ = pretrain_run(shards, tmp / f"rate-{recipe}-short", recipe, n, args)
    long, _ = pretrain_run(shards, tmp / f"rate-{recipe}-long", recipe, 4 * n, args)
    return 3 * n / max(long - short, 1e-3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--minutes", type=float, nargs="+", help="pretraining budgets in wall-clock minutes")
    budget.add_argument("--steps", type=int, nargs="+", help="pretraining budgets in optimizer steps")
    parser.add_argument("--recipes", nargs="+", default=["cramming", "electra"])
    parser.add_argument("--preset", default="mini")
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=None, help="peak pretraining lr (default: the recipe's)")
    parser.add_argument("--vocab-size", type=int, default=8192)
    parser.add_argument("--corpus-mb", type=float, default=None, help="use only this much of the corpus")
    parser.add_argument("--train", type=int, default=1024, help="labelled sentences (fine-tuning, TF-IDF)")
    parser.add_argument("--ft-epochs", type=float, default=3.0)
    parser.add_argument("--ft-lr", type=float, default=5e-4)
    parser.add_argument("--seeds", type=int, default=3, help="fine-tuning seeds per pretrained model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--init-embeddings", choices=("word2vec",), default=None,
                        help="start every model's token embeddings from skip-gram vectors of the shards "
                             "(trained once; its time is taken from each budget in minutes)")
    parser.add_argument("--work-dir", default=None,
                        help="keep the data, pretrained RUNs and fine-tuned models here "
                             "(default: a temporary directory)")
    args = parser.parse_args()

    import torch

    from bertkit.datasets import labelled
    from bertkit.tasks.baseline import Baseline
    from bertkit.tasks.readers import Example

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    train_all = labelled.movie_reviews("train")
    train_rows = train_all[: args.train]
    evals = {"dev": labelled.movie_reviews("dev"), "test": labelled.movie_reviews("test")}
    tfidf = Baseline.fit("classification", [Example(r["text"], label=r["label"]) for r in train_rows])
    tfidf_acc = {}
    for k, rows in evals.items():
        preds = tfidf.predict([Example(r["text"]) for r in rows])
        hits = sum(p["label"] == r["label"] for p, r in zip(preds, rows, strict=True))
        tfidf_acc[k] = round(hits / len(rows), 4)

    curves: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(args.work_dir) if args.work_dir else Path(scratch)
        tmp.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        _, shards = prepare_data(tmp, args, train_all)
        prep_seconds = time.perf_counter() - start
        vectors, w2v_seconds = word2vec_vectors(shards, tmp / "word2vec", args) if args.init_embeddings \
            else (None, 0.0)
        tag = "-w2v" if vectors else ""
        for recipe in args.recipes:
            rate = steps_per_second(shards, tmp, recipe, args) if args.minutes else None
            budgets = [(m, max(0, round((m * 60 - w2v_seconds) * rate))) for m in args.minutes] \
                if args.minutes else [(None, s) for s in args.steps]
            curves[recipe] = []
            for minutes, steps in budgets:
                run = tmp / f"{recipe}{tag}-{steps}"
                for old in (run, *tmp.glob(f"ft-{recipe}{tag}-{steps}-*")):     # a --work-dir's earlier run
                    shutil.rmtree(old, ignore_errors=True)
                seconds, cpu_seconds = pretrain_run(shards, run, recipe, steps, args, vectors)
                accs = [finetune_accuracy(run, train_rows, evals, tmp / f"ft-{recipe}{tag}-{steps}-{seed}",
                                          seed, args.ft_epochs, args.ft_lr) for seed in range(args.seeds)]
                curves[recipe].append({"minutes_budget": minutes, "steps": steps,
                                       "pretrain_seconds": round(seconds, 1),
                                       "pretrain_cpu_seconds": round(cpu_seconds, 1),
                                       "steps_per_s": round(steps / seconds, 3) if steps else None,
                                       "steps_per_cpu_s": round(steps / cpu_seconds, 3) if steps else None,
                                       "calibrated_steps_per_s": round(rate, 3) if rate else None,
                                       **{k: summary([a[k] for a in accs]) for k in evals}})
                print(json.dumps({"progress": recipe, **curves[recipe][-1]}), flush=True, file=sys.stderr)
    print(json.dumps({"bench": "from_scratch_movie_sentiment", "device": "cpu", "threads": args.threads,
                      "preset": args.preset, "seq_len": args.seq_len, "batch_size": args.batch_size,
                      "vocab_size": args.vocab_size, "train_examples": len(train_rows),
                      "ft_epochs": args.ft_epochs, "ft_lr": args.ft_lr, "ft_seeds": args.seeds,
                      "init_embeddings": args.init_embeddings, "word2vec_seconds": round(w2v_seconds, 1),
                      "prepare_seconds": round(prep_seconds, 1),
                      "curves": curves, "tfidf": tfidf_acc,
                      "loadavg_before": [round(x, 2) for x in load_before],
                      "loadavg_after": [round(x, 2) for x in os.getloadavg()]}))


if __name__ == "__main__":
    main()
