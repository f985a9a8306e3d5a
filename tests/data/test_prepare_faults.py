"""`data prepare` under faults: a dying worker, a second prepare, a full disk, broken shards,
truncated metadata, bad options, a file with no newline."""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import signal
import subprocess
import sys

import pytest

from bertkit.data import cli as data_cli
from bertkit.data import shards as shards_module
from bertkit.data.shards import ShardSet, prepare
from bertkit.errors import ConfigError, DataError, LockError
from bertkit.io import LOCK_NAME

MARKER = "Zebracorn"


def _die_on_marker(docs):
    """A worker's `_encode_chunk` that kills its own process (as the OOM killer would) on MARKER."""
    if any(MARKER in s for doc in docs for s in doc):
        os.kill(os.getpid(), signal.SIGKILL)
    return shards_module._encode_chunk(docs)


@pytest.fixture()
def corpus(tmp_path, corpus_pt):
    docs = corpus_pt.read_text(encoding="utf-8").split("\n\n")[:120]
    path = tmp_path / "pt.txt"
    path.write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    return path


def _prepare(files, tok, out, **kw):
    kw = {"workers": 1, "shard_tokens": 3000, "chunk_bytes": 2048, "progress": False, **kw}
    return prepare(files, tok, out, **kw)


@contextlib.contextmanager
def _deadline(seconds):
    """Fail (instead of hanging the test run) if the body takes longer than `seconds`."""
    def fail(*_):
        raise TimeoutError(f"data prepare still running after {seconds} s: it hangs")
    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_killed_worker_ends_the_run_with_a_clear_error_not_a_hang(corpus, minilm_dir, tmp_path,
                                                                    monkeypatch):
    text = corpus.read_text(encoding="utf-8")
    corpus.write_text(text + f"\n{MARKER} appears here. Late in the file.\n", encoding="utf-8")
    monkeypatch.setattr(shards_module, "_encode_chunk", _die_on_marker)
    monkeypatch.setattr(shards_module, "usable_cpus", lambda: 2)
    with _deadline(120), pytest.raises(DataError, match="worker process died.*run `bertkit data prepare`"):
        _prepare([corpus], minilm_dir, tmp_path / "out", workers=2)
    progress = json.loads((tmp_path / "out" / "progress.json").read_text())
    assert progress["shards"]                       # finished shards are kept for the resume
    assert not list((tmp_path / "out").glob(".*.tmp")) and not (tmp_path / "out" / LOCK_NAME).exists()
    monkeypatch.undo()
    meta = _prepare([corpus], minilm_dir, tmp_path / "out")
    assert meta["counts"] == _prepare([corpus], minilm_dir, tmp_path / "fresh")["counts"]


_HOLD = """
import sys, time
from bertkit.io import directory_lock
with directory_lock(sys.argv[1], what="data prepare"):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_a_second_prepare_on_one_out_is_refused_naming_the_first(corpus, minilm_dir, tmp_path):
    out = tmp_path / "out"
    first = subprocess.Popen([sys.executable, "-c", _HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == "locked"
        with pytest.raises(LockError, match=rf"{out} is in use by data prepare \(pid {first.pid}"):
            _prepare([corpus], minilm_dir, out)
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]     # nothing touched
    finally:
        first.kill()
        first.wait()
    with pytest.warns(UserWarning, match=f"taking over the lock left by data prepare \\(pid {first.pid}"):
        assert _prepare([corpus], minilm_dir, out)["counts"]["tokens"] > 0


def test_a_full_disk_names_the_file_and_free_space_and_leaves_no_temp_file(corpus, minilm_dir, tmp_path,
                                                                          monkeypatch):
    def full(self, *args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(shards_module._ShardWriter, "add", full)
    out = tmp_path / "out"
    with pytest.raises(DataError, match=r"out/.shard-00000.bin.tmp: cannot write \(No space left on "
                                        r"device\); [\d,]+ bytes free"):
        _prepare([corpus], minilm_dir, out)
    assert not list(out.glob(".*")) and not list(out.glob("shard-*"))


@pytest.fixture()
def small_tmpfs(tmp_path):
    """A 600 KB tmpfs (needs root and CAP_SYS_ADMIN; skipped elsewhere)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root?)")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_really_full_disk(corpus_pt, minilm_dir, tmp_path, small_tmpfs):
    big = tmp_path / "big.txt"
    big.write_text("\n\n".join(corpus_pt.read_text(encoding="utf-8").split("\n\n")[:2000]), encoding="utf-8")
    out = small_tmpfs / "out"
    with pytest.raises(DataError, match=r"cannot write \(No space left on device\); [\d,]+ bytes free"):
        _prepare([big], minilm_dir, out, shard_tokens=1 << 20, chunk_bytes=1 << 16)
    assert [p.name for p in out.iterdir()] in (["tokenizer.json"], [])     # no temporary file left


