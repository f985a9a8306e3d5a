import os

import pytest

from bertkit.errors import DataError
from bertkit.io import atomic_directory, atomic_write_text, iter_lines, read_text


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
