"""`bertkit tokenizer train|encode|compare` through the real dispatcher (bertkit.cli.main)."""

from __future__ import annotations

import json

import pytest

from bertkit.cli import main
from bertkit.tokenizers import Tokenizer


@pytest.fixture
def classic(tmp_path):
    """The classic BPE worked example: ("mau",10), ("baú",5), ("itaú",7), ("uau",10)."""
    path = tmp_path / "classic.txt"
    words = ["mau"] * 10 + ["baú"] * 5 + ["itaú"] * 7 + ["uau"] * 10
    path.write_text("\n".join(words) + "\n", encoding="utf-8")
    return path


def test_train_verbose_prints_merges_and_saves(classic, tmp_path, capsys):
    out = tmp_path / "tok"
    # 5 specials + alphabet a b i m t u ú + 2 merges = 14
    rc = main(["tokenizer", "train", "--algorithm", "bpe", "--vocab-size", "14", "--min-frequency", "1",
               "--verbose", "--quiet", "--out", str(out), str(classic)])
    printed = capsys.readouterr().out
    assert rc == 0
    assert "'a' + 'u'" in printed and "20" in printed  # first merge a+u, count 10 + 10 = 20
    assert "'a' + 'ú'" in printed and "12" in printed  # then a+ú, count 5 + 7 = 12
    tok = Tokenizer.from_pretrained(out)
    assert tok.vocab_size == 14
    assert tok.encode("mau baú itaú uau", add_special_tokens=False).tokens == [
        "m", "au", "b", "aú", "i", "t", "aú", "u", "au"]


def test_encode_table_and_json(classic, tmp_path, capsys):
    out = tmp_path / "tok"
    assert main(["tokenizer", "train", "--algorithm", "bpe", "--vocab-size", "14", "--min-frequency", "1",
                 "--quiet", "--out", str(out), str(classic)]) == 0
    capsys.readouterr()
    assert main(["tokenizer", "encode", "--tokenizer", str(out), "Itaú", "--pair", "uau"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["#", "token", "id", "type", "offsets", "text"]
    assert table[3].split() == ["2", "t", "9", "0", "1:2", "t"]
    assert table[4].split() == ["3", "aú", "13", "0", "2:4", "aú"]
    assert table[-2].split()[:4] == ["7", "[SEP]", "3", "1"] and table[-1] == "8 tokens"
    rc = main(["tokenizer", "encode", "--tokenizer", str(out), "Itaú uau", "--max-length", "4", "--json"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tokens"] == ["[CLS]", "i", "t", "[SEP]"] and data["offsets"][1] == [0, 1]


def test_compare(classic, tmp_path, capsys):
    dirs = []
    for algorithm, size in (("bpe", 14), ("bpe", 12)):
        out = tmp_path / f"{algorithm}{size}"
        main(["tokenizer", "train", "--algorithm", algorithm, "--vocab-size", str(size),
              "--min-frequency", "1", "--quiet", "--out", str(out), str(classic)])
        dirs += ["--tokenizer", str(out)]
    capsys.readouterr()
    assert main(["tokenizer", "compare", *dirs, str(classic), "--sample", "uau mau", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    by_name = {r["name"]: r for r in data["rows"]}
    # 32 words; with both merges: mau->2, baú->2, itaú->3, uau->2 tokens = 20+10+21+20 = 71
    assert by_name["bpe14"]["words"] == 32 and by_name["bpe14"]["tokens"] == 71
    assert by_name["bpe12"]["tokens"] == 3 * 10 + 3 * 5 + 4 * 7 + 3 * 10  # no merges: one token per char
    assert data["samples"][0]["tokens"]["bpe14"] == ["u", "au", "m", "au"]
    assert main(["tokenizer", "compare", *dirs, str(classic)]) == 0
    assert "tokens/word" in capsys.readouterr().out


def test_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok line\n\xff\xfe broken\n")
    rc = main(["tokenizer", "train", "--vocab-size", "50", "--quiet", "--out", str(tmp_path / "o"), str(bad)])
    err = capsys.readouterr().err
    assert rc == 2 and "bad.txt" in err and "byte offset 8" in err and "--encoding-errors replace" in err
    assert main(["tokenizer", "encode", "--tokenizer", str(tmp_path / "none"), "x"]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("score", ["likelihood_ratio", "log_likelihood_gain"])
def test_train_forwards_wordpiece_score(corpus_pt, tmp_path, score):
    from itertools import islice

    from bertkit.io import iter_lines
    from bertkit.tokenizers.trainers import train_runtime

    sample = tmp_path / "pt.txt"
    sample.write_text("\n".join(islice(iter_lines(corpus_pt), 1500)), encoding="utf-8")
    out = tmp_path / score
    assert main(["tokenizer", "train", "--algorithm", "wordpiece", "--vocab-size", "600",
                 "--wordpiece-score", score, "--quiet", "--out", str(out), str(sample)]) == 0
    expected = train_runtime(iter_lines(sample), algorithm="wordpiece", vocab_size=600, show_progress=False,
                             wordpiece_score=score)
    assert Tokenizer.from_pretrained(out).get_vocab() == expected.get_vocab()


@pytest.mark.parametrize("flag, value, message", [
    ("--min-frequency", "-3", "min_frequency must be >= 1; got -3"),
    ("--limit-alphabet", "-1", "limit_alphabet must be >= 1; got -1"),
    ("--vocab-size", "0", "vocab_size must be >= 1; got 0"),
])
def test_train_rejects_out_of_range_numbers(classic, tmp_path, capsys, flag, value, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["tokenizer", "train", "--quiet", "--out", str(tmp_path / "o"), flag, value, str(classic)])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_train_help_lists_every_option_with_its_default(capsys):
    with pytest.raises(SystemExit):
        main(["tokenizer", "train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for text in ("--algorithm", "(default: wordpiece)", "--vocab-size N", "(default: 8000)",
                 "--min-frequency N", "(default: 2)", "--limit-alphabet N", "--lowercase, --no-lowercase",
                 "--strip-accents", "--encoding-errors", "(default: strict)", "--wordpiece-score",
                 "(default: log_likelihood_gain)", "--verbose", "--quiet", "--out"):
        assert text in out, text


def test_train_on_a_directory_says_so(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    assert main(["tokenizer", "train", "--quiet", "--out", str(tmp_path / "o"), str(corpus)]) == 2
    assert "corpus: is a directory" in capsys.readouterr().err


def test_encode_max_length_below_the_template_is_refused(classic, tmp_path, capsys):
    out = tmp_path / "tok"
    assert main(["tokenizer", "train", "--algorithm", "bpe", "--vocab-size", "14", "--min-frequency", "1",
                 "--quiet", "--out", str(out), str(classic)]) == 0
    capsys.readouterr()
    assert main(["tokenizer", "encode", "--tokenizer", str(out), "mau baú", "--max-length", "1"]) == 2
    assert "max_length=1 leaves no room: the template adds 2 special tokens" in capsys.readouterr().err
    assert main(["tokenizer", "encode", "--tokenizer", str(out), "mau baú", "--max-length", "2",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tokens"] == ["[CLS]", "[SEP]"]
