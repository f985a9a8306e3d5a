"""The QA and multiple-choice heads equal transformers': logits both ways, and one training step's loss."""

from __future__ import annotations

import warnings

import pytest
import torch
import transformers

from bertkit import BertForMultipleChoice, BertForQuestionAnswering
from tests.model.test_hf import hf_load, max_diff, pair_batch

TOL = 1e-5
PAIRS = {
    BertForQuestionAnswering: (transformers.AutoModelForQuestionAnswering,
                               transformers.BertForQuestionAnswering),
    BertForMultipleChoice: (transformers.AutoModelForMultipleChoice, transformers.BertForMultipleChoice),
}


def inputs(cls, vocab=200, padded=True):
    """QA: a pair batch with answer positions (one outside the sequence: ignored). Multiple choice:
    the batch reshaped to (2, 2 choices, seq) with a label per question. `padded`: rows of four
    lengths, else every row full (transformers puts padding into QA's softmax; bertkit does not)."""
    ids, mask, types = pair_batch(vocab)
    if not padded:
        ids, mask = torch.where(ids == 0, 7, ids), torch.ones_like(mask)
    if cls is BertForQuestionAnswering:
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types,
                "start_positions": torch.tensor([3, 5, 0, 40]), "end_positions": torch.tensor([6, 5, 0, 41])}
    return {"input_ids": ids.view(2, 2, -1), "attention_mask": mask.view(2, 2, -1),
            "token_type_ids": types.view(2, 2, -1), "labels": torch.tensor([1, 0])}


def logits(out):
    return torch.stack([out.start_logits, out.end_logits]) if hasattr(out, "start_logits") else out.logits


def check_equal(ours, theirs, cls):
    """Logits at the real tokens of a padded batch, and logits and loss of an unpadded one."""
    for padded in (True, False):
        batch = inputs(cls, padded=padded)
        with torch.no_grad():
            a, b = ours(**batch), theirs(**batch)
        if cls is BertForQuestionAnswering:
            m = batch["attention_mask"].bool()
            assert max_diff(a.start_logits[m], b.start_logits[m]) <= TOL
            assert max_diff(a.end_logits[m], b.end_logits[m]) <= TOL
        else:
            assert max_diff(a.logits, b.logits) <= TOL
        if not padded or cls is BertForMultipleChoice:
            assert abs(a.loss.item() - b.loss.item()) <= TOL


def hf_config(**kw):
    return transformers.BertConfig(vocab_size=200, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                   intermediate_size=256, attn_implementation="eager", **kw)


@pytest.mark.parametrize("cls", list(PAIRS))
def test_loads_transformers_and_saves_for_transformers(tmp_path, cls):
    torch.manual_seed(0)
    auto, hf_cls = PAIRS[cls]
    theirs = hf_cls(hf_config()).eval()
    theirs.save_pretrained(tmp_path / "hf")
    with warnings.catch_warnings():
        warnings.simplefilter("error")     # nothing may be missing or unused
        ours = cls.from_pretrained(tmp_path / "hf").eval()
    check_equal(ours, theirs, cls)
    ours.save_pretrained(tmp_path / "ours")
    again = hf_load(auto, tmp_path / "ours")
    assert isinstance(again, hf_cls)
    check_equal(ours, again, cls)


@pytest.mark.parametrize("cls", list(PAIRS))
def test_one_training_step_matches(tmp_path, cls):
    """Same weights, no dropout: the loss, one SGD step, and the loss after it agree."""
    torch.manual_seed(1)
    _, hf_cls = PAIRS[cls]
    theirs = hf_cls(hf_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))
    theirs.save_pretrained(tmp_path)
    ours = cls.from_pretrained(tmp_path)
    batch = inputs(cls, padded=cls is BertForMultipleChoice)
    losses = []
    for model in (ours, theirs):
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        first = model(**batch).loss
        first.backward()
        opt.step()
        losses.append((first.item(), model(**batch).loss.item()))
    assert losses[0][0] == pytest.approx(losses[1][0], abs=TOL)
    assert losses[0][1] == pytest.approx(losses[1][1], abs=TOL)
    assert losses[0][1] < losses[0][0]
