"""Import a part of bertkit that may be absent (a CLI command group, a demo stage, a data preparer)."""

from __future__ import annotations

import importlib
from types import ModuleType


def optional_module(name: str) -> ModuleType | None:
    """The module, or None if that module itself does not exist (errors inside it still raise)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name == name:
            return None
        raise
