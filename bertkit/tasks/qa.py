"""Extractive question answering (SQuAD v1.1 and v2.0): the answer is a span of the context.

Reading: the SQuAD JSON (`data -> paragraphs -> qas`) or flat JSONL (`id, question, context,
answers: {text: [...], answer_start: [...]}`); every answer is checked against the context at its
`answer_start`. An example is (question, context) with `label` the gold answers (none: v2.0's
unanswerable question).

Features: question + context in sliding windows over the context only (the question is repeated
in every window). `stride` is the OVERLAP of consecutive windows, in tokens, as in transformers
(`stride=`) and the reference run_squad.py, whose `doc_stride` is the same overlap; QA's defaults
are `--max-length 384 --stride 128` as there. A window's target is the answer's first and last
token, or [CLS] (position 0) when the answer is not wholly inside the window or there is none.

Post-processing (run_squad's): per window the n-best (20) start and end logits, every pair inside
the context with start <= end and at most `max_answer_length` (30) tokens, scored start + end;
the example's n-best over all its windows. v2.0: the null score is the minimum over windows of the
[CLS] start + end, and "" is answered when null - best > threshold (tuned on dev by `calibrate`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bertkit import metrics
from bertkit.errors import DataError
from bertkit.io import atomic_write_json
from bertkit.tasks.base import Task, feature_groups, softmax
from bertkit.tasks.features import Feature
from bertkit.tasks.readers import Columns, Example, read_jsonl

if TYPE_CHECKING:
    from bertkit.tasks.spec import TaskSpec

N_BEST = 20
MAX_ANSWER_LENGTH = 30
Offsets = Sequence[tuple[int, int] | None]      # per token: its context characters, None outside the context


# --- reading --------------------------------------------------------------------------------------

def _example(where: str, qid: str, question: str, context: str, texts: list[str],
             starts: list[int], require_labels: bool) -> Example:
    """One checked example; `where` is "file:line" (JSONL) or "file" (SQuAD JSON)."""
    name = f"{where} (question {qid!r})"
    if not isinstance(context, str) or not context.strip():
        raise DataError(f"{name}: empty context")
    if not isinstance(question, str) or not question.strip():
        raise DataError(f"{name}: empty question")
    if len(texts) != len(starts):
        raise DataError(f"{name}: {len(texts)} answer texts but {len(starts)} answer_start values")
    for text, start in zip(texts, starts, strict=True):
        if not isinstance(start, int) or context[start: start + len(text)] != text or not text:
            found = context.find(text) if isinstance(text, str) and text else -1
            hint = f"; the text first occurs at {found}" if found >= 0 else "; it is not in the context"
            raise DataError(f"{name}: answer {text!r} is not at answer_start {start}{hint}")
    label = {"text": list(texts), "answer_start": list(starts)} if (texts or require_labels) else None
    return Example(question, context, label, name,
                   row={"id": qid, "question": question}, meta={"id": qid})


def read_squad(path: str | Path, require_labels: bool = True) -> list[Example]:
    """Examples of a SQuAD JSON file, or of flat JSONL (one question per line)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        try:
            doc = json.loads(path.read_text(encoding="utf-8-sig"))
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: not valid JSON ({e})") from None
        if not isinstance(doc, dict) or "data" not in doc:
            raise DataError(f"{path}: a SQuAD file has a top-level 'data' list of articles")
        examples = []
        for article in doc["data"]:
            for para in article.get("paragraphs", []):
                for qa in para.get("qas", []):
                    answers = [] if qa.get("is_impossible") else qa.get("answers", [])
                    try:
                        texts, starts = [a["text"] for a in answers], [a["answer_start"] for a in answers]
                    except (KeyError, TypeError):
                        raise DataError(f"{path} (question {qa.get('id')!r}): each answer needs 'text' and "
                                        "'answer_start'") from None
                    examples.append(_example(str(path), str(qa.get("id")), qa.get("question"),
                                             para.get("context"), texts, starts, require_labels))
        return examples
    examples = []
    for n, row in read_jsonl(path):
        answers = row.get("answers") or {"text": [], "answer_start": []}
        if not isinstance(answers, dict):
            raise DataError(f"{path}:{n}: 'answers' must be an object with 'text' and 'answer_start' lists")
        if require_labels and "answers" not in row:
            raise DataError(f"{path}:{n}: no 'answers' (use empty lists for an unanswerable question)")
        examples.append(_example(f"{path}:{n}", str(row.get("id", n)), row.get("question"),
                                 row.get("context"), list(answers.get("text", [])),
                                 list(answers.get("answer_start", [])), require_labels))
    return examples


# --- post-processing ------------------------------------------------------------------------------

