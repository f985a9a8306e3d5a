"""Static word vectors: one row per word, cosine similarity, neighbours, analogies, and the word2vec
text and binary file formats (the ones `gensim.models.KeyedVectors.load_word2vec_format` reads).

Both formats start with a header line `VOCAB_SIZE DIMENSION`. Then, per word:
- text:   `word v1 v2 ... vD` on one line;
- binary: `word ` followed by D little-endian float32 numbers and a newline (word2vec.c's layout).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from bertkit.errors import DataError
from bertkit.io import atomic_write_bytes, require_file


class WordVectors:
    """Words and their vectors (`vectors[i]` belongs to `words[i]`), with cosine-similarity queries."""

    def __init__(self, words: Sequence[str], vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise DataError(f"{len(words)} words need a ({len(words)}, dim) matrix; got {vectors.shape}")
        self.words = list(words)
        self.vectors = vectors
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise DataError("the same word appears twice in the vocabulary")
        self._unit: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self.ids([word])[0]]

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    @property
    def unit(self) -> np.ndarray:
        """The vectors scaled to length 1 (a zero vector stays zero), so a dot product is a cosine."""
        if self._unit is None:
            norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
            self._unit = self.vectors / np.maximum(norms, 1e-12)
        return self._unit

    def ids(self, words: Iterable[str]) -> list[int]:
        """Row numbers of `words`; a DataError names every word that is not in the vocabulary."""
        words = list(words)
        missing = [w for w in words if w not in self.index]
        if missing:
            raise DataError(f"not in the vocabulary ({len(self)} words): {', '.join(map(repr, missing))}")
        return [self.index[w] for w in words]

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words' vectors."""
        i, j = self.ids([a, b])
        return float(self.unit[i] @ self.unit[j])

    def nearest(self, query: np.ndarray, k: int = 10, exclude: Iterable[str] = ()) -> list[tuple[str, float]]:
        """The k words whose vectors are most cosine-similar to the vector `query`."""
        q = np.asarray(query, dtype=np.float32)
        sims = self.unit @ (q / max(float(np.linalg.norm(q)), 1e-12))
        skip = [self.index[w] for w in exclude if w in self.index]
        sims[skip] = -np.inf
        k = min(k, len(self) - len(skip))
        top = np.argpartition(-sims, k - 1)[:k] if k > 0 else np.array([], dtype=int)
        top = top[np.argsort(-sims[top], kind="stable")]
        return [(self.words[i], float(sims[i])) for i in top]

    def most_similar(self, word: str, k: int = 10) -> list[tuple[str, float]]:
        """The k nearest neighbours of `word` by cosine similarity (the word itself left out)."""
        return self.nearest(self.unit[self.ids([word])[0]], k, exclude=[word])

    def analogy(self, a: str, b: str, c: str, k: int = 1) -> list[tuple[str, float]]:
        """Words nearest to a - b + c ("king" - "man" + "woman" -> "queen"), the three inputs left out.

        3CosAdd of Mikolov et al. (2013), on unit vectors, as gensim's `most_similar(positive=[a, c],
        negative=[b])` does.
        """
        i, j, m = self.ids([a, b, c])
        return self.nearest(self.unit[i] - self.unit[j] + self.unit[m], k, exclude=[a, b, c])

    def save(self, path: str | Path, binary: bool | None = None) -> Path:
        """Write the word2vec format; binary when `binary` is True or (None) the name ends in `.bin`."""
        path = Path(path)
        binary = path.suffix == ".bin" if binary is None else binary
        for w in self.words:
            if not w or any(ch.isspace() for ch in w):
                raise DataError(f"cannot write {w!r} to {path}: the word2vec format separates words "
                                f"by spaces")
        header = f"{len(self)} {self.dim}\n".encode()
        if binary:
            rows = (w.encode("utf-8") + b" " + v.astype("<f4").tobytes() + b"\n"
                    for w, v in zip(self.words, self.vectors, strict=True))
        else:  # 9 significant digits: every float32 reads back exactly
            rows = (f"{w} {' '.join(f'{x:.9g}' for x in v.tolist())}\n".encode()
                    for w, v in zip(self.words, self.vectors, strict=True))
        atomic_write_bytes(path, header + b"".join(rows))
        return path

    @classmethod
    def load(cls, path: str | Path, binary: bool | None = None) -> WordVectors:
        """Read a word2vec text or binary file (binary: True, False, or None = by the `.bin` suffix).

        A bad header, a row of the wrong dimension, a repeated word or a file that ends early is a
        DataError naming the file and the line (text) or the entry and byte offset (binary).
        """
        path = Path(path)
        binary = path.suffix == ".bin" if binary is None else binary
        data = require_file(path).read_bytes()
        n, dim, start = _header(path, data)
        words, vectors = (_read_binary if binary else _read_text)(path, data, start, n, dim)
        return cls(words, vectors)


