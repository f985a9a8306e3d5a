"""A tiny random BERT with all-MiniLM-L6-v2's tokenizer, and tiny labelled files, for fast task tests."""

from __future__ import annotations

import csv
import random
import shutil
from pathlib import Path

import pytest

POS = ["good", "great", "wonderful", "superb", "lovely", "excellent"]
NEG = ["bad", "awful", "boring", "terrible", "dull", "poor"]
FILL = ["the", "film", "was", "a", "story", "acting", "plot", "really", "quite", "and"]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, minilm_dir) -> Path:
    """2 layers, hidden 32: seconds to fine-tune on a CPU; real WordPiece vocabulary."""
    import torch

    from bertkit.model import BertConfig, BertModel

    out = tmp_path_factory.mktemp("tiny_bert")
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128)
    BertModel(cfg).save_pretrained(out)
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        if (minilm_dir / name).is_file():
            shutil.copy(minilm_dir / name, out / name)
    return out


def sentiment_rows(n: int, seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = rng.sample(FILL, 4) + [rng.choice(POS if label == "pos" else NEG)]
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": label, "score": 1.0 if label == "pos" else -1.0})
    return rows


def write_csv(path: Path, rows: list[dict], fields: list[str] | None = None) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields or list(rows[0]), extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.fixture(scope="session")
def sentiment_files(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("sentiment")
    return write_csv(d / "train.csv", sentiment_rows(256, 0)), write_csv(d / "dev.csv", sentiment_rows(64, 1))


def ner_sentences(n: int, seed: int) -> list[tuple[list[str], list[str]]]:
    rng = random.Random(seed)
    names, cities = ["John", "Maria", "Pedro", "Alice"], ["Lisbon", "Paris", "New York", "Rio de Janeiro"]
    out = []
    for _ in range(n):
        name, city = rng.choice(names), rng.choice(cities).split()
        end = rng.choice([["now"], [",", "now", "."], ["."]])
        words = [name, "lives", "in", *city, *end]
        tags = ["B-PER", "O", "O", "B-LOC", *["I-LOC"] * (len(city) - 1), *["O"] * len(end)]
        out.append((words, tags))
    return out


def write_conll(path: Path, sentences) -> Path:
    path.write_text("\n\n".join("\n".join(f"{w}\t{t}" for w, t in zip(ws, ts, strict=True))
                                for ws, ts in sentences) + "\n", encoding="utf-8")
    return path
