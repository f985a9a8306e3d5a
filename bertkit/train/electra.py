"""ELECTRA's replaced-token detection (Clark et al. 2020), as a pretraining objective.

A small generator (an MLM, the same hidden size, a quarter of the layers) fills the masked
positions with tokens sampled from its own predictions; the discriminator (the encoder that is
kept and fine-tuned) reads the corrupted sequence and says, for every real token, whether it was
replaced. The two share the embedding layer (token, position and segment embeddings), as in the
paper, and train together: loss = MLM(generator) + rtd_weight x RTD(discriminator), rtd_weight = 50
as in the paper. The discriminator learns from every token, not only the masked 15%; that is why
ELECTRA gets more from little compute.

A sampled token that happens to equal the original counts as "original" (label 0), as in ELECTRA.
Sampling draws from torch's global generator, which the loop checkpoints, so a resume is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bertkit.model import BertConfig, BertForMaskedLM, BertModel
from bertkit.model.layers import activation

Tensor = torch.Tensor

__all__ = ["ElectraForPreTraining", "ElectraOutput", "electra_eval_fn", "electra_metrics", "replace_tokens"]


def replace_tokens(input_ids: Tensor, labels: Tensor, sampled: Tensor) -> tuple[Tensor, Tensor]:
    """(corrupted ids, replaced) from masked inputs, their MLM labels and the generator's samples.

    input_ids, labels: (batch, seq), labels -100 where nothing was masked; sampled: (n_masked,) one
    token per masked position in row-major order (the order of `labels != -100`). The corrupted
    sequence holds the sample at each masked position and the input elsewhere; `replaced` (bool,
    batch x seq) is True exactly where the corrupted token differs from the original one.
    Example: ids [CLS, M, b, M], labels [-, a, -, c], sampled [a, x] -> [CLS, a, b, x], [F, F, F, T].
    """
    masked = labels != -100
    corrupted = input_ids.clone()
    corrupted[masked] = sampled
    original = torch.where(masked, labels, input_ids)
    return corrupted, corrupted != original


@dataclass
class ElectraOutput:
    loss: Tensor
    mlm_loss: Tensor
    rtd_loss: Tensor
    logits: Tensor            # the generator's MLM logits at the masked positions (n_masked, vocab)
    rtd_logits: Tensor        # (batch, seq): > 0 means "replaced"
    replaced: Tensor          # (batch, seq) bool: the discriminator's labels


class ElectraForPreTraining(nn.Module):
    """Generator + discriminator sharing one embedding layer; `discriminator` is the BERT kept."""

    def __init__(self, config: BertConfig, rtd_weight: float = 50.0) -> None:
        super().__init__()
        self.config = config
        self.rtd_weight = rtd_weight
        self.discriminator = BertModel(config, add_pooling_layer=False)
        small = config.replace(num_hidden_layers=max(1, config.num_hidden_layers // 4))
        self.generator = BertForMaskedLM(small)
        self.generator.bert.embeddings = self.discriminator.embeddings          # shared, as in ELECTRA
        self.rtd_transform = nn.Linear(config.hidden_size, config.hidden_size)
        self.rtd_act = activation(config.hidden_act)
        self.rtd_out = nn.Linear(config.hidden_size, 1)
        std = config.initializer_range
        for layer in (self.rtd_transform, self.rtd_out):
            nn.init.normal_(layer.weight, 0.0, std)
            nn.init.zeros_(layer.bias)

    def forward(self, input_ids: Tensor, attention_mask: Tensor, labels: Tensor,
                token_type_ids: Tensor | None = None) -> ElectraOutput:
        gen = self.generator(input_ids, attention_mask, token_type_ids, labels=labels)
        with torch.no_grad():                       # no gradient through the sampling, as in ELECTRA
            sampled = torch.multinomial(F.softmax(gen.logits.float(), -1), 1).squeeze(-1)
        corrupted, replaced = replace_tokens(input_ids, labels, sampled)
        h = self.discriminator(corrupted, attention_mask, token_type_ids).last_hidden_state
        rtd_logits = self.rtd_out(self.rtd_act(self.rtd_transform(h))).squeeze(-1)   # (batch, seq)
        real = attention_mask.bool()
        rtd_loss = F.binary_cross_entropy_with_logits(rtd_logits[real], replaced[real].to(rtd_logits.dtype))
        loss = gen.loss + self.rtd_weight * rtd_loss
        return ElectraOutput(loss, gen.loss, rtd_loss, gen.logits, rtd_logits, replaced)


def electra_metrics(out: ElectraOutput, batch: dict[str, Tensor]) -> dict[str, tuple[Tensor, Any]]:
    """The loop's metrics_fn: both losses, the generator's MLM accuracy, the discriminator's
    accuracy over real tokens, and the fraction of real tokens replaced."""
    real = batch["attention_mask"].bool()
    labels = batch["labels"]
    target = labels[labels != -100]
    n_real = real.sum()
    return {
        "mlm_loss": (out.mlm_loss, 1),
        "rtd_loss": (out.rtd_loss, 1),
        "mlm_accuracy": ((out.logits.argmax(-1) == target).sum(), target.numel()),
        "rtd_accuracy": ((((out.rtd_logits > 0) == out.replaced) & real).sum(), n_real),
        "replaced": ((out.replaced & real).sum(), n_real),
        "tokens": (n_real, 1),
    }


def electra_eval_fn(dataset: Any, n_examples: int, batch_size: int):
    """Held-out generator MLM loss and discriminator accuracy, on the dataset's fixed masks."""
    n = min(n_examples, len(dataset))

    def evaluate(model: nn.Module) -> dict[str, float]:
        sums = {"mlm_loss": 0.0, "rtd_loss": 0.0}
        correct = real_count = batches = 0
        for start in range(0, n, batch_size):
            rows = [dataset[i] for i in range(start, min(n, start + batch_size))]
            batch = torch.utils.data.default_collate(rows)
            batch.pop("next_sentence_label", None)
            out = model(**batch)
            sums["mlm_loss"] += float(out.mlm_loss)
            sums["rtd_loss"] += float(out.rtd_loss)
            real = batch["attention_mask"].bool()
            correct += int((((out.rtd_logits > 0) == out.replaced) & real).sum())
            real_count += int(real.sum())
            batches += 1
        metrics = {k: v / max(batches, 1) for k, v in sums.items()}
        metrics["loss"] = metrics["mlm_loss"]
        metrics["perplexity"] = math.exp(min(metrics["mlm_loss"], 50.0))
        metrics["rtd_accuracy"] = correct / max(real_count, 1)
        return metrics

    return evaluate

