"""Evaluation metrics for every fine-tuning task, thin over scikit-learn and scipy.

Classification: accuracy, precision/recall/F1 (macro, micro, per class), Matthews correlation.
Regression: Pearson and Spearman correlation. Token classification: entity-level F1 with
seqeval's (conlleval's) chunking of BIO and BIOES tags. Retrieval: MRR@k. Extractive QA: SQuAD
exact match and F1, with v2.0's no-answer splits and best threshold.

scikit-learn and scipy are imported inside the functions that use them: the task registry, and so
`bertkit --help`, imports this module, and those two would add about a second to every command.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def accuracy(y_true: Sequence, y_pred: Sequence) -> float:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(y_true) == 0:
        return 0.0
    return float((y_true == y_pred).mean())


def precision_recall_f1(y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None) -> dict[str, Any]:
    """Macro and micro precision/recall/F1 plus a per-class report (with support)."""
    from sklearn.metrics import precision_recall_fscore_support

    if labels is None:
        labels = sorted(set(y_true) | set(y_pred), key=str)
    labels = list(labels)
    out: dict[str, Any] = {}
    for avg in ("macro", "micro"):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=avg, zero_division=0)
        out[f"precision_{avg}"], out[f"recall_{avg}"], out[f"f1_{avg}"] = float(p), float(r), float(f)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=None, zero_division=0)
    out["per_class"] = {
        str(lab): {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, lab in enumerate(labels)
    }
    return out


def binary_f1(y_true: Sequence, y_pred: Sequence, positive: Any = 1) -> float:
    """F1 of the positive class (GLUE's MRPC/QQP F1)."""
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, pos_label=positive, average="binary", zero_division=0))


def mcc(y_true: Sequence, y_pred: Sequence) -> float:
    """Matthews correlation coefficient (GLUE's CoLA metric)."""
    from sklearn.metrics import matthews_corrcoef

    return float(matthews_corrcoef(y_true, y_pred))


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    from scipy.stats import pearsonr

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 2 or x.std() == 0 or y.std() == 0:
        return 0.0
    return float(pearsonr(x, y)[0])


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    from scipy.stats import spearmanr

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 2 or x.std() == 0 or y.std() == 0:
        return 0.0
    return float(spearmanr(x, y)[0])


def confusion_matrix(y_true: Sequence, y_pred: Sequence, labels: Sequence) -> np.ndarray:
    """Counts with rows = true label, columns = predicted label, in the order of `labels`."""
    from sklearn.metrics import confusion_matrix as cm

    return cm(y_true, y_pred, labels=list(labels))


