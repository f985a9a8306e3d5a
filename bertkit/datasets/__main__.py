"""`python -m bertkit.datasets fetch`: prepare every embedded data set once (make runs it)."""

from __future__ import annotations

import importlib
import sys

from bertkit.datasets import corpus_files

# Modules with a `prepare()` that fetches or unpacks their data; missing ones are skipped.
PREPARERS = ("bertkit.datasets.labelled",)


def main(argv: list[str]) -> int:
    if argv[:1] != ["fetch"]:
        print("usage: python -m bertkit.datasets fetch", file=sys.stderr)
        return 2
    for split in ("train", "valid"):
        for path in corpus_files(split):
            print(f"corpus: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    for name in PREPARERS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:
                continue
            raise
        module.prepare()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
