"""Word vectors: queries, the word2vec text/binary formats, gensim interoperability, bad files."""

from __future__ import annotations

import numpy as np
import pytest

from bertkit.classic.vectors import WordVectors
from bertkit.errors import DataError

gensim_models = pytest.importorskip("gensim.models")


@pytest.fixture
def wv():
    rng = np.random.default_rng(0)
    words = ["king", "queen", "man", "woman", "straße", "ção", "o'neill"] + [f"w{i}" for i in range(30)]
    return WordVectors(words, rng.normal(size=(len(words), 12)).astype(np.float32) * 3)


@pytest.mark.parametrize("name,binary", [("v.txt", False), ("v.bin", True)])
def test_round_trip_and_gensim_reads_identical_vectors(tmp_path, wv, name, binary):
    path = wv.save(tmp_path / name)  # the format follows the suffix
    back = WordVectors.load(path)
    assert back.words == wv.words
    np.testing.assert_array_equal(back.vectors, wv.vectors)
    kv = gensim_models.KeyedVectors.load_word2vec_format(str(path), binary=binary)
    assert kv.index_to_key == wv.words
    np.testing.assert_array_equal(kv.vectors, wv.vectors)


@pytest.mark.parametrize("binary", [False, True])
def test_reads_what_gensim_writes(tmp_path, wv, binary):
    kv = gensim_models.KeyedVectors(vector_size=wv.dim)
    kv.add_vectors(wv.words, wv.vectors)
    path = tmp_path / "gensim.vec"
    kv.save_word2vec_format(str(path), binary=binary)
    back = WordVectors.load(path, binary=binary)
    assert back.words == wv.words
    np.testing.assert_allclose(back.vectors, wv.vectors, rtol=1e-6)


def test_queries():
    words = ["king", "queen", "man", "woman", "apple"]
    vecs = np.array([[1, 1, 0], [1, -1, 0], [0, 1, 0.1], [0, -1, 0.1], [0, 0, 1]], dtype=np.float32)
    wv = WordVectors(words, vecs)
    assert wv.analogy("king", "man", "woman")[0][0] == "queen"
    assert wv.most_similar("king", 1)[0][0] in {"man", "queen"}
    assert [w for w, _ in wv.most_similar("apple", 10)] == [w for w, _ in wv.nearest(vecs[4], 10, ["apple"])]
    assert len(wv.most_similar("apple", 10)) == 4
    assert wv.similarity("king", "king") == pytest.approx(1.0)
    with pytest.raises(DataError, match=r"not in the vocabulary \(5 words\): 'prince', 'princess'"):
        wv.analogy("prince", "man", "princess")


def _write(path, text: bytes):
    path.write_bytes(text)
    return path


def test_bad_files_name_file_and_line(tmp_path, wv):
    with pytest.raises(DataError, match=r"h.txt, line 1: expected the word2vec header"):
        WordVectors.load(_write(tmp_path / "h.txt", b"king 0.1 0.2\n"))
    with pytest.raises(DataError, match=r"d.txt, line 3: the header says dimension 2, but 'b' has 3 numbers"):
        WordVectors.load(_write(tmp_path / "d.txt", b"2 2\na 1 2\nb 1 2 3\n"))
    with pytest.raises(DataError, match=r"n.txt, line 2: 'x' is not a number \(word 'a'\)"):
        WordVectors.load(_write(tmp_path / "n.txt", b"1 2\na 1 x\n"))
    with pytest.raises(DataError, match=r"c.txt, line 1: the header promises 3 vectors but the file has 2"):
        WordVectors.load(_write(tmp_path / "c.txt", b"3 2\na 1 2\nb 1 2\n"))
    with pytest.raises(DataError, match=r"r.txt, line 3: the word 'a' appears a second time"):
        WordVectors.load(_write(tmp_path / "r.txt", b"2 2\na 1 2\na 1 2\n"))
    good = wv.save(tmp_path / "good.bin")
    data = good.read_bytes()
    with pytest.raises(DataError, match=r"cut.bin: the file ends inside entry 37 of 37"):
        WordVectors.load(_write(tmp_path / "cut.bin", data[:-10]))
    with pytest.raises(DataError, match=r"dim.bin: entry 2 .* is the header's dimension \(11\) wrong"):
        WordVectors.load(_write(tmp_path / "dim.bin", data.replace(b"37 12\n", b"37 11\n", 1)))
    with pytest.raises(DataError, match=r"more.bin: 52 bytes after the 1 vectors .*dimension 12"):
        WordVectors.load(_write(tmp_path / "more.bin", data.replace(b"37 12\n", b"1 12\n", 1)[:110]))
    with pytest.raises(DataError, match=r"text.txt, line 2: not UTF-8 text .* a binary file\?"):
        WordVectors.load(_write(tmp_path / "text.txt", data))
    with pytest.raises(DataError, match="separates words by spaces"):
        WordVectors(["new york"], np.zeros((1, 2))).save(tmp_path / "x.txt")
