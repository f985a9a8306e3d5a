"""File helpers shared by every module: atomic writes and UTF-8 reading with precise errors.

One home for "never leave a half-written file behind": write to a temporary sibling, fsync,
then rename over the target (rename is atomic on POSIX). Directories are written the same way.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bertkit.errors import DataError

PathLike = str | os.PathLike


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write `data` to `path` so that readers see either the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


@contextlib.contextmanager
def atomic_directory(path: PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary directory; on success it replaces `path` in one rename.

    If the body raises (or the process is killed), `path` keeps its previous content and the
    temporary directory (a hidden sibling) is removed or left for the next run to clean.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        for child in tmp.iterdir():
            if child.is_file():
                with open(child, "rb") as f:
                    os.fsync(f.fileno())
        if path.exists():
            if not overwrite:
                raise FileExistsError(f"{path} already exists")
            old = path.with_name(f".{path.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def decode_utf8(data: bytes, source: PathLike, errors: str = "strict") -> str:
    """Decode bytes as UTF-8; on failure name the file, byte offset and line, and the way out."""
    try:
        return data.decode("utf-8", errors=errors)
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataError(
            f"{source}: not valid UTF-8 at byte offset {e.start} (line {line}): "
            f"{data[e.start:e.start + 4]!r}. Convert the file to UTF-8, or pass errors='replace' "
            f"(CLI: --encoding-errors replace) to substitute U+FFFD for bad bytes."
        ) from None


def read_text(path: PathLike, errors: str = "strict") -> str:
    """Read a whole UTF-8 text file with a clear error for missing, empty-named or non-UTF-8 files."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    return decode_utf8(path.read_bytes(), path, errors)


def iter_lines(path: PathLike, errors: str = "strict") -> Iterator[str]:
    """Stream the lines of a UTF-8 file (without newline) in bounded memory.

    A decode error names the file, the byte offset and the line number.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    offset = 0
    line_no = 0
    with open(path, "rb") as f:
        for raw in f:
            line_no += 1
            try:
                text = raw.decode("utf-8", errors=errors)
            except UnicodeDecodeError as e:
                raise DataError(
                    f"{path}: not valid UTF-8 at byte offset {offset + e.start} (line {line_no}). "
                    f"Convert the file to UTF-8, or pass errors='replace' (CLI: --encoding-errors "
                    f"replace) to substitute U+FFFD for bad bytes."
                ) from None
            offset += len(raw)
            yield text.rstrip("\r\n")


def save_figure(fig: Any, path: PathLike, dpi: int = 100) -> Path:
    """Render a matplotlib figure to PNG atomically, then close it (plots are rewritten during runs)."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)
