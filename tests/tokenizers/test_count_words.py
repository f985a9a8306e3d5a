"""Word counting in worker processes gives the same Counter as in one process: the same counts,
the words in the same first-seen order (the learners' input is then identical)."""

from __future__ import annotations

import pytest

from bertkit.tokenizers import trainers
from bertkit.tokenizers.normalizers import NormalizerOptions
from bertkit.tokenizers.trainers import count_words


@pytest.mark.parametrize(("scheme", "options"), [("bert", NormalizerOptions()),
                                                 ("bert", NormalizerOptions(strip_accents=True)),
                                                 ("metaspace", NormalizerOptions()), ("bert", None)])
def test_workers_count_like_one_process(scheme, options, corpus_pt, monkeypatch):
    # tiny chunks and threshold, so that ~1,000 lines of Portuguese make many batches for 2 workers
    monkeypatch.setattr(trainers, "_CHUNK_CHARS", 2000)
    monkeypatch.setattr(trainers, "_BATCH_CHUNKS", 3)
    monkeypatch.setattr(trainers, "PARALLEL_AFTER_CHARS", 5000)
    handed_over = []
    in_workers = trainers._count_in_workers

    def spy(stream, *args):
        handed_over.append(args[-1])
        in_workers(stream, *args)

    monkeypatch.setattr(trainers, "_count_in_workers", spy)
    lines = corpus_pt.read_text(encoding="utf-8").splitlines()[:1000]
    one = count_words(lines, options, scheme, workers=1)
    assert handed_over == []
    two = count_words(iter(lines), options, scheme, workers=2)
    assert handed_over == [2] and sum(map(len, lines)) > 20 * 2000
    assert list(two.items()) == list(one.items())
