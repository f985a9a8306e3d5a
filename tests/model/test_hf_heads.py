"""Every Hugging Face BERT head loads: random transformers models of each head, with label counts
other than the default two, load into bertkit's classes with equal logits and their label names."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
import transformers

from bertkit import (
    BertForMultipleChoice,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
)
from bertkit.errors import CheckpointError
from bertkit.explain.inputs import load
from bertkit.model.hf import head_class
from tests.model.test_hf import max_diff, pair_batch

TOL = 1e-5


def hf_config(**kw):
    return transformers.BertConfig(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                   intermediate_size=64, attn_implementation="eager", **kw)


def edit_config(directory, drop=(), **changes):
    path = directory / "config.json"
    d = json.loads(path.read_text())
    for key in drop:
        d.pop(key, None)
    path.write_text(json.dumps({**d, **changes}))


def logits_of(out):
    return torch.stack([out.start_logits, out.end_logits]) if hasattr(out, "start_logits") else out.logits


def batch_for(cls):
    ids, mask, types = pair_batch(120)
    if cls is BertForMultipleChoice:
        return {"input_ids": ids.view(2, 2, -1), "attention_mask": mask.view(2, 2, -1),
                "token_type_ids": types.view(2, 2, -1)}
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def assert_same_logits(ours, theirs, cls):
    batch = batch_for(cls)
    with torch.no_grad():
        a, b = logits_of(ours(**batch)), logits_of(theirs(**batch))
    mask = batch["attention_mask"].bool()
    if cls in (BertForTokenClassification, BertForQuestionAnswering):   # per token: the real tokens
        a, b = (a[mask], b[mask]) if cls is BertForTokenClassification else (a[:, mask], b[:, mask])
    assert a.shape == b.shape and max_diff(a, b) <= TOL


NAMES = ["PER", "LOC", "ORG", "MISC", "DATE", "TIME", "O"]

# (bertkit class, transformers class, num_labels, what config.json states the label count by)
CASES = [
    (BertForSequenceClassification, transformers.BertForSequenceClassification, 3, "id2label"),
    (BertForSequenceClassification, transformers.BertForSequenceClassification, 5, "num_labels"),
    (BertForSequenceClassification, transformers.BertForSequenceClassification, 7, "classifier shape"),
    (BertForTokenClassification, transformers.BertForTokenClassification, 7, "id2label"),
    (BertForTokenClassification, transformers.BertForTokenClassification, 5, "classifier shape"),
    (BertForQuestionAnswering, transformers.BertForQuestionAnswering, 2, "id2label"),
    (BertForMultipleChoice, transformers.BertForMultipleChoice, 2, "id2label"),
]


@pytest.mark.parametrize(("cls", "hf_cls", "n", "source"), CASES,
                         ids=[f"{c[0].__name__}-{c[2]}-{c[3].replace(' ', '_')}" for c in CASES])
def test_every_head_loads_with_equal_logits(tmp_path, cls, hf_cls, n, source):
    torch.manual_seed(n)
    id2label = dict(enumerate(NAMES[:n]))
    theirs = hf_cls(hf_config(id2label=id2label, label2id={v: k for k, v in id2label.items()})).eval()
    theirs.save_pretrained(tmp_path)
    if source == "num_labels":            # an older config: num_labels and no names
        edit_config(tmp_path, drop=("id2label", "label2id"), num_labels=n)
    elif source == "classifier shape":    # a hand-written config: neither; the weights say how many
        edit_config(tmp_path, drop=("id2label", "label2id"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")     # nothing missing, unused or re-initialised
        ours = head_class(tmp_path).from_pretrained(tmp_path).eval()
    assert type(ours) is cls
    if cls in (BertForSequenceClassification, BertForTokenClassification):
        assert ours.config.num_labels == n
        assert ours.config.id2label == (id2label if source == "id2label" else None)
    assert_same_logits(ours, theirs, cls)


def test_an_override_of_num_labels_replaces_the_head(tmp_path):
    """id2label (transformers: LABEL_0...) gives the count; num_labels= replaces the classifier."""
    theirs = transformers.BertForSequenceClassification(hf_config(num_labels=4))
    theirs.save_pretrained(tmp_path)
    ours = BertForSequenceClassification.from_pretrained(tmp_path)
    assert ours.config.num_labels == 4 and ours.config.id2label[3] == "LABEL_3"
    with pytest.warns(UserWarning, match="re-initialised"):
        again = BertForSequenceClassification.from_pretrained(tmp_path, num_labels=6,
                                                              ignore_mismatched_sizes=True)
    assert again.classifier.out_features == 6


@pytest.mark.parametrize("name", ["BertLMHeadModel", "RobertaForSequenceClassification"])
def test_unknown_architecture_is_named(tmp_path, name):
    transformers.BertModel(hf_config()).save_pretrained(tmp_path)
    edit_config(tmp_path, architectures=[name])
    with pytest.raises(CheckpointError, match=f"architectures names '{name}'.*BertForQuestionAnswering"):
        head_class(tmp_path)
    with pytest.raises(CheckpointError, match=name):
        load(tmp_path)


def test_no_architectures_is_the_encoder(tmp_path):
    transformers.BertModel(hf_config()).save_pretrained(tmp_path)
    edit_config(tmp_path, drop=("architectures",))
    assert head_class(tmp_path).__name__ == "BertModel"
