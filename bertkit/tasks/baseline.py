"""The bag-of-words baseline every report compares with: TF-IDF + logistic regression (or ridge).

Same files, same columns, same metrics as `bertkit evaluate`, so the gain of BERT over the model
the course starts from is one subtraction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bertkit.errors import ConfigError
from bertkit.tasks.readers import Columns, Example, check_labels, infer_labels, read_examples
from bertkit.tasks.spec import TaskSpec


def _texts(examples: Sequence[Example]) -> list[str]:
    # a pair becomes one text with a marker, so words of the second sentence keep their own features
    return [ex.text if ex.pair is None else ex.text + " ||| " + " ".join(f"B_{w}" for w in ex.pair.split())
            for ex in examples]


def _vectorizer() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True, max_features=200_000)


@dataclass
class Baseline:
    """A fitted TF-IDF pipeline for one task."""

    spec: TaskSpec
    pipeline: Any

    @classmethod
    def fit(cls, task: str, examples: Sequence[Example], labels: list[str] | None = None,
            C: float = 1.0, seed: int = 0) -> Baseline:
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.pipeline import make_pipeline

        if task == "ner":
            raise ConfigError("the TF-IDF baseline is for sequence tasks (classification, pair, multilabel, "
                              "regression), not ner")
        labels = labels if labels is not None else infer_labels(examples, task)
        spec = TaskSpec(task, labels)
        x = _texts(examples)
        if task == "regression":
            y = np.asarray([ex.label for ex in examples], dtype=np.float64)
            model = Ridge(alpha=1.0 / C)
        elif task == "multilabel":
            index = {lab: i for i, lab in enumerate(labels)}
            y = np.zeros((len(examples), len(labels)), dtype=int)
            for r, ex in enumerate(examples):
                y[r, [index[lab] for lab in ex.label]] = 1
            model = OneVsRestClassifier(LogisticRegression(C=C, max_iter=2000, random_state=seed))
        else:
            y = np.asarray([ex.label for ex in examples])
            model = LogisticRegression(C=C, max_iter=2000, random_state=seed)
        pipeline = make_pipeline(_vectorizer(), model).fit(x, y)
        if task == "regression" and len(spec.labels) != y.shape[1]:
            spec.labels = [f"target_{j}" for j in range(y.shape[1])]
        return cls(spec, pipeline)

    def predict(self, examples: Sequence[Example]) -> list[dict[str, Any]]:
        """Predictions in the same shape as the fine-tuned model's (label/probabilities, values...)."""
        x = _texts(examples)
        spec = self.spec
        if spec.task == "regression":
            values = np.atleast_2d(self.pipeline.predict(x)).reshape(len(examples), -1)
            return [{"values": dict(zip(spec.labels, map(float, v), strict=True))} for v in values]
        probs = self.pipeline.predict_proba(x)
        if spec.task == "multilabel":
            return [{"labels": [lab for lab, p in zip(spec.labels, row, strict=True) if p >= 0.5]}
                    for row in probs]
        classes = list(self.pipeline.classes_)
        return [{"label": classes[int(np.argmax(row))],
                 "probabilities": {c: float(p) for c, p in zip(classes, row, strict=True)}} for row in probs]


def baseline(task: str, train: str, dev: str, columns: Columns | None = None,
             C: float = 1.0) -> dict[str, Any]:
    """Fit on `train`, score on `dev` with the task's metrics."""
    from bertkit.tasks.evaluate import score

    columns = columns or Columns()
    train_ex = read_examples(train, task, columns)
    dev_ex = read_examples(dev, task, columns)
    labels = list(columns.label) if task == "regression" else infer_labels(train_ex, task)
    check_labels(dev_ex, labels, task, dev)
    model = Baseline.fit(task, train_ex, labels, C)
    return score(model.spec, dev_ex, model.predict(dev_ex))


def tfidf_retrieval_mrr(queries: Sequence[str], relevant: Sequence[int], documents: Sequence[str],
                        k: int = 10) -> float:
    """MRR@k of TF-IDF cosine retrieval (e.g. a paraphrase finding its FAQ question)."""
    from bertkit.metrics import mrr_at_k

    vec = _vectorizer().fit(list(documents) + list(queries))
    d, q = vec.transform(documents), vec.transform(queries)
    sims = (q @ d.T).toarray()
    ranked = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return mrr_at_k(ranked.tolist(), list(relevant), k)
