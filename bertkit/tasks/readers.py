"""Read labelled examples from CSV, TSV, JSONL and CoNLL files, with errors that name file and line.

Every reader returns `Example`s that remember where they came from (`source` = "file:line"), so any
later complaint (an unseen label, an empty text) can point at the exact row. How a label cell
becomes a label is the task's business (`Task.parse_label`); this module knows file formats only.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bertkit.errors import DataError
from bertkit.io import iter_lines, read_text
from bertkit.options import option


def _comma_list(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


@dataclass
class Columns:
    """Which columns hold the text, the optional second text and the label(s)."""

    text: str = option("text", "column with the text", flag="--text-column")
    text_pair: str | None = option(None, "column with the second text (pair task)", flag="--text-pair-column")
    label: list[str] = option(factory=lambda: ["label"], flag="--label-column", parse=_comma_list,
                              help="label column; several, comma-separated, for multi-output regression")
    label_sep: str = option("|", "separator of multi-label labels in one string")
    header: list[str] | None = option(None, cli=False)   # column names of a file without header

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "text_pair": self.text_pair, "label": list(self.label),
                "label_sep": self.label_sep, "header": self.header}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Columns:
        label = d.get("label", ["label"])
        label = [label] if isinstance(label, str) else list(label)
        return cls(d.get("text", "text"), d.get("text_pair"), label, d.get("label_sep", "|"), d.get("header"))


@dataclass
class Example:
    """One labelled (or unlabelled) example. For NER `text` is the list of words and `label` the tags."""

    text: str | list[str]
    pair: str | None = None
    label: Any = None
    source: str = ""
    row: dict[str, Any] = field(default_factory=dict)     # the input row as read (predict keeps it)
    meta: dict[str, Any] = field(default_factory=dict)    # task data for post-processing (not columns)


BOM = "\ufeff"  # the byte-order mark Excel and Notepad put at the start of UTF-8 files


def _lines(path: Path) -> Iterator[str]:
    """Whole lines of a record file (JSONL, CoNLL), a leading byte-order mark dropped."""
    for n, line in enumerate(iter_lines(path, max_bytes=None)):
        yield line.removeprefix(BOM) if n == 0 else line


def file_format(path: Path) -> str:
    """csv | tsv | jsonl | conll, from the file name."""
    name = path.name.lower()
    for suffix, fmt in ((".csv", "csv"), (".tsv", "tsv"), (".jsonl", "jsonl"), (".json", "jsonl"),
                        (".ndjson", "jsonl"), (".conll", "conll"), (".bio", "conll"), (".iob", "conll")):
        if name.endswith(suffix):
            return fmt
    if name.endswith(".txt"):
        return "conll"
    raise DataError(f"{path}: unknown file type; use .csv, .tsv, .jsonl or .conll (CoNLL for NER)")


def read_jsonl(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) of each non-blank line of a JSONL file; each line must be an object."""
    rows = []
    for n, line in enumerate(_lines(Path(path)), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{n}: not valid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}:{n}: each JSONL line must be an object, got {type(obj).__name__}")
        rows.append((n, obj))
    return rows


def read_rows(path: str | Path, header: list[str] | None = None) -> list[tuple[int, dict[str, Any]]]:
    """(line number, row dict) of a CSV/TSV (header row, unless `header` names the columns) or JSONL."""
    path = Path(path)
    fmt = file_format(path)
    if fmt == "conll":
        raise DataError(f"{path}: CoNLL files hold NER data; read them with read_conll")
    rows: list[tuple[int, dict[str, Any]]] = []
    if fmt == "jsonl":
        return read_jsonl(path)
    text = read_text(path).removeprefix(BOM)
    # StringIO(newline="") splits rows on \n and \r only (str.splitlines would also split on \x1e, \x85...)
    reader = csv.DictReader(io.StringIO(text, newline=""), fieldnames=header,
                            delimiter="\t" if fmt == "tsv" else ",",
                            quoting=csv.QUOTE_NONE if fmt == "tsv" else csv.QUOTE_MINIMAL)
    if not reader.fieldnames:
        raise DataError(f"{path}: empty file (expected a header row)")
    start = 1 if header else 2
    for row in reader:
        if None in row:
            raise DataError(f"{path}:{start}: more fields than the {len(reader.fieldnames)} header columns")
        rows.append((start, row))
        start = reader.line_num + 1
    return rows


def _column(path: Path, n: int, row: dict, name: str) -> Any:
    if name not in row:
        raise DataError(f"{path}:{n}: no column {name!r}; the columns are {sorted(row)} "
                        f"(choose with --text-column / --text-pair-column / --label-column)")
    return row[name]


def is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def check_label_types(path: Path, examples: Sequence[Example]) -> None:
    """A label column whose values are partly numbers and partly words is almost always a mistake."""
    kinds: dict[str, Example] = {}
    for ex in examples:
        kinds.setdefault("number" if is_number(ex.label) else "text", ex)
    if len(kinds) > 1:
        where = "; ".join(f"{kind} at line {ex.source.rsplit(':', 1)[-1]} ({ex.label!r})"
                          for kind, ex in kinds.items())
        raise DataError(f"{path}: the label column mixes types: {where}. Use one kind of label per file")


# parse_label(source "file:line", the label cells, the columns) -> the example's label
LabelParser = Callable[[str, list[Any], "Columns"], Any]


