"""Token classification (NER): a BIO/BIOES tag per word, predicted on each word's first sub-token.

Examples hold words (from CoNLL or JSONL files, or raw text split by the tokenizer's
pre-tokenizer); a word's tag is learned and read at its first sub-token, the other sub-tokens are
ignored (-100). Predictions come back as tags per word and as entity spans in the text.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bertkit import metrics
from bertkit.errors import ConfigError
from bertkit.tasks.base import Task, feature_groups, label_accuracy
from bertkit.tasks.features import Feature, encode_options
from bertkit.tasks.long_docs import stitch_words
from bertkit.tasks.readers import Columns, Example, file_format, read_conll, read_ner_jsonl, read_table

if TYPE_CHECKING:
    from bertkit.tasks.spec import TaskSpec


def word_spans(words: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """Join pre-split words with spaces; return the text and each word's character span."""
    spans, pos = [], 0
    for w in words:
        spans.append((pos, pos + len(w)))
        pos += len(w) + 1
    return " ".join(words), spans


def split_words(tokenizer: Any, text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """The tokenizer's words (its pre-tokenizer's split) and their character spans in `text`."""
    pre = getattr(getattr(tokenizer, "runtime", None), "pre_tokenizer", None)
    if pre is not None:
        pieces = pre.pre_tokenize_str(text)
        return [w for w, _ in pieces], [tuple(s) for _, s in pieces]
    found = [(m.group(), m.span()) for m in re.finditer(r"\S+", text)]
    return [w for w, _ in found], [s for _, s in found]


def entity_spans(text: str, spans: Sequence[tuple[int, int]], tags: Sequence[str]) -> list[dict[str, Any]]:
    """Entities as {type, text, start, end} (character offsets, end exclusive) from word tags."""
    out = []
    for typ, first, last in metrics.get_entities(tags):
        start, end = spans[first][0], spans[last][1]
        out.append({"type": typ, "text": text[start:end], "start": start, "end": end})
    return out


class Ner(Task):
    name = "ner"
    baseline = "word_features"
    description = "a tag per word (named entities)"
    head = "BertForTokenClassification"
    main_metric = "f1"

    def read(self, path: str | Path, columns: Columns, require_labels: bool = True) -> list[Example]:
        """CoNLL (`word<TAB>tag` lines), or JSONL with a word list (`tokens`) and a tag list (`tags`)."""
        if file_format(Path(path)) == "conll":
            return read_conll(path, require_labels=require_labels)
        return read_ner_jsonl(Path(path), columns, require_labels)

    def read_unlabelled(self, path: str | Path, columns: Columns, tokenizer: Any) -> list[Example]:
        """CoNLL words, or raw text in the text column of a CSV/TSV/JSONL file."""
        if file_format(Path(path)) == "conll":
            return read_conll(path, require_labels=False)
        raw = read_table(path, Columns(text=columns.text, label=[]), lambda *_: None, require_labels=False)
        examples = self.examples_from_texts([ex.text for ex in raw], None, tokenizer)
        for ex, r in zip(examples, raw, strict=True):
            ex.source, ex.row = r.source, r.row
        return examples

    def examples_from_texts(self, texts: Sequence[str], pairs: Sequence[str] | None,
                            tokenizer: Any) -> list[Example]:
        """Words split as the tokenizer splits them; the text and word spans kept for entity spans."""
        examples = []
        for text in texts:
            words, spans = split_words(tokenizer, text)
            examples.append(Example(words, meta={"text": text, "spans": spans}))
        return examples

    def label_names(self, examples: Sequence[Example], columns: Columns) -> list[str]:
        """"O", then B-/I- (and E-/S- for BIOES) of each entity type in alphabetical order."""
        seen = {t for ex in examples for t in ex.label or []}
        types = sorted({t[2:] for t in seen if t != "O"})
        prefixes = ("B-", "I-", "E-", "S-") if any(t[:2] in ("E-", "S-") for t in seen) else ("B-", "I-")
        return ["O"] + [p + t for t in types for p in prefixes]

    def label_values(self, label: list[str]) -> list[str]:
        return list(label)

    def features(self, tokenizer: Any, examples: Sequence[Example], spec: TaskSpec) -> list[Feature]:
        """One feature per window; the label of a word sits on its first sub-token, -100 elsewhere."""
        if spec.truncation not in ("head", "window"):
            raise ConfigError(f"token classification supports --truncation head or window, "
                              f"not {spec.truncation}")
        joined = [word_spans(ex.text) for ex in examples]
        encodings = tokenizer.encode_texts([text for text, _ in joined], **encode_options(spec))
        features = []
        for i, (ex, (_, spans), enc) in enumerate(zip(examples, joined, encodings, strict=True)):
            starts = [s for s, _ in spans]
            for window in (enc, *enc.overflowing):
                word_index: list[int | None] = []
                for (s, e), special in zip(window.offsets, window.special_tokens_mask, strict=True):
                    w = bisect.bisect_right(starts, s) - 1
                    first = not special and e > s and w >= 0 and starts[w] == s
                    word_index.append(w if first else None)
                labels = None if ex.label is None else [-100 if w is None else spec.label2id[ex.label[w]]
                                                        for w in word_index]
                features.append(Feature(list(window.ids), list(window.type_ids), i, labels, word_index,
                                        [tuple(o) for o in window.offsets]))
        return features

    def combine(self, spec: TaskSpec, features: Sequence[Feature], logits: Sequence[np.ndarray],
                examples: Sequence[Example]) -> list[np.ndarray]:
        """Per-word logits, each word from the window where it has the most context."""
        groups = feature_groups(features, len(examples))
        return [stitch_words(len(ex.text), [(features[k].word_index, logits[k]) for k in g], spec.num_labels)
                for ex, g in zip(examples, groups, strict=True)]

    def decode(self, spec: TaskSpec, outputs: Sequence[np.ndarray]) -> list[dict[str, Any]]:
        return [{"tags": [spec.labels[int(i)] for i in np.asarray(x).argmax(axis=-1)]} for x in outputs]

    def score(self, spec: TaskSpec, examples: Sequence[Example], preds: Sequence[dict[str, Any]]
              ) -> dict[str, Any]:
        gold = [ex.label for ex in examples]
        guess = [p["tags"] for p in preds]
        out = metrics.entity_scores(gold, guess)
        out["token_accuracy"] = metrics.accuracy([t for s in gold for t in s], [t for s in guess for t in s])
        return out

    def metrics_fn(self, out: Any, batch: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
        return label_accuracy(out, batch)

    def annotate(self, example: Example, pred: dict[str, Any]) -> dict[str, Any]:
        text, spans = self._text_and_spans(example)
        return {**pred, "entities": entity_spans(text, spans, pred["tags"])}

    @staticmethod
    def _text_and_spans(example: Example) -> tuple[str, list[tuple[int, int]]]:
        if "spans" in example.meta:
            return example.meta["text"], example.meta["spans"]
        return word_spans(example.text)
