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

Idempotent (same inputs, tokenizer and settings: nothing to do) and resumable (finished shards are
recorded in progress.json and kept; a restart skips the input they cover).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bertkit.errors import DataError
from bertkit.io import atomic_write_json, iter_lines

FORMAT = 1
CHUNK_BYTES = 1 << 20
SHARD_TOKENS = 1 << 25          # 32M tokens: 64 MB as uint16
SPECIAL_ROLES = {"cls": ("[CLS]", "<s>"), "sep": ("[SEP]", "</s>"), "mask": ("[MASK]", "<mask>"),
                 "pad": ("[PAD]", "<pad>"), "unk": ("[UNK]", "<unk>")}


def load_runtime(tokenizer_dir: Any):
    """The `tokenizers.Tokenizer` of a bertkit or Hugging Face tokenizer directory (or file)."""
    if hasattr(tokenizer_dir, "runtime"):       # a bertkit Tokenizer
        return tokenizer_dir.runtime
    if hasattr(tokenizer_dir, "encode_batch") and hasattr(tokenizer_dir, "to_str"):
        return tokenizer_dir                    # a tokenizers.Tokenizer
    path = Path(tokenizer_dir)
    if path.is_file():
        import tokenizers

        return tokenizers.Tokenizer.from_file(str(path))
    from bertkit.tokenizers import Tokenizer

    return Tokenizer.from_pretrained(path).runtime