def window_spans(start: np.ndarray, end: np.ndarray, offsets: Offsets, n_best: int = N_BEST,
                 max_answer_length: int = MAX_ANSWER_LENGTH) -> list[tuple[float, int, int]]:
    """(score, start token, end token) of one window's candidate answers, best first.

    The n_best highest start and end logits are paired (n_best^2 pairs at most, as run_squad);
    pairs leaving the context, ending before they start or longer than max_answer_length go.
    """
    starts = np.argsort(-start, kind="stable")[:n_best]
    ends = np.argsort(-end, kind="stable")[:n_best]
    inside = np.array([o is not None for o in offsets])
    s, e = np.meshgrid(starts, ends, indexing="ij")                     # (n_best, n_best)
    ok = inside[s] & inside[e] & (e >= s) & (e - s + 1 <= max_answer_length)
    s, e = s[ok], e[ok]
    score = start[s] + end[e]
    order = np.argsort(-score, kind="stable")[:n_best]
    return [(float(score[k]), int(s[k]), int(e[k])) for k in order]


def best_answers(context: str, windows: Sequence[tuple[np.ndarray, np.ndarray, Offsets]],
                 n_best: int = N_BEST, max_answer_length: int = MAX_ANSWER_LENGTH) -> dict[str, Any]:
    """An example's n-best answers over its windows and its null score (min over windows of
    start[CLS] + end[CLS]): {"nbest": [{text, start, end, score, probability}], "null_score"}."""
    found, null = [], float("inf")
    for start, end, offsets in windows:
        null = min(null, float(start[0] + end[0]))
        for score, s, e in window_spans(start, end, offsets, n_best, max_answer_length):
            found.append((score, offsets[s][0], offsets[e][1]))
    found.sort(key=lambda t: -t[0])
    found = found[:n_best]
    probs = softmax(np.array([f[0] for f in found])) if found else []
    nbest = [{"text": context[c0:c1], "start": c0, "end": c1, "score": score, "probability": float(p)}
             for (score, c0, c1), p in zip(found, probs, strict=True)]
    return {"nbest": nbest, "null_score": null}


def choose(output: dict[str, Any], threshold: float | None) -> dict[str, Any]:
    """The prediction: the best span, or "" (v2.0, `threshold` set) when null - best > threshold."""
    best = output["nbest"][0] if output["nbest"] else None
    null_odds = output["null_score"] - (best["score"] if best else -np.inf)
    if best is None or (threshold is not None and null_odds > threshold):
        return {"answer": "", "score": output["null_score"], "start": None, "end": None,
                "null_odds": float(null_odds)}
    return {"answer": best["text"], "score": best["score"], "start": best["start"], "end": best["end"],
            "null_odds": float(null_odds)}


# --- the task -------------------------------------------------------------------------------------

