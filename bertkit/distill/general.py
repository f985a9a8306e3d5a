"""General distillation on pretraining text, before any task: DistilBERT's (Sanh et al. 2019, §2-3),
where a smaller MLM student learns a teacher's masked-token distributions and hidden states, or
TinyBERT's general stage (`method="tinybert"`: the layer-wise loss of `layerwise.py` alone).

    loss = α_ce · T² · KL(p_teacher || p_student) at the masked positions
         + α_mlm · MLM(student, labels)
         + α_cos · (1 - cos(h_student W, h_teacher)) over the real tokens (last hidden states)

with DistilBERT's weights α_ce 5, α_mlm 2, α_cos 1 and T = 2 as defaults. The data are the shards
of `bertkit data prepare`, read and masked as pretraining reads and masks them
(`bertkit.data.examples.PretrainingDataset`, `bertkit.data.masking.mask_tokens`). W is a learned
projection when the student is narrower (the identity otherwise; not saved in the RUN).

The teacher must have an MLM head: the soft targets are its distributions over the vocabulary.
A sentence encoder without one (all-MiniLM-L6-v2) is refused; learn a head first by continuing
its pretraining (`bertkit pretrain --init-from DIR --recipe roberta ...`), then distil that RUN.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from bertkit.distill.config import GeneralDistillConfig
from bertkit.distill.layerwise import LayerwiseLoss, layer_map, projection
from bertkit.distill.losses import cosine_loss, soft_target_loss
from bertkit.distill.student import make_student, teacher_layers
from bertkit.errors import ConfigError, DataError

__all__ = ["GeneralDistillConfig", "GeneralDistiller", "GeneralOutput", "general_distill"]


@dataclass
class GeneralOutput:
    loss: Tensor
    logits: Tensor               # the student's MLM logits at the masked positions, (n_masked, vocab)
    ce_loss: Tensor
    mlm_loss: Tensor
    cos_loss: Tensor
    parts: dict[str, Tensor] | None = None     # tinybert: embedding_mse, hidden_mse, attention_mse


class GeneralDistiller(nn.Module):
    """The MLM student under DistilBERT's triple loss; the teacher runs alongside, without gradients,
    and is kept out of the module's parameters and state (neither trained nor checkpointed)."""

    def __init__(self, student: nn.Module, teacher: nn.Module, temperature: float = 2.0,
                 alpha_ce: float = 5.0, alpha_mlm: float = 2.0, alpha_cos: float = 1.0,
                 layers: list[int] | None = None) -> None:
        super().__init__()
        self.student = student
        self.__dict__["teacher"] = teacher.eval()
        widths = student.config.hidden_size, teacher.config.hidden_size
        # DistilBERT: one projection for the cosine; TinyBERT (`layers`, its layer map): its own loss
        self.project = projection(*widths) if layers is None else None
        self.layerwise = LayerwiseLoss(*widths, layers) if layers is not None else None
        self.temperature = temperature
        self.alpha_ce, self.alpha_mlm, self.alpha_cos = alpha_ce, alpha_mlm, alpha_cos

    def forward(self, input_ids: Tensor, attention_mask: Tensor, labels: Tensor,
                token_type_ids: Tensor | None = None, next_sentence_label: Tensor | None = None,
                ) -> GeneralOutput:
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        if self.layerwise is not None:
            return self._tinybert(inputs, labels)
        s = self.student(**inputs, labels=labels, output_hidden_states=True)  # logits: masked positions
        with torch.no_grad():
            t = self.teacher(**inputs, labels=labels, output_hidden_states=True)
        ce = soft_target_loss(s.logits, t.logits, self.temperature) if s.logits.shape[0] else s.loss * 0.0
        cos = cosine_loss(self.project(s.hidden_states[-1]), t.hidden_states[-1], attention_mask)
        loss = self.alpha_ce * ce + self.alpha_mlm * s.loss + self.alpha_cos * cos
        return GeneralOutput(loss, s.logits, ce.detach(), s.loss.detach(), cos.detach())

    def _tinybert(self, inputs: dict[str, Any], labels: Tensor) -> GeneralOutput:
        """TinyBERT's general stage: the layer-wise loss alone (the MLM terms are logged, not trained)."""
        s = self.student(**inputs, labels=labels, output_hidden_states=True, output_attentions=True)
        with torch.no_grad():
            t = self.teacher(**inputs, labels=labels, output_hidden_states=True, output_attentions=True)
        loss, parts = self.layerwise(s, t, inputs["attention_mask"])
        ce = soft_target_loss(s.logits, t.logits, self.temperature) if s.logits.shape[0] else s.loss * 0.0
        zero = loss.detach() * 0.0
        return GeneralOutput(loss, s.logits, ce.detach(), s.loss.detach(), zero, parts)