def multilabel_scores(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Micro/macro F1 and exact-match accuracy for (n, n_labels) 0/1 matrices."""
    from sklearn.metrics import precision_recall_fscore_support

    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    out: dict[str, Any] = {"subset_accuracy": float((y_true == y_pred).all(axis=1).mean())}
    for avg in ("macro", "micro"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average=avg, zero_division=0)
        out[f"precision_{avg}"], out[f"recall_{avg}"], out[f"f1_{avg}"] = float(p), float(r), float(f)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    out["per_class"] = {
        str(lab): {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, lab in enumerate(labels)
    }
    return out


def tune_thresholds(
    y_true: np.ndarray, probs: np.ndarray, grid: Sequence[float] | None = None
) -> list[float]:
    """Per-label decision threshold maximising that label's F1 on dev (ties -> closest to 0.5)."""
    from sklearn.metrics import f1_score

    grid = np.round(np.arange(0.05, 0.96, 0.05), 2) if grid is None else np.asarray(grid)
    y_true, probs = np.asarray(y_true, dtype=int), np.asarray(probs, dtype=float)
    thresholds = []
    for j in range(y_true.shape[1]):
        scores = [f1_score(y_true[:, j], probs[:, j] >= t, zero_division=0) for t in grid]
        best = max(scores)
        candidates = [t for t, s in zip(grid, scores, strict=True) if s >= best - 1e-12]
        thresholds.append(float(min(candidates, key=lambda t: abs(t - 0.5))))
    return thresholds


# ---------------------------------------------------------------------------------------------
# Entities (seqeval's default, conlleval-compatible chunking)


def _split_tag(tag: str) -> tuple[str, str]:
    prefix = tag[:1]
    entity_type = tag[1:].split("-", maxsplit=1)[-1] or "_"
    return prefix, entity_type


def _end_of_chunk(prev: str, tag: str, prev_type: str, type_: str) -> bool:
    if prev in ("E", "S"):
        return True
    if prev in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev not in ("O", ".") and prev_type != type_


def _start_of_chunk(prev: str, tag: str, prev_type: str, type_: str) -> bool:
    if tag in ("B", "S"):
        return True
    if prev in ("E", "S", "O") and tag in ("E", "I"):
        return True
    return tag not in ("O", ".") and prev_type != type_


def get_entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """(type, start, end) word spans (end inclusive) of a BIO or BIOES tag sequence.

    Same lenient semantics as seqeval's default mode: an I- after O (or after another type)
    starts a new entity, so no tag is ever dropped.
    """
    chunks = []
    prev, prev_type, begin = "O", "", 0
    for i, t in enumerate(list(tags) + ["O"]):
        tag, type_ = _split_tag(t)
        if _end_of_chunk(prev, tag, prev_type, type_):
            chunks.append((prev_type, begin, i - 1))
        if _start_of_chunk(prev, tag, prev_type, type_):
            begin = i
        prev, prev_type = tag, type_
    return chunks


def entity_scores(true_seqs: Sequence[Sequence[str]], pred_seqs: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Entity-level precision/recall/F1 (micro over entities, and per type) like seqeval."""
    if len(true_seqs) != len(pred_seqs):
        raise ValueError(f"{len(true_seqs)} true sequences but {len(pred_seqs)} predicted")
    true_set, pred_set = set(), set()
    for n, (t, p) in enumerate(zip(true_seqs, pred_seqs, strict=True)):
        if len(t) != len(p):
            raise ValueError(f"sequence {n}: {len(t)} true tags but {len(p)} predicted")
        true_set.update((n, *e) for e in get_entities(t))
        pred_set.update((n, *e) for e in get_entities(p))

    def prf(tp: int, n_pred: int, n_true: int) -> tuple[float, float, float]:
        p = tp / n_pred if n_pred else 0.0
        r = tp / n_true if n_true else 0.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)

    per_type = {}
    for typ in sorted({e[1] for e in true_set | pred_set}):
        ts = {e for e in true_set if e[1] == typ}
        ps = {e for e in pred_set if e[1] == typ}
        p, r, f = prf(len(ts & ps), len(ps), len(ts))
        per_type[typ] = {"precision": p, "recall": r, "f1": f, "support": len(ts)}
    p, r, f = prf(len(true_set & pred_set), len(pred_set), len(true_set))
    macro = float(np.mean([v["f1"] for v in per_type.values()])) if per_type else 0.0
    return {"precision": p, "recall": r, "f1": f, "f1_macro": macro, "per_class": per_type}


# ---------------------------------------------------------------------------------------------
# Retrieval


def mrr_at_k(ranked: Sequence[Sequence[Any]], relevant: Sequence[Any], k: int = 10) -> float:
    """Mean reciprocal rank of the first relevant item within the top k (0 when absent).

    `relevant[i]` is one id or a set of ids that count as a hit for query i.
    """
    total = 0.0
    for items, rel in zip(ranked, relevant, strict=True):
        rel_set = rel if isinstance(rel, set | frozenset) else {rel}
        for rank, item in enumerate(list(items)[:k], start=1):
            if item in rel_set:
                total += 1.0 / rank
                break
    return total / len(ranked) if len(ranked) else 0.0


# --- SQuAD: exact match and token F1 (the official evaluate-v2.0.py, which v1.1's agrees with) ---

def _normalize_answer(s: str) -> str:
    """Lowercase, drop punctuation, drop the articles a/an/the, collapse whitespace (official order)."""
    import re
    import string

    s = "".join(ch for ch in s.lower() if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def squad_exact(gold: str, pred: str) -> int:
    return int(_normalize_answer(gold) == _normalize_answer(pred))


def squad_f1(gold: str, pred: str) -> float:
    """Token-overlap F1 of the normalised answers; an empty answer scores 1 only against an empty one."""
    from collections import Counter

    g, p = _normalize_answer(gold).split(), _normalize_answer(pred).split()
    if not g or not p:
        return float(g == p)
    same = sum((Counter(g) & Counter(p)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def _best_threshold(preds: dict[str, str], raw: dict[str, float], na_probs: dict[str, float],
                    has_ans: dict[str, bool]) -> tuple[float, float]:
    """The official find_best_thresh: walk questions by rising no-answer odds, answering "" above it."""
    score = best = sum(1 for q in raw if not has_ans[q])
    thresh = 0.0
    for q in sorted(na_probs, key=lambda k: na_probs[k]):
        if q not in raw:
            continue
        score += raw[q] if has_ans[q] else (-1 if preds[q] else 0)
        if score > best:
            best, thresh = score, na_probs[q]
    return 100.0 * best / max(len(raw), 1), thresh


def squad(predictions: dict[str, str], references: dict[str, Sequence[str]],
          na_probs: dict[str, float] | None = None) -> dict[str, Any]:
    """SQuAD v1.1/v2.0 scores: {"exact", "f1", "total"} (0..100, max over gold answers).

    A question with no gold answers (v2.0) is right only when the prediction is "". With such
    questions the HasAns_/NoAns_ splits are added, and with `na_probs` (the no-answer odds of each
    question; `predictions` then hold the best non-null answers) the official best-threshold search:
    best_exact/best_exact_thresh, best_f1/best_f1_thresh.
    """
    missing = [q for q in references if q not in predictions]
    if missing:
        raise ValueError(f"no prediction for {len(missing)} question(s), e.g. {missing[:3]}")
    exact, f1, has_ans = {}, {}, {}
    for q, golds in references.items():
        golds = [g for g in golds if _normalize_answer(g)] or [""]
        has_ans[q] = golds != [""]
        exact[q] = max(squad_exact(g, predictions[q]) for g in golds)
        f1[q] = max(squad_f1(g, predictions[q]) for g in golds)
    n = max(len(references), 1)
    out: dict[str, Any] = {"exact": 100.0 * sum(exact.values()) / n, "f1": 100.0 * sum(f1.values()) / n,
                           "total": len(references)}
    if not all(has_ans.values()):
        for name, keep in (("HasAns", True), ("NoAns", False)):
            qs = [q for q in references if has_ans[q] == keep]
            if qs:
                out[f"{name}_exact"] = 100.0 * sum(exact[q] for q in qs) / len(qs)
                out[f"{name}_f1"] = 100.0 * sum(f1[q] for q in qs) / len(qs)
                out[f"{name}_total"] = len(qs)
    if na_probs is not None:
        out["best_exact"], out["best_exact_thresh"] = _best_threshold(predictions, exact, na_probs, has_ans)
        out["best_f1"], out["best_f1_thresh"] = _best_threshold(predictions, f1, na_probs, has_ans)
    return out
