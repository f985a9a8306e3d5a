"""A tiny stand-in model and dataset for loop tests (BERT-like names, dropout, an MLM-style loss)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import Dataset


@dataclass
class Out:
    loss: torch.Tensor
    logits: torch.Tensor
    mlm_loss: torch.Tensor


class TinyMLM(nn.Module):
    def __init__(self, vocab: int = 50, dim: int = 16, layers: int = 2, dropout: float = 0.1) -> None:
        super().__init__()
        self.embeddings = nn.Embedding(vocab, dim)
        self.layer = nn.ModuleList(
            nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Dropout(dropout)) for _ in range(layers)
        )
        self.LayerNorm = nn.LayerNorm(dim)
        self.decoder = nn.Linear(dim, vocab)

    def forward(self, input_ids, labels, attention_mask=None):
        h = self.embeddings(input_ids)
        for block in self.layer:
            h = h + block(h)
        logits = self.decoder(self.LayerNorm(h))[labels != -100]  # sparse: masked positions only
        loss = nn.functional.cross_entropy(logits, labels[labels != -100])
        return Out(loss=loss, logits=logits, mlm_loss=loss)


class ToyData(Dataset):
    """Deterministic toy sequences; the 'masking' is seeded by (epoch, index) like the real data."""

    def __init__(self, n: int = 64, seq: int = 12, vocab: int = 50) -> None:
        g = torch.Generator().manual_seed(1)
        self.ids = torch.randint(1, vocab, (n, seq), generator=g)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(self.epoch * 100_000 + i)
        labels = self.ids[i].clone()
        masked = torch.rand(labels.shape, generator=g) < 0.3
        masked[0] = True
        labels[~masked] = -100
        ids = self.ids[i].clone()
        ids[masked] = 0
        return {"input_ids": ids, "labels": labels}
