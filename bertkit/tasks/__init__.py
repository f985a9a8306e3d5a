"""Fine-tuning tasks: classification, sentence pairs, multi-label, regression and NER.

From a CSV/TSV/JSONL/CoNLL file to a fine-tuned RUN directory (Hugging Face layout), its metrics,
and predictions. See docs/finetuning.md. Names are imported lazily so `bertkit --help` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "FinetuneConfig": "bertkit.tasks.finetune",
    "FinetuneResult": "bertkit.tasks.finetune",
    "finetune": "bertkit.tasks.finetune",
    "FineTuned": "bertkit.tasks.predict",
    "Columns": "bertkit.tasks.readers",
    "Example": "bertkit.tasks.readers",
    "read_examples": "bertkit.tasks.readers",
    "TaskSpec": "bertkit.tasks.spec",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'bertkit.tasks' has no attribute {name!r}")