def _header(path: Path, data: bytes) -> tuple[int, int, int]:
    """(vocabulary size, dimension, offset of the first entry) from the `V D` header line."""
    end = data.find(b"\n")
    line = data[: end if end >= 0 else len(data)]
    parts = line.split()
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or int(parts[0]) < 1 or int(parts[1]) < 1:
        shown = line[:80].decode("utf-8", "replace")
        raise DataError(f"{path}, line 1: expected the word2vec header 'VOCAB_SIZE DIMENSION' "
                        f"(two positive integers), got {shown!r}")
    return int(parts[0]), int(parts[1]), (end + 1 if end >= 0 else len(data))


def _read_text(path: Path, data: bytes, start: int, n: int, dim: int) -> tuple[list[str], np.ndarray]:
    lines = data[start:].split(b"\n")
    if lines and not lines[-1].strip():
        lines.pop()
    words: dict[str, int] = {}
    vectors = np.empty((n, dim), dtype=np.float32)
    for i, raw in enumerate(lines[:n]):
        lineno = i + 2
        try:
            word, *values = raw.decode("utf-8").rstrip().split(" ")
        except UnicodeDecodeError as e:
            raise DataError(f"{path}, line {lineno}: not UTF-8 text ({e.reason} at byte {e.start}); "
                            f"a binary file? (name it .bin or pass binary=True)") from None
        if len(values) != dim:
            raise DataError(f"{path}, line {lineno}: the header says dimension {dim}, but {word!r} has "
                            f"{len(values)} numbers")
        try:
            vectors[i] = np.asarray(values, dtype=np.float32)
        except ValueError:
            bad = next(v for v in values if not _is_float(v))
            raise DataError(f"{path}, line {lineno}: {bad!r} is not a number (word {word!r})") from None
        _check_new(path, f"line {lineno}", word, words)
    if len(lines) != n:
        raise DataError(f"{path}, line 1: the header promises {n} vectors but the file has {len(lines)} "
                        f"lines after it")
    return list(words), vectors


def _check_new(path: Path, where: str, word: str, words: dict[str, int]) -> None:
    """Add `word` to `words` (word -> row), refusing a word seen before."""
    if word in words:
        raise DataError(f"{path}, {where}: the word {word!r} appears a second time")
    words[word] = len(words)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_binary(path: Path, data: bytes, start: int, n: int, dim: int) -> tuple[list[str], np.ndarray]:
    words: dict[str, int] = {}
    vectors = np.empty((n, dim), dtype=np.float32)
    pos, width = start, 4 * dim
    for i in range(n):
        while data[pos:pos + 1] == b"\n":  # word2vec.c ends each vector with a newline; gensim does not
            pos += 1
        space = data.find(b" ", pos)
        if space < 0 or space + 1 + width > len(data):
            raise DataError(f"{path}: the file ends inside entry {i + 1} of {n} (byte {pos}); the header "
                            f"promises {n} vectors of dimension {dim}")
        try:
            word = data[pos:space].decode("utf-8")
        except UnicodeDecodeError:
            raise DataError(f"{path}: entry {i + 1} (byte {pos}) does not start with a UTF-8 word: is the "
                            f"header's dimension ({dim}) wrong, or is this a text-format file?") from None
        _check_new(path, f"entry {i + 1} (byte {pos})", word, words)
        vectors[i] = np.frombuffer(data, dtype="<f4", count=dim, offset=space + 1)
        pos = space + 1 + width
    if data[pos:].strip(b"\n"):
        raise DataError(f"{path}: {len(data) - pos} bytes after the {n} vectors the header promises "
                        f"(is the dimension {dim} right?)")
    return list(words), vectors
