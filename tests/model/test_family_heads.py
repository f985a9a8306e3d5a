"""Every head on every family: RoBERTa, DistilBERT and ALBERT checkpoints of each transformers head
class load into bertkit with logits equal to transformers' (1e-5), and bertkit's saves load back
into transformers' Auto classes with the same logits. The BERT class of a head, given another
family's directory, builds that family's class (as transformers' Auto classes do)."""

from __future__ import annotations

import pytest
import torch

import bertkit.model as bm
from bertkit.errors import CheckpointError

transformers = pytest.importorskip("transformers")

TOL = 1e-5
SMALL = dict(vocab_size=100, max_position_embeddings=40)


def hf_config(family: str, num_labels: int = 3):
    """A tiny random config; QA heads need num_labels 2 (start, end) in transformers."""
    if family == "roberta":
        return transformers.RobertaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                          intermediate_size=64, type_vocab_size=1, pad_token_id=1,
                                          num_labels=num_labels, **SMALL)
    if family == "distilbert":
        return transformers.DistilBertConfig(dim=32, n_layers=2, n_heads=4, hidden_dim=64,
                                             num_labels=num_labels, **SMALL)
    return transformers.AlbertConfig(embedding_size=16, hidden_size=32, num_hidden_layers=4,
                                     num_hidden_groups=2, num_attention_heads=4, intermediate_size=64,
                                     num_labels=num_labels, **SMALL)


HEADS = ["ForMaskedLM", "ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering",
         "ForMultipleChoice"]
CASES = [(f, h) for f in ("roberta", "distilbert", "albert") for h in HEADS] + [("albert", "ForPreTraining")]
NAMES = {"roberta": "Roberta", "distilbert": "DistilBert", "albert": "Albert"}


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one torch thread


def batch(family: str, head: str) -> dict[str, torch.Tensor]:
    pad = 1 if family == "roberta" else 0
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(3, 99, (4, 10), generator=g)
    mask = torch.ones_like(ids)
    ids[1, 6:], mask[1, 6:] = pad, 0
    out = {"input_ids": ids, "attention_mask": mask}
    if head == "ForMultipleChoice":
        out = {k: v.view(2, 2, -1) for k, v in out.items()}
    return out


def outputs(model, inputs, head: str) -> list[torch.Tensor]:
    """The head's outputs at real tokens (padding's per-token logits are undefined)."""
    with torch.no_grad():
        out = model(**inputs)
    real = inputs["attention_mask"].bool()
    if head == "ForQuestionAnswering":
        return [out.start_logits[real], out.end_logits[real]]
    if head == "ForPreTraining":
        sop = out.sop_logits if hasattr(out, "sop_logits") else out.nsp_logits
        return [out.prediction_logits[real] if hasattr(out, "prediction_logits") else out.logits[real], sop]
    if head in ("ForMaskedLM", "ForTokenClassification"):
        return [out.logits[real]]
    return [out.logits]


def assert_close(a: list[torch.Tensor], b: list[torch.Tensor]) -> None:
    for x, y in zip(a, b, strict=True):
        assert x.shape == y.shape
        assert (x - y).abs().max().item() <= TOL


@pytest.mark.parametrize(("family", "head"), CASES, ids=[f"{f}-{h}" for f, h in CASES])
def test_head_equals_transformers_both_ways(tmp_path, family, head):
    torch.manual_seed(0)
    theirs = getattr(transformers, NAMES[family] + head)(
        hf_config(family, 2 if head in ("ForQuestionAnswering", "ForPreTraining") else 3)).eval()
    theirs.save_pretrained(tmp_path / "hf")
    ours = getattr(bm, "Bert" + head).from_pretrained(tmp_path / "hf").eval()   # dispatches on model_type
    assert type(ours).__name__ == NAMES[family] + head
    assert ours.load_report["missing"] == [] and ours.load_report["unexpected"] == []
    inputs = batch(family, head)
    expected = outputs(theirs, inputs, head)
    assert_close(outputs(ours, inputs, head), expected)
    ours.save_pretrained(tmp_path / "ours")
    auto = getattr(transformers, "AutoModel" + head, None) or getattr(transformers, NAMES[family] + head)
    again = auto.from_pretrained(tmp_path / "ours").eval()
    assert type(again).__name__ == NAMES[family] + head
    assert_close(outputs(again, inputs, head), expected)


@pytest.mark.parametrize("family", ["roberta", "distilbert", "albert"])
def test_a_base_checkpoint_under_a_new_head(tmp_path, family):
    torch.manual_seed(0)
    theirs = getattr(transformers, NAMES[family] + "Model")(hf_config(family)).eval()
    theirs.save_pretrained(tmp_path)
    with pytest.warns(UserWarning, match="newly initialised"):
        ours = bm.BertForSequenceClassification.from_pretrained(tmp_path, num_labels=4)
    assert ours.config.num_labels == 4
    inputs = batch(family, "Model")
    with torch.no_grad():
        hidden = theirs(**inputs).last_hidden_state
        mine = ours.eval().bert(**inputs).last_hidden_state
    real = inputs["attention_mask"].bool()
    assert (hidden[real] - mine[real]).abs().max().item() <= TOL


def test_a_head_the_family_lacks_is_named(tmp_path):
    transformers.RobertaModel(hf_config("roberta")).save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="RobertaForPreTraining"):
        bm.BertForPreTraining.from_pretrained(tmp_path)


def test_heads_keep_their_old_address():
    from bertkit.model import bert, heads

    for name in ("BertForSequenceClassification", "BertForMaskedLM", "MaskedLMHead", "classification_loss"):
        assert getattr(bert, name) is getattr(heads, name)
    with pytest.raises(AttributeError):
        bert.NoSuchHead  # noqa: B018
