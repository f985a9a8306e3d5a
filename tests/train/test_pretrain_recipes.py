"""Pretraining recipes: the Cramming and ELECTRA presets, ELECTRA's replaced-token labels, the
head-only phase of continued pretraining, bitwise-exact resume of both, and token embeddings that
start from word vectors."""

from __future__ import annotations

import dataclasses
import json
import shutil
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

from bertkit.classic.vectors import WordVectors
from bertkit.cli import main
from bertkit.data.shards import ShardSet, prepare
from bertkit.errors import ConfigError, DataError
from bertkit.model import BertConfig, BertForMaskedLM, BertModel
from bertkit.tokenizers import Tokenizer
from bertkit.train.config import TrainConfig
from bertkit.train.electra import ElectraForPreTraining, replace_tokens
from bertkit.train.pretrain import (
    PretrainConfig,
    build_model,
    head_warmup_steps,
    init_token_embeddings,
    make_dataset,
    pretrain,
)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def shards(tmp_path_factory, corpus_en, minilm_dir):
    """~12 KB of the English news corpus in MiniLM's vocabulary."""
    root = tmp_path_factory.mktemp("recipes")
    text = corpus_en.read_text(encoding="utf-8")[:12_000].rsplit("\n", 1)[0]
    (root / "en.txt").write_text(text + "\n", encoding="utf-8")
    prepare([root / "en.txt"], minilm_dir, root / "shards", workers=1, progress=False)
    return root / "shards"


@pytest.fixture(scope="module")
def headless(tmp_path_factory, minilm_dir):
    """A tiny BERT checkpoint without an MLM head (like all-MiniLM-L6-v2), MiniLM's tokenizer."""
    out = tmp_path_factory.mktemp("headless")
    torch.manual_seed(3)
    BertModel(BertConfig.preset("tiny", vocab_size=30522)).save_pretrained(out)
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        if (minilm_dir / name).is_file():
            shutil.copy(minilm_dir / name, out / name)
    return out


def _train(**kw) -> TrainConfig:
    base = dict(batch_size=4, max_steps=6, log_every=1, save_every=1, keep_last=10, seed=1)
    return TrainConfig(**{**base, **kw})


# ---- the presets ------------------------------------------------------------------------------


