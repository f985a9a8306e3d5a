"""Hugging Face interop: outputs equal to transformers (fp32, <= 1e-5) both ways, every BERT layout."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
import transformers
from safetensors.torch import load_file, save_file

from bertkit.errors import CheckpointError
from bertkit.model import (
    BertConfig,
    BertForMaskedLM,
    BertForPreTraining,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
)
from bertkit.model.hf import RENAMES, from_hf_name, to_hf_name

TOL = 1e-5
PAIRS = {  # bertkit class -> (transformers Auto class, transformers class)
    BertModel: (transformers.AutoModel, transformers.BertModel),
    BertForMaskedLM: (transformers.AutoModelForMaskedLM, transformers.BertForMaskedLM),
    BertForPreTraining: (transformers.AutoModelForPreTraining, transformers.BertForPreTraining),
    BertForSequenceClassification: (transformers.AutoModelForSequenceClassification,
                                    transformers.BertForSequenceClassification),
    BertForTokenClassification: (transformers.AutoModelForTokenClassification,
                                 transformers.BertForTokenClassification),
}


def pair_batch(vocab: int, seed: int = 0):
    """A padded batch of sentence pairs: [CLS] a [SEP] b [SEP] with segment ids, different lengths."""
    g = torch.Generator().manual_seed(seed)
    lengths, seq = (24, 17, 9, 3), 24
    ids = torch.randint(5, vocab, (4, seq), generator=g)
    mask = torch.zeros(4, seq, dtype=torch.long)
    types = torch.zeros(4, seq, dtype=torch.long)
    for b, n in enumerate(lengths):
        mask[b, :n] = 1
        types[b, n // 2:n] = 1
    return ids * mask, mask, types


def max_diff(a, b, mask=None):
    if mask is not None:
        a, b = a[mask.bool()], b[mask.bool()]
    return (a - b).abs().max().item()


def hf_load(auto, directory, eager=True):
    model = auto.from_pretrained(directory, attn_implementation="eager" if eager else "sdpa")
    return model.eval()


def compare(ours, theirs, ids, mask, types):
    """Every output of the two models agrees at the real tokens."""
    with torch.no_grad():
        a = ours(ids, mask, types, output_attentions=True, output_hidden_states=True)
        b = theirs(input_ids=ids, attention_mask=mask, token_type_ids=types, output_attentions=True,
                   output_hidden_states=True)
        fast = ours(ids, mask, types)   # unpadded fast path, no attentions requested
    for x, y in zip(a.hidden_states, b.hidden_states, strict=True):
        assert max_diff(x, y, mask) <= TOL
    for x, y in zip(a.attentions, b.attentions, strict=True):
        assert max_diff(x, y) <= TOL
    if isinstance(ours, BertModel):
        assert max_diff(a.last_hidden_state, b.last_hidden_state, mask) <= TOL
        assert max_diff(fast.last_hidden_state, b.last_hidden_state, mask) <= TOL
        assert max_diff(a.pooler_output, b.pooler_output) <= TOL
        assert max_diff(fast.pooler_output, b.pooler_output) <= TOL
        return
    if isinstance(ours, BertForPreTraining):
        assert max_diff(a.logits, b.prediction_logits, mask) <= TOL
        assert max_diff(fast.logits, b.prediction_logits, mask) <= TOL
        assert max_diff(fast.nsp_logits, b.seq_relationship_logits) <= TOL
        return
    token_level = isinstance(ours, BertForMaskedLM | BertForTokenClassification)
    assert max_diff(a.logits, b.logits, mask if token_level else None) <= TOL
    assert max_diff(fast.logits, b.logits, mask if token_level else None) <= TOL


@pytest.mark.parametrize("preset,cls", [("tiny", cls) for cls in PAIRS] +
                         [("mini", BertForPreTraining), ("small", BertForPreTraining)])
def test_save_loads_in_transformers_with_equal_outputs(tmp_path, preset, cls):
    torch.manual_seed(0)
    config = BertConfig.preset(preset, vocab_size=300, num_labels=3)
    ours = cls(config).eval()
    ours.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == "bert" and saved["architectures"] == [cls.__name__]
    auto, hf_cls = PAIRS[cls]
    theirs = hf_load(auto, tmp_path)
    assert isinstance(theirs, hf_cls)
    compare(ours, theirs, *pair_batch(300))


@pytest.mark.parametrize("cls", list(PAIRS))
def test_loads_transformers_checkpoints(tmp_path, cls):
    torch.manual_seed(1)
    _, hf_cls = PAIRS[cls]
    hf_config = transformers.BertConfig(vocab_size=200, hidden_size=64, num_hidden_layers=2,
                                        num_attention_heads=4, intermediate_size=256, num_labels=2,
                                        attn_implementation="eager")
    theirs = hf_cls(hf_config).eval()
    theirs.save_pretrained(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")     # nothing may be missing or unused
        ours = cls.from_pretrained(tmp_path).eval()
    assert ours.load_report["missing"] == [] and ours.load_report["mismatched"] == []
    compare(ours, theirs, *pair_batch(200))


def test_base_one_layer_slice(tmp_path):
    """BERT-base sizes (768 hidden, 12 heads, 3072 FFN), one layer, to keep the test fast."""
    torch.manual_seed(0)
    ours = BertForPreTraining(BertConfig.preset("base", num_hidden_layers=1, vocab_size=1000)).eval()
    ours.save_pretrained(tmp_path)
    compare(ours, hf_load(transformers.AutoModelForPreTraining, tmp_path), *pair_batch(1000))


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["medium", "base"])
def test_full_size_parity(tmp_path, preset):
    torch.manual_seed(0)
    ours = BertModel(BertConfig.preset(preset)).eval()
    ours.save_pretrained(tmp_path)
    compare(ours, hf_load(transformers.AutoModel, tmp_path), *pair_batch(30522))


def test_real_minilm_parity(minilm_dir):
    """all-MiniLM-L6-v2: hidden states, attentions and pooler equal transformers' on the same weights."""
    ours = BertModel.from_pretrained(minilm_dir).eval()
    theirs = hf_load(transformers.AutoModel, minilm_dir)
    compare(ours, theirs, *pair_batch(30522, seed=3))
    sdpa = hf_load(transformers.AutoModel, minilm_dir, eager=False)
    ids, mask, types = pair_batch(30522, seed=4)
    with torch.no_grad():
        ref = sdpa(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
        assert max_diff(ours(ids, mask, types).last_hidden_state, ref, mask) <= TOL


def test_round_trip_and_bare_and_prefixed_layouts(tmp_path):
    torch.manual_seed(0)
    mlm = BertForMaskedLM(BertConfig.preset("tiny", vocab_size=100)).eval()
    mlm.save_pretrained(tmp_path / "mlm")
    keys = load_file(tmp_path / "mlm" / "model.safetensors")
    assert "bert.encoder.layer.1.attention.self.query.weight" in keys and "cls.predictions.bias" in keys
    back = BertForMaskedLM.from_pretrained(tmp_path / "mlm")
    for (n, p), (_, q) in zip(mlm.state_dict().items(), back.state_dict().items(), strict=True):
        assert torch.equal(p, q), n
    with pytest.warns(UserWarning, match="newly initialised"):
        encoder = BertModel.from_pretrained(tmp_path / "mlm")        # prefixed -> bare, pooler new
    assert encoder.load_report["missing"] == ["pooler.dense.weight", "pooler.dense.bias"]
    assert torch.equal(encoder.embeddings.word.weight, mlm.bert.embeddings.word.weight)
    encoder.save_pretrained(tmp_path / "bare")
    with pytest.warns(UserWarning, match="newly initialised.*cls.predictions.transform.dense.weight"):
        again = BertForMaskedLM.from_pretrained(tmp_path / "bare")   # bare -> prefixed, head new
    assert torch.equal(again.bert.layers[1].ffn.up.weight, mlm.bert.layers[1].ffn.up.weight)


def test_old_gamma_beta_names_and_pytorch_bin(tmp_path):
    torch.manual_seed(0)
    model = BertModel(BertConfig.preset("tiny", vocab_size=100)).eval()
    model.save_pretrained(tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    state = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
             for k, v in state.items()}
    assert any(k.endswith("gamma") for k in state)
    (tmp_path / "model.safetensors").unlink()
    torch.save(state, tmp_path / "pytorch_model.bin")
    loaded = BertModel.from_pretrained(tmp_path).eval()
    ids = torch.randint(0, 100, (2, 7))
    with torch.no_grad():
        assert torch.equal(loaded(ids).last_hidden_state, model(ids).last_hidden_state)


class _Evil:
    def __reduce__(self):
        return (print, ("this would run code",))


def test_pickle_that_weights_only_refuses(tmp_path):
    BertConfig.preset("tiny", vocab_size=100).save(tmp_path)
    torch.save({"x": _Evil()}, tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="weights_only=True.*refused"):
        BertModel.from_pretrained(tmp_path)


def test_shape_mismatch_names_key_and_shapes(tmp_path):
    BertModel(BertConfig.preset("tiny", vocab_size=100)).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["vocab_size"] = 120
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"embeddings.word_embeddings.weight has shape \(100, 128\).*"
                                              r"\(120, 128\)"):
        BertModel.from_pretrained(tmp_path)


