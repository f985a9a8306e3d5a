"""Fine-tuning tasks: classification, sentence pairs, multi-label, regression and NER.

From a CSV/TSV/JSONL/CoNLL file to a fine-tuned RUN directory (Hugging Face layout), its metrics,
and predictions. See docs/finetuning.md; each task is a `Task` object (`bertkit.tasks.base`)
registered by name in `bertkit.tasks.registry`.
"""

from bertkit._modules import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["FinetuneResult", "finetune"], "bertkit.tasks.finetune"),
    "FinetuneConfig": "bertkit.tasks.config",
    "FineTuned": "bertkit.tasks.predict",
    **dict.fromkeys(["Columns", "Example", "read_examples"], "bertkit.tasks.readers"),
    "TaskSpec": "bertkit.tasks.spec",
    "Task": "bertkit.tasks.base",
    **dict.fromkeys(["TASKS", "get_task"], "bertkit.tasks.registry"),
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
