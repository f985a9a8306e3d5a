"""File helpers shared by every module: atomic writes and UTF-8 reading with precise errors.

One home for "never leave a half-written file behind": write to a temporary sibling, fsync,
then rename over the target (rename is atomic on POSIX). Directories are written the same way.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import json
import os
import shlex
import shutil
import socket
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from bertkit.errors import DataError, LockError

PathLike = str | os.PathLike


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def check_output_file(path: PathLike, what: str = "output") -> Path:
    """`path` as a file to write: a DataError if it is a directory or its parent is a file."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{what} {path}: is a directory; give a file name (for example {path / 'out'})")
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise DataError(f"{what} {path}: {parent} is a file, not a directory")
    return path


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write `data` to `path` so that readers see either the old file or the whole new one."""
    path = check_output_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.filename is None:   # a failed write names no file: name it
            raise OSError(e.errno, e.strerror or str(e), str(path)) from e
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


LOCK_NAME = ".bertkit.lock"
READERS_NAME = ".bertkit.readers"      # one record per job holding a directory with `reading_lock`


def _read_holder(lock: Path) -> dict[str, Any]:
    try:
        holder = json.loads(lock.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _describe(holder: dict[str, Any]) -> str:
    if not holder:
        return "an unknown process (the lock file is empty)"
    return (f"{holder.get('what', 'a job')} (pid {holder.get('pid')} on host {holder.get('host')}, "
            f"since {holder.get('started')}: {holder.get('command')})")


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _open_and_flock(path: Path, lock: Path, what: str, shared: bool = False) -> tuple[int, dict[str, Any]]:
    """Open `lock` and take an exclusive (or shared) flock on it; return the fd and the previous
    holder record.

    Retries when the file was unlinked by a releasing holder between our open and our flock, so
    that two processes never hold locks on two different inodes of the same path.
    """
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise LockError(f"{path}: cannot lock {lock}: {e.strerror}") from None
            readers = _readers(path)        # first: a killed writer's stale record may still be there
            if readers:
                raise LockError(f"{path} is being read by {'; '.join(_describe(r) for r in readers)}; "
                                f"refusing to start {what} there, which would change it under them. "
                                "Wait for them to finish, or write to another directory.") from None
            holder = _read_holder(lock)
            gone = (holder.get("host") == socket.gethostname() and "pid" in holder
                    and not _pid_alive(holder["pid"]))
            hint = (" Its process is gone but a child of it still holds the lock: stop that child."
                    if gone else " Wait for it to finish or stop it.")
            raise LockError(f"{path} is in use by {_describe(holder)}; refusing to start {what} "
                            f"there.{hint}") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd, _read_holder(lock)
        os.close(fd)


@contextlib.contextmanager
def directory_lock(path: PathLike, what: str = "job") -> Iterator[Path]:
    """Hold an exclusive lock on directory `path` (created if missing) while the body runs.

    Use it around every job that writes a RUN or shards directory, so that two jobs never write
    one directory at once::

        with directory_lock(out, what="pretrain"):
            ...

    The lock is `path/.bertkit.lock`, held with `fcntl.flock` and recording the holder's PID,
    host, start time and command line. A second process (or a second lock in this process) gets a
    `LockError` naming the directory and the holder. The kernel releases a flock when its process
    dies, even by `kill -9`, so a lock file left behind by a dead process is free: it is taken
    over with a warning naming the dead holder. A lock recorded by another host is never taken
    over (flock may not reach across a network file system); the error says to delete the file
    once that job is known to be gone. The lock file is removed on exit. Children forked inside
    the body (worker pools) inherit the lock; it is free again once all of them have exited.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    lock = path / LOCK_NAME
    fd, previous = _open_and_flock(path, lock, what)
    try:
        host = socket.gethostname()
        if previous and previous.get("host") not in (None, host):
            raise LockError(f"{path} is locked by {_describe(previous)}, on another host; if that "
                            f"job is gone, delete {lock} and start again.")
        if previous:
            warnings.warn(f"{path}: taking over the lock left by {_describe(previous)}, which is no "
                          f"longer running", stacklevel=3)
        record = _holder_record(what)
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode("utf-8"), 0)
        os.fsync(fd)
        shutil.rmtree(path / READERS_NAME, ignore_errors=True)  # no reader holds it: killed ones' records
    except BaseException:
        os.close(fd)
        raise
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        os.close(fd)


def _holder_record(what: str) -> dict[str, Any]:
    return {"what": what, "pid": os.getpid(), "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"), "command": shlex.join(sys.argv)}


def _readers(path: Path) -> list[dict[str, Any]]:
    """The records of the jobs reading `path` now (this host's dead ones skipped)."""
    here = socket.gethostname()
    found = []
    for record in sorted((path / READERS_NAME).glob("*.json")):
        holder = _read_holder(record)
        if holder and not (holder.get("host") == here and not _pid_alive(holder.get("pid"))):
            found.append(holder)
    return found