def _edit_config(directory, **changes):
    config = json.loads((directory / "config.json").read_text())
    (directory / "config.json").write_text(json.dumps({**config, **changes}))


def test_config_that_does_not_fit_the_weights_is_an_error(tmp_path):
    BertModel(BertConfig.preset("tiny", vocab_size=100)).save_pretrained(tmp_path)
    _edit_config(tmp_path, hidden_size=64, intermediate_size=256)
    with pytest.raises(CheckpointError, match=r"config.json does not match the weights.*hidden 64.*"
                                              r"embeddings.LayerNorm.bias has shape \(128,\).*\(64,\).*more"):
        BertModel.from_pretrained(tmp_path)
    _edit_config(tmp_path, hidden_size=128, intermediate_size=512, num_hidden_layers=3)
    with pytest.raises(CheckpointError, match=r"encoder.layer.2.attention.self.query.weight not in the chec"):
        BertModel.from_pretrained(tmp_path)
    with pytest.warns(UserWarning, match="newly initialised.*encoder.layer.2"):
        model = BertModel.from_pretrained(tmp_path, ignore_mismatched_sizes=True)
    assert len(model.layers) == 3


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_safetensors_names_the_file(tmp_path, damage):
    BertModel(BertConfig.preset("tiny", vocab_size=100)).save_pretrained(tmp_path)
    path = tmp_path / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x00" * 64)
    with pytest.raises(CheckpointError, match=r"model\.safetensors: not a readable safetensors file"):
        BertModel.from_pretrained(tmp_path)


