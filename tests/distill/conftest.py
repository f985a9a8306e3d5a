"""A tiny fine-tuned teacher (4 layers, hidden 32, a 120-token WordPiece vocabulary trained on the
data) on a synthetic sentiment task: a small vocabulary keeps every optimizer step cheap."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import one_torch_thread
from tests.tasks.conftest import sentiment_rows, write_csv


@pytest.fixture(autouse=True)
def one_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="session")
def sentiment(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("distill_data")
    return (write_csv(d / "train.csv", sentiment_rows(256, 0)),
            write_csv(d / "dev.csv", sentiment_rows(128, 1)))


@pytest.fixture(scope="session")
def teacher_run(tmp_path_factory, sentiment) -> Path:
    """A 4-layer teacher fine-tuned for four epochs: seconds on a CPU, and better than chance."""
    import torch

    from bertkit import Tokenizer
    from bertkit.model import BertConfig, BertModel
    from bertkit.tasks.config import FinetuneConfig
    from bertkit.tasks.finetune import finetune
    from bertkit.train import TrainConfig

    base = tmp_path_factory.mktemp("tiny_base")
    train, dev = sentiment
    tokenizer = Tokenizer.train(texts=train.read_text().splitlines(), vocab_size=120)
    tokenizer.save(base)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=4,
                     num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
    BertModel(cfg).save_pretrained(base)
    out = tmp_path_factory.mktemp("teacher")
    with one_torch_thread():
        finetune(FinetuneConfig(model=str(base), out=str(out), train_file=str(train), dev_file=str(dev),
                                max_length=32, train=TrainConfig(lr=3e-3, epochs=4, batch_size=16,
                                                                 overwrite=True)))
    return out
