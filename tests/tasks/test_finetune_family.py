"""`bertkit finetune --model DIR` on a RoBERTa, DistilBERT or ALBERT directory written by transformers:
a few steps, then evaluate and predict through the CLI, and the RUN loads in transformers'
AutoModelForSequenceClassification with equal logits. The RoBERTa directory's tokenizer is
byte-level BPE as RoBERTa ships it (vocab.json + merges.txt, no tokenizer.json)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from bertkit.cli import main
from bertkit.errors import ConfigError
from bertkit.tasks.finetune import FinetuneConfig, finetune
from bertkit.tasks.predict import FineTuned
from bertkit.train.config import TrainConfig

from .conftest import FILL, NEG, POS

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

SIZES = dict(max_position_embeddings=66)


def roberta_dir(path):
    """A tiny random RoBERTa with a byte-level BPE tokenizer (<s>=0, <pad>=1, </s>=2) in vocab.json
    + merges.txt."""
    bpe = tokenizers.ByteLevelBPETokenizer()
    bpe.train_from_iterator([" ".join(FILL + POS + NEG)] * 20, vocab_size=500, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    path.mkdir()
    bpe.save_model(str(path))
    cfg = transformers.RobertaConfig(vocab_size=bpe.get_vocab_size(), hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=64, type_vocab_size=1,
                                     pad_token_id=1, bos_token_id=0, eos_token_id=2, **SIZES)
    transformers.RobertaModel(cfg).save_pretrained(path)
    return path


def wordpiece_dir(path, minilm_dir, family):
    """A tiny random DistilBERT or ALBERT with all-MiniLM-L6-v2's WordPiece tokenizer."""
    if family == "distilbert":
        cfg = transformers.DistilBertConfig(vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                                            **SIZES)
        model = transformers.DistilBertModel(cfg)
    else:
        cfg = transformers.AlbertConfig(vocab_size=30522, embedding_size=16, hidden_size=32,
                                        num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                        **SIZES)
        model = transformers.AlbertModel(cfg)
    model.save_pretrained(path)
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        if (minilm_dir / name).is_file():
            shutil.copy(minilm_dir / name, path / name)
    return path


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one torch thread


@pytest.mark.parametrize("family", ["roberta", "distilbert", "albert"])
def test_finetune_evaluate_predict_a_family_directory(tmp_path, family, minilm_dir, sentiment_files, capsys):
    torch.manual_seed(0)
    model_dir = (roberta_dir(tmp_path / "model") if family == "roberta"
                 else wordpiece_dir(tmp_path / "model", minilm_dir, family))
    if family == "roberta":
        assert not (model_dir / "tokenizer.json").exists()
    train, dev = sentiment_files
    result = finetune(FinetuneConfig(model=str(model_dir), train_file=str(train), dev_file=str(dev),
                                     out=str(tmp_path / "run"), max_length=32,
                                     train=TrainConfig(epochs=3, batch_size=16, lr=3e-3)))
    run = result.run_dir
    config = json.loads((run / "config.json").read_text())
    assert config["model_type"] == family
    assert result.metrics["accuracy"] >= 0.75                       # it learns the sentiment words

    assert main(["evaluate", "--model", str(run), "--data", str(dev), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["accuracy"] == pytest.approx(result.metrics["accuracy"])
    out = tmp_path / "pred.jsonl"
    assert main(["predict", "--model", str(run), "--input", str(dev), "--output", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    hits = sum(r["pred_label"] == r["label"] for r in rows)
    assert hits / len(rows) == pytest.approx(metrics["accuracy"])

    ft = FineTuned.load(run)
    assert type(ft.model).__name__ == transformers.AutoConfig.from_pretrained(run).architectures[0]
    batch = ft.tokenizer.encode_batch(["the film was wonderful", "a dull and boring story, really"],
                                      return_tensors="pt")
    if family == "distilbert":
        batch.pop("token_type_ids", None)
    theirs = transformers.AutoModelForSequenceClassification.from_pretrained(run).eval()
    with torch.no_grad():
        expected, got = theirs(**batch).logits, ft.model(**batch).logits
    assert (expected - got).abs().max().item() <= 1e-5


def test_a_roberta_tokenizer_that_pads_with_another_id_is_refused(tmp_path, sentiment_files):
    model_dir = roberta_dir(tmp_path / "model")
    path = model_dir / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "pad_token_id": 3}))
    train, dev = sentiment_files
    with pytest.raises(ConfigError, match="pad_token_id is 3 but the tokenizer pads with id 1"):
        finetune(FinetuneConfig(model=str(model_dir), train_file=str(train), dev_file=str(dev),
                                out=str(tmp_path / "run"), max_length=32,
                                train=TrainConfig(epochs=1, batch_size=16)))
