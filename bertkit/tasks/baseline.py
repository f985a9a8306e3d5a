"""The bag-of-words baseline every report compares with: TF-IDF + logistic regression (or ridge).

Same files, same columns, same metrics as `bertkit evaluate`, so the gain of BERT over the model
the course starts from is one subtraction. NER's baseline tags each word from its own and its
neighbours' features instead (`bertkit/tasks/ner_baseline.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline

from bertkit.classic.config import SparseConfig
from bertkit.classic.sparse import vectorizer
from bertkit.errors import ConfigError
from bertkit.metrics import mrr_at_k
from bertkit.tasks.ner_baseline import TokenBaseline
from bertkit.tasks.readers import Columns, Example
from bertkit.tasks.registry import get_task
from bertkit.tasks.spec import TaskSpec


def _texts(examples: Sequence[Example]) -> list[str]:
    # a pair becomes one text with a marker, so words of the second sentence keep their own features
    return [ex.text if ex.pair is None else ex.text + " ||| " + " ".join(f"B_{w}" for w in ex.pair.split())
            for ex in examples]


def _vectorizer() -> TfidfVectorizer:
    """Words and word pairs, sublinear tf (bertkit.classic.sparse: the course's TF-IDF)."""
    return vectorizer(SparseConfig(kind="tfidf", ngram=(1, 2), sublinear_tf=True, max_features=200_000))


def _estimator(problem_type: str | None, C: float, seed: int) -> Any:
    """The linear model for a problem type: ridge, logistic regression, or one per label."""
    if problem_type == "regression":
        return Ridge(alpha=1.0 / C)
    if problem_type == "single_label_classification":
        return LogisticRegression(C=C, max_iter=2000, random_state=seed)
    if problem_type == "multi_label_classification":
        return OneVsRestClassifier(LogisticRegression(C=C, max_iter=2000, random_state=seed))
    raise ConfigError(f"the TF-IDF baseline is for tasks that label a whole text (classification, pair, "
                      f"multilabel, regression), not {problem_type or 'this task'} (NER: TokenBaseline)")


@dataclass
class Baseline:
    """A fitted TF-IDF pipeline for one task; the task encodes its labels and decodes its outputs."""

    spec: TaskSpec
    pipeline: Any

    @classmethod
    def fit(cls, task: str, examples: Sequence[Example], labels: list[str] | None = None,
            C: float = 1.0, seed: int = 0) -> Baseline:
        kind = get_task(task)
        estimator = _estimator(kind.problem_type, C, seed)
        if labels is None:
            width = len(examples[0].label) if kind.problem_type == "regression" else 0
            labels = kind.label_names(examples, Columns(label=[f"target_{j}" for j in range(width)]))
        kind.check_label_count(labels, "the training data")
        spec = TaskSpec(task, labels)
        y = np.asarray([kind.encode_label(ex.label, spec) for ex in examples])
        return cls(spec, make_pipeline(_vectorizer(), estimator).fit(_texts(examples), y))

    def outputs(self, examples: Sequence[Example]) -> np.ndarray:
        """What the task decodes, as a fine-tuned model's logits: log-probabilities (softmax or
        sigmoid) for classification, values for regression."""
        x = _texts(examples)
        if self.spec.kind.problem_type == "regression":
            return np.asarray(self.pipeline.predict(x), dtype=np.float64).reshape(len(examples), -1)
        probs = np.zeros((len(examples), self.spec.num_labels))
        probs[:, self.pipeline.classes_] = self.pipeline.predict_proba(x)  # classes_: the label ids seen
        p = np.clip(probs, 1e-12, 1 - 1e-12)
        if self.spec.kind.problem_type == "multi_label_classification":
            return np.log(p) - np.log1p(-p)
        return np.log(p)

    def predict(self, examples: Sequence[Example]) -> list[dict[str, Any]]:
        """Predictions in the same shape as the fine-tuned model's (label/probabilities, values...)."""
        return self.spec.kind.decode(self.spec, list(self.outputs(examples)))


# The baseline each task names (`Task.baseline`): TF-IDF for texts, word features for NER tags.
BASELINES = {"tfidf": Baseline, "word_features": TokenBaseline}


def baseline(task: str, train: str, dev: str, columns: Columns | None = None,
             C: float = 1.0) -> dict[str, Any]:
    """Fit on `train`, score on `dev` with the task's metrics."""
    kind = get_task(task)
    columns = columns or Columns()
    train_ex = kind.read(train, columns)
    dev_ex = kind.read(dev, columns)
    labels = kind.label_names(train_ex, columns)
    kind.check_label_count(labels, train)
    kind.check_labels(dev_ex, labels, dev)
    model = BASELINES[kind.baseline].fit(task, train_ex, labels, C)
    return kind.score(model.spec, dev_ex, model.predict(dev_ex))


def tfidf_retrieval_mrr(queries: Sequence[str], relevant: Sequence[int], documents: Sequence[str],
                        k: int = 10) -> float:
    """MRR@k of TF-IDF cosine retrieval (e.g. a paraphrase finding its FAQ question)."""
    vec = _vectorizer().fit(list(documents) + list(queries))
    d, q = vec.transform(documents), vec.transform(queries)
    sims = (q @ d.T).toarray()
    ranked = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return mrr_at_k(ranked.tolist(), list(relevant), k)
