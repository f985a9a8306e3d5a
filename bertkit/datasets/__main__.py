"""`python -m bertkit.datasets fetch`: prepare every embedded data set once (make runs it)."""

from __future__ import annotations

import sys

from bertkit.datasets import labelled
from bertkit.datasets.corpus import corpus_files


def main(argv: list[str]) -> int:
    if argv[:1] != ["fetch"]:
        print("usage: python -m bertkit.datasets fetch", file=sys.stderr)
        return 2
    for split in ("train", "valid"):
        for path in corpus_files(split):
            print(f"corpus: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    labelled.prepare()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
