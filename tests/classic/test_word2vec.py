"""word2vec: the sampling formulas, the SGD step against autograd, learning a known structure, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bertkit.classic.batches import (
    NoiseTable,
    cbow_examples,
    keep_probability,
    noise_distribution,
    skipgram_examples,
    skipgram_window_examples,
    window_positions,
)
from bertkit.classic.config import Word2VecConfig
from bertkit.classic.word2vec import (
    Corpus,
    Vocabulary,
    Word2Vec,
    _add_rows,
    cbow_step,
    skipgram_step,
    skipgram_window_step,
)
from bertkit.errors import ConfigError, DataError
from tests.classic.conftest import two_topic_sentences


def test_keep_probability_is_word2vec_c_formula():
    counts = np.array([1_000_000, 10_000, 1_000, 10])
    t = 1e-3
    f = counts / counts.sum()
    keep = keep_probability(counts, t)
    # word2vec.c: ran = (sqrt(cn / (sample * train_words)) + 1) * (sample * train_words) / cn
    np.testing.assert_allclose(keep, np.minimum(1.0, (np.sqrt(f / t) + 1) * t / f))
    # Mikolov et al. 2013 ("Distributed Representations...", eq. 5): P(discard) = 1 - sqrt(t/f);
    # the code adds t/f to the kept share, which matters only for words near the threshold
    np.testing.assert_allclose(1 - keep[0], 1 - np.sqrt(t / f[0]) - t / f[0])
    assert abs((1 - keep[0]) - (1 - np.sqrt(t / f[0]))) < 1.1e-3
    assert keep[-1] == 1.0  # rare words are always kept
    assert np.all(keep_probability(counts, 0.0) == 1.0)


def test_noise_distribution_is_unigram_to_the_three_quarters():
    counts = np.array([1000, 100, 10, 5, 1])
    p = noise_distribution(counts)
    # Mikolov et al. 2013, section 2.2: U(w)^(3/4) / Z
    np.testing.assert_allclose(p, counts ** 0.75 / np.sum(counts ** 0.75))
    table = NoiseTable(counts)
    # word i's share: its own slot's part, plus what it fills of the slots it is the alias of
    aliased = np.bincount(table.alias, weights=1 - table.prob, minlength=len(counts))
    share = (table.prob + aliased) / len(counts)
    np.testing.assert_allclose(share, p, rtol=1e-12)
    draws = table.draw((200_000,), np.random.default_rng(0))
    np.testing.assert_allclose(np.bincount(draws, minlength=len(counts)) / len(draws), p, atol=5e-3)


def test_dynamic_window_makes_near_words_more_likely():
    sentence = np.zeros(200_000, dtype=np.int64)
    pos, valid = window_positions(sentence, 4, np.random.default_rng(0))
    per_distance = valid.sum(axis=0)  # offsets -4..-1, 1..4
    # b ~ U{1..4}: a word at distance d is context with probability (5 - d) / 4
    np.testing.assert_allclose(per_distance[4:] / len(sentence), [1, 0.75, 0.5, 0.25], atol=0.01)
    np.testing.assert_allclose(per_distance[:4][::-1], per_distance[4:], rtol=0.02)


def test_skipgram_examples_in_corpus_order_within_sentences():
    ids = np.array([7, 8, 9, 4, 5])
    sentence = np.array([0, 0, 0, 1, 1])
    noise = NoiseTable(np.ones(10, dtype=np.int64))
    ex = skipgram_examples(ids, sentence, 1, noise, 3, np.random.default_rng(0))  # window 1: b is 1
    assert ex.inputs.tolist() == [7, 8, 8, 9, 4, 5]
    assert ex.outputs[:, 0].tolist() == [8, 7, 9, 8, 5, 4]  # never across the sentence boundary
    assert ex.outputs.shape == (6, 4)
    assert torch.equal(ex.keep[:, 1:] == 0, ex.outputs[:, 1:] == ex.outputs[:, :1])  # noise = true word


def test_cbow_examples_average_the_context():
    ids = np.array([7, 8, 9, 4])
    sentence = np.array([0, 0, 0, 1])  # the lone word of sentence 1 has no context: no example
    noise = NoiseTable(np.ones(10, dtype=np.int64))
    ex = cbow_examples(ids, sentence, 1, noise, 2, np.random.default_rng(0))
    assert ex.outputs[:, 0].tolist() == [7, 8, 9]
    assert ex.inputs.tolist() == [8, 7, 9, 8]
    assert ex.segment.tolist() == [0, 1, 1, 2]
    assert ex.offsets.tolist() == [0, 1, 3, 4]


def test_window_examples_hold_the_same_pairs_as_per_pair_examples():
    rng = np.random.default_rng(0)
    ids, sentence = rng.integers(0, 50, 300), np.repeat(np.arange(30), 10)
    noise = NoiseTable(np.ones(50, dtype=np.int64))
    pairs = skipgram_examples(ids, sentence, 4, noise, 2, np.random.default_rng(1))
    windows = skipgram_window_examples(ids, sentence, 4, noise, 2, np.random.default_rng(1))
    assert windows.inputs.shape[1] == 8 and windows.outputs.shape[1] == 3  # 2*window slots, 1 + K
    # (center, context) pairs, per pair: center -> context; per window: context -> center (same set)
    per_pair = sorted(zip(pairs.inputs.tolist(), pairs.outputs[:, 0].tolist(), strict=True))
    m = windows.mask.bool()
    per_window = sorted(zip(windows.outputs[:, 0, None].expand_as(m)[m].tolist(), windows.inputs[m].tolist(),
                            strict=True))
    assert per_pair == per_window
    assert torch.equal(windows.keep[:, 1:] == 0, windows.outputs[:, 1:] == windows.outputs[:, :1])


def _loss(h: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Negative sampling loss: -log σ(v_o·h) - Σ_k log σ(-v_k·h), v = [v_o, v_1..v_K]."""
    score = (v * h.unsqueeze(1)).sum(-1)
    logsigmoid = torch.nn.functional.logsigmoid
    return -(logsigmoid(score[:, 0]) + logsigmoid(-score[:, 1:]).sum(1)).sum()


