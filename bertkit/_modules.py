"""The lazy-export convention every bertkit package `__init__` follows.

    _EXPORTS = {"Tokenizer": "bertkit.tokenizers.tokenizer", ...}   # public name -> defining module
    __all__ = sorted(_EXPORTS)
    __getattr__ = lazy_exports(__name__, _EXPORTS)

Importing a package then costs nothing until a name is used, which keeps `import bertkit` and
`bertkit --help` from importing torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` that imports each public name from its module on first use."""

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
