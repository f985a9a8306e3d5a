"""word2vec's Hogwild worker processes: every pair trained once per epoch whichever process takes
which chunk, one learning-rate clock across processes, and failures or Ctrl-C end the run cleanly
with no process left behind."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import bertkit.classic.word2vec as w2v
from bertkit.classic.config import Word2VecConfig
from bertkit.classic.word2vec import Word2Vec
from tests.classic.conftest import two_topic_sentences

pytestmark = pytest.mark.skipif(w2v.START_METHOD != "fork" or not Path("/proc/self/stat").exists(),
                                reason="the recorders reach the workers by fork; children are found in /proc")


def _children() -> list[int]:
    """Processes whose parent is this one (alive or not yet reaped)."""
    me, found = os.getpid(), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == me:
            found.append(int(stat.parent.name))
    return found


def _record_steps(monkeypatch, tmp_path: Path, chunk_words: int, pause: float = 0.0):
    """Replace the skip-gram step by a recorder of (process, its (center, context) pairs, its lr),
    one file per process (a forked worker's appends to a list would stay in the worker). Returns the
    reader of all records."""

    def record(w_in, w_out, centers, outputs, keep, lr):
        pairs = list(zip(centers.tolist(), outputs[:, 0].tolist(), strict=True))
        with open(tmp_path / f"steps-{os.getpid()}.jsonl", "a", encoding="utf-8") as f:
            record = {"pid": os.getpid(), "pairs": pairs, "lr": lr, "time": time.monotonic()}
            f.write(json.dumps(record) + "\n")
        time.sleep(pause)

    monkeypatch.setattr(w2v, "CHUNK_WORDS", chunk_words)
    monkeypatch.setattr(w2v, "skipgram_step", record)

    def read() -> list[dict]:
        steps = []
        for f in tmp_path.glob("steps-*.jsonl"):
            steps += [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines()]
            f.unlink()
        return steps

    return read


def test_worker_processes_see_every_pair_once_per_epoch(monkeypatch, tmp_path):
    sentences = two_topic_sentences(300)  # 2,400 words: 12 chunks of ~200 per epoch
    config = Word2VecConfig(vector_size=8, window=3, min_count=1, sample=0, epochs=2, batch_size=64, seed=5)
    read = _record_steps(monkeypatch, tmp_path, 200, pause=0.002)
    seen = {}
    for workers in (1, 2):
        Word2Vec.train(sentences, dataclasses.replace(config, workers=workers), progress=False)
        steps = read()
        seen[workers] = sorted(tuple(pair) for step in steps for pair in step["pairs"])
        pids = {step["pid"] for step in steps}
        assert pids == {os.getpid()} if workers == 1 else (len(pids) == 2 and os.getpid() not in pids)
    assert seen[1] == seen[2]  # the same examples, whichever process trained which chunk
    # with sample=0 every position is kept: per epoch, each of the 2400 positions pairs with the
    # neighbours inside its window, so about 2400 * 2 * E[b] = 2400 * 4 pairs, minus the sentence ends
    assert 2 * 2400 * 3 < len(seen[1]) < 2 * 2400 * 4
    assert _children() == []


def test_learning_rate_decays_linearly_to_min_alpha_over_all_words(monkeypatch, tmp_path):
    sentences = two_topic_sentences(250)  # 2,000 words, one chunk per epoch
    config = Word2VecConfig(vector_size=8, window=2, min_count=1, sample=0, epochs=3, batch_size=100,
                            workers=1, alpha=0.03, min_alpha=0.001)
    read = _record_steps(monkeypatch, tmp_path, 10_000)
    Word2Vec.train(sentences, config, progress=False)
    lrs = np.array([step["lr"] for step in read()])
    per_epoch = len(lrs) // 3
    assert len(lrs) == 3 * per_epoch
    # step s of epoch e has done e/3 of the words plus s/per_epoch of one epoch's
    progress = (np.repeat(np.arange(3), per_epoch) + np.tile(np.arange(per_epoch), 3) / per_epoch) / 3
    np.testing.assert_allclose(lrs, 0.03 - (0.03 - 0.001) * progress)
    assert lrs[0] == 0.03 and lrs[-1] - 0.001 < (0.03 - 0.001) / (3 * per_epoch) + 1e-12


def test_learning_rate_clock_is_shared_by_the_worker_processes(monkeypatch, tmp_path):
    sentences = two_topic_sentences(250)  # 2,000 words: 10 chunks of 200 per epoch, 30 jobs
    config = Word2VecConfig(vector_size=8, window=2, min_count=1, sample=0, epochs=3, batch_size=100,
                            workers=2, alpha=0.03, min_alpha=0.001)
    read = _record_steps(monkeypatch, tmp_path, 200, pause=0.002)
    Word2Vec.train(sentences, config, progress=False)
    steps = read()
    assert len({step["pid"] for step in steps}) == 2
    lrs = np.array([step["lr"] for step in steps])
    assert np.all((lrs >= 0.001) & (lrs <= 0.03)) and lrs.max() == 0.03
    # each process's own clock only goes forward...
    for pid in {step["pid"] for step in steps}:
        mine = [step["lr"] for step in sorted(steps, key=lambda s: s["time"]) if step["pid"] == pid]
        assert np.all(np.diff(mine) <= 1e-12)
    # ...and counts the other's words too: by the last job, all but the (at most 2) chunks in flight
    # are done, where a clock of its own words would stand near one half
    total, chunk = 3 * 2000, 200
    assert lrs.min() <= 0.03 - (0.03 - 0.001) * (total - 2 * chunk) / total + 1e-9


def test_a_failing_worker_process_fails_the_run_and_leaves_no_process(monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("boom")

    monkeypatch.setattr(w2v, "skipgram_step", broken)
    with pytest.raises(RuntimeError, match=r"word2vec worker process \d failed: ValueError: boom") as caught:
        Word2Vec.train(two_topic_sentences(200), Word2VecConfig(min_count=1, workers=2), progress=False)
    assert "in broken" in str(caught.value)  # the worker's traceback comes along
    assert _children() == []


def test_a_killed_worker_process_is_reported(monkeypatch):
    monkeypatch.setattr(w2v, "skipgram_step", lambda *args: os.kill(os.getpid(), signal.SIGKILL))
    with pytest.raises(RuntimeError, match=r"word2vec-worker-\d died \(killed by signal 9\)"):
        Word2Vec.train(two_topic_sentences(200), Word2VecConfig(min_count=1, workers=2), progress=False)
    assert _children() == []


def test_ctrl_c_stops_the_worker_processes(monkeypatch):
    monkeypatch.setattr(w2v, "CHUNK_WORDS", 2000)
    monkeypatch.setattr(w2v, "skipgram_step", lambda *args: time.sleep(0.05))  # a run of ~1 minute
    sent: list[float] = []

    def interrupt_once_both_workers_run() -> None:
        """Ctrl-C once both worker processes exist (not at a fixed time: on a loaded machine the
        setup alone can take longer than any fixed delay)."""
        end = time.monotonic() + 60
        while len(_children()) < 2 and time.monotonic() < end:
            time.sleep(0.05)
        time.sleep(0.2)
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    # Python turns SIGINT into KeyboardInterrupt only if SIGINT was not ignored when it started, and a
    # shell ignores it for background jobs (as a CI script run with `&` is): put the handler in place
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    watcher = threading.Thread(target=interrupt_once_both_workers_run, daemon=True)
    watcher.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            config = Word2VecConfig(min_count=1, sample=0, epochs=1, batch_size=64, workers=2)
            Word2Vec.train(two_topic_sentences(1500), config, progress=False)
        watcher.join()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert time.monotonic() - sent[0] < 10  # stopped at the signal, not at the end of the run
    assert _children() == []