def vocab_hash(runtime) -> str:
    """A short fingerprint of the vocabulary (added tokens included)."""
    vocab = runtime.get_vocab(with_added_tokens=True)
    return hashlib.sha256(json.dumps(vocab, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def special_ids(runtime) -> dict[str, int]:
    ids = {}
    for role, names in SPECIAL_ROLES.items():
        for name in names:
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
    """(sentences, bytes read) per document of one file."""
    from bertkit.datasets import split_sentences

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
    import tokenizers

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


# ---- writing shards -----------------------------------------------------------------------------

@dataclass
class _ShardWriter:
    out_dir: Path
    index: int
    dtype: np.dtype

    def __post_init__(self) -> None:
        self.name = f"shard-{self.index:05d}"
        self.tmp = self.out_dir / f".{self.name}.bin.tmp"
        self.file = open(self.tmp, "wb")
        self.sha = hashlib.sha256()
        self.tokens = 0
        self.sent_ends: list[np.ndarray] = []
        self.doc_ends: list[np.ndarray] = []
        self.sentences = 0

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
        np.save(self.out_dir / f"{self.name}.sent.npy", sent)
        np.save(self.out_dir / f"{self.name}.doc.npy", doc)
        os.replace(self.tmp, self.out_dir / f"{self.name}.bin")
        return {"name": self.name, "tokens": self.tokens, "sentences": int(sent.size),
                "documents": int(doc.size), "sha256": self.sha.hexdigest(),
                "index_sha256": _index_sha(sent, doc)}


def _index_sha(sent: np.ndarray, doc: np.ndarray) -> str:
    return hashlib.sha256(sent.astype(np.int64).tobytes() + doc.astype(np.int64).tobytes()).hexdigest()


def _inputs_signature(files: Sequence[Path]) -> list[dict[str, Any]]:
    sig = []
    for f in files:
        if not f.is_file():
            raise DataError(f"{f}: no such file")
        st = f.stat()
        sig.append({"path": str(f.resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns})
    return sig


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
    """Tokenize `files` into shards under `out_dir`; return the metadata (also in meta.json)."""
    from tqdm.auto import tqdm

    files = [Path(f) for f in files]
    if not files:
        raise DataError("no input files given")
    out = Path(out_dir)
    runtime = load_runtime(tokenizer_dir)
    runtime.no_padding()
    runtime.no_truncation()     # whole sentences go in the shards; examples are cut at train time
    vocab_size = runtime.get_vocab_size(with_added_tokens=True)
    settings = {"format": FORMAT, "tokenizer_hash": vocab_hash(runtime), "vocab_size": vocab_size,
                "special_ids": special_ids(runtime), "shard_tokens": shard_tokens, "chunk_bytes": chunk_bytes,
                "dtype": "uint16" if vocab_size <= 1 << 16 else "uint32",
                "inputs": _inputs_signature(files)}
    meta_path, progress_path = out / "meta.json", out / "progress.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if {k: meta.get(k) for k in settings} == settings:
            meta["skipped"] = True
            return meta
    out.mkdir(parents=True, exist_ok=True)
    done: dict[str, Any] = {"shards": [], "chunks": 0}
    if progress_path.is_file():
        saved = json.loads(progress_path.read_text(encoding="utf-8"))
        if saved.get("settings") == settings and all((out / f"{s['name']}.bin").is_file()
                                                      for s in saved["shards"]):
            done = {"shards": saved["shards"], "chunks": saved["chunks"]}
    shards: list[dict[str, Any]] = list(done["shards"])
    for stale in out.glob("shard-*"):
        if stale.name.split(".")[0] not in {s["name"] for s in shards}:
            stale.unlink()
    runtime.save(str(out / "tokenizer.json"))
    dtype = np.dtype(settings["dtype"])

    total_bytes = sum(s["bytes"] for s in settings["inputs"])
    bar = tqdm(total=total_bytes, unit="B", unit_scale=True, unit_divisor=1024, desc="prepare",
               disable=not progress, dynamic_ncols=True)
    writer = _ShardWriter(out, len(shards), dtype)
    chunks_in_writer = 0
    chunk_no = 0

    def consume(result, size):
        nonlocal writer, chunks_in_writer
        writer.add(*result)
        chunks_in_writer += 1
        bar.update(size)
        if writer.tokens >= shard_tokens:
            shards.append(writer.close())
            done["chunks"] += chunks_in_writer
            atomic_write_json(progress_path,
                              {"settings": settings, "shards": shards, "chunks": done["chunks"]})
            writer, chunks_in_writer = _ShardWriter(out, len(shards), dtype), 0

    tokenizer_json = runtime.to_str()
    pool = None
    if workers > 1:
        pool = mp.get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(tokenizer_json,))
    else:
        _init_worker(tokenizer_json)
    try:
        pending: deque = deque()
        for chunk, size in iter_chunks(files, errors, chunk_bytes):
            chunk_no += 1
            if chunk_no <= done["chunks"]:
                bar.update(size)
                continue
            if pool is None:
                consume(_encode_chunk(chunk), size)
                continue
            pending.append((pool.apply_async(_encode_chunk, (chunk,)), size))
            while len(pending) >= 2 * workers:          # bounded: at most 2 chunks per worker in flight
                result, n = pending.popleft()
                consume(result.get(), n)
        while pending:
            result, n = pending.popleft()
            consume(result.get(), n)
    finally:
        if pool is not None:
            pool.terminate()
        bar.close()
    if writer.tokens:
        shards.append(writer.close())
    else:
        writer.file.close()
        writer.tmp.unlink()
    if not shards:
        raise DataError(f"no text found in {', '.join(str(f) for f in files)} (empty input)")
    counts = {k: sum(s[k] for s in shards) for k in ("tokens", "sentences", "documents")}
    meta = {**settings, "counts": counts, "shards": shards}
    atomic_write_json(meta_path, meta)
    progress_path.unlink(missing_ok=True)
    meta["skipped"] = False
    return meta


# ---- reading shards -----------------------------------------------------------------------------

class ShardSet:
    """The shards of a prepared directory: memmapped tokens plus sentence and document indices."""

    def __init__(self, directory: str | os.PathLike, verify: bool = True,
                 tokenizer_hash: str | None = None) -> None:
        self.dir = Path(directory)
        meta_path = self.dir / "meta.json"
        if not meta_path.is_file():
            raise DataError(f"{meta_path}: no such file; run `bertkit data prepare --out {self.dir}` first")
        self.meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if tokenizer_hash is not None and tokenizer_hash != self.meta["tokenizer_hash"]:
            raise DataError(
                f"{self.dir} was made with a different tokenizer: the shards' vocabulary hash is "
                f"{self.meta['tokenizer_hash']} ({self.meta['vocab_size']} tokens), the tokenizer's is "
                f"{tokenizer_hash}; prepare the data again with this tokenizer")
        self.tokens: list[np.memmap] = []
        self.sent_ends: list[np.ndarray] = []
        self.doc_ends: list[np.ndarray] = []
        for shard in self.meta["shards"]:
            bin_path = self.dir / f"{shard['name']}.bin"
            if not bin_path.is_file():
                raise DataError(f"{bin_path}: missing shard")
            if verify and _file_sha256(bin_path) != shard["sha256"]:
                raise DataError(f"{bin_path}: checksum mismatch (the shard is corrupted or was modified); "
                                f"run `bertkit data prepare` again")
            sent = np.load(self.dir / f"{shard['name']}.sent.npy", allow_pickle=False)
            doc = np.load(self.dir / f"{shard['name']}.doc.npy", allow_pickle=False)
            if verify and _index_sha(sent, doc) != shard["index_sha256"]:
                raise DataError(f"{self.dir / shard['name']}.sent.npy/.doc.npy: checksum mismatch "
                                f"(corrupted index); run `bertkit data prepare` again")
            self.tokens.append(np.memmap(bin_path, dtype=self.meta["dtype"], mode="r"))
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


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()
