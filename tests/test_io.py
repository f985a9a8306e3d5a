import errno
import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from bertkit.errors import DataError, LockError
from bertkit.io import (
    LOCK_NAME,
    MAX_LINE_BYTES,
    atomic_directory,
    atomic_write_text,
    directory_lock,
    iter_lines,
    read_text,
    reading_lock,
)


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "a.txt"
    atomic_write_text(path, "old")
    atomic_write_text(path, "new")
    assert path.read_text() == "new"
    assert os.listdir(tmp_path) == ["a.txt"]  # no temporary file left behind


def test_atomic_directory_keeps_old_content_on_failure(tmp_path):
    target = tmp_path / "ckpt"
    with atomic_directory(target) as d:
        (d / "w.bin").write_bytes(b"good")
    with pytest.raises(RuntimeError), atomic_directory(target) as d:
        (d / "w.bin").write_bytes(b"half")
        raise RuntimeError("killed mid-save")
    assert (target / "w.bin").read_bytes() == b"good"
    assert sorted(os.listdir(tmp_path)) == ["ckpt"]


def test_non_utf8_names_file_offset_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes("olá\nmundo \xff!\n".encode().replace(b"\xc3\xbf", b"\xff"))
    with pytest.raises(DataError, match=r"bad.txt: not valid UTF-8 at byte offset 11 \(line 2\)"):
        read_text(path)
    with pytest.raises(DataError, match=r"byte offset 11 \(line 2\).*errors='replace'"):
        list(iter_lines(path))
    assert list(iter_lines(path, errors="replace")) == ["olá", "mundo \ufffd!"]


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="nope.txt: no such file"):
        read_text(tmp_path / "nope.txt")
    with pytest.raises(DataError, match=f"{tmp_path}: is a directory; give the files in it"):
        list(iter_lines(tmp_path))


def test_a_failed_write_names_its_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    def full(fd):          # a full disk often shows only when the data is flushed
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left on device") as e:
        atomic_write_text(tmp_path / "a.txt", "x")
    assert e.value.filename == str(tmp_path / "a.txt") and os.listdir(tmp_path) == []
    with pytest.raises(DataError, match="is a directory"):
        atomic_write_text(tmp_path, "x")


_HOLD = """
import sys, time
from bertkit import io
with getattr(io, sys.argv[2])(sys.argv[1], what="pretrain"):
    print("locked", flush=True)
    time.sleep(60)
"""


def _holder(directory, lock="directory_lock", marker="--marker"):
    """A process holding `directory` with bertkit.io's `lock` (its command line ends in `marker`)."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(directory), lock, marker],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_directory_lock_refuses_a_second_process_and_names_the_holder(tmp_path):
    proc = _holder(tmp_path)
    try:
        with pytest.raises(LockError) as e, directory_lock(tmp_path, what="data prepare"):
            pass
        msg = str(e.value)
        assert str(tmp_path) in msg and f"pid {proc.pid}" in msg and socket.gethostname() in msg
        assert "pretrain" in msg and "--marker" in msg
    finally:
        proc.kill()
        proc.wait()


def test_directory_lock_is_released_on_exit_and_excludes_within_a_process(tmp_path):
    with directory_lock(tmp_path / "run") as d:
        assert (d / LOCK_NAME).exists()
        with pytest.raises(LockError, match=f"pid {os.getpid()}"), directory_lock(d):
            pass
    assert not (tmp_path / "run" / LOCK_NAME).exists()
    with directory_lock(tmp_path / "run"):
        pass


def test_directory_lock_of_a_killed_process_is_taken_over_with_a_warning(tmp_path):
    proc = _holder(tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (tmp_path / LOCK_NAME).exists()  # left behind by kill -9
    with pytest.warns(UserWarning, match=f"lock left by pretrain \\(pid {proc.pid}.*no longer running"):
        with directory_lock(tmp_path):
            holder = json.loads((tmp_path / LOCK_NAME).read_text())
            assert holder["pid"] == os.getpid()


def test_directory_lock_of_another_host_is_not_broken(tmp_path):
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": 1, "host": "elsewhere", "what": "pretrain"}))
    with pytest.raises(LockError, match=f"another host; if that job is gone, delete .*{LOCK_NAME}"):
        with directory_lock(tmp_path):
            pass
    assert (tmp_path / LOCK_NAME).exists()


def test_readers_share_a_directory_and_keep_a_writer_out_naming_them(tmp_path):
    proc = _holder(tmp_path, "reading_lock", "--reader-marker")
    try:
        with reading_lock(tmp_path, what="evaluate"):      # a second reader is welcome
            with pytest.raises(LockError) as e, directory_lock(tmp_path, what="data prepare"):
                pass
        msg = str(e.value)
        assert "is being read by" in msg and f"pid {proc.pid}" in msg and "--reader-marker" in msg
        assert f"pid {os.getpid()}" in msg and "data prepare" in msg
    finally:
        proc.kill()
        proc.wait()
    with directory_lock(tmp_path, what="data prepare"):    # the killed reader's flock died with it
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == []     # no lock file, no reader records


def test_a_reader_is_refused_while_a_writer_holds_the_directory(tmp_path):
    proc = _holder(tmp_path)
    try:
        with pytest.raises(LockError, match=f"in use by pretrain \\(pid {proc.pid}"):
            with reading_lock(tmp_path, what="pretrain"):
                pass
    finally:
        proc.kill()
        proc.wait()


def test_a_reading_lock_on_a_missing_or_read_only_directory_does_not_get_in_the_way(tmp_path, monkeypatch):
    with reading_lock(tmp_path / "missing") as d:
        assert not d.exists()
    real_open = os.open

    def read_only(path, flags, *args):
        if str(path).endswith(LOCK_NAME):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", read_only)      # a shared dataset directory we may not write to
    with reading_lock(tmp_path):
        assert list(tmp_path.iterdir()) == []


def test_long_lines_come_out_in_bounded_pieces_cut_at_whitespace(tmp_path):
    words = [f"w{i}" for i in range(3000)]
    path = tmp_path / "one_line.txt"
    path.write_text(" ".join(words) + "\nshort\n", encoding="utf-8")
    pieces = list(iter_lines(path, max_bytes=100))
    assert pieces[-1] == "short"
    assert all(len(p.encode()) <= 100 for p in pieces)
    assert " ".join(pieces[:-1]).split(" ") == words            # no word cut, none lost


def test_a_line_without_whitespace_is_cut_at_the_limit_on_a_character_boundary(tmp_path):
    text = "é" * 7 + "€" * 5 + "𝄞" * 3                          # 2-, 3- and 4-byte characters
    path = tmp_path / "cjk.txt"
    path.write_text(text + "\n" + text, encoding="utf-8")
    pieces = list(iter_lines(path, max_bytes=5))
    assert all(1 <= len(p.encode()) <= 5 for p in pieces)
    assert "".join(pieces) == text * 2
    assert list(iter_lines(path, max_bytes=None)) == [text, text]


def test_pieces_keep_line_numbers_and_byte_offsets_of_decode_errors(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"ok\n" + b"abc " * 10 + b"\xff tail\n")
    with pytest.raises(DataError, match=r"byte offset 43 \(line 2\)"):
        list(iter_lines(path, max_bytes=8))


def test_default_limit_is_one_mebibyte(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text(("x" * 99 + " ") * 25_000, encoding="utf-8")        # 2.5 MB, no newline
    pieces = list(iter_lines(path))
    assert len(pieces) == 3 and max(len(p) for p in pieces) <= MAX_LINE_BYTES
    assert all(len(p) % 100 == 99 for p in pieces[:2])                # cut at a space
