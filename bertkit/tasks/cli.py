"""`bertkit finetune | evaluate | predict | baseline`: options map 1:1 onto FinetuneConfig."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bertkit.tasks.readers import TASKS, Columns


def _columns(args: argparse.Namespace) -> Columns:
    labels = [c.strip() for c in args.label_column.split(",") if c.strip()]
    return Columns(text=args.text_column, text_pair=args.text_pair_column, label=labels,
                   label_sep=args.label_sep)


def _add_columns(p: argparse.ArgumentParser) -> None:
    p.add_argument("--text-column", default="text", help="column with the text (default: text)")
    p.add_argument("--text-pair-column", default=None, help="column with the second text (pair task)")
    p.add_argument("--label-column", default="label",
                   help="label column; several, comma-separated, for multi-output regression")
    p.add_argument("--label-sep", default="|", help="separator of multi-label labels in one string")


def _finetune(args: argparse.Namespace) -> int:
    from bertkit.tasks.finetune import FinetuneConfig, finetune

    cfg = FinetuneConfig(
        model=args.model, task=args.task, train=args.train, dev=args.dev, out=args.out,
        columns=_columns(args), tokenizer=args.tokenizer, epochs=args.epochs, max_steps=args.max_steps,
        batch_size=args.batch_size,
        lr=args.lr, weight_decay=args.weight_decay, warmup_ratio=args.warmup_ratio, seed=args.seed,
        freeze=args.freeze, llrd=args.llrd, max_length=args.max_length, truncation=args.truncation,
        stride=args.stride, aggregate=args.aggregate, class_weights=args.class_weights,
        scale_targets=args.scale_targets, eval_every=args.eval_every, early_stopping=args.early_stopping,
        group_by_length=not args.no_group_by_length, resume=args.resume, glue_task=args.glue_task,
        data_dir=args.data_dir)
    result = finetune(cfg)
    print(f"fine-tuned model: {result.run_dir} ({result.global_step} steps"
          f"{', stopped early' if result.stopped_early else ''})")
    if result.metrics:
        print(json.dumps({k: v for k, v in result.metrics.items() if not isinstance(v, dict)}, indent=1))
    return 0


def _print_report(metrics: dict[str, Any]) -> None:
    for key, value in metrics.items():
        if isinstance(value, float):
            print(f"{key:>16}: {value:.4f}")
    per = metrics.get("per_class") or metrics.get("per_target")
    if per:
        cols = list(next(iter(per.values())))
        print("\n" + f"{'':>20}" + "".join(f"{c:>11}" for c in cols))
        for name, row in per.items():
            print(f"{name[:20]:>20}" + "".join(f"{row[c]:>11.4f}" if isinstance(row[c], float)
                                              else f"{row[c]:>11}" for c in cols))


def _evaluate(args: argparse.Namespace) -> int:
    from bertkit.tasks.evaluate import plot_confusion, run, score
    from bertkit.tasks.predict import FineTuned
    from bertkit.tasks.readers import check_labels, read_examples

    ft = FineTuned.load(args.model, args.task)
    spec = ft.spec
    columns = _columns(args) if args.text_column != "text" or args.label_column != "label" else spec.columns
    examples = read_examples(args.data, spec.task, columns)
    check_labels(examples, spec.labels, spec.task, args.data)
    preds, _, loss = run(ft.model, ft.tokenizer, spec, examples, args.batch_size, progress=not args.json)
    metrics = score(spec, examples, preds)
    metrics["loss"] = loss
    if spec.task in ("classification", "pair"):
        out = Path(args.out_dir) if args.out_dir else Path(args.model)
        png = out / f"confusion_{Path(args.data).stem}.png"
        plot_confusion([e.label for e in examples], [p["label"] for p in preds], spec.labels, png)
        metrics["confusion_matrix_png"] = str(png)
    if args.json:
        sys.stdout.write(json.dumps(metrics) + "\n")
    else:
        print(f"{spec.task} model {args.model} on {args.data} ({len(examples)} examples)")
        _print_report(metrics)
        if "confusion_matrix_png" in metrics:
            print(f"\nconfusion matrix: {metrics['confusion_matrix_png']}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from bertkit.tasks.predict import predict_file

    rows = predict_file(args.model, args.input, args.output, args.batch_size)
    if args.output:
        print(f"{len(rows)} predictions written to {args.output}", file=sys.stderr)
    return 0


def _baseline(args: argparse.Namespace) -> int:
    from bertkit.tasks.baseline import baseline

    metrics = baseline(args.task, args.train, args.dev, _columns(args), args.C)
    if args.json:
        sys.stdout.write(json.dumps(metrics) + "\n")
    else:
        print(f"TF-IDF + {'ridge' if args.task == 'regression' else 'logistic regression'} on {args.dev}")
        _print_report(metrics)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("finetune", help="fine-tune a model on a labelled CSV/TSV/JSONL/CoNLL file or GLUE")
    p.add_argument("--model", required=True, help="model directory (HF layout or a bertkit RUN)")
    p.add_argument("--task", choices=TASKS, default="classification")
    p.add_argument("--train", help="training file (.csv .tsv .jsonl, or .conll for ner)")
    p.add_argument("--dev", help="dev file: early stopping, best checkpoint, thresholds")
    p.add_argument("--out", required=True, help="RUN directory to write")
    _add_columns(p)
    p.add_argument("--tokenizer", help="tokenizer directory (default: the model directory)")
    p.add_argument("--epochs", type=float, default=3)
    p.add_argument("--max-steps", type=int, default=None, help="optimizer steps (wins over --epochs)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--warmup-ratio", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--freeze", default=None, help="embeddings | layers:K | encoder (feature extraction)")
    p.add_argument("--llrd", type=float, default=None, help="layer-wise learning-rate decay, e.g. 0.9")
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--truncation", default="head", choices=("head", "tail", "head+tail", "window"))
    p.add_argument("--stride", type=int, default=32, help="tokens shared by consecutive windows")
    p.add_argument("--aggregate", default="mean", choices=("mean", "max"), help="window logits -> document")
    p.add_argument("--class-weights", action="store_true", help="balanced class weights in the loss")
    p.add_argument("--scale-targets", action="store_true", help="standardise regression targets")
    p.add_argument("--eval-every", type=int, default=None,
                   help="steps between dev evaluations (default: one epoch)")
    p.add_argument("--early-stopping", type=int, default=None, help="patience in evaluations")
    p.add_argument("--no-group-by-length", action="store_true", help="plain random batches")
    p.add_argument("--resume", action="store_true", help="continue from the RUN's last checkpoint")
    p.add_argument("--glue-task", default=None, help="cola sst2 mrpc stsb qqp mnli qnli rte wnli")
    p.add_argument("--data-dir", default=None, help="folder with the GLUE task's TSV files")
    p.set_defaults(func=_finetune)

    p = sub.add_parser("evaluate", help="metrics, per-class report and confusion matrix of a RUN on a file")
    p.add_argument("--model", required=True, help="RUN directory of bertkit finetune")
    p.add_argument("--data", required=True, help="labelled file in the training file's format")
    p.add_argument("--task", choices=TASKS, default=None, help="refuse a RUN of another task")
    _add_columns(p)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--out-dir", default=None, help="where the confusion-matrix PNG goes (default: RUN)")
    p.add_argument("--json", action="store_true", help="print one JSON object of metrics on stdout")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("predict", help="predict labels/values/entities for a CSV/JSONL file")
    p.add_argument("--model", required=True, help="RUN directory of bertkit finetune")
    p.add_argument("--input", required=True, help="CSV/TSV/JSONL (NER: also CoNLL)")
    p.add_argument("--output", default=None, help=".jsonl or .csv (default: JSONL on stdout)")
    p.add_argument("--batch-size", type=int, default=32)
    p.set_defaults(func=_predict)

    p = sub.add_parser("baseline", help="TF-IDF + logistic regression (ridge) on the same files and metrics")
    p.add_argument("--task", choices=("classification", "pair", "multilabel", "regression"),
                   default="classification")
    p.add_argument("--train", required=True)
    p.add_argument("--dev", required=True)
    _add_columns(p)
    p.add_argument("--C", type=float, default=1.0, help="inverse regularisation strength")
    p.add_argument("--json", action="store_true", help="print one JSON object of metrics on stdout")
    p.set_defaults(func=_baseline)
