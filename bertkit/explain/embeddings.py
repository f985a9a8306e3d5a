"""Embedding inspection: nearest tokens in the input embedding matrix, how much one word's
contextual vector changes between two sentences (e.g. "bank" by a river vs "bank" for money), and
the same word's static (word2vec) vector beside its contextual ones, with a PCA plot.

`compare_embeddings` is `bertkit explain embeddings`; `bertkit word2vec context` calls the same
`static_vs_contextual` and `plot_static_vs_contextual`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from bertkit.errors import ConfigError, DataError
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
    per_sentence = np.stack([static[word] for _ in sentences])   # a lookup ignores the sentence
    contextual = torch.stack([word_vector(model, tokenizer, s, word, layer) for s in sentences])
    return {"word": word, "sentences": list(sentences), "static_vector": vector,
            "contextual_vectors": contextual.numpy(), "static_similarity": cosine_matrix(per_sentence),
            "contextual_similarity": cosine_matrix(contextual.numpy())}


def cosine_matrix(x: np.ndarray) -> np.ndarray:
    """(n, n) cosine similarities of the rows of x, in float64, as aᵀb / √(|a|²|b|²), one dot product
    per pair: for two equal rows that is exactly 1.0 (IEEE rounding gives √(s²) = s), which a
    blocked matrix product or a product of norms does not promise."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    dots = np.array([[float(np.dot(x[i], x[j])) for j in range(n)] for i in range(n)])
    sq = np.diag(dots)
    return dots / np.sqrt(sq[:, None] * sq[None, :])


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


def _load_vectors(vectors: Any) -> Any:
    """WordVectors as given, or read from a word2vec file or a `word2vec train` directory."""
    from bertkit.classic.vectors import WordVectors

    if isinstance(vectors, WordVectors):
        return vectors
    path = Path(vectors)
    return WordVectors.load(path / "vectors.bin" if path.is_dir() else path)


def plot_points(static: Any, cmp: dict[str, Any], words: list[str], model: Any, tokenizer: Any,
                layer: int | None = None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """What the PCA plot shows: each word's one static vector ("bank"), and its contextual vector in
    every sentence that has it ("bank @ 2" for sentence 2)."""
    word = cmp["word"]
    static_points = {w: static[w] for w in [word, *words]}
    contextual = {f"{word} @ {i}": v for i, v in enumerate(cmp["contextual_vectors"], 1)}
    for w in words:
        for i, sentence in enumerate(cmp["sentences"], 1):
            try:
                contextual[f"{w} @ {i}"] = word_vector(model, tokenizer, sentence, w, layer).numpy()
            except DataError:            # not a word of this sentence: nothing to plot
                continue
    return static_points, contextual


def format_comparison(cmp: dict[str, Any], layer: int | None = None) -> str:
    """The sentences, then the static and the contextual cosine matrices of the word."""
    lines = [f"{cmp['word']!r} in {len(cmp['sentences'])} sentences"]
    lines += [f"  {i}  {s}" for i, s in enumerate(cmp["sentences"], 1)]
    where = "last layer" if layer is None else f"hidden states {layer}"
    tables = [("static (word2vec) cosine: the same vector in every sentence", cmp["static_similarity"]),
              (f"contextual (BERT, {where}) cosine", cmp["contextual_similarity"])]
    for title, sims in tables:
        lines += ["", title, "     " + "".join(f"{j:>8}" for j in range(1, len(sims) + 1))]
        lines += [f"  {i:>2} " + "".join(f"{x:8.3f}" for x in row) for i, row in enumerate(sims, 1)]
    return "\n".join(lines)


def compare_embeddings(model: Any, tokenizer: Any, vectors: Any, word: str, sentences: list[str],
                       layer: int | None = None, plot_words: list[str] | None = None,
                       plot: str | Path | None = None) -> str:
    """`bertkit explain embeddings`: the text comparing `word`'s static vector (`vectors`: a
    WordVectors, a word2vec file or a `word2vec train` directory) with BERT's in `sentences`, and,
    with `plot`, a PNG of the PCA projections of a few words (`plot_words`, default the word's five
    nearest static neighbours)."""
    from bertkit.explain.decoder import architecture

    if architecture(model) != "bert":
        raise ConfigError(f"contextual vectors come from a BERT encoder; {type(model).__name__} is a decoder")
    if len(sentences) < 2:
        raise DataError("give at least two sentences to compare the word's vectors across")
    static = _load_vectors(vectors)
    cmp = static_vs_contextual(model, tokenizer, static, word, sentences, layer)
    text = format_comparison(cmp, layer)
    if plot is not None:
        words = plot_words if plot_words is not None else [w for w, _ in static.most_similar(word, 5)]
        points = plot_points(static, cmp, [w for w in words if w != word], model, tokenizer, layer)
        text += f"\n\nplot: {plot_static_vs_contextual(*points, plot).resolve()}"
    return text