def general_metrics(out: GeneralOutput, batch: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The three terms, the student's MLM accuracy and agreement with the teacher's top token."""
    from bertkit.train.pretrain import pretraining_metrics

    metrics = dict(pretraining_metrics(out, batch))
    metrics.update(ce_loss=(out.ce_loss, 1), mlm_loss=(out.mlm_loss, 1))
    if out.parts is None:
        metrics["cos_loss"] = (out.cos_loss, 1)
    for name, value in (out.parts or {}).items():
        metrics[name] = (value, 1)
    return metrics


def load_mlm_teacher(directory: str | Path) -> nn.Module:
    """A BertForMaskedLM from `directory`, which must hold the MLM head's weights."""
    from bertkit.model import BertForMaskedLM

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # a missing head is our error below, not a warning
        teacher = BertForMaskedLM.from_pretrained(directory)
    missing = [k for k in teacher.load_report["missing"] if "predictions" in k or k.startswith("mlm")]
    if missing:
        raise ConfigError(
            f"{directory} has no MLM head ({', '.join(missing[:3])} not in its weights): general "
            f"distillation learns the teacher's masked-token distributions. A sentence encoder such as "
            f"all-MiniLM-L6-v2 has none; learn one first (`bertkit pretrain --init-from {directory} "
            f"--recipe roberta --data SHARDS --out RUN`) and distil that RUN, or distil task-specifically "
            f"(`bertkit distill --teacher FINE_TUNED_RUN ...`)")
    return teacher


def general_distill(cfg: GeneralDistillConfig) -> tuple[Path, Any]:
    """Distil cfg.teacher into a smaller MLM student on cfg.shards; return (RUN, TrainResult).
    The shards are held with a shared reading lock while the run reads them (as `pretrain`)."""
    from bertkit.io import reading_locks

    with reading_locks((cfg.shards, cfg.eval_data), what="distill general"):
        return _general_distill(cfg)


def _general_distill(cfg: GeneralDistillConfig) -> tuple[Path, Any]:
    from bertkit.data.examples import PretrainingDataset
    from bertkit.data.shards import ShardSet, vocab_hash
    from bertkit.tokenizers import Tokenizer
    from bertkit.train.loop import Trainer
    from bertkit.train.pretrain import data_fingerprint, mlm_eval_fn

    if Path(cfg.out).resolve() == Path(cfg.teacher).resolve():
        raise ConfigError(f"--out {cfg.out} is the teacher's directory: distillation would overwrite it")
    teacher = load_mlm_teacher(cfg.teacher)
    tokenizer = Tokenizer.from_pretrained(cfg.teacher)
    shards = ShardSet(cfg.shards, tokenizer_hash=vocab_hash(tokenizer.runtime))
    if shards.vocab_size != teacher.config.vocab_size:
        raise DataError(f"{cfg.shards} uses a {shards.vocab_size}-token vocabulary, the teacher "
                        f"{cfg.teacher} a {teacher.config.vocab_size}-token one; prepare the shards with "
                        f"the teacher's tokenizer")
    if cfg.seq_len > teacher.config.max_position_embeddings:
        raise ConfigError(f"--seq-len {cfg.seq_len} exceeds the teacher's max_position_embeddings "
                          f"{teacher.config.max_position_embeddings}")
    tcfg = cfg.train

    def dataset(source: ShardSet, seed: int, dynamic: bool) -> PretrainingDataset:
        return PretrainingDataset(source, cfg.recipe, cfg.seq_len, mask_rate=cfg.mask_rate, dynamic=dynamic,
                                  seed=seed)

    n_layers = teacher.config.num_hidden_layers
    layers = teacher_layers(n_layers, cfg.layers or max(1, n_layers // 2))
    torch.manual_seed(tcfg.seed)
    student = make_student(teacher, layers, cfg.width(), cfg.student_init)
    mapped = layer_map(n_layers, len(layers), cfg.layer_map) if cfg.method == "tinybert" else None
    model = GeneralDistiller(student, teacher, cfg.temperature, cfg.alpha_ce, cfg.alpha_mlm, cfg.alpha_cos,
                             mapped)
    eval_fn = None
    if cfg.eval_data:
        held_out_shards = ShardSet(cfg.eval_data, tokenizer_hash=vocab_hash(tokenizer.runtime))
        held_out = dataset(held_out_shards, 12345, False)
        evaluate = mlm_eval_fn(held_out, cfg.eval_examples, tcfg.batch_size)

        def eval_fn(m: GeneralDistiller) -> dict[str, float]:
            return evaluate(m.student)

    def save(m: GeneralDistiller, directory: Path) -> None:
        m.student.save_pretrained(directory)
        tokenizer.save(directory)

    options = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("train", "out")}
    setup = {"general_distill": options, "teacher_layers": layers, "layer_map": mapped,
             "student": student.config.to_dict(),
             "data": data_fingerprint(shards)}
    result = Trainer(model, tcfg, dataset(shards, tcfg.seed, True), cfg.out, eval_fn=eval_fn,
                     metrics_fn=general_metrics, save_model=save, setup=setup).fit()
    return Path(cfg.out), result
