"""Pretraining end to end: the CLI from text to a RUN directory, continued pretraining from the
real all-MiniLM-L6-v2 checkpoint (--init-from), domain tokens (--add-tokens), whole-word masking."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from bertkit.cli import main
from bertkit.data.examples import PretrainingDataset
from bertkit.data.masking import continuation_table
from bertkit.data.shards import ShardSet, prepare, vocab_hash
from bertkit.errors import ConfigError
from bertkit.tokenizers import Tokenizer
from bertkit.train.pretrain import PretrainConfig, add_domain_tokens, build_model

DOMAIN_TOKENS = ["covid19", "deplatforming", "cryptoexchange"]


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, corpus_en):
    """~40 KB of the English news corpus plus a document that uses the domain tokens."""
    path = tmp_path_factory.mktemp("corpus") / "en.txt"
    with open(corpus_en, encoding="utf-8") as f:
        text = f.read(40_000).rsplit("\n", 1)[0]
    extra = " ".join(f"The {t} story went on." for t in DOMAIN_TOKENS)
    path.write_text(text + "\n" + extra + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def minilm_shards(tmp_path_factory, corpus, minilm_dir):
    out = tmp_path_factory.mktemp("shards")
    prepare([corpus], minilm_dir, out, workers=1, progress=False)
    return out


def test_cli_from_text_to_a_run_directory(corpus, minilm_dir, tmp_path, capsys):
    shards, run = tmp_path / "shards", tmp_path / "run"
    assert main(["data", "prepare", "--tokenizer", str(minilm_dir), "--out", str(shards), "--workers", "1",
                 str(corpus)]) == 0
    args = ["pretrain", "--data", str(shards), "--out", str(run), "--preset", "tiny", "--seq-len", "32",
            "--batch-size", "8", "--max-steps", "12", "--lr", "2e-3", "--log-every", "2", "--save-every", "6",
            "--eval-data", str(shards), "--eval-every", "6"]
    assert main(args) == 0
    assert "12 steps" in capsys.readouterr().out
    for name in ("config.json", "model.safetensors", "tokenizer.json", "loss.png", "metrics.jsonl"):
        assert (run / name).is_file(), name
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-12", "step-6"]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["split"] == "train"]
    evals = [r for r in records if r["split"] == "eval"]
    assert [r["step"] for r in train] == [2, 4, 6, 8, 10, 12]
    keys = {"loss", "mlm_loss", "nsp_loss", "mlm_accuracy", "nsp_accuracy", "lr", "tokens_per_s"}
    assert keys <= set(train[0])
    assert [r["step"] for r in evals] == [6, 12]
    assert {"loss", "mlm_accuracy", "nsp_accuracy", "perplexity"} <= set(evals[0])
    assert train[-1]["mlm_loss"] < train[0]["mlm_loss"] - 0.5       # from ~ln(30522) = 10.3 down
    assert evals[-1]["loss"] < evals[0]["loss"]

    import transformers  # the RUN directory is a Hugging Face model directory

    hf = transformers.BertForPreTraining.from_pretrained(run)
    assert hf.config.num_hidden_layers == 2 and hf.config.vocab_size == 30522

    # the same command again, with --resume: already finished, nothing changes
    before = load_file(run / "model.safetensors")
    assert main(args + ["--resume"]) == 0
    after = load_file(run / "model.safetensors")
    assert all(torch.equal(before[k], after[k]) for k in before)

    # a new run into the same RUN is refused; a resume onto a changed setup names what changed
    capsys.readouterr()
    assert main(args) == 2
    assert "holds an earlier run" in capsys.readouterr().err
    assert main(args + ["--resume", "--seq-len", "64", "--static-masking"]) == 2
    err = capsys.readouterr().err
    assert "pretrain.dynamic_masking: checkpoint True vs now False" in err
    assert "pretrain.seq_len: checkpoint 32 vs now 64" in err
    assert main(args + ["--resume", "--preset", "mini"]) == 2
    err = capsys.readouterr().err
    assert "model.hidden_size: checkpoint 128 vs now 256" in err and "pretrain.preset" in err
    assert len(err) < 1500  # a message, not a state-dict dump


@pytest.mark.parametrize("flag", [["--mask-rate", "1.5"], ["--mask-rate", "0"], ["--lr", "nan"],
                                  ["--lr", "-1"], ["--seq-len", "4"], ["--dropout", "1.5"], ["--epochs", "0"],
                                  ["--preset", "huge"]])
def test_bad_numbers_fail_at_the_cli_boundary(flag, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["pretrain", "--data", "shards", "--out", "run", *flag])
    assert caught.value.code == 2 and flag[0] in capsys.readouterr().err


def test_python_callers_get_the_same_checks():
    with pytest.raises(ConfigError, match=r"mask_rate must be < 1.0; got 1.0"):
        PretrainConfig(mask_rate=1.0)
    assert PretrainConfig().train.lr == 5e-4 and PretrainConfig().train.warmup_ratio == 0.06


def test_init_from_loads_the_checkpoint_weights(minilm_shards, minilm_dir, tmp_path):
    tokenizer = Tokenizer.from_pretrained(minilm_dir)
    cfg = PretrainConfig(recipe="roberta", init_from=str(minilm_dir))
    with pytest.warns(UserWarning, match="newly initialised"):   # the MLM head is not in MiniLM
        model = build_model(cfg, ShardSet(minilm_shards), tokenizer)
    model.save_pretrained(tmp_path)
    saved = load_file(tmp_path / "model.safetensors")
    source = load_file(minilm_dir / "model.safetensors")
    compared = 0
    for key, value in source.items():
        if key.startswith("pooler.") or key.endswith("position_ids"):  # no pooler in BertForMaskedLM
            continue
        assert torch.equal(saved[f"bert.{key}"], value), key
        compared += 1
    assert compared == 6 * 16 + 5                          # 6 layers x 16 tensors + 5 embedding tensors


def test_add_tokens_mean_of_subtokens_and_shards_made_with_them(corpus, minilm_dir, tmp_path):
    tokenizer = Tokenizer.from_pretrained(minilm_dir)
    pieces = {t: tokenizer.runtime.encode(t, add_special_tokens=False).ids for t in DOMAIN_TOKENS}
    assert all(len(p) > 1 for p in pieces.values())        # the old vocabulary splits them
    from bertkit.model import BertForMaskedLM

    with pytest.warns(UserWarning):
        model = BertForMaskedLM.from_pretrained(minilm_dir)
    old = model.get_input_embeddings().weight.detach().clone()
    assert add_domain_tokens(model, tokenizer, DOMAIN_TOKENS) == 3
    new = model.get_input_embeddings().weight
    assert new.shape == (30522 + 3, old.shape[1]) and model.config.vocab_size == 30525
    assert torch.equal(new[:30522], old)
    for token in DOMAIN_TOKENS:
        i = tokenizer.token_to_id(token)
        assert i >= 30522
        torch.testing.assert_close(new[i], old[pieces[token]].mean(0))
        assert tokenizer.encode(f"a {token} b", max_length=None).tokens[2] == token
    assert model.mlm.bias.shape == (30525,)
    logits = model(input_ids=torch.tensor([[101, 30522, 30524, 102]])).logits
    assert logits.shape == (1, 4, 30525)

    # the CLI: shards prepared with --add-tokens hold the new ids; pretrain --init-from accepts them
    tokens_file = tmp_path / "domain.txt"
    tokens_file.write_text("\n".join(DOMAIN_TOKENS) + "\n", encoding="utf-8")
    shards, run = tmp_path / "shards", tmp_path / "run"
    assert main(["data", "prepare", "--tokenizer", str(minilm_dir), "--out", str(shards), "--workers", "1",
                 "--add-tokens", str(tokens_file), str(corpus)]) == 0
    ids = np.concatenate([np.asarray(t) for t in ShardSet(shards).tokens])
    assert {30522, 30523, 30524} <= set(ids.tolist())
    assert ShardSet(shards).meta["tokenizer_hash"] == vocab_hash(tokenizer.runtime)
    with pytest.warns(UserWarning):
        assert main(["pretrain", "--data", str(shards), "--out", str(run), "--recipe", "roberta",
                     "--init-from", str(minilm_dir), "--add-tokens", str(tokens_file), "--seq-len", "32",
                     "--batch-size", "4", "--max-steps", "1"]) == 0
    saved = Tokenizer.from_pretrained(run)
    assert [saved.token_to_id(t) for t in DOMAIN_TOKENS] == [tokenizer.token_to_id(t) for t in DOMAIN_TOKENS]
    assert load_file(run / "model.safetensors")["bert.embeddings.word_embeddings.weight"].shape[0] == 30525


def test_whole_word_masking_through_the_dataset(minilm_shards, minilm_dir):
    tokenizer = Tokenizer.from_pretrained(minilm_dir)
    table = continuation_table(tokenizer.get_vocab(), tokenizer.all_special_ids)
    ds = PretrainingDataset(ShardSet(minilm_shards), "bert", 64, whole_word=True, continuation=table, seed=1)
    words_seen = split_words_masked = 0
    for i in range(min(len(ds), 200)):
        ex = ds[i]
        labels, n = ex["labels"], int(ex["attention_mask"].sum())
        original = torch.where(labels != -100, labels, ex["input_ids"])[:n].tolist()
        picked = (labels[:n] != -100).tolist()
        assert 0 < sum(picked) <= round(0.15 * (n - 3)) + 1
        tokens = [tokenizer.id_to_token(t) for t in original]
        special = [t in ("[CLS]", "[SEP]") for t in tokens]
        assert not any(p and s for p, s in zip(picked, special, strict=True))
        start = 0
        for j in range(1, n + 1):  # words: a token and its ## continuations, never across [CLS]/[SEP]
            if j == n or not tokens[j].startswith("##") or special[j - 1]:
                word = picked[start:j]
                assert all(word) or not any(word), (tokens[start:j], word)
                if j - start > 1:
                    words_seen += 1
                    split_words_masked += all(word)
                start = j
    assert words_seen > 100 and split_words_masked > 0   # multi-piece words occur and get masked whole


@pytest.mark.parametrize("recipe, seq_len", [("bert", 128), ("electra", 32)])
def test_accumulated_micro_batches_train_like_the_whole_batch(minilm_shards, tmp_path, recipe, seq_len):
    """Masked tokens fall unevenly between micro-batches; the loss terms weight them, so 2 x 8 with
    gradient accumulation gives the weights of 1 x 16 (MLM over masked tokens, NSP over pairs,
    ELECTRA's detection over real tokens)."""
    from bertkit.train.config import TrainConfig
    from bertkit.train.pretrain import pretrain

    def run(name, batch_size, grad_accum):
        # eps 1: Adam's update stays linear in the gradient (with a small eps its first step is
        # about lr x sign(g), and a gradient at rounding level, a position row that one token
        # used, could flip), so the weights compare what the loss weighting changes
        train = TrainConfig(lr=0.5, eps=1.0, max_steps=2, batch_size=batch_size, grad_accum=grad_accum,
                            log_every=1, save_every=2, seed=3)
        cfg = PretrainConfig(preset="tiny", recipe=recipe, seq_len=seq_len, dropout=0.0, train=train)
        model, result = pretrain(minilm_shards, tmp_path / name, cfg)
        return {k: v.detach().clone() for k, v in model.state_dict().items()}, result

    ds = PretrainingDataset(ShardSet(minilm_shards), "bert" if recipe == "bert" else "roberta", seq_len)
    assert len({int((ds[i]["labels"] != -100).sum()) for i in range(len(ds))}) > 2
    (whole, r1), (split, r2) = run("whole", 16, 1), run("split", 8, 2)
    for key in whole:
        torch.testing.assert_close(split[key], whole[key], rtol=0, atol=1e-6,
                                   msg=lambda m, key=key: f"{key}: {m}")
    logged = [[r["loss"] for r in res.history if r["split"] == "train"] for res in (r1, r2)]
    assert logged[1] == pytest.approx(logged[0], abs=1e-5)


def test_the_shards_are_held_while_pretraining_reads_them(minilm_shards, corpus, minilm_dir, tmp_path,
                                                          monkeypatch):
    """`data prepare` into the shards of a running pretraining is refused (it would change them under
    the run); another run may read them at the same time; afterwards they are free again."""
    from bertkit.errors import LockError
    from bertkit.io import reading_lock
    from bertkit.train import pretrain as pretrain_module

    seen = {}

    def body(data_dir, out_dir, cfg, train, model):
        with pytest.raises(LockError, match="is being read by pretrain") as e:
            prepare([corpus], minilm_dir, data_dir, workers=1, progress=False)
        seen["refused"] = str(e.value)
        with reading_lock(data_dir, what="another pretrain"):     # readers share the shards
            seen["shared"] = True
        return None, None

    monkeypatch.setattr(pretrain_module, "_pretrain", body)
    pretrain_module.pretrain(minilm_shards, tmp_path / "run", PretrainConfig(preset="tiny"))
    assert seen["shared"] and str(minilm_shards) in seen["refused"]
    assert prepare([corpus], minilm_dir, minilm_shards, workers=1, progress=False)["skipped"]


def test_pretrain_gpt_and_general_distillation_hold_their_shards_too(minilm_shards, tmp_path, monkeypatch):
    from bertkit.distill import general
    from bertkit.errors import LockError
    from bertkit.io import directory_lock
    from bertkit.train import lm

    def refused(*args):
        with pytest.raises(LockError, match="is being read by"), directory_lock(minilm_shards):
            pass
        return "ran"

    monkeypatch.setattr(lm, "_pretrain_gpt", refused)
    monkeypatch.setattr(general, "_general_distill", refused)
    assert lm.pretrain_gpt(minilm_shards, tmp_path / "gpt", lm.LMPretrainConfig()) == "ran"
    cfg = SimpleNamespace(shards=str(minilm_shards), eval_data=None)
    assert general.general_distill(cfg) == "ran"
    with directory_lock(minilm_shards):         # free again afterwards
        pass
