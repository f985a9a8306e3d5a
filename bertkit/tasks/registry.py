"""The fine-tuning tasks by name: `bertkit finetune --task NAME` and task.json's "task".

To add a task, write its `Task` subclass in its own module and add one instance to `TASKS`.
"""

from __future__ import annotations

from bertkit.errors import ConfigError
from bertkit.tasks.base import Task
from bertkit.tasks.classification import Classification, Pair
from bertkit.tasks.multilabel import MultiLabel
from bertkit.tasks.multiple_choice import MultipleChoice
from bertkit.tasks.ner import Ner
from bertkit.tasks.qa import QuestionAnswering
from bertkit.tasks.regression import Regression

TASKS: dict[str, Task] = {task.name: task for task in (
    Classification(),
    Pair(),
    MultiLabel(),
    Regression(),
    Ner(),
    QuestionAnswering(),
    MultipleChoice(),
)}


def get_task(name: str) -> Task:
    """The task registered as `name`; ConfigError naming the choices otherwise."""
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; choose from {', '.join(TASKS)}")
    return TASKS[name]
