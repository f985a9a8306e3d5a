"""Examples -> model inputs: tokenisation with the task's truncation or sliding windows.

`encode_sequences` serves every task that reads one text (or a pair) and labels the whole
sequence; a task with other inputs (words for NER, question + context for QA) builds its own
`Feature`s. Batching is in `bertkit.tasks.batches`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bertkit.errors import ConfigError
from bertkit.tasks.long_docs import truncate
from bertkit.tasks.readers import Example

if TYPE_CHECKING:
    from bertkit.tasks.spec import TaskSpec


@dataclass
class Feature:
    """One model input (a document may give several with sliding windows)."""

    input_ids: list[int]
    token_type_ids: list[int]
    example: int                                   # index of the example it came from
    label: Any = None    # int (class) | list[float] (targets) | list[int] (per token, -100 ignored) | dict
    word_index: list[int | None] = field(default_factory=list)   # NER: word of each first sub-token
    offsets: list[tuple[int, int] | None] = field(default_factory=list)  # character span of each token
    #   (NER: in the text; QA: in the context, None for question and special tokens)


def encode_options(spec: TaskSpec) -> dict[str, Any]:
    if spec.truncation == "window":
        return {"max_length": spec.max_length, "truncation": True, "stride": spec.stride,
                "return_overflowing": True}
    if spec.truncation == "head":
        return {"max_length": spec.max_length, "truncation": True}
    return {}  # tail / head+tail: encode everything, cut below


def encode_sequences(tokenizer: Any, examples: Sequence[Example], spec: TaskSpec,
                     encode_label: Callable[[Any], Any]) -> list[Feature]:
    """Tokenise texts (or pairs) with the spec's truncation; every window carries the example's label."""
    texts = [ex.text for ex in examples]
    pairs = [ex.pair or "" for ex in examples] if any(ex.pair is not None for ex in examples) else None
    if pairs is not None and spec.truncation != "head":
        raise ConfigError(f"sentence pairs are truncated from the longer text (head); "
                          f"--truncation {spec.truncation} is for single texts")
    features = []
    encodings = tokenizer.encode_texts(texts, pairs, **encode_options(spec))
    for i, (ex, enc) in enumerate(zip(examples, encodings, strict=True)):
        label = None if ex.label is None else encode_label(ex.label)
        for window in (enc, *enc.overflowing):
            ids, types = window.ids, window.type_ids
            if spec.truncation in ("tail", "head+tail"):
                keep = truncate(ids, window.special_tokens_mask, spec.max_length, spec.truncation)
                ids, types = [ids[k] for k in keep], [types[k] for k in keep]
            features.append(Feature(list(ids), list(types), i, label))
    return features