def test_three_label_transformers_checkpoint_loads(tmp_path):
    """transformers writes id2label/label2id and no num_labels: the label count comes from id2label."""
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=64, id2label={0: "neg", 1: "neutral", 2: "pos"})
    transformers.BertForSequenceClassification(cfg).eval().save_pretrained(tmp_path)
    assert "num_labels" not in json.loads((tmp_path / "config.json").read_text())
    ours = BertForSequenceClassification.from_pretrained(tmp_path).eval()
    theirs = hf_load(transformers.AutoModelForSequenceClassification, tmp_path)
    assert ours.config.num_labels == 3 and ours.config.id2label == {0: "neg", 1: "neutral", 2: "pos"}
    ids, mask, types = pair_batch(100)
    with torch.no_grad():
        assert max_diff(ours(ids, mask, types).logits, theirs(ids, mask, types).logits) <= TOL


def test_classifier_size_change_needs_consent(tmp_path):
    config = BertConfig.preset("tiny", vocab_size=100, num_labels=2)
    BertForSequenceClassification(config).save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match=r"classifier\.(weight|bias) has shape"):
        BertForSequenceClassification.from_pretrained(tmp_path, num_labels=5)
    with pytest.warns(UserWarning, match="shape mismatch") as record:
        model = BertForSequenceClassification.from_pretrained(tmp_path, num_labels=5,
                                                              ignore_mismatched_sizes=True)
    assert len(record) == 1
    assert model.classifier.out_features == 5


def test_other_architecture_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_layer": 2}))
    save_file({"h.0.attn.c_attn.weight": torch.zeros(2, 2)}, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match="model_type is 'gpt2'"):
        BertModel.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 128, "num_attention_heads": 2}))
    with pytest.raises(CheckpointError, match="none of its 1 tensors is a BERT weight.*h.0.attn"):
        BertModel.from_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="no model.safetensors or pytorch_model.bin"):
        (tmp_path / "model.safetensors").unlink()
        BertModel.from_pretrained(tmp_path)


def test_sinusoidal_model_exports_its_table(tmp_path):
    torch.manual_seed(0)
    ours = BertModel(BertConfig.preset("tiny", vocab_size=100, position_embedding_type="sinusoidal")).eval()
    ours.save_pretrained(tmp_path)
    theirs = hf_load(transformers.AutoModel, tmp_path)
    compare(ours, theirs, *pair_batch(100))
    again = BertModel.from_pretrained(tmp_path)
    assert again.load_report["unexpected"] == []


def test_pre_ln_round_trip_warns_about_transformers(tmp_path):
    torch.manual_seed(0)
    model = BertModel(BertConfig.preset("tiny", vocab_size=50, norm_position="pre")).eval()
    with pytest.warns(UserWarning, match="no pre-LN"):
        model.save_pretrained(tmp_path)
    again = BertModel.from_pretrained(tmp_path).eval()
    ids = torch.randint(0, 50, (2, 6))
    with torch.no_grad():
        assert torch.equal(again(ids).last_hidden_state, model(ids).last_hidden_state)


def test_name_mapping_is_a_bijection():
    model = BertForPreTraining(BertConfig.preset("tiny", vocab_size=50, norm_position="pre"))
    names = list(model.state_dict())
    hf = [to_hf_name(n) for n in names]
    assert len(set(hf)) == len(hf) == len(names)
    assert [from_hf_name(h) for h in hf] == names
    assert len(RENAMES) == len({a for a, _ in RENAMES})
