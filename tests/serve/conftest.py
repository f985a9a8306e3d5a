"""Tiny random RUN directories (2 layers, hidden 32, MiniLM's WordPiece vocabulary) to serve in tests."""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bertkit.serve.config import ServeConfig

LABELS = ["negative", "positive"]


def make_run(out: Path, minilm_dir: Path, task: str = "classification", labels=LABELS,
             head: str = "BertForSequenceClassification", pair_column: str | None = None) -> Path:
    """A RUN as bertkit finetune leaves it (config, weights, tokenizer, task.json), with random weights."""
    import torch

    import bertkit.model
    from bertkit.model import BertConfig
    from bertkit.tasks.readers import Columns
    from bertkit.tasks.spec import TaskSpec

    torch.manual_seed(0)
    spec = TaskSpec(task, labels=list(labels), columns=Columns(text_pair=pair_column), max_length=64)
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0, **spec.kind.model_config(spec))
    getattr(bertkit.model, head)(cfg).eval().save_pretrained(out)
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        if (minilm_dir / name).is_file():
            shutil.copy(minilm_dir / name, out / name)
    spec.save(out)
    return out


@pytest.fixture(scope="session")
def classifier_run(tmp_path_factory, minilm_dir) -> Path:
    return make_run(tmp_path_factory.mktemp("serve_cls"), minilm_dir)


@pytest.fixture(scope="session")
def pair_run(tmp_path_factory, minilm_dir) -> Path:
    return make_run(tmp_path_factory.mktemp("serve_pair"), minilm_dir, task="pair",
                    labels=["contradiction", "entailment", "neutral"], pair_column="hypothesis")


@pytest.fixture(scope="session")
def ner_run(tmp_path_factory, minilm_dir) -> Path:
    return make_run(tmp_path_factory.mktemp("serve_ner"), minilm_dir, task="ner",
                    labels=["O", "B-LOC", "I-LOC", "B-PER", "I-PER"], head="BertForTokenClassification")


@pytest.fixture(scope="session")
def classifier_engine(classifier_run):
    from bertkit.serve.engine import Engine

    return Engine.load(classifier_run)


def client_for(run: Path, engine=None, **options):
    """A TestClient (lifespan started) over the app serving `run`."""
    from fastapi.testclient import TestClient

    from bertkit.serve.app import create_app

    app = create_app(ServeConfig(model=str(run), **options), engine)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(classifier_run, classifier_engine):
    with client_for(classifier_run, classifier_engine, explain_steps=4, max_inputs=100, max_chars=2000) as c:
        yield c


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(app, timeout: float = 20.0) -> Iterator[str]:
    """Run `app` under a real uvicorn on 127.0.0.1 (a free port) in a thread; yield its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)


@pytest.fixture(scope="session")
def qa_run(tmp_path_factory, minilm_dir) -> Path:
    return make_run(tmp_path_factory.mktemp("serve_qa"), minilm_dir, task="qa", labels=[],
                    head="BertForQuestionAnswering")


@pytest.fixture(scope="session")
def encoder_dir(tmp_path_factory, classifier_run) -> Path:
    """A plain encoder directory (no task.json): it serves embeddings and attention only."""
    from bertkit.model import BertModel

    out = tmp_path_factory.mktemp("serve_encoder")
    BertModel.from_pretrained(classifier_run).save_pretrained(out)
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        if (classifier_run / name).is_file():
            shutil.copy(classifier_run / name, out / name)
    return out
