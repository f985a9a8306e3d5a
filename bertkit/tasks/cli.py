"""`bertkit finetune | evaluate | predict | baseline`.

finetune's options are generated from FinetuneConfig (with its Columns and TrainConfig), so every
flag has one name, default, help text and range, shared with the Python API. The handlers import
torch-using modules when they run, so that `bertkit --help` answers at once.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from bertkit.options import add_options, from_args
from bertkit.tasks.config import FinetuneConfig
from bertkit.tasks.readers import Columns
from bertkit.tasks.registry import TASKS


def _finetune(args: argparse.Namespace) -> int:
    from bertkit.tasks.finetune import finetune

    result = finetune(from_args(FinetuneConfig, args))
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
    from bertkit.tasks.evaluate import evaluate_predictions, plot_confusion
    from bertkit.tasks.predict import FineTuned

    ft = FineTuned.load(args.model, args.task)
    spec, kind = ft.spec, ft.spec.kind
    given = from_args(Columns, args)
    columns = given if given != Columns() else spec.columns
    examples = kind.read(args.data, columns)
    kind.check_labels(examples, spec.labels, args.data)
    metrics, preds = evaluate_predictions(ft.model, ft.tokenizer, spec, examples, args.batch_size,
                                          progress=not args.json)
    written = kind.write_outputs(Path(args.out_dir or ft.path), examples, preds)
    if written:
        metrics["outputs"] = [str(p) for p in written]
    confusion = kind.confusion(examples, preds)
    if confusion is not None:
        png = Path(args.out_dir or ft.path) / f"confusion_{Path(args.data).stem}.png"
        plot_confusion(*confusion, spec.labels, png)
        metrics["confusion_matrix_png"] = str(png)
    if args.json:
        sys.stdout.write(json.dumps(metrics) + "\n")
    else:
        print(f"{spec.task} model {args.model} on {args.data} ({len(examples)} examples)")
        _print_report(metrics)
        for path in metrics.get("outputs", []):
            print(f"wrote {path}")
        if "confusion_matrix_png" in metrics:
            print(f"\nconfusion matrix: {metrics['confusion_matrix_png']}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from bertkit.tasks.predict import predict_file

    rows = predict_file(args.model, args.input, args.output, args.batch_size, args.html)
    if args.output:
        print(f"{len(rows)} predictions written to {args.output}", file=sys.stderr)
    if args.html:
        print(f"page of the predictions: {args.html}", file=sys.stderr)
    return 0


BASELINE_MODELS = {"regression": "TF-IDF + ridge",
                   "ner": "per-word logistic regression on word, affix, shape and neighbour features"}


def _baseline(args: argparse.Namespace) -> int:
    from bertkit.tasks.baseline import baseline

    metrics = baseline(args.task, args.train, args.dev, from_args(Columns, args), args.C)
    if args.json:
        sys.stdout.write(json.dumps(metrics) + "\n")
    else:
        print(f"{BASELINE_MODELS.get(args.task, 'TF-IDF + logistic regression')} on {args.dev}")
        _print_report(metrics)
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    tasks = ", ".join(f"{name} ({task.description})" for name, task in TASKS.items())
    p = sub.add_parser("finetune", help="fine-tune a model on a labelled CSV/TSV/JSONL/CoNLL file or GLUE",
                       description=f"Tasks: {tasks}.")
    add_options(p, FinetuneConfig)
    p.set_defaults(func=_finetune)

    p = sub.add_parser("evaluate", help="metrics, per-class report and confusion matrix of a RUN on a file")
    p.add_argument("--model", required=True, metavar="RUN", help="RUN directory of bertkit finetune")
    p.add_argument("--data", required=True, help="labelled file in the training file's format")
    p.add_argument("--task", choices=tuple(TASKS), default=None, help="refuse a RUN of another task")
    add_options(p, Columns)
    p.add_argument("--batch-size", type=_positive_int, default=64)
    p.add_argument("--out-dir", default=None,
                   help="where the confusion-matrix PNG (QA: predictions.json, nbest_predictions.json, "
                        "null_odds.json) goes (default: RUN)")
    p.add_argument("--json", action="store_true", help="print one JSON object of metrics on stdout")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("predict", help="predict labels/values/entities for a CSV/JSONL file")
    p.add_argument("--model", required=True, metavar="RUN", help="RUN directory of bertkit finetune")
    p.add_argument("--input", required=True, help="CSV/TSV/JSONL (NER: also CoNLL)")
    p.add_argument("--output", default=None, help=".jsonl or .csv: the input's columns plus pred_* columns "
                                                   "(default: JSONL on stdout)")
    p.add_argument("--batch-size", type=_positive_int, default=32)
    p.add_argument("--html", default=None, metavar="FILE",
                   help="also write an offline page of the predictions (QA: answers marked in their context)")
    p.set_defaults(func=_predict)

    p = sub.add_parser("baseline", help="TF-IDF + logistic regression (ridge; NER: word features) on the "
                                         "same files and metrics")
    p.add_argument("--task", default="classification",
                   choices=[name for name, task in TASKS.items() if task.problem_type or name == "ner"])
    p.add_argument("--train", required=True)
    p.add_argument("--dev", required=True)
    add_options(p, Columns)
    p.add_argument("--C", type=_positive_float, default=1.0, help="inverse regularisation strength")
    p.add_argument("--json", action="store_true", help="print one JSON object of metrics on stdout")
    p.set_defaults(func=_baseline)