def test_recipe_presets_set_their_choices_and_keep_explicit_ones(shards, minilm_dir):
    cram = PretrainConfig(recipe="cramming")
    assert (cram.train.lr, cram.train.warmup_ratio, cram.train.schedule) == (1e-3, 0.1, "linear")
    mine = PretrainConfig(recipe="cramming", train=TrainConfig(lr=3e-4, eps=1e-6, warmup_ratio=0.06))
    assert mine.train.lr == 3e-4                          # a caller's own lr is not overridden
    with pytest.warns(UserWarning, match=r"'cramming': train keeps lr=0.0001 \(the recipe's: 0.001\), "
                                         r"warmup_ratio=0.0 \(the recipe's: 0.1\), TrainConfig\(\)'s"):
        plain = PretrainConfig(recipe="cramming", train=TrainConfig(max_steps=10))   # fine-tuning's defaults
    assert (plain.train.lr, plain.train.warmup_ratio) == (1e-4, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PretrainConfig(recipe="cramming", train=dataclasses.replace(cram.train, max_steps=10))   # the way
    assert PretrainConfig().train.lr == 5e-4 and PretrainConfig(recipe="roberta").train.lr == 5e-4

    tok = Tokenizer.from_pretrained(minilm_dir)
    data = ShardSet(shards)
    model = build_model(PretrainConfig(recipe="cramming", preset="tiny"), data, tok)
    assert type(model) is BertForMaskedLM                  # no NSP head
    assert model.config.norm_position == "pre" and model.bert.final_norm is not None
    assert model.config.hidden_dropout_prob == model.config.attention_probs_dropout_prob == 0.0
    roberta = build_model(PretrainConfig(recipe="roberta", preset="tiny"), data, tok)
    assert roberta.config.norm_position == "post"
    electra = build_model(PretrainConfig(recipe="electra", preset="mini"), data, tok)
    assert isinstance(electra, ElectraForPreTraining)
    assert len(electra.generator.bert.layers) == 1 and len(electra.discriminator.layers) == 4
    assert electra.generator.bert.embeddings is electra.discriminator.embeddings

    with pytest.raises(ConfigError, match="from scratch"):
        PretrainConfig(recipe="electra", init_from=str(minilm_dir))
    with pytest.raises(ConfigError, match="head_warmup_steps is for --init-from"):
        PretrainConfig(head_warmup_steps=3)


def test_cramming_run_saves_a_bert_with_fine_tuning_dropout(shards, tmp_path):
    cfg = PretrainConfig(recipe="cramming", preset="tiny", seq_len=32,
                         train=_train(max_steps=3, save_every=None))
    with pytest.warns(UserWarning, match="pre-LN"):
        pretrain(shards, tmp_path / "run", cfg)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["norm_position"] == "pre"
    assert saved["hidden_dropout_prob"] == 0.1     # no dropout while pretraining only
    state = json.loads((tmp_path / "run" / "checkpoints" / "step-3" / "trainer_state.json").read_text())
    assert state["setup"]["model"]["hidden_dropout_prob"] == 0.0


# ---- ELECTRA ----------------------------------------------------------------------------------


def test_replace_tokens_worked_example():
    cls, m, a, b, c, x = 101, 103, 7, 8, 9, 42
    ids = torch.tensor([[cls, m, b, m]])
    labels = torch.tensor([[-100, a, -100, c]])
    corrupted, replaced = replace_tokens(ids, labels, torch.tensor([a, x]))
    assert corrupted.tolist() == [[cls, a, b, x]]
    assert replaced.tolist() == [[False, False, False, True]]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_replaced_is_exactly_where_the_sample_differs_from_the_original(seed):
    g = torch.Generator().manual_seed(seed)
    original = torch.randint(0, 6, (3, 10), generator=g)
    masked = torch.rand(3, 10, generator=g) < 0.4
    labels = torch.where(masked, original, torch.full_like(original, -100))
    inputs = torch.where(masked, torch.full_like(original, 5), original)      # 5 = [MASK]
    sampled = torch.randint(0, 6, (int(masked.sum()),), generator=g)          # small vocab: many ties
    corrupted, replaced = replace_tokens(inputs, labels, sampled)
    assert torch.equal(corrupted[~masked], original[~masked])
    assert torch.equal(corrupted[masked], sampled)
    assert torch.equal(replaced, corrupted != original)
    assert not replaced[~masked].any()


def test_electra_forward_labels_and_loss(shards, minilm_dir):
    cfg = PretrainConfig(recipe="electra", preset="tiny", seq_len=32)
    model = build_model(cfg, ShardSet(shards), Tokenizer.from_pretrained(minilm_dir))
    data = make_dataset(cfg, ShardSet(shards), Tokenizer.from_pretrained(minilm_dir), 0, True)
    batch = torch.utils.data.default_collate([data[i] for i in range(4)])
    torch.manual_seed(5)
    out = model(**batch)
    # the same draw again, by hand: the generator's samples at the masked positions
    torch.manual_seed(5)
    gen = model.generator(batch["input_ids"], batch["attention_mask"], labels=batch["labels"])
    sampled = torch.multinomial(torch.softmax(gen.logits.float(), -1), 1).squeeze(-1)
    masked = batch["labels"] != -100
    expected = torch.zeros_like(masked)
    expected[masked] = sampled != batch["labels"][masked]
    assert torch.equal(out.replaced, expected)
    assert out.replaced.any()                           # an untrained generator replaces most
    assert torch.allclose(out.loss, out.mlm_loss + 50.0 * out.rtd_loss)
    # every real token is judged: the RTD loss is the mean over attention_mask positions
    real = batch["attention_mask"].bool()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(out.rtd_logits[real],
                                                               expected[real].float())
    assert torch.allclose(out.rtd_loss, bce)


def _final(run):
    return load_file(run / "model.safetensors")


def _interrupt_and_resume(run, cfg_of, at: int, head_at: int | None = None):
    """Drop every checkpoint after step `at` (and of the head phase after `head_at`) and the final
    model, as if the run was killed there; then resume."""
    for root, last in ((run / "checkpoints", at), (run / "head" / "checkpoints", head_at)):
        for ckpt in root.iterdir() if last is not None else ():
            if int(ckpt.name.split("-")[1]) > last:
                shutil.rmtree(ckpt)
    (run / "model.safetensors").unlink()
    pretrain(run.parent / "shards_link", run, cfg_of(resume=True))


def test_electra_resume_is_bitwise_exact(shards, tmp_path):
    def cfg_of(**kw):
        return PretrainConfig(recipe="electra", preset="tiny", seq_len=32, train=_train(max_steps=4, **kw))

    (tmp_path / "shards_link").symlink_to(shards)
    with pytest.warns(UserWarning, match="pre-LN"):
        pretrain(tmp_path / "shards_link", tmp_path / "straight", cfg_of(save_every=None))
        pretrain(tmp_path / "shards_link", tmp_path / "cut", cfg_of(save_every=2))
        _interrupt_and_resume(tmp_path / "cut", lambda **kw: cfg_of(save_every=2, **kw), at=2)
    a, b = _final(tmp_path / "straight"), _final(tmp_path / "cut")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    records = [json.loads(line) for line in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert {"mlm_loss", "rtd_loss", "rtd_accuracy", "replaced"} <= set(records[-1])
    # the kept encoder is the discriminator: a plain BERT directory without the generator
    assert json.loads((tmp_path / "cut" / "config.json").read_text())["architectures"] == ["BertModel"]
    assert not any("generator" in k for k in a)


# ---- continued pretraining: the head-only phase -----------------------------------------------


def _weights(ckpt):
    return load_file(ckpt / "model.safetensors")


def test_head_phase_trains_the_head_first_then_everything(shards, headless, tmp_path):
    cfg = PretrainConfig(recipe="roberta", init_from=str(headless), head_warmup_steps=3, head_lr=3e-3,
                         seq_len=32, train=_train(lr=1e-3, max_steps=2))
    with pytest.warns(UserWarning, match="newly initialised"):
        pretrain(shards, tmp_path / "run", cfg)
    run = tmp_path / "run"
    head = {n: load_file(run / "head" / "checkpoints" / f"step-{n}" / "model.safetensors") for n in (1, 3)}
    main = {n: load_file(run / "checkpoints" / f"step-{n}" / "model.safetensors") for n in (1, 2)}
    start = BertModel.from_pretrained(headless).state_dict()
    encoder = [k for k in main[1] if k.startswith("bert.")]
    mlm = [k for k in main[1] if k.startswith("mlm.")]
    assert encoder and mlm
    for n in (1, 3):       # the head-only phase: every encoder weight (embeddings too) as loaded
        for k in encoder:
            assert torch.equal(head[n][k], start[k.removeprefix("bert.")]), (n, k)
    assert all(not torch.equal(head[1][k], head[3][k]) for k in mlm)
    # then everything trains
    changed = [k for k in encoder if not torch.equal(main[1][k], head[3][k])]
    assert "bert.embeddings.word.weight" in changed and any(".layers.1." in k for k in changed)
    lrs = [json.loads(line)["lr"] for line in (run / "head" / "metrics.jsonl").read_text().splitlines()]
    assert lrs == [3e-3] * 3                                   # the head's own constant lr


def test_head_warmup_default(headless, minilm_dir, tmp_path):
    (tmp_path / "full").mkdir()
    BertForMaskedLM(BertConfig.preset("tiny", vocab_size=30522)).save_pretrained(tmp_path / "full")
    train = TrainConfig(max_steps=10)
    assert head_warmup_steps(PretrainConfig(init_from=str(headless)), train, 999) == 2   # a fifth
    assert head_warmup_steps(PretrainConfig(init_from=str(tmp_path / "full")), train, 999) == 0
    assert head_warmup_steps(PretrainConfig(init_from=str(headless), head_warmup_steps=7), train, 999) == 7
    assert head_warmup_steps(PretrainConfig(), train, 999) == 0
    assert head_warmup_steps(PretrainConfig(init_from=str(headless)), TrainConfig(max_steps=5000), 9) == 100
    by_epochs = TrainConfig(epochs=2.0, batch_size=10)
    assert head_warmup_steps(PretrainConfig(init_from=str(headless)), by_epochs, 101) == 22 // 5


@pytest.mark.parametrize("cut", ["head", "main"])
def test_head_phase_resume_is_bitwise_exact(shards, headless, tmp_path, cut):
    def cfg_of(**kw):
        return PretrainConfig(recipe="roberta", init_from=str(headless), seq_len=32, head_warmup_steps=2,
                              train=_train(max_steps=2, **kw))

    (tmp_path / "shards_link").symlink_to(shards)
    with pytest.warns(UserWarning, match="newly initialised"):
        pretrain(tmp_path / "shards_link", tmp_path / "straight", cfg_of(save_every=None))
        pretrain(tmp_path / "shards_link", tmp_path / "cut", cfg_of())
        if cut == "head":    # killed during the head phase: no main checkpoint yet
            _interrupt_and_resume(tmp_path / "cut", cfg_of, at=0, head_at=1)
        else:
            _interrupt_and_resume(tmp_path / "cut", cfg_of, at=1)
    a, b = _final(tmp_path / "straight"), _final(tmp_path / "cut")
    assert all(torch.equal(a[k], b[k]) for k in a)


# ---- token embeddings from word vectors (--init-embeddings) ----------------------------------


def _cramming_model(shards, **kw):
    cfg = PretrainConfig(recipe="cramming", preset="tiny", seq_len=32, train=_train(), **kw)
    torch.manual_seed(0)
    return cfg, build_model(cfg, ShardSet(shards), Tokenizer.from_pretrained(shards))


def test_init_embeddings_word2vec_trains_on_the_shards_and_sets_those_rows(shards, tmp_path):
    cfg, model = _cramming_model(shards, init_embeddings="word2vec")
    tok = Tokenizer.from_pretrained(shards)
    before = model.get_input_embeddings().weight.detach().clone()
    rows = init_token_embeddings(model, tok, cfg, ShardSet(shards), tmp_path, seed=1)
    wv = WordVectors.load(tmp_path / "word2vec" / "vectors.bin")
    in_shards = {int(i) for t in ShardSet(shards).tokens for i in t}
    ids = [tok.token_to_id(w) for w in wv.words]
    assert set(ids) <= in_shards and rows == len(ids) > 500          # every vector is a token of the text
    after = model.get_input_embeddings().weight.detach()
    scale = 0.1 / float(torch.from_numpy(wv.vectors).std())
    torch.testing.assert_close(after[ids], torch.from_numpy(wv.vectors) * scale, rtol=1e-5, atol=1e-7)
    untouched = sorted(set(range(len(before))) - set(ids))
    assert set(tok.all_special_ids) <= set(untouched)
    torch.testing.assert_close(after[untouched], before[untouched], rtol=0, atol=0)
    assert float(after[ids].std()) == pytest.approx(0.1, rel=1e-4)
    assert model.bert.embeddings.word.weight is model.get_input_embeddings().weight   # the MLM decoder's too


def test_init_embeddings_from_a_vectors_file_and_the_mistakes_it_names(shards, tmp_path):
    tok = Tokenizer.from_pretrained(shards)
    words = ["the", "##ing", "story", "market", "[CLS]"]
    vectors = torch.randn(len(words), 128, generator=torch.Generator().manual_seed(0)).numpy()
    path = WordVectors(words, vectors).save(tmp_path / "v.txt")
    cfg, model = _cramming_model(shards, init_embeddings=str(path), init_embeddings_std=0.5)
    cls_row = model.get_input_embeddings().weight[tok.token_to_id("[CLS]")].detach().clone()
    assert init_token_embeddings(model, tok, cfg, ShardSet(shards), tmp_path, seed=0) == 4
    got = model.get_input_embeddings().weight.detach()
    scale = 0.5 / float(torch.from_numpy(vectors[:4]).std())
    for k, w in enumerate(words[:4]):
        torch.testing.assert_close(got[tok.token_to_id(w)], torch.from_numpy(vectors[k]) * scale)
    torch.testing.assert_close(got[tok.token_to_id("[CLS]")], cls_row, rtol=0, atol=0)  # a special keeps its

    narrow = WordVectors(words, vectors[:, :16]).save(tmp_path / "narrow.bin")
    with pytest.raises(ConfigError, match=r"narrow\.bin: the vectors have 16 dimensions.*hidden size is 128"):
        init_token_embeddings(model, tok, dataclasses.replace(cfg, init_embeddings=str(narrow)),
                              ShardSet(shards), tmp_path, seed=0)
    plain = WordVectors(["storyteller's", "marketplace's", "the"], vectors[:3]).save(tmp_path / "words.txt")
    with pytest.raises(DataError, match=r"words\.txt: only 1 of its 3 words are tokens.*--tokenizer"):
        init_token_embeddings(model, tok, dataclasses.replace(cfg, init_embeddings=str(plain)),
                              ShardSet(shards), tmp_path, seed=0)
    with pytest.raises(ConfigError, match="init-from|init_from"):
        PretrainConfig(init_from=str(tmp_path), init_embeddings="word2vec")


def test_cli_init_embeddings_word2vec_and_no_word2vec_over_an_earlier_run(shards, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["pretrain", "--data", str(shards), "--out", str(run), "--recipe", "cramming", "--preset", "tiny",
            "--seq-len", "32", "--batch-size", "4", "--max-steps", "2", "--init-embeddings", "word2vec"]
    with pytest.warns(UserWarning, match="pre-LN"):
        assert main(args) == 0
    assert "rows start from word2vec" in capsys.readouterr().out
    assert (run / "word2vec" / "vectors.bin").is_file() and (run / "model.safetensors").is_file()
    stamp = (run / "word2vec" / "vectors.bin").stat().st_mtime_ns
    assert main(args) == 2                                   # an earlier run: refused before word2vec runs
    assert "holds an earlier run" in capsys.readouterr().err
    assert (run / "word2vec" / "vectors.bin").stat().st_mtime_ns == stamp