class QuestionAnswering(Task):
    name = "qa"
    description = "an answer span in a context (SQuAD v1.1/v2.0)"
    head = "BertForQuestionAnswering"
    main_metric = "f1"
    min_labels = 0
    # run_squad.py's max_seq_length and doc_stride. lr and epochs for small models on small data:
    # few steps (3 epochs of ~500 questions is ~100 steps of 16), so a higher peak lr than the
    # general 5e-5; set before the held-out run of benchmarks/qa_learning.py, not searched (see
    # docs/finetuning.md, question answering, for what was and was not measured)
    defaults = {"max_length": 384, "stride": 128, "lr": 2e-4, "epochs": 3}

    def read(self, path: str | Path, columns: Columns, require_labels: bool = True) -> list[Example]:
        return read_squad(path, require_labels)

    def label_names(self, examples: Sequence[Example], columns: Columns) -> list[str]:
        return []

    def label_values(self, label: Any) -> list[str]:
        return []

    def class_weights(self, examples: Sequence[Example], labels: Sequence[str]) -> None:
        return None

    def model_config(self, spec: TaskSpec) -> dict[str, Any]:
        return {"num_labels": 2}        # transformers' config for the start/end head

    def prepare(self, spec: TaskSpec, train: Sequence[Example], scale_targets: bool) -> None:
        """SQuAD v2.0 (some training question without an answer): decide null answers, threshold 0."""
        if any(not ex.label["text"] for ex in train):
            spec.thresholds = [0.0]

    def features(self, tokenizer: Any, examples: Sequence[Example], spec: TaskSpec) -> list[Feature]:
        """Question + context windows; offsets kept for context tokens only; start/end targets."""
        self._check_questions(tokenizer, examples, spec)
        encodings = tokenizer.encode_texts([ex.text for ex in examples], [ex.pair for ex in examples],
                                           max_length=spec.max_length, truncation="only_second",
                                           stride=spec.stride, return_overflowing=True)
        features = []
        for i, (ex, enc) in enumerate(zip(examples, encodings, strict=True)):
            for w in (enc, *enc.overflowing):
                offsets = [tuple(o) if t == 1 and not sp else None
                           for o, t, sp in zip(w.offsets, w.type_ids, w.special_tokens_mask, strict=True)]
                label = None if ex.label is None else _targets(ex.label, offsets)
                features.append(Feature(list(w.ids), list(w.type_ids), i, label, offsets=offsets))
        return features

    @staticmethod
    def _check_questions(tokenizer: Any, examples: Sequence[Example], spec: TaskSpec) -> None:
        """A question must leave room for context and the window overlap in every input."""
        questions = tokenizer.encode_texts([ex.text for ex in examples], add_special_tokens=False)
        for ex, q in zip(examples, questions, strict=True):
            if len(q.ids) + 3 + spec.stride >= spec.max_length:
                raise DataError(f"{ex.source}: the question is {len(q.ids)} tokens; with the 3 special "
                                f"tokens and --stride {spec.stride} it leaves no context in --max-length "
                                f"{spec.max_length}")

    def logits(self, output: Any) -> Any:
        """(batch, seq, 2): start and end logits side by side, cut per feature like token logits."""
        import torch

        return torch.stack([output.start_logits, output.end_logits], dim=-1)

    def combine(self, spec: TaskSpec, features: Sequence[Feature], logits: Sequence[np.ndarray],
                examples: Sequence[Example]) -> list[dict[str, Any]]:
        """Each example's n-best answers and null score over its windows."""
        return [best_answers(ex.pair, [(logits[k][:, 0], logits[k][:, 1], features[k].offsets) for k in g])
                for ex, g in zip(examples, feature_groups(features, len(examples)), strict=True)]

    def calibrate(self, spec: TaskSpec, examples: Sequence[Example], outputs: Sequence[dict[str, Any]]
                  ) -> bool:
        """v2.0: the null-odds threshold with the best dev F1 (the official best-threshold search)."""
        if spec.thresholds is None:
            return False
        preds = [choose(o, None) for o in outputs]
        scores = metrics.squad({ex.meta["id"]: p["answer"] for ex, p in zip(examples, preds, strict=True)},
                               {ex.meta["id"]: ex.label["text"] for ex in examples},
                               {ex.meta["id"]: p["null_odds"] for ex, p in zip(examples, preds, strict=True)})
        spec.thresholds = [float(scores["best_f1_thresh"])]
        return True

    def decode(self, spec: TaskSpec, outputs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        threshold = spec.thresholds[0] if spec.thresholds else None
        return [{**choose(o, threshold), "nbest": o["nbest"]} for o in outputs]

    def score(self, spec: TaskSpec, examples: Sequence[Example], preds: Sequence[dict[str, Any]]
              ) -> dict[str, Any]:
        return metrics.squad({ex.meta["id"]: p["answer"] for ex, p in zip(examples, preds, strict=True)},
                             {ex.meta["id"]: ex.label["text"] for ex in examples})

    def write_outputs(self, directory: Path, examples: Sequence[Example], preds: Sequence[dict[str, Any]]
                      ) -> list[Path]:
        """predictions.json {id: answer}, nbest_predictions.json {id: [n-best]} and null_odds.json
        {id: null - best}, as run_squad.py writes them (the official evaluate-v2.0.py reads the first
        and, with --na-prob-file, the last)."""
        ids = [ex.meta["id"] for ex in examples]
        files = {"predictions.json": {q: p["answer"] for q, p in zip(ids, preds, strict=True)},
                 "nbest_predictions.json": {q: p["nbest"] for q, p in zip(ids, preds, strict=True)},
                 "null_odds.json": {q: p["null_odds"] for q, p in zip(ids, preds, strict=True)}}
        for name, content in files.items():
            atomic_write_json(directory / name, content)
        return [directory / name for name in files]

    def html_view(self, examples: Sequence[Example], preds: Sequence[dict[str, Any]]) -> str:
        """Each question with its answer marked in the context (bertkit/tasks/answer_view.py)."""
        from bertkit.tasks.answer_view import answers_page

        return answers_page(examples, preds)

    def read_unlabelled(self, path: str | Path, columns: Columns, tokenizer: Any) -> list[Example]:
        """Questions to answer; gold answers, where the file has them, are not needed."""
        examples = read_squad(path, require_labels=False)
        for ex in examples:
            ex.label = None
        return examples

    def examples_from_texts(self, texts: Sequence[str], pairs: Sequence[str] | None,
                            tokenizer: Any) -> list[Example]:
        """Questions (`texts`) with their contexts (`pairs`)."""
        if pairs is None:
            raise DataError("question answering needs a context for each question: give pairs")
        return [_example("<input>", str(i), q, c, [], [], False)
                for i, (q, c) in enumerate(zip(texts, pairs, strict=True))]


def _targets(label: dict[str, list], offsets: Offsets) -> dict[str, int]:
    """Start/end token of the first gold answer in this window; [CLS] (0, 0) when it is not inside."""
    if not label["text"]:
        return {"start_positions": 0, "end_positions": 0}
    c0 = label["answer_start"][0]
    c1 = c0 + len(label["text"][0])
    inside = [k for k, o in enumerate(offsets) if o is not None]
    if not inside or offsets[inside[0]][0] > c0 or offsets[inside[-1]][1] < c1:
        return {"start_positions": 0, "end_positions": 0}
    start = max(k for k in inside if offsets[k][0] <= c0)
    end = min(k for k in inside if offsets[k][1] >= c1)
    return {"start_positions": start, "end_positions": end}