def read_table(path: str | Path, columns: Columns, parse_label: LabelParser,
               require_labels: bool = True) -> list[Example]:
    """Examples from the rows of a CSV/TSV/JSONL file: text, optional pair, label parsed by the task.

    Without `require_labels` (prediction), rows may lack the label columns; `row` keeps every
    column of the input row either way.
    """
    path = Path(path)
    rows = read_rows(path, columns.header)
    if not rows:
        raise DataError(f"{path}: no rows")
    examples, empty = [], []
    label_cols = columns.label
    for n, row in rows:
        text = _column(path, n, row, columns.text)
        pair = _column(path, n, row, columns.text_pair) if columns.text_pair else None
        if text is None or not str(text).strip() or (pair is not None and not str(pair).strip()):
            empty.append(n)
            continue
        label = None
        if require_labels or all(c in row for c in label_cols):
            label = parse_label(f"{path}:{n}", [_column(path, n, row, c) for c in label_cols], columns)
        examples.append(Example(str(text), None if pair is None else str(pair), label, f"{path}:{n}", row))
    if empty:
        shown = ", ".join(map(str, empty[:10])) + (" ..." if len(empty) > 10 else "")
        raise DataError(f"{path}: {len(empty)} row(s) with empty text at line(s) {shown}; "
                        "remove or fill them")
    return examples


# ---------------------------------------------------------------------------------------------
# NER


def repair_bio(tags: list[str], where: str = "") -> tuple[list[str], list[int]]:
    """Turn each I-X that does not continue an X entity into B-X; return the tags and fixed positions.

    Applies to BIO and BIOES (an E-X without its B-X becomes S-X) so that no entity is lost.
    """
    fixed: list[int] = []
    out = list(tags)
    prev = "O"
    for i, tag in enumerate(out):
        prefix, typ = tag[:2], tag[2:]
        continues = prev[2:] == typ and prev[:2] in ("B-", "I-")
        if prefix == "I-" and not continues:
            out[i] = "B-" + typ
            fixed.append(i)
        elif prefix == "E-" and not continues:
            out[i] = "S-" + typ
            fixed.append(i)
        prev = out[i]
    return out, fixed


def _repair_all(path: Path, examples: list[Example]) -> None:
    repaired = []
    for ex in examples:
        ex.label, fixed = repair_bio(ex.label)
        repaired.extend((ex.source, i) for i in fixed)
    if repaired:
        shown = ", ".join(f"{s} word {i + 1}" for s, i in repaired[:5])
        shown += " ..." if len(repaired) > 5 else ""
        warnings.warn(f"{path}: repaired {len(repaired)} invalid tag(s) (I-X not continuing an X entity "
                      f"-> B-X, E-X -> S-X) at {shown}", stacklevel=3)


def _conll_example(words: list[str], tags: list[str], source: str) -> Example:
    row: dict[str, Any] = {"tokens": words, "tags": tags} if tags else {"tokens": words}
    return Example(words, None, tags or None, source, row)


def read_conll(path: str | Path, require_labels: bool = True) -> list[Example]:
    """CoNLL: one `word ... tag` per line (whitespace or tab separated), a blank line between sentences.

    Unlabelled files (one word per line) are accepted when `require_labels` is False.
    """
    path = Path(path)
    examples: list[Example] = []
    words: list[str] = []
    tags: list[str] = []
    start = 0
    for n, line in enumerate(_lines(path), start=1):
        if line.startswith("-DOCSTART-"):
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        parts = [p.strip() for p in parts if p.strip()]
        if not parts:
            if words:
                examples.append(_conll_example(words, tags, f"{path}:{start}"))
            words, tags = [], []
            continue
        if not words:
            start = n
        if len(parts) == 1:
            if require_labels:
                raise DataError(f"{path}:{n}: expected `word<TAB>tag`, got {line!r}")
            words.append(parts[0])
            continue
        tag = parts[-1]
        if tag != "O" and not (tag[:2] in ("B-", "I-", "E-", "S-") and len(tag) > 2):
            raise DataError(f"{path}:{n}: tag {tag!r} is not O, B-X, I-X, E-X or S-X")
        words.append(parts[0])
        tags.append(tag)
    if words:
        examples.append(_conll_example(words, tags, f"{path}:{start}"))
    if not examples:
        raise DataError(f"{path}: no sentences")
    if require_labels:
        _repair_all(path, examples)
    return examples


def read_ner_jsonl(path: Path, columns: Columns, require_labels: bool) -> list[Example]:
    """JSONL NER rows: a list of words in the text column (default `tokens`) and tags in the label column."""
    text_col = columns.text if columns.text != "text" else "tokens"
    label_col = columns.label[0] if columns.label != ["label"] else "tags"
    examples = []
    for n, row in read_rows(path):
        words = _column(path, n, row, text_col)
        if isinstance(words, str):
            words = words.split()
        if not words:
            raise DataError(f"{path}:{n}: empty word list")
        tags = None
        if require_labels or label_col in row:
            tags = _column(path, n, row, label_col)
            if not isinstance(tags, list) or len(tags) != len(words):
                raise DataError(f"{path}:{n}: {label_col!r} must be a list of {len(words)} tags, "
                                f"got {tags!r}")
        examples.append(Example([str(w) for w in words], None, tags, f"{path}:{n}", row))
    if require_labels:
        _repair_all(path, examples)
    return examples


def label_sort_key(label: str) -> tuple:
    """Numbers in numeric order ("1" < "2" < "10"), then words in alphabetical order."""
    return (0, float(label), "") if is_number(label) else (1, 0.0, label)


def read_examples(path: str | Path, task: str, columns: Columns | None = None,
                  require_labels: bool = True) -> list[Example]:
    """Examples of the task named `task` from a file (see `Task.read`)."""
    from bertkit.tasks.registry import get_task  # the registry's tasks read through this module

    return get_task(task).read(path, columns or Columns(), require_labels)
