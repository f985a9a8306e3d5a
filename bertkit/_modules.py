"""Import a part of bertkit that may be absent (a CLI command group, a demo stage, a data preparer)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any


def optional_module(name: str) -> ModuleType | None:
    """The module, or None if that module itself does not exist (errors inside it still raise)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name == name:
            return None
        raise


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` that imports each public name from its module on first use.

    Keeps `import bertkit...` and `bertkit --help` from importing torch until a name needs it.
    """

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
