"""A synthetic corpus with a known neighbour structure, written once per session."""

from __future__ import annotations

import numpy as np
import pytest


def two_topic_sentences(n: int = 1500, length: int = 8, seed: int = 0) -> list[list[str]]:
    """Sentences that each use the words of one topic only: animals (a0..a9) or tools (t0..t9).
    Every word's nearest neighbours must therefore be words of its own topic."""
    rng = np.random.default_rng(seed)
    topics = [[f"a{i}" for i in range(10)], [f"t{i}" for i in range(10)]]
    return [list(rng.choice(topics[i % 2], size=length)) for i in range(n)]


@pytest.fixture(scope="session")
def topic_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "topics.txt"
    path.write_text("\n".join(" ".join(s) for s in two_topic_sentences()) + "\n", encoding="utf-8")
    return path
