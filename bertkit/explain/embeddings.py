"""Embedding inspection: nearest tokens in the input embedding matrix, and how much one word's
contextual vector changes between two sentences (e.g. "bank" by a river vs "bank" for money).
"""

from __future__ import annotations

from typing import Any

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
