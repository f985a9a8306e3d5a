"""The distillation losses, each a few lines that read like their paper.

Soft targets (Hinton et al. 2015), one per kind of output:
    softmax KL at T, x T²      single-label classification, pairs (and MLM distributions)
    Bernoulli KL at T, x T²    multi-label (each label an independent sigmoid)
    MSE                        regression (the teacher's outputs are the targets)
    per-token KL at T, x T²    token classification (NER), over real tokens only
Representations (DistilBERT, Sanh et al. 2019; TinyBERT, Jiao et al. 2020):
    cosine                     1 - cos(h_student, h_teacher) per real token (DistilBERT's L_cos)
    hidden MSE                 ||h_student W - h_teacher||² per real token (TinyBERT's L_hidn, L_embd)
    attention MSE              (A_student - A_teacher)² over real query/key pairs (TinyBERT's L_attn)
`mask` is the (batch, seq) attention mask: padding never counts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def soft_target_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
    """T² · KL(p_teacher || p_student) at temperature T, averaged over the batch (rows)."""
    t = temperature
    log_p_student = F.log_softmax(student_logits.float() / t, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits.float() / t, dim=-1)
    return F.kl_div(log_p_student, log_p_teacher, log_target=True, reduction="batchmean") * (t * t)


def sigmoid_soft_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
    """T² · mean over labels of KL(Bernoulli(σ(teacher/T)) || Bernoulli(σ(student/T))).

    Equal to binary cross-entropy against the soft targets σ(teacher/T) minus their entropy, so its
    gradients are BCE's, and it is zero when the student agrees with the teacher."""
    t = temperature
    s, z = student_logits.float() / t, teacher_logits.float() / t
    p = torch.sigmoid(z)
    kl = p * (F.logsigmoid(z) - F.logsigmoid(s)) + (1 - p) * (F.logsigmoid(-z) - F.logsigmoid(-s))
    return kl.mean() * (t * t)


def regression_soft_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 1.0) -> Tensor:
    """MSE to the teacher's outputs (no temperature: a regression output is not a distribution)."""
    return F.mse_loss(student_logits.float(), teacher_logits.float())


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of (batch, seq) `values` over the positions where `mask` is 1."""
    keep = mask.to(values.dtype)
    return (values * keep).sum() / keep.sum().clamp_min(1.0)


def token_soft_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float,
                    mask: Tensor) -> Tensor:
    """T² · KL per token, (batch, seq, labels) logits, averaged over the real tokens of `mask`."""
    t = temperature
    log_p_student = F.log_softmax(student_logits.float() / t, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits.float() / t, dim=-1)
    kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(-1)      # (batch, seq)
    return _masked_mean(kl, mask) * (t * t)


def cosine_loss(student_hidden: Tensor, teacher_hidden: Tensor, mask: Tensor) -> Tensor:
    """Mean over real tokens of 1 - cos(h_s, h_t): DistilBERT's cosine embedding loss (target 1)."""
    cos = F.cosine_similarity(student_hidden.float(), teacher_hidden.float(), dim=-1)   # (batch, seq)
    return _masked_mean(1.0 - cos, mask)


def hidden_mse(student_hidden: Tensor, teacher_hidden: Tensor, mask: Tensor) -> Tensor:
    """Mean squared difference per dimension over the real tokens, (batch, seq, hidden) each."""
    return _masked_mean((student_hidden.float() - teacher_hidden.float()).pow(2).mean(-1), mask)


def attention_mse(student_probs: Tensor, teacher_probs: Tensor, mask: Tensor) -> Tensor:
    """Mean squared difference of (batch, heads, seq, seq) attention maps over real (query, key) pairs.

    With as many heads as the teacher each student head matches its teacher head; otherwise the
    heads' mean map is matched (a narrower student may have fewer heads)."""
    s, t = student_probs.float(), teacher_probs.float()
    if s.shape[1] != t.shape[1]:
        s, t = s.mean(1, keepdim=True), t.mean(1, keepdim=True)
    keep = mask.to(s.dtype)
    pairs = keep[:, None, :, None] * keep[:, None, None, :]                   # (batch, 1, seq, seq)
    return ((s - t).pow(2) * pairs).sum() / (pairs.sum() * s.shape[1]).clamp_min(1.0)
