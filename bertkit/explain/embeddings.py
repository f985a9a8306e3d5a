"""Embedding inspection: nearest tokens in the input embedding matrix, how much one word's
contextual vector changes between two sentences (e.g. "bank" by a river vs "bank" for money), and
the same word's static (word2vec) vector beside its contextual ones, with a PCA plot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from bertkit.errors import DataError
from bertkit.explain.inputs import base_model, encode


def nearest_tokens(model: Any, tokenizer: Any, word: str, k: int = 10) -> list[tuple[str, float]]:
    """The k vocabulary tokens whose input embeddings are most cosine-similar to `word`'s.

    A word split into several sub-tokens is represented by the mean of their embeddings.
    """
    enc = encode(tokenizer, word)
    ids = [i for i, s in zip(enc.ids, enc.special, strict=True) if not s]
    table = model.get_input_embeddings().weight.detach()
    table = torch.nn.functional.normalize(table.float(), dim=-1)
    query = torch.nn.functional.normalize(table[ids].mean(0), dim=-1)
    sims = table @ query
    sims[ids] = -2.0                                     # not the word itself
    top = torch.topk(sims, k)
    return [(_id_to_token(tokenizer, i), float(s))
            for s, i in zip(top.values, top.indices.tolist(), strict=True)]


def _id_to_token(tokenizer: Any, i: int) -> str:
    if hasattr(tokenizer, "id_to_token"):
        return tokenizer.id_to_token(i)
    return tokenizer.decode([i], skip_special_tokens=False)


def word_vector(model: Any, tokenizer: Any, sentence: str, word: str, layer: int | None = None) -> Any:
    """The contextual vector of the first occurrence of `word` in `sentence` (mean of its sub-tokens)
    at `layer` (hidden_states index: 0 = embeddings; default: the last layer)."""
    enc = encode(tokenizer, sentence)
    target = "".join(encode(tokenizer, word).words()[1][0].split()).lower()
    spans = [pos for w, pos in enc.words() if w.lower() == target]
    if not spans:
        words = [w for w, pos in enc.words() if not enc.special[pos[0]]]
        raise DataError(f"{word!r} is not a word of {sentence!r} (its words: {words})")
    with torch.no_grad():
        out = base_model(model)(input_ids=torch.tensor([enc.ids]),
                                token_type_ids=torch.tensor([enc.type_ids]), output_hidden_states=True)
    hidden = out.hidden_states[-1 if layer is None else layer][0]
    return hidden[spans[0]].mean(0)


def contextual_similarity(model: Any, tokenizer: Any, word: str, sentence_a: str, sentence_b: str,
                          layer: int | None = None) -> float:
    """Cosine similarity of `word`'s contextual vectors in two sentences."""
    a = word_vector(model, tokenizer, sentence_a, word, layer)
    b = word_vector(model, tokenizer, sentence_b, word, layer)
    return float(torch.nn.functional.cosine_similarity(a, b, dim=0))


def static_vs_contextual(model: Any, tokenizer: Any, static: Any, word: str, sentences: list[str],
                         layer: int | None = None) -> dict[str, Any]:
    """The same word in several sentences: its one static vector (word2vec: the same row whatever the
    sentence, so every cosine is 1) against BERT's vector of it in each sentence.

    `static` is a `bertkit.classic.WordVectors`. Returns the word, the sentences, the static vector,
    the contextual vectors (n, hidden) and both (n, n) cosine-similarity matrices.
    """
    vector = static[word]  # a DataError names the word when it is not in the vocabulary
    contextual = torch.stack([word_vector(model, tokenizer, s, word, layer) for s in sentences])
    unit = torch.nn.functional.normalize(contextual.float(), dim=-1)
    n = len(sentences)
    return {"word": word, "sentences": list(sentences), "static_vector": vector,
            "contextual_vectors": contextual.numpy(), "static_similarity": np.ones((n, n)),
            "contextual_similarity": (unit @ unit.T).numpy()}


def pca_2d(x: np.ndarray) -> np.ndarray:
    """The rows of x projected on their first two principal components (n, 2)."""
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T


def plot_static_vs_contextual(static: dict[str, np.ndarray], contextual: dict[str, np.ndarray],
                              path: str | Path) -> Path:
    """A PNG of two PCA projections side by side: the static vectors of a few words (one point per
    word) and their contextual vectors (one point per word in a sentence, labelled "word @ i")."""
    import matplotlib  # here, not at the top: only PNGs need it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bertkit.io import save_figure

    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    for ax, (title, points) in zip(axes, [("static (word2vec)", static), ("contextual (BERT)", contextual)],
                                   strict=True):
        xy = pca_2d(np.stack([np.asarray(v, dtype=np.float64) for v in points.values()]))
        ax.scatter(xy[:, 0], xy[:, 1])
        for label, (x, y) in zip(points, xy, strict=True):
            ax.annotate(label, (x, y), fontsize=9, xytext=(3, 3), textcoords="offset points")
        ax.set_title(f"{title}: PCA to 2-D")
    return save_figure(fig, path)
