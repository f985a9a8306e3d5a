"""Readers: CSV/TSV/JSONL/CoNLL round trips, column mapping, and every bad-input message."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit.errors import ConfigError, DataError
from bertkit.tasks.readers import Columns, read_conll, read_examples, repair_bio
from bertkit.tasks.registry import get_task


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_tsv_jsonl_give_the_same_examples(tmp_path):
    rows = [("a good film", "pos"), ('say "hi", then', "neg"), ("multi\nline", "pos")]
    import csv

    with open(tmp_path / "d.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["sentence", "y"])
        w.writerows(rows)
    write(tmp_path / "d.tsv", "sentence\ty\n" + "".join(f"{t.replace(chr(10), ' ')}\t{y}\n" for t, y in rows))
    write(tmp_path / "d.jsonl", "".join(json.dumps({"sentence": t, "y": y}) + "\n" for t, y in rows))
    cols = Columns(text="sentence", label=["y"])
    csv_ex = read_examples(tmp_path / "d.csv", "classification", cols)
    assert [(e.text, e.label) for e in csv_ex] == rows
    assert csv_ex[2].source.endswith("d.csv:4")  # the quoted two-line field starts on line 4
    tsv_ex = read_examples(tmp_path / "d.tsv", "classification", cols)
    assert [e.label for e in tsv_ex] == ["pos", "neg", "pos"]
    assert [(e.text, e.label) for e in read_examples(tmp_path / "d.jsonl", "classification", cols)] == rows
    assert get_task("classification").label_names(csv_ex, cols) == ["neg", "pos"]


def test_missing_column_lists_existing_columns(tmp_path):
    write(tmp_path / "d.csv", "sentence,y\nhello,1\n")
    with pytest.raises(DataError, match=r"d.csv:2: no column 'text'.*\['sentence', 'y'\]"):
        read_examples(tmp_path / "d.csv", "classification")


def test_empty_text_rows_name_the_lines(tmp_path):
    write(tmp_path / "d.csv", "text,label\nok,1\n,0\n  ,1\nfine,0\n")
    with pytest.raises(DataError, match=r"2 row\(s\) with empty text at line\(s\) 3, 4"):
        read_examples(tmp_path / "d.csv", "classification")


def test_mixed_label_types(tmp_path):
    write(tmp_path / "d.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": "pos"}\n')
    with pytest.raises(DataError, match=r"mixes types: number at line 1.*text at line 2"):
        read_examples(tmp_path / "d.jsonl", "classification")


def test_numeric_labels_sort_numerically(tmp_path):
    write(tmp_path / "d.jsonl", "".join(json.dumps({"text": "t", "label": v}) + "\n" for v in (10, 2, 1.0)))
    ex = read_examples(tmp_path / "d.jsonl", "classification")
    assert get_task("classification").label_names(ex, Columns()) == ["1", "2", "10"]


def test_unseen_labels_at_evaluation(tmp_path):
    write(tmp_path / "dev.csv", "text,label\na,pos\nb,neutral\n")
    ex = read_examples(tmp_path / "dev.csv", "classification")
    with pytest.raises(DataError, match=r"not seen in training: 'neutral' \(first at .*dev.csv:3\)"):
        get_task("classification").check_labels(ex, ["neg", "pos"], "dev.csv")


def test_pair_multilabel_and_multi_output_regression(tmp_path):
    write(tmp_path / "p.tsv", "q1\tq2\tlabel\nHow old?\tWhat age?\t1\n")
    ex = read_examples(tmp_path / "p.tsv", "pair", Columns(text="q1", text_pair="q2"))
    assert (ex[0].text, ex[0].pair, ex[0].label) == ("How old?", "What age?", "1")
    with pytest.raises(ConfigError, match="text-pair-column"):
        read_examples(tmp_path / "p.tsv", "pair", Columns(text="q1"))

    write(tmp_path / "m.jsonl", '{"text": "a", "label": ["x", "y"]}\n{"text": "b", "label": []}\n')
    write(tmp_path / "m.csv", "text,label\na,y|x\nb,\n")
    for name in ("m.jsonl", "m.csv"):
        ex = read_examples(tmp_path / name, "multilabel")
        assert [e.label for e in ex] == [["x", "y"], []]

    write(tmp_path / "r.csv", "text,service,food\ngood,4.5,3\nbad,1,oops\n")
    with pytest.raises(DataError, match=r"r.csv:3: regression target 'food' must be a number"):
        read_examples(tmp_path / "r.csv", "regression", Columns(label=["service", "food"]))
    write(tmp_path / "r.csv", "text,service,food\ngood,4.5,3\n")
    ex = read_examples(tmp_path / "r.csv", "regression", Columns(label=["service", "food"]))
    assert ex[0].label == [4.5, 3.0]


def test_unlabelled_rows_for_prediction_keep_other_columns(tmp_path):
    write(tmp_path / "in.csv", "id,text\n7,hello\n")
    ex = read_examples(tmp_path / "in.csv", "classification", require_labels=False)
    assert ex[0].label is None and ex[0].row == {"id": "7", "text": "hello"}


def test_conll_reader_and_bio_repair(tmp_path):
    write(tmp_path / "d.conll", "-DOCSTART- O\n\nJohn\tB-PER\nlives\tO\nin\tO\nNew\tI-LOC\nYork\tI-LOC\n\n"
                                "Hi\tO\n")
    with pytest.warns(UserWarning, match=r"repaired 1 invalid tag.*d.conll:3 word 4"):
        ex = read_conll(tmp_path / "d.conll")
    assert ex[0].text == ["John", "lives", "in", "New", "York"]
    assert ex[0].label == ["B-PER", "O", "O", "B-LOC", "I-LOC"]
    assert ex[1].label == ["O"]
    assert get_task("ner").label_names(ex, Columns()) == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    write(tmp_path / "bad.conll", "John\tPERSON\n")
    with pytest.raises(DataError, match=r"bad.conll:1: tag 'PERSON'"):
        read_conll(tmp_path / "bad.conll")


def test_repair_bio_bioes():
    assert repair_bio(["I-A", "I-A", "I-B", "O"]) == (["B-A", "I-A", "B-B", "O"], [0, 2])
    assert repair_bio(["B-A", "E-A", "E-B"]) == (["B-A", "E-A", "S-B"], [2])
    assert repair_bio(["B-A", "I-A", "E-A", "S-B"]) == (["B-A", "I-A", "E-A", "S-B"], [])
    bioes = [type("E", (), {"label": ["S-A", "O"]})()]
    assert get_task("ner").label_names(bioes, Columns()) == ["O", "B-A", "I-A", "E-A", "S-A"]


def test_excel_bom_json_list_cells_and_non_finite_targets(tmp_path):
    (tmp_path / "bom.csv").write_bytes("\ufefftext,label\na good film,pos\n".encode())
    assert [(e.text, e.label) for e in read_examples(tmp_path / "bom.csv", "classification")] == [
        ("a good film", "pos")]
    (tmp_path / "bom.jsonl").write_bytes('\ufeff{"text": "a", "label": "x"}\n'.encode())
    assert read_examples(tmp_path / "bom.jsonl", "classification")[0].label == "x"
    write(tmp_path / "m.csv", 'text,label\na,"[""x"", ""y|z""]"\nb,[]\n')
    assert [e.label for e in read_examples(tmp_path / "m.csv", "multilabel")] == [["x", "y|z"], []]
    write(tmp_path / "bad.csv", 'text,label\na,"[x, y"\n')
    with pytest.raises(DataError, match=r"bad.csv:2: label cell .* not one"):
        read_examples(tmp_path / "bad.csv", "multilabel")
    for value in ("nan", "inf", "-Infinity"):
        write(tmp_path / "r.csv", f"text,y\nok,1\nbad,{value}\n")
        with pytest.raises(DataError, match=rf"r.csv:3: regression target 'y' must be finite, got '{value}'"):
            read_examples(tmp_path / "r.csv", "regression", Columns(label=["y"]))


TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"), min_size=1).filter(
    lambda s: s.strip() != "")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(TEXT, st.sampled_from(["a", "b", "c"])), min_size=1, max_size=8))
def test_csv_and_jsonl_round_trip_any_text(tmp_path_factory, rows):
    import csv

    d = tmp_path_factory.mktemp("rt")
    with open(d / "d.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)
    write(d / "d.jsonl", "".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in rows))
    for name in ("d.csv", "d.jsonl"):
        assert [(e.text, e.label) for e in read_examples(d / name, "classification")] == rows
