"""Which teacher layers a student takes, and that it takes exactly their weights."""

from __future__ import annotations

import pytest
import torch

from bertkit.distill.student import layers_equal, make_student, teacher_layers
from bertkit.errors import ConfigError
from bertkit.model import BertConfig, BertForSequenceClassification


def test_every_other_layer_is_distilberts_choice():
    # DistilBERT (Sanh et al. 2019, §3): the 6-layer student takes one layer out of two of BERT-base
    assert teacher_layers(12, 6) == [0, 2, 4, 6, 8, 10]
    assert teacher_layers(6, 3) == [0, 2, 4]
    assert teacher_layers(6, 6) == list(range(6))
    assert teacher_layers(12, "0,5,11") == [0, 5, 11]
    assert teacher_layers(12, "4") == [0, 3, 6, 9]


@pytest.mark.parametrize("bad, message", [(0, "1 to 6"), (7, "1 to 6"), ("0,6", "layers 0 to 5"),
                                          ("3,1", "increasing"), ("a,b", "comma-separated")])
def test_bad_layer_choices_name_the_problem(bad, message):
    with pytest.raises(ConfigError, match=message):
        teacher_layers(6, bad)


def test_student_copies_the_chosen_layers_and_the_rest():
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=6, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=32, num_labels=3)
    teacher = BertForSequenceClassification(cfg)
    student = make_student(teacher, [1, 3, 5])
    assert student.config.num_hidden_layers == 3 and teacher.config.num_hidden_layers == 6
    assert torch.equal(student.bert.layers[1].attn.q.weight, teacher.bert.layers[3].attn.q.weight)
    assert torch.equal(student.bert.layers[2].ffn.down.bias, teacher.bert.layers[5].ffn.down.bias)
    assert torch.equal(student.classifier.weight, teacher.classifier.weight)
    assert torch.equal(student.bert.embeddings.word.weight, teacher.bert.embeddings.word.weight)
    assert layers_equal(student, teacher, [1, 3, 5])
    assert not layers_equal(student, teacher, [0, 2, 4])
    # copies, not shared storage: training the student leaves the teacher alone
    with torch.no_grad():
        student.bert.layers[0].attn.q.weight.add_(1.0)
    assert not torch.equal(student.bert.layers[0].attn.q.weight, teacher.bert.layers[1].attn.q.weight)
