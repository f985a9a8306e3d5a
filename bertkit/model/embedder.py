"""Sentence embeddings: mean or [CLS] pooling over a BERT encoder, optionally L2-normalised.

With all-MiniLM-L6-v2 (mean pooling, normalised, 256 tokens) this gives the vectors
sentence-transformers gives for that model. The tokenizer is the directory's tokenizer.json
(written by bertkit's and by Hugging Face's tokenizers), or its vocab.txt.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from tokenizers.implementations import BertWordPieceTokenizer
from tqdm.auto import tqdm

from bertkit.errors import ConfigError, DataError
from bertkit.io import PathLike
from bertkit.model.bert import BertModel


def _load_tokenizer(directory: Path):
    if (directory / "tokenizer.json").is_file():
        return Tokenizer.from_file(str(directory / "tokenizer.json"))
    if (directory / "vocab.txt").is_file():
        lowercase = True
        settings = directory / "tokenizer_config.json"
        if settings.is_file():
            lowercase = bool(json.loads(settings.read_text("utf-8")).get("do_lower_case", True))
        return BertWordPieceTokenizer(str(directory / "vocab.txt"), lowercase=lowercase)
    raise ConfigError(f"{directory}: no tokenizer.json or vocab.txt to tokenize with")


class Embedder:
    """Encode texts into fixed-size vectors for similarity search, clustering, retrieval."""

    def __init__(self, model_dir: PathLike, pooling: str = "mean", normalize: bool = True,
                 max_length: int | None = None, model: BertModel | None = None):
        """`model`: the encoder of `model_dir` already loaded (e.g. inside a fine-tuned head), to
        share its weights instead of loading a second copy."""
        if pooling not in ("mean", "cls"):
            raise ConfigError(f"pooling must be 'mean' or 'cls', got {pooling!r}")
        directory = Path(model_dir)
        self.model = (BertModel.from_pretrained(directory) if model is None else model).eval()
        self.pooling = pooling
        self.normalize = normalize
        if max_length is None:   # sentence-transformers models say how long they were trained on
            st = directory / "sentence_bert_config.json"
            st_max = json.loads(st.read_text("utf-8")).get("max_seq_length") if st.is_file() else None
            max_length = st_max or self.model.config.max_position_embeddings
        self.max_length = min(max_length, self.model.config.max_position_embeddings)
        self.tokenizer = _load_tokenizer(directory)
        self.tokenizer.enable_truncation(self.max_length)
        self.tokenizer.no_padding()

    @property
    def dim(self) -> int:
        return self.model.config.hidden_size

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> torch.Tensor:
        """(len(texts), hidden) float32 embeddings; batches group texts of similar length.

        `progress` shows a tqdm bar (rate and ETA) over the texts."""
        if isinstance(texts, str):
            texts = [texts]
        if not all(isinstance(t, str) for t in texts):
            raise DataError("Embedder.encode expects a list of strings")
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        out = torch.empty(len(texts), self.dim)
        bar = tqdm(total=len(texts), unit="text", desc="embedding", disable=not progress)
        with torch.inference_mode(), bar:
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                width = max(len(encodings[i].ids) for i in idx)
                ids = torch.zeros(len(idx), width, dtype=torch.long)
                types = torch.zeros(len(idx), width, dtype=torch.long)
                mask = torch.zeros(len(idx), width, dtype=torch.long)
                for row, i in enumerate(idx):
                    n = len(encodings[i].ids)
                    ids[row, :n] = torch.tensor(encodings[i].ids)
                    types[row, :n] = torch.tensor(encodings[i].type_ids)
                    mask[row, :n] = 1
                hidden = self.model(ids, attention_mask=mask, token_type_ids=types).last_hidden_state
                out[idx] = self.pool(hidden, mask)
                bar.update(len(idx))
        return out

    def pool(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(batch, seq, hidden) -> (batch, hidden): mean over real tokens or the [CLS] vector."""
        if self.pooling == "cls":
            vec = hidden[:, 0]
        else:
            m = mask.unsqueeze(-1).to(hidden.dtype)
            vec = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return F.normalize(vec, p=2, dim=1) if self.normalize else vec

    def similarity(self, a: list[str] | torch.Tensor,
                   b: list[str] | torch.Tensor | None = None) -> torch.Tensor:
        """Cosine similarity matrix (len(a), len(b)) between texts or embeddings; b defaults to a."""
        ea = self.encode(a) if not isinstance(a, torch.Tensor) else a
        eb = ea if b is None else (self.encode(b) if not isinstance(b, torch.Tensor) else b)
        return F.normalize(ea, dim=-1) @ F.normalize(eb, dim=-1).T
