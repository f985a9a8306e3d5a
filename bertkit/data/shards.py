"""`bertkit data prepare`: text files of any size -> packed token shards, in bounded memory.

Input: one document per line, or one sentence per line with a blank line between documents (the
layout BERT's pretraining data uses; chosen per file by looking for blank lines). Documents are
cut into chunks of about 1 MB, tokenized in worker processes (the Rust runtime's batch encoder in
each) and appended, in order, to the current shard; a shard is closed at a fixed size. Output:

  SHARDS/meta.json              tokenizer (vocab) hash, special ids, counts, per-shard sha256
  SHARDS/tokenizer.json         the tokenizer the shards were made with
  SHARDS/shard-00000.bin        token ids, uint16 when the vocabulary fits, else uint32 (memmap)
  SHARDS/shard-00000.sent.npy   end offset of each sentence in the shard (int64)
  SHARDS/shard-00000.doc.npy    end of each document, counted in sentences (int64)

Idempotent (same inputs, tokenizer and settings, shards intact: nothing to do), resumable (finished
shards are recorded in progress.json and kept; a restart skips the input they cover) and
self-repairing (shards are checked against their sha256 first; from the first missing or corrupt
one on, they are made again). One prepare at a time per directory (`bertkit.io.directory_lock`).
Reading the shards back: `bertkit.data.shardset.ShardSet`.
"""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing as mp
import os
import shutil
import warnings
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import numpy as np
import tokenizers
from tqdm.auto import tqdm

from bertkit.data.shardset import ShardSet, file_sha256, index_sha, read_json, shard_problem
from bertkit.datasets import split_sentences
from bertkit.errors import ConfigError, DataError
from bertkit.io import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    directory_lock,
    iter_lines,
    require_file,
)
from bertkit.tokenizers import Tokenizer
from bertkit.tokenizers.specials import ROLE_CANDIDATES

__all__ = ["ShardSet", "file_sha256", "iter_chunks", "iter_documents", "load_runtime", "prepare",
           "special_ids", "vocab_hash"]

FORMAT = 1                      # a shard's "chunks_end" is optional: shards without it load and resume
CHUNK_BYTES = 1 << 20
SHARD_TOKENS = 1 << 25          # 32M tokens: 64 MB as uint16
# the roles a shard records, in the order its meta.json has always listed them
SHARD_ROLES = ("cls", "sep", "mask", "pad", "unk")


def load_runtime(tokenizer_dir: Any):
    """The `tokenizers.Tokenizer` of a bertkit or Hugging Face tokenizer directory (or file)."""
    if hasattr(tokenizer_dir, "runtime"):       # a bertkit Tokenizer
        return tokenizer_dir.runtime
    if hasattr(tokenizer_dir, "encode_batch") and hasattr(tokenizer_dir, "to_str"):
        return tokenizer_dir                    # a tokenizers.Tokenizer
    path = Path(tokenizer_dir)
    if path.is_file():
        return tokenizers.Tokenizer.from_file(str(path))
    return Tokenizer.from_pretrained(path).runtime