def test_skipgram_step_is_sgd_on_the_negative_sampling_loss():
    g = torch.Generator().manual_seed(0)
    w_in, w_out = torch.randn(20, 8, generator=g), torch.randn(20, 8, generator=g)
    centers = torch.tensor([0, 1, 2])
    outputs = torch.tensor([[3, 4, 5], [6, 7, 8], [9, 10, 11]])  # distinct rows: plain SGD
    a, b = w_in.clone().requires_grad_(), w_out.clone().requires_grad_()
    _loss(a[centers], b[outputs]).backward()
    skipgram_step(w_in, w_out, centers, outputs, torch.ones(3, 3), lr=0.1)
    torch.testing.assert_close(w_in, a.detach() - 0.1 * a.grad)
    torch.testing.assert_close(w_out, b.detach() - 0.1 * b.grad)


@pytest.mark.parametrize("vocab", [50, 70_000])  # radix-sorted as uint16, and not
def test_add_rows_is_index_add_of_the_weighted_rows(vocab):
    g = torch.Generator().manual_seed(4)
    w, source = torch.randn(vocab, 6, generator=g), torch.randn(30, 6, generator=g)
    rows = torch.randint(0, 40, (200,), generator=g) * (vocab // 50)  # many repeats
    index, weights = torch.randint(0, 30, (200,), generator=g), torch.randn(200, generator=g)
    expected = w.clone().index_add_(0, rows, weights[:, None] * source[index])
    _add_rows(w, rows, source, index, weights)
    torch.testing.assert_close(w, expected)
    runs = rows.sort().values  # rows in runs: grouped without sorting, unweighted
    expected = w.clone().index_add_(0, runs, source[index])
    _add_rows(w, runs, source, index, in_runs=True)
    torch.testing.assert_close(w, expected)


def test_skipgram_step_adds_up_the_updates_of_a_repeated_word():
    g = torch.Generator().manual_seed(3)
    w_in, w_out = torch.randn(20, 8, generator=g), torch.randn(20, 8, generator=g)
    centers = torch.tensor([0, 0, 0, 5, 5, 0])  # one step = the sum of the examples' gradients
    outputs = torch.tensor([[1, 2, 3], [4, 2, 6], [7, 8, 2], [1, 9, 3], [10, 11, 12], [13, 1, 14]])
    a, b = w_in.clone().requires_grad_(), w_out.clone().requires_grad_()
    _loss(a[centers], b[outputs]).backward()
    skipgram_step(w_in, w_out, centers, outputs, torch.ones(6, 3), lr=0.1)
    torch.testing.assert_close(w_in, a.detach() - 0.1 * a.grad)
    torch.testing.assert_close(w_out, b.detach() - 0.1 * b.grad)


def test_window_step_is_sgd_on_the_shared_negatives_loss():
    g = torch.Generator().manual_seed(2)
    w_in, w_out = torch.randn(30, 8, generator=g), torch.randn(30, 8, generator=g)
    contexts = torch.tensor([[0, 1, 2, 3], [4, 5, 6, 0]])
    mask = torch.tensor([[1.0, 1, 1, 1], [1, 1, 1, 0]])  # the last slot of window 2 is padding
    outputs = torch.tensor([[10, 11, 12], [13, 14, 15]])  # center, then the 2 noise words of the window
    a, b = w_in.clone().requires_grad_(), w_out.clone().requires_grad_()
    loss = sum(_loss(a[contexts[i][mask[i].bool()]], b[outputs[i]].expand(int(mask[i].sum()), -1, -1))
               for i in range(2))  # each real context word: -log σ(x·v_center) - Σ_k log σ(-x·v_k)
    loss.backward()
    skipgram_window_step(w_in, w_out, contexts, mask, outputs, torch.ones(2, 3), lr=0.1)
    torch.testing.assert_close(w_in, a.detach() - 0.1 * a.grad)
    torch.testing.assert_close(w_out, b.detach() - 0.1 * b.grad)


def test_cbow_step_gives_each_context_word_the_step_of_the_mean():
    g = torch.Generator().manual_seed(1)
    w_in, w_out = torch.randn(20, 8, generator=g), torch.randn(20, 8, generator=g)
    contexts, offsets, segment = torch.tensor([0, 1, 2]), torch.tensor([0, 2]), torch.tensor([0, 0, 1])
    outputs = torch.tensor([[3, 4, 5], [6, 7, 8]])
    h = torch.stack([(w_in[0] + w_in[1]) / 2, w_in[2]]).requires_grad_()
    b = w_out.clone().requires_grad_()
    _loss(h, b[outputs]).backward()
    expected_in = w_in.clone()
    expected_in[[0, 1]] -= 0.1 * h.grad[0]  # word2vec.c: the whole error of the mean, not divided
    expected_in[2] -= 0.1 * h.grad[1]
    cbow_step(w_in, w_out, contexts, offsets, segment, outputs, torch.ones(2, 3), lr=0.1)
    torch.testing.assert_close(w_in, expected_in)
    torch.testing.assert_close(w_out, b.detach() - 0.1 * b.grad)


@pytest.mark.parametrize("architecture, shared", [("skipgram", False), ("skipgram", True), ("cbow", False)])
def test_learns_two_topics(architecture, shared):
    config = Word2VecConfig(architecture=architecture, vector_size=16, window=3, min_count=1, sample=0,
                            epochs=3, workers=1, batch_size=256, shared_negatives=shared)
    wv = Word2Vec.train(two_topic_sentences(), config, progress=False).wv
    for word in wv.words:
        neighbours = [w for w, _ in wv.most_similar(word, 5)]
        assert all(n[0] == word[0] for n in neighbours), (word, neighbours)
    assert wv.similarity("a1", "a2") > wv.similarity("a1", "t2") + 0.3


def test_one_worker_is_reproducible_and_worker_processes_learn_too():
    sentences = two_topic_sentences(400)
    config = Word2VecConfig(vector_size=8, min_count=1, epochs=1, workers=1, seed=3)
    a = Word2Vec.train(sentences, config, progress=False).wv.vectors
    b = Word2Vec.train(sentences, config, progress=False).wv.vectors
    np.testing.assert_array_equal(a, b)
    config = Word2VecConfig(vector_size=16, window=3, min_count=1, sample=0, epochs=3, workers=2,
                            batch_size=256)
    hogwild = Word2Vec.train(two_topic_sentences(), config, progress=False).wv
    assert hogwild.similarity("a1", "a2") > hogwild.similarity("a1", "t2") + 0.3


def test_vocabulary_sorted_by_count_and_corpus_chunks_at_sentence_ends():
    sentences = [["b", "a", "a"], ["c", "a", "b"], ["x"]]
    vocab = Vocabulary.count(sentences, 2, "s")
    assert vocab.words == ["a", "b"] and vocab.counts.tolist() == [3, 2]
    corpus = Corpus.encode(sentences, vocab)
    assert corpus.ids.tolist() == [1, 0, 0, 0, 1]  # "c" and "x" dropped before windowing, as word2vec.c
    assert corpus.sentence.tolist() == [0, 0, 0, 1, 1]
    assert corpus.chunks(2) == [(0, 3), (3, 5)]


def test_bad_input_names_the_file(tmp_path):
    few = tmp_path / "few.txt"
    few.write_text("one two three\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"few.txt: the corpus has 3 words .*\(window=5 needs at least 6\)"):
        Word2Vec.train_files([few], Word2VecConfig(min_count=1), progress=False)
    with pytest.raises(DataError, match=r"few.txt: min_count=2 leaves no words .*occurs 1 times"):
        Word2Vec.train_files([few], Word2VecConfig(min_count=2), progress=False)
    lonely = tmp_path / "lonely.txt"
    lonely.write_text("a\nb\nc\nd\ne\nf\ng\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"lonely.txt: every sentence \(line\) has at most one known word"):
        Word2Vec.train_files([lonely], Word2VecConfig(min_count=1), progress=False)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"empty.txt: no words"):
        Word2Vec.train_files([empty], progress=False)
    with pytest.raises(DataError, match="no such file"):
        Word2Vec.train_files([tmp_path / "missing.txt"], progress=False)


def test_config_ranges():
    with pytest.raises(ConfigError, match="window must be >= 1"):
        Word2VecConfig(window=0)
    with pytest.raises(ConfigError, match="architecture must be one of skipgram, cbow"):
        Word2VecConfig(architecture="glove")
    with pytest.raises(ConfigError, match="min_alpha"):
        Word2VecConfig(alpha=0.01, min_alpha=0.1)
    with pytest.raises(ConfigError, match="shared_negatives .* CBOW"):
        Word2VecConfig(architecture="cbow", shared_negatives=True)