@contextlib.contextmanager
def reading_lock(path: PathLike, what: str = "job") -> Iterator[Path]:
    """Hold a shared lock on the existing directory `path` while the body reads it.

    Any number of readers share it (several training runs on one shards directory); a writer's
    `directory_lock` on the same directory is refused while they read, with an error naming them,
    and a reader is refused while a writer holds the directory. Each reader leaves a record in
    `path/.bertkit.readers/` (removed on exit) so that the refusal can say who reads.
    """
    path = Path(path)
    if not path.is_dir():       # nothing to lock: the reader says what is missing
        yield path
        return
    try:
        fd, _ = _open_and_flock(path, path / LOCK_NAME, what, shared=True)
    except OSError as e:
        if e.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        yield path              # a directory we may not write to: nobody writes it through us either
        return
    record: Path | None = path / READERS_NAME / f"{socket.gethostname()}-{os.getpid()}-{fd}.json"
    try:
        try:
            record.parent.mkdir(exist_ok=True)
            record.write_text(json.dumps(_holder_record(what)) + "\n", encoding="utf-8")
        except OSError:
            record = None       # a read-only directory: readers still exclude writers, unnamed
        yield path
    finally:
        if record is not None:
            with contextlib.suppress(OSError):
                record.unlink()
                record.parent.rmdir()       # the last reader out leaves no trace (fails if not last)
        os.close(fd)            # readers never unlink the lock file: another may still hold it


@contextlib.contextmanager
def reading_locks(directories: Iterable[PathLike | None], what: str = "job") -> Iterator[None]:
    """`reading_lock` on each of `directories` (None skipped, each directory once)."""
    with contextlib.ExitStack() as stack:
        for directory in dict.fromkeys(str(d) for d in directories if d):
            stack.enter_context(reading_lock(directory, what=what))
        yield


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


def require_file(path: PathLike) -> Path:
    """`path` if it is a file to read; else a DataError that says whether it is missing or a directory."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory; give the files in it")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    return path


def read_text(path: PathLike, errors: str = "strict") -> str:
    """Read a whole UTF-8 text file with a clear error for missing, empty-named or non-UTF-8 files."""
    path = require_file(path)
    return decode_utf8(path.read_bytes(), path, errors)


MAX_LINE_BYTES = 1 << 20
_SPACES = (b" ", b"\t", b"\f", b"\v")


def _piece_end(data: bytes, limit: int) -> tuple[int, int]:
    """Where to cut `data` (longer than `limit` bytes): (end of the piece, start of the rest).

    At the last ASCII whitespace byte within the first `limit` bytes (the space is dropped), else
    at `limit` itself, moved back to the start of a UTF-8 character so no character is split.
    """
    cut = max(data.rfind(space, 0, limit) for space in _SPACES)
    if cut > 0:
        return cut, cut + 1
    cut = limit
    while cut > limit - 3 and data[cut] & 0xC0 == 0x80:    # a continuation byte: back up
        cut -= 1
    return cut, cut


def _iter_raw_lines(f: Any, max_bytes: int | None) -> Iterator[tuple[bytes, int, int]]:
    """(line or piece without its newline, 1-based line number, its byte offset) of a binary file."""
    line_no, offset, rest = 1, 0, b""
    while True:
        raw = f.readline() if max_bytes is None else f.readline(max_bytes + 1 - len(rest))
        data = rest + raw
        if data.endswith(b"\n") or not raw:
            if data:
                yield data.rstrip(b"\r\n"), line_no, offset
            if not raw:
                return
            line_no, offset, rest = line_no + 1, offset + len(data), b""
        elif max_bytes is not None and len(data) > max_bytes:
            end, start = _piece_end(data, max_bytes)
            yield data[:end], line_no, offset
            offset, rest = offset + start, data[start:]
        else:
            rest = data


def iter_lines(path: PathLike, errors: str = "strict",
               max_bytes: int | None = MAX_LINE_BYTES) -> Iterator[str]:
    """Stream the lines of a UTF-8 file (without newline) in bounded memory.

    A line longer than `max_bytes` (default 1 MiB of UTF-8) comes out as several pieces of at
    most `max_bytes` each: each piece ends at the last ASCII space, tab, form feed or vertical tab
    within the limit, and that whitespace is dropped; a stretch with no such whitespace (a run
    of CJK text, a base64 blob) is cut at the limit, at a character boundary. Corpus readers
    (tokenizer training, `data prepare`) want this: memory stays flat on a file with no
    newlines. Readers of records (JSONL, CoNLL) pass `max_bytes=None` to get whole lines.
    A decode error names the file, the byte offset and the line number.
    """
    path = require_file(path)
    if max_bytes is not None and max_bytes < 4:
        raise ValueError(f"max_bytes must be at least 4 (one UTF-8 character); got {max_bytes}")
    with open(path, "rb") as f:
        for raw, line_no, offset in _iter_raw_lines(f, max_bytes):
            try:
                text = raw.decode("utf-8", errors=errors)
            except UnicodeDecodeError as e:
                raise DataError(
                    f"{path}: not valid UTF-8 at byte offset {offset + e.start} (line {line_no}). "
                    f"Convert the file to UTF-8, or pass errors='replace' (CLI: --encoding-errors "
                    f"replace) to substitute U+FFFD for bad bytes."
                ) from None
            yield text


def save_figure(fig: Any, path: PathLike, dpi: int = 100) -> Path:
    """Render a matplotlib figure to PNG atomically, then close it (plots are rewritten during runs)."""
    import matplotlib.pyplot as plt  # here, not at the top: bertkit.io is on the CLI's start-up path

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)
