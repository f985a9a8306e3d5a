"""`python -m bertkit.datasets fetch`: prepare every embedded data set once (make runs it)."""

from __future__ import annotations

import sys

from bertkit._modules import optional_module
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
        module = optional_module(name)
        if module is not None:
            module.prepare()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