def vocab_hash(runtime) -> str:
    """A short fingerprint of the vocabulary (added tokens included)."""
    vocab = runtime.get_vocab(with_added_tokens=True)
    return hashlib.sha256(json.dumps(vocab, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def special_ids(runtime) -> dict[str, int]:
    ids = {}
    for role in SHARD_ROLES:
        for name in ROLE_CANDIDATES[role]:
            if (i := runtime.token_to_id(name)) is not None:
                ids[role] = i
                break
    missing = {"cls", "sep", "mask"} - set(ids)
    if missing:
        raise DataError(f"the tokenizer has no {', '.join(sorted(missing))} token, needed for pretraining")
    return ids


# ---- reading documents --------------------------------------------------------------------------

def _blank_line_layout(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(CHUNK_BYTES)
    return b"\n\n" in head.replace(b"\r\n", b"\n")


def iter_documents(path: Path, errors: str = "strict") -> Iterator[tuple[list[str], int]]:
    """(sentences, bytes read) per document of one file.

    A line longer than 1 MiB arrives from `iter_lines` as several pieces; in the
    one-document-per-line layout each piece is a document of its own, so a file with no newline
    at all still goes through in bounded memory.
    """
    if not _blank_line_layout(path):
        for line in iter_lines(path, errors):
            sentences = split_sentences(line)
            if sentences:
                yield sentences, len(line.encode("utf-8")) + 1
        return
    doc: list[str] = []
    size = 0
    for line in iter_lines(path, errors):
        size += len(line.encode("utf-8")) + 1
        line = line.strip()
        if line:
            doc.append(line)
        elif doc:
            yield doc, size
            doc, size = [], 0
    if doc:
        yield doc, size


def iter_chunks(files: Sequence[Path], errors: str = "strict",
                chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[list[list[str]], int]]:
    """Documents grouped into chunks of about CHUNK_BYTES (a deterministic cut, for resume)."""
    chunk: list[list[str]] = []
    size = 0
    for path in files:
        for doc, n in iter_documents(path, errors):
            chunk.append(doc)
            size += n
            if size >= chunk_bytes:
                yield chunk, size
                chunk, size = [], 0
    if chunk:
        yield chunk, size


# ---- tokenizing in workers ----------------------------------------------------------------------

_RUNTIME = None


def _init_worker(tokenizer_json: str) -> None:
    global _RUNTIME
    _RUNTIME = tokenizers.Tokenizer.from_str(tokenizer_json)


def _encode_chunk(docs: list[list[str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(token ids, tokens per sentence, sentences per document) of a chunk; empties dropped."""
    sentences = [s for doc in docs for s in doc]
    encodings = _RUNTIME.encode_batch(sentences, add_special_tokens=False)
    lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
    ids = np.fromiter((i for e in encodings for i in e.ids), dtype=np.uint32, count=int(lengths.sum()))
    per_doc, start = [], 0
    for doc in docs:
        n_nonempty = int(np.count_nonzero(lengths[start:start + len(doc)]))
        start += len(doc)
        per_doc.append(n_nonempty)
    per_doc_arr = np.asarray(per_doc, dtype=np.int64)
    return ids, lengths[lengths > 0], per_doc_arr[per_doc_arr > 0]


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _tokenized(chunks: Iterator[tuple[list[list[str]], int]], tokenizer_json: str, workers: int,
               ) -> Iterator[tuple[tuple[np.ndarray, np.ndarray, np.ndarray], int]]:
    """(encoded chunk, its bytes) in input order, from `workers` processes (in-process for 1).

    At most two chunks per worker are in flight, so memory stays bounded. A worker that dies
    (killed for memory, say) breaks the pool: that ends the run with a DataError instead of
    waiting for a chunk that will never come back.
    """
    if workers == 1:
        _init_worker(tokenizer_json)
        for chunk, size in chunks:
            yield _encode_chunk(chunk), size
        return
    pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                               initargs=(tokenizer_json,))
    pending: deque = deque()
    try:
        for chunk, size in chunks:
            pending.append((pool.submit(_encode_chunk, chunk), size))
            while len(pending) >= 2 * workers:
                future, n = pending.popleft()
                yield future.result(), n
        while pending:
            future, n = pending.popleft()
            yield future.result(), n
    except BrokenProcessPool:
        raise DataError("a tokenizer worker process died (killed by the system, perhaps for lack of "
                        "memory); the finished shards are kept: run `bertkit data prepare` again to "
                        "resume (with fewer --workers if memory is short)") from None
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


# ---- writing shards -----------------------------------------------------------------------------

def disk_error(path: Path, e: OSError) -> DataError:
    """A DataError for a failed write, naming the file and, for a full disk, the free space."""
    where = Path(e.filename) if e.filename else path
    try:
        free = f"; {shutil.disk_usage(where.parent if not where.is_dir() else where).free:,} bytes free"
    except OSError:
        free = ""
    return DataError(f"{where}: cannot write ({e.strerror or e}){free} on that file system")


class _ShardWriter:
    """One shard being written: tokens to a hidden temporary file, renamed when closed."""

    def __init__(self, out_dir: Path, index: int, dtype: np.dtype) -> None:
        self.out_dir, self.dtype = out_dir, dtype
        self.name = f"shard-{index:05d}"
        self.tmp = out_dir / f".{self.name}.bin.tmp"
        self.file = open(self.tmp, "wb")
        self.sha = hashlib.sha256()
        self.tokens = self.sentences = 0
        self.sent_ends: list[np.ndarray] = []
        self.doc_ends: list[np.ndarray] = []

    def add(self, ids: np.ndarray, sent_lens: np.ndarray, doc_sents: np.ndarray) -> None:
        data = ids.astype(self.dtype).tobytes()
        self.file.write(data)
        self.sha.update(data)
        self.sent_ends.append(self.tokens + np.cumsum(sent_lens))
        self.doc_ends.append(self.sentences + np.cumsum(doc_sents))
        self.tokens += int(ids.size)
        self.sentences += int(sent_lens.size)

    def close(self) -> dict[str, Any]:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        sent = np.concatenate(self.sent_ends) if self.sent_ends else np.zeros(0, np.int64)
        doc = np.concatenate(self.doc_ends) if self.doc_ends else np.zeros(0, np.int64)
        for kind, array in (("sent", sent), ("doc", doc)):
            buf = io.BytesIO()
            np.save(buf, array)
            atomic_write_bytes(self.out_dir / f"{self.name}.{kind}.npy", buf.getvalue())
        os.replace(self.tmp, self.out_dir / f"{self.name}.bin")
        return {"name": self.name, "tokens": self.tokens, "sentences": int(sent.size),
                "documents": int(doc.size), "sha256": self.sha.hexdigest(),
                "index_sha256": index_sha(sent, doc)}

    def discard(self) -> None:
        """Drop an unfinished shard (a no-op once it is closed and renamed)."""
        self.file.close()
        self.tmp.unlink(missing_ok=True)


class _ShardSink:
    """Appends encoded chunks to shards in order; closes a shard at `shard_tokens` and records it
    (with the number of input chunks it ends at) in progress.json, so a restart resumes there."""

    def __init__(self, out: Path, settings: dict[str, Any], shards: list[dict[str, Any]],
                 chunks: int) -> None:
        self.out, self.settings = out, settings
        self.shards, self.chunks = shards, chunks
        self.dtype = np.dtype(settings["dtype"])
        self.writer = _ShardWriter(out, len(shards), self.dtype)
        self.chunks_in_writer = 0

    def add(self, result: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        self.writer.add(*result)
        self.chunks_in_writer += 1
        if self.writer.tokens >= self.settings["shard_tokens"]:
            self._close_shard()
            atomic_write_json(self.out / "progress.json", {"settings": self.settings,
                                                           "shards": self.shards, "chunks": self.chunks})
            self.writer = _ShardWriter(self.out, len(self.shards), self.dtype)

    def _close_shard(self) -> None:
        self.chunks += self.chunks_in_writer
        self.shards.append({**self.writer.close(), "chunks_end": self.chunks})
        self.chunks_in_writer = 0

    def finish(self) -> list[dict[str, Any]]:
        if self.writer.tokens:
            self._close_shard()
        else:
            self.writer.discard()
        return self.shards


def _inputs_signature(files: Sequence[Path]) -> list[dict[str, Any]]:
    sig = []
    for f in files:
        st = require_file(f).stat()
        sig.append({"path": str(f.resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns})
    return sig


def _settings(files: Sequence[Path], runtime: Any, shard_tokens: int, chunk_bytes: int) -> dict[str, Any]:
    """Everything the shards' content depends on; a run with equal settings can reuse shards."""
    vocab_size = runtime.get_vocab_size(with_added_tokens=True)
    return {"format": FORMAT, "tokenizer_hash": vocab_hash(runtime), "vocab_size": vocab_size,
            "special_ids": special_ids(runtime), "shard_tokens": shard_tokens, "chunk_bytes": chunk_bytes,
            "dtype": "uint16" if vocab_size <= 1 << 16 else "uint32",
            "inputs": _inputs_signature(files)}


def _intact_prefix(out: Path, shards: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int | None]:
    """The leading shards whose files match their checksums, and the input chunks they cover.

    Shards are cut from the input in order, so everything from the first missing or corrupt
    shard on is rebuilt. Shards recorded without `chunks_end` (by an older bertkit) are kept only
    when all are intact; the chunk count is then None (the caller knows it from elsewhere).
    """
    bad = next((k for k, shard in enumerate(shards) if shard_problem(out, shard)), None)
    if bad is None:
        return shards, (shards[-1].get("chunks_end") if shards else 0)
    if bad and "chunks_end" in shards[bad - 1]:
        return shards[:bad], shards[bad - 1]["chunks_end"]
    return [], 0


def _previous_state(out: Path, settings: dict[str, Any]) -> tuple[dict[str, Any] | None, list, int]:
    """(meta when the directory is complete and intact, shards to keep, chunks they cover).

    meta.json (a finished run) or progress.json (an interrupted one) with the same settings
    offer shards; each is checked against its recorded sha256 before it is kept. A truncated
    JSON file offers nothing: the shards are made again.
    """
    for name in ("meta.json", "progress.json"):
        path = out / name
        if not path.is_file():
            continue
        try:
            saved = read_json(path)
        except DataError:
            continue
        same = (saved.get("settings") if name == "progress.json" else
                {k: saved.get(k) for k in settings}) == settings
        if not same:
            continue
        keep, chunks = _intact_prefix(out, saved["shards"])
        if len(keep) == len(saved["shards"]):
            if name == "meta.json":
                return saved, keep, 0
            chunks = saved["chunks"]
        return None, keep, chunks
    return None, [], 0


def _remove_stale(out: Path, keep: list[dict[str, Any]]) -> None:
    """Delete shard files not in `keep` and temporary files of interrupted writes."""
    names = {s["name"] for s in keep}
    for path in out.glob("shard-*"):
        if path.name.split(".")[0] not in names:
            path.unlink()
    for path in out.glob(".*.tmp"):     # safe: the directory lock keeps other writers out
        path.unlink()


def _check_workers(workers: int) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be a whole number >= 1; got {workers!r}")
    cpus = usable_cpus()
    if workers > cpus:
        warnings.warn(f"{workers} workers asked for, but only {cpus} CPU(s) are available: using {cpus}",
                      stacklevel=3)
    return min(workers, cpus)


def prepare(
    files: Sequence[str | os.PathLike],
    tokenizer_dir: Any,
    out_dir: str | os.PathLike,
    *,
    workers: int = 1,
    shard_tokens: int = SHARD_TOKENS,
    chunk_bytes: int = CHUNK_BYTES,
    errors: str = "strict",
    progress: bool = True,
) -> dict[str, Any]:
    """Tokenize `files` into shards under `out_dir`; return the metadata (also in meta.json).

    Holds a lock on `out_dir` while it works (a second prepare there gets a LockError). Shards
    already there from the same inputs and tokenizer are verified against their checksums and
    kept; missing or corrupt ones are rebuilt. `workers` is capped at the usable CPU count.
    """
    files = [Path(f) for f in files]
    if not files:
        raise DataError("no input files given")
    workers = _check_workers(workers)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: exists and is not a directory; give a directory for the shards")
    runtime = load_runtime(tokenizer_dir)
    runtime.no_padding()
    runtime.no_truncation()     # whole sentences go in the shards; examples are cut at train time
    settings = _settings(files, runtime, shard_tokens, chunk_bytes)
    with directory_lock(out, what="data prepare"):
        meta, keep, chunks = _previous_state(out, settings)
        if meta is not None:
            return {**meta, "skipped": True}
        try:
            _remove_stale(out, keep)
            atomic_write_text(out / "tokenizer.json", runtime.to_str(pretty=True))
            shards = _write_shards(files, runtime.to_str(), out, settings, keep, chunks, workers, errors,
                                   progress)
            if not shards:
                raise DataError(f"no text found in {', '.join(str(f) for f in files)} (empty input)")
            counts = {k: sum(s[k] for s in shards) for k in ("tokens", "sentences", "documents")}
            meta = {**settings, "counts": counts, "shards": shards}
            atomic_write_json(out / "meta.json", meta)
            (out / "progress.json").unlink(missing_ok=True)
        except OSError as e:
            raise disk_error(out, e) from None
    return {**meta, "skipped": False}


def _write_shards(files: Sequence[Path], tokenizer_json: str, out: Path, settings: dict[str, Any],
                  keep: list[dict[str, Any]], chunks_done: int, workers: int, errors: str,
                  progress: bool) -> list[dict[str, Any]]:
    """Tokenize the input after the first `chunks_done` chunks and append it to shards."""
    bar = tqdm(total=sum(s["bytes"] for s in settings["inputs"]), unit="B", unit_scale=True,
               unit_divisor=1024, desc="prepare", disable=not progress, dynamic_ncols=True)
    sink = _ShardSink(out, settings, list(keep), chunks_done)

    def todo() -> Iterator[tuple[list[list[str]], int]]:
        for n, (chunk, size) in enumerate(iter_chunks(files, errors, settings["chunk_bytes"])):
            if n < chunks_done:
                bar.update(size)
            else:
                yield chunk, size

    try:
        for result, size in _tokenized(todo(), tokenizer_json, workers):
            sink.add(result)
            bar.update(size)
        return sink.finish()
    except OSError as e:        # a write to the open shard file carries no file name
        sink.writer.discard()   # first, so the free space reported is what the user has to work with
        raise disk_error(sink.writer.tmp, e) from None
    finally:
        sink.writer.discard()
        bar.close()
