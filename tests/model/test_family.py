"""RoBERTa and DistilBERT checkpoints: logits equal to transformers' from the same random config,
both ways (transformers -> bertkit, bertkit -> transformers); RoBERTa's position table and padding
id checked where they enter."""

from __future__ import annotations

import json

import pytest
import torch

from bertkit.errors import CheckpointError, DataError
from bertkit.model.auto import load_model
from bertkit.model.distilbert import DistilBertModel
from bertkit.model.roberta import RobertaModel, roberta_position_ids

transformers = pytest.importorskip("transformers")


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one torch thread


def _inputs(pad: int):
    torch.manual_seed(1)
    ids = torch.randint(3, 99, (3, 12))
    mask = torch.ones_like(ids)
    ids[1, 7:], mask[1, 7:] = pad, 0
    return ids, mask


def test_roberta_positions_start_after_the_padding_id():
    # transformers' create_position_ids_from_input_ids: padding keeps padding_idx, real tokens count on
    assert roberta_position_ids(torch.tensor([[0, 5, 6, 1, 1]]), 1).tolist() == [[2, 3, 4, 1, 1]]


def test_roberta_logits_equal_transformers_both_ways(tmp_path):
    cfg = transformers.RobertaConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=64, max_position_embeddings=40,
                                     type_vocab_size=1, pad_token_id=1)
    torch.manual_seed(0)
    theirs = transformers.RobertaModel(cfg).eval()
    theirs.save_pretrained(tmp_path / "hf")
    ours = RobertaModel.from_pretrained(tmp_path / "hf").eval()
    ids, mask = _inputs(pad=1)
    with torch.no_grad():
        expected = theirs(input_ids=ids, attention_mask=mask)
        got = ours(ids, attention_mask=mask)
        for row in range(3):
            real = mask[row].bool()
            torch.testing.assert_close(got.last_hidden_state[row, real],
                                       expected.last_hidden_state[row, real], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(got.pooler_output, expected.pooler_output, atol=1e-5, rtol=1e-5)
        ours.save_pretrained(tmp_path / "ours")
        again = transformers.AutoModel.from_pretrained(tmp_path / "ours").eval()
        assert type(again).__name__ == "RobertaModel"
        torch.testing.assert_close(again(input_ids=ids, attention_mask=mask).pooler_output,
                                   expected.pooler_output, atol=1e-5, rtol=1e-5)


def test_distilbert_logits_equal_transformers_both_ways(tmp_path):
    cfg = transformers.DistilBertConfig(vocab_size=100, dim=32, n_layers=2, n_heads=4, hidden_dim=64,
                                        max_position_embeddings=40)
    torch.manual_seed(0)
    theirs = transformers.DistilBertModel(cfg).eval()
    theirs.save_pretrained(tmp_path / "hf")
    ours = DistilBertModel.from_pretrained(tmp_path / "hf").eval()
    assert ours.embeddings.segment is None and ours.pooler is None
    ids, mask = _inputs(pad=0)
    with torch.no_grad():
        expected = theirs(input_ids=ids, attention_mask=mask).last_hidden_state
        real = mask.bool()
        torch.testing.assert_close(ours(ids, attention_mask=mask).last_hidden_state[real], expected[real],
                                   atol=1e-5, rtol=1e-5)
        ours.save_pretrained(tmp_path / "ours")
        again = transformers.AutoModel.from_pretrained(tmp_path / "ours").eval()
        assert type(again).__name__ == "DistilBertModel"
        torch.testing.assert_close(again(input_ids=ids, attention_mask=mask).last_hidden_state[real],
                                   expected[real], atol=1e-5, rtol=1e-5)


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path):
    cfg = transformers.DistilBertConfig(vocab_size=100, dim=32, n_layers=1, n_heads=4, hidden_dim=64)
    transformers.DistilBertModel(cfg).save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="not 'roberta'"):
        RobertaModel.from_pretrained(tmp_path)


def test_load_model_dispatches_on_model_type(tmp_path):
    cfg = transformers.DistilBertConfig(vocab_size=100, dim=32, n_layers=1, n_heads=4, hidden_dim=64)
    transformers.DistilBertModel(cfg).save_pretrained(tmp_path / "d")
    assert type(load_model(tmp_path / "d")) is DistilBertModel
    cfg = transformers.RobertaConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1,
                                     num_attention_heads=4, intermediate_size=64, type_vocab_size=1)
    transformers.RobertaModel(cfg).save_pretrained(tmp_path / "r")
    assert type(load_model(tmp_path / "r")) is RobertaModel


def _roberta_dir(tmp_path, **changes):
    cfg = transformers.RobertaConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1,
                                     num_attention_heads=4, intermediate_size=64, max_position_embeddings=20,
                                     type_vocab_size=1, pad_token_id=1)
    transformers.RobertaModel(cfg).save_pretrained(tmp_path)
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))
    return tmp_path


def test_a_roberta_config_with_no_room_after_the_padding_id_names_the_keys(tmp_path):
    with pytest.raises(CheckpointError, match=r"config.json: max_position_embeddings \(20\) must exceed "
                                              r"pad_token_id \+ 1 \(20\)"):
        load_model(_roberta_dir(tmp_path, pad_token_id=19))


def test_a_roberta_position_table_that_does_not_fit_the_weights_names_it(tmp_path):
    with pytest.raises(CheckpointError, match="embeddings.position_embeddings.weight has shape"):
        load_model(_roberta_dir(tmp_path, max_position_embeddings=30))


def test_a_sequence_longer_than_robertas_positions_is_a_clear_error(tmp_path):
    model = load_model(_roberta_dir(tmp_path)).eval()
    assert model.max_length == 20 - 1 - 1              # positions start at pad_token_id + 1
    model(torch.randint(3, 99, (1, 18)))
    with pytest.raises(DataError, match="sequence length 19 exceeds this RoBERTa's 18 tokens"):
        model(torch.randint(3, 99, (1, 19)))
