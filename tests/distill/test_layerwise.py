"""TinyBERT's layer map and layer-wise loss, and students of another width."""

from __future__ import annotations

import pytest
import torch

from bertkit.distill.layerwise import LayerwiseDistiller, LayerwiseLoss, layer_map, uniform_layer_map
from bertkit.distill.student import make_student
from bertkit.errors import ConfigError
from bertkit.model import BertConfig, BertForSequenceClassification


def _teacher(layers: int = 4, hidden: int = 32, heads: int = 4) -> BertForSequenceClassification:
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=60, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                     intermediate_size=2 * hidden, max_position_embeddings=32, num_labels=3)
    return BertForSequenceClassification(cfg).eval()


def _batch() -> dict[str, torch.Tensor]:
    ids = torch.tensor([[2, 7, 9, 11, 3, 0, 0], [2, 5, 6, 8, 10, 12, 3]])
    return {"input_ids": ids, "attention_mask": (ids != 0).long()}


def _outputs(model, batch):
    with torch.no_grad():
        return model(**batch, output_hidden_states=True, output_attentions=True)


def test_uniform_map_is_tinyberts():
    # TinyBERT (Jiao et al. 2020, §4.2): TinyBERT-4 learns every 3rd layer of BERT-base, g(m) = 3m
    assert uniform_layer_map(12, 4) == [2, 5, 8, 11]
    assert uniform_layer_map(4, 2) == [1, 3]
    assert uniform_layer_map(6, 6) == list(range(6))
    assert layer_map(12, 4, None) == [2, 5, 8, 11]
    assert layer_map(12, 2, "0,11") == [0, 11]


@pytest.mark.parametrize("spec, message", [("1,4", "teacher has layers 0 to 3"), ("1", "one per student"),
                                           ("a,b", "comma-separated")])
def test_bad_layer_maps_name_the_problem(spec, message):
    with pytest.raises(ConfigError, match=message):
        layer_map(4, 2, spec)


def test_layer_loss_is_zero_for_a_copy_of_the_mapped_layers():
    teacher, batch = _teacher(), _batch()
    student = make_student(teacher, [0, 1]).eval()       # the teacher's bottom two layers, same width
    s, t = _outputs(student, batch), _outputs(teacher, batch)
    loss, parts = LayerwiseLoss(32, 32, [0, 1])(s, t, batch["attention_mask"])
    assert loss.item() == 0.0 and parts["attention_mse"].item() == 0.0
    # mapped to the teacher's layers 1 and 3 (the uniform map) the same student is off
    loss, parts = LayerwiseLoss(32, 32, [1, 3])(s, t, batch["attention_mask"])
    assert parts["hidden_mse"].item() > 1e-5 and parts["attention_mse"].item() > 1e-6
    assert parts["embedding_mse"].item() == 0.0


def test_a_narrower_student_learns_through_projections():
    teacher, batch = _teacher(), _batch()
    student = make_student(teacher, [0, 2], {"hidden_size": 16, "num_attention_heads": 2,
                                              "intermediate_size": 24})
    assert student.config.hidden_size == 16 and student.bert.layers[0].ffn.up.weight.shape == (24, 16)
    distiller = LayerwiseDistiller(student, teacher, layer_map(4, 2, None))
    proj = distiller.layerwise.hidden_proj
    assert isinstance(proj, torch.nn.Linear) and proj.weight.shape == (32, 16)
    assert distiller.layerwise.embed_proj.weight.shape == (32, 16)
    out = distiller(torch.zeros(2, 3), layerwise=True, **batch)
    out.loss.backward()
    assert proj.weight.grad is not None and proj.weight.grad.abs().sum() > 0
    # the teacher is neither trained nor checkpointed
    assert not any(k.startswith("teacher") for k in distiller.state_dict())
    assert all(p.grad is None for p in teacher.parameters())
    # same width: the projections are the identity, with no parameters
    same = LayerwiseDistiller(make_student(teacher, [0, 2]), teacher, [1, 3])
    assert not any("proj" in k for k in same.state_dict())


def test_truncation_takes_the_first_rows_and_columns():
    teacher = _teacher()
    student = make_student(teacher, [1, 3], {"hidden_size": 16, "num_attention_heads": 2,
                                              "intermediate_size": 40})
    q_t, q_s = teacher.bert.layers[3].attn.q.weight, student.bert.layers[1].attn.q.weight
    assert torch.equal(q_s, q_t[:16, :16])
    assert torch.equal(student.bert.layers[0].ffn.up.weight, teacher.bert.layers[1].ffn.up.weight[:40, :16])
    assert torch.equal(student.bert.embeddings.word.weight, teacher.bert.embeddings.word.weight[:, :16])
    assert torch.equal(student.classifier.weight, teacher.classifier.weight[:, :16])
    assert torch.equal(student.bert.embeddings.norm.bias, teacher.bert.embeddings.norm.bias[:16])
    fresh = make_student(teacher, [1, 3], {"hidden_size": 16, "num_attention_heads": 2}, init="random")
    assert not torch.equal(fresh.bert.layers[1].attn.q.weight, q_s)


def test_heads_that_do_not_divide_the_hidden_size_are_refused():
    with pytest.raises(ConfigError, match="--student-heads 3 does not divide --student-hidden 16"):
        make_student(_teacher(), [0, 2], {"hidden_size": 16, "num_attention_heads": 3})
    with pytest.raises(ConfigError, match="--student-heads 5 does not divide --student-hidden 32"):
        make_student(_teacher(), [0, 2], {"num_attention_heads": 5})
