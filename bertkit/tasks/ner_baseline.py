"""The NER baseline: per-word logistic regression on word, affix, shape and neighbour features.

What a tagger before BERT looks at (Ratinov & Roth 2009; the CoNLL-2003 feature sets): the word
itself lowercased, its first and last three characters, its shape ("Paris" -> "Xxxxx", short "Xx"),
capitalisation, digits and tweet markers (#, @, http), and the same for the words on either side.
Each word's tag is predicted on its own (no CRF, so an I- tag may follow an O; entity F1 reads it
as the start of an entity, as conlleval does). Scored by `Ner.score`, the metrics of
`bertkit evaluate`, so the gain of BERT over this model is one subtraction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline

from bertkit.tasks.readers import Columns, Example
from bertkit.tasks.registry import get_task
from bertkit.tasks.spec import TaskSpec


def shape(word: str) -> str:
    """Characters mapped to X, x, d or kept: "McDonald's" -> "XxXxxxxx'x"."""
    return re.sub(r"\d", "d", re.sub(r"[a-z]", "x", re.sub(r"[A-Z]", "X", word)))


def short_shape(word: str) -> str:
    """The shape with runs collapsed: "McDonald's" -> "XxXx'x", "2024" -> "d"."""
    return re.sub(r"(.)\1+", r"\1", shape(word))


def _own(word: str) -> dict[str, Any]:
    """What one word says by itself."""
    low = word.lower()
    return {
        "w": low, "p1": low[:1], "p2": low[:2], "p3": low[:3], "s1": low[-1:], "s2": low[-2:], "s3": low[-3:],
        "shape": shape(word)[:12], "sshape": short_shape(word),
        "title": word.istitle(), "upper": word.isupper() and len(word) > 1,
        "digit": any(c.isdigit() for c in word),
        "hash": word.startswith("#"), "at": word.startswith("@"), "url": low.startswith(("http", "www.")),
    }


def word_features(words: Sequence[str]) -> list[dict[str, Any]]:
    """One feature dict per word: its own features, and the word and shape of its neighbours.

    words=["Visit", "Paris"] -> [{"w": "visit", ..., "-1:w": "<s>", "+1:w": "paris", "+1:sshape": "Xx"},
                                 {"w": "paris", ..., "-1:w": "visit", "+1:w": "</s>", ...}]
    """
    own = [_own(w) for w in words]
    out = []
    for i, feats in enumerate(own):
        row = {"bias": 1, "first": i == 0, **feats}
        for offset in (-2, -1, 1, 2):
            j = i + offset
            if 0 <= j < len(words):
                row.update({f"{offset:+d}:w": own[j]["w"], f"{offset:+d}:sshape": own[j]["sshape"],
                            f"{offset:+d}:title": own[j]["title"]})
            else:
                row[f"{offset:+d}:w"] = "<s>" if j < 0 else "</s>"
        row["-1:w|w"] = f"{row['-1:w']}|{feats['w']}"
        out.append(row)
    return out


@dataclass
class TokenBaseline:
    """A fitted per-word tagger for the NER task; same `fit`/`predict` shape as `Baseline`."""

    spec: TaskSpec
    pipeline: Pipeline

    @classmethod
    def fit(cls, task: str, examples: Sequence[Example], labels: list[str] | None = None,
            C: float = 1.0, seed: int = 0) -> TokenBaseline:
        kind = get_task(task)
        labels = labels if labels is not None else kind.label_names(examples, Columns())
        kind.check_label_count(labels, "the training data")
        x = [f for ex in examples for f in word_features(ex.text)]
        y = [tag for ex in examples for tag in ex.label]
        model = LogisticRegression(C=C, max_iter=300, random_state=seed)
        return cls(TaskSpec(task, labels), make_pipeline(DictVectorizer(), model).fit(x, y))

    def predict(self, examples: Sequence[Example]) -> list[dict[str, Any]]:
        """{"tags": [...]} per example, as the fine-tuned model's predictions."""
        x = [f for ex in examples for f in word_features(ex.text)]
        tags = list(self.pipeline.predict(x)) if x else []
        out, pos = [], 0
        for ex in examples:
            out.append({"tags": [str(t) for t in tags[pos: pos + len(ex.text)]]})
            pos += len(ex.text)
        return out