def test_broken_shards_are_rebuilt_by_prepare(corpus, minilm_dir, tmp_path):
    out = tmp_path / "out"
    meta = _prepare([corpus], minilm_dir, out)
    assert len(meta["shards"]) >= 4
    original = {p.name: p.read_bytes() for p in out.glob("shard-*")}
    (out / "shard-00002.bin").unlink()
    with open(out / "shard-00001.bin", "r+b") as f:
        f.write(b"\xff\xff")
    with pytest.raises(DataError, match="shard-00001.bin: checksum mismatch"):
        ShardSet(out)
    again = _prepare([corpus], minilm_dir, out)
    assert not again["skipped"] and again["shards"] == meta["shards"]
    assert {p.name: p.read_bytes() for p in out.glob("shard-*")} == original
    assert _prepare([corpus], minilm_dir, out)["skipped"]
    (out / "shard-00000.doc.npy").unlink()
    assert not _prepare([corpus], minilm_dir, out)["skipped"]
    ShardSet(out)


def test_shards_of_an_older_bertkit_load_and_are_repaired(corpus, minilm_dir, tmp_path):
    out = tmp_path / "out"
    _prepare([corpus], minilm_dir, out)
    meta = json.loads((out / "meta.json").read_text())
    for shard in meta["shards"]:
        del shard["chunks_end"]                       # the format before repairs
    (out / "meta.json").write_text(json.dumps(meta))
    assert _prepare([corpus], minilm_dir, out)["skipped"]
    (out / "shard-00001.bin").unlink()
    assert not _prepare([corpus], minilm_dir, out)["skipped"]
    assert len(ShardSet(out).tokens) == len(meta["shards"])


def test_a_truncated_meta_json_is_named_and_prepare_makes_it_again(corpus, minilm_dir, tmp_path):
    out = tmp_path / "out"
    _prepare([corpus], minilm_dir, out)
    text = (out / "meta.json").read_text()
    (out / "meta.json").write_text(text[: len(text) // 2])
    with pytest.raises(DataError, match=r"meta.json: not valid JSON .*truncated or corrupted"):
        ShardSet(out)
    assert not _prepare([corpus], minilm_dir, out)["skipped"]
    ShardSet(out)


def test_bad_options_and_paths(corpus, minilm_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(shards_module, "usable_cpus", lambda: 2)
    with pytest.warns(UserWarning, match="64 workers asked for, but only 2 CPU"):
        _prepare([corpus], minilm_dir, tmp_path / "a", workers=64)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigError, match="workers must be a whole number >= 1"):
            _prepare([corpus], minilm_dir, tmp_path / "b", workers=bad)
    with pytest.raises(DataError, match=f"{tmp_path}: is a directory"):
        _prepare([tmp_path], minilm_dir, tmp_path / "c")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="file: exists and is not a directory"):
        _prepare([corpus], minilm_dir, tmp_path / "file")


def test_a_file_with_no_newline_is_cut_into_bounded_documents(corpus, minilm_dir, tmp_path):
    words = " ".join(corpus.read_text(encoding="utf-8").split())
    one_line = tmp_path / "one_line.txt"
    one_line.write_text(" ".join([words] * (1 + (5 << 19) // len(words))), encoding="utf-8")  # 2.5 MB
    meta = _prepare([one_line], minilm_dir, tmp_path / "out", shard_tokens=1 << 20, chunk_bytes=1 << 20)
    assert meta["counts"]["documents"] == 3                       # pieces of at most 1 MiB
    shards = ShardSet(tmp_path / "out")
    assert sum(int(t.size) for t in shards.tokens) == meta["counts"]["tokens"]


def test_cli_numbers_are_checked_at_the_boundary(capsys):
    parser = argparse.ArgumentParser()
    data_cli.register(parser.add_subparsers())
    for bad in ("0", "-3", "x", "1.5"):
        with pytest.raises(SystemExit) as e:
            parser.parse_args(["data", "prepare", "--tokenizer", "T", "--out", "O", "--workers", bad, "F"])
        assert e.value.code == 2 and "--workers" in capsys.readouterr().err
    args = parser.parse_args(["data", "prepare", "--tokenizer", "T", "--out", "O", "F"])
    assert args.workers == 2
