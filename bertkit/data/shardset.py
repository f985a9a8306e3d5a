"""Reading a prepared shards directory, and checking its files against meta.json.

`ShardSet` memory-maps the token files and loads the sentence and document indices; the checks
here (`read_json`, `shard_problem`) are shared with `data prepare`, which uses them to find the
shards that are missing or corrupt and rebuild them.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bertkit.errors import DataError


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from `path`; a truncated or corrupt file is a DataError naming it."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not valid JSON ({e}); the file is truncated or corrupted: "
                        f"run `bertkit data prepare` again") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a JSON object, got {type(obj).__name__}")
    return obj


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def index_sha(sent: np.ndarray, doc: np.ndarray) -> str:
    """The checksum of a shard's sentence and document indices (as int64 bytes)."""
    return hashlib.sha256(sent.astype(np.int64).tobytes() + doc.astype(np.int64).tobytes()).hexdigest()


def load_index(directory: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(sentence ends, document ends) of shard `name`; unreadable files are a DataError."""
    arrays = []
    for kind in ("sent", "doc"):
        path = directory / f"{name}.{kind}.npy"
        try:
            arrays.append(np.load(path, allow_pickle=False))
        except FileNotFoundError:
            raise DataError(f"{path}: missing shard index; run `bertkit data prepare` again") from None
        except (OSError, ValueError) as e:
            raise DataError(f"{path}: unreadable shard index ({e}); run `bertkit data prepare` "
                            f"again") from None
    return arrays[0], arrays[1]


def shard_problem(directory: Path, shard: dict[str, Any], verify: bool = True) -> str | None:
    """What is wrong with one shard's files (missing, checksum mismatch), or None when intact."""
    bin_path = directory / f"{shard['name']}.bin"
    if not bin_path.is_file():
        return f"{bin_path}: missing shard"
    if verify and file_sha256(bin_path) != shard["sha256"]:
        return f"{bin_path}: checksum mismatch (the shard is corrupted or was modified)"
    try:
        sent, doc = load_index(directory, shard["name"])
    except DataError as e:
        return str(e).split("; run")[0]
    if verify and index_sha(sent, doc) != shard["index_sha256"]:
        return f"{directory / shard['name']}.sent.npy/.doc.npy: checksum mismatch (corrupted index)"
    return None


class ShardSet:
    """The shards of a prepared directory: memmapped tokens plus sentence and document indices."""

    def __init__(self, directory: str | os.PathLike, verify: bool = True,
                 tokenizer_hash: str | None = None) -> None:
        self.dir = Path(directory)
        meta_path = self.dir / "meta.json"
        if not meta_path.is_file():
            raise DataError(f"{meta_path}: no such file; run `bertkit data prepare --out {self.dir}` first")
        self.meta = read_json(meta_path)
        if tokenizer_hash is not None and tokenizer_hash != self.meta["tokenizer_hash"]:
            raise DataError(
                f"{self.dir} was made with a different tokenizer: the shards' vocabulary hash is "
                f"{self.meta['tokenizer_hash']} ({self.meta['vocab_size']} tokens), the tokenizer's is "
                f"{tokenizer_hash}; prepare the data again with this tokenizer")
        self.tokens: list[np.memmap] = []
        self.sent_ends: list[np.ndarray] = []
        self.doc_ends: list[np.ndarray] = []
        for shard in self.meta["shards"]:
            if problem := shard_problem(self.dir, shard, verify):
                raise DataError(f"{problem}; run `bertkit data prepare` again to rebuild it")
            sent, doc = load_index(self.dir, shard["name"])
            self.tokens.append(np.memmap(self.dir / f"{shard['name']}.bin", dtype=self.meta["dtype"],
                                         mode="r"))
            self.sent_ends.append(sent)
            self.doc_ends.append(doc)

    @property
    def vocab_size(self) -> int:
        return int(self.meta["vocab_size"])

    @property
    def special_ids(self) -> dict[str, int]:
        return dict(self.meta["special_ids"])

    def documents(self) -> Iterator[tuple[int, np.ndarray]]:
        """(shard, sentence boundaries [start, ..., end] in tokens) for every document."""
        for s, (sent, doc) in enumerate(zip(self.sent_ends, self.doc_ends, strict=True)):
            starts = np.concatenate([[0], sent])
            first = 0
            for last in doc:
                yield s, starts[first:last + 1]
                first = last
