"""Pretraining a BERT on prepared shards: the model, the data, held-out evaluation, and domain tokens.

The loop is the shared `Trainer`; what makes this pretraining is the batches (masked pairs or
packed sentences from `bertkit.data`), the model (BertForPreTraining with NSP for the "bert"
recipe, BertForMaskedLM for "roberta" and "cramming", generator + discriminator for "electra";
the recipes are declared in train/config.py `RECIPES`) and what is logged. The RUN directory ends
up a Hugging Face model directory (config.json, model.safetensors, tokenizer.json) next to
checkpoints/, metrics.jsonl and loss.png.

Continued pretraining (`init_from`) of a checkpoint without an MLM head (a sentence-embedding
model such as all-MiniLM-L6-v2) starts with a head-only phase, a run of the same loop in RUN/head/:
the new head learns against the frozen encoder at its own, higher learning rate (`head_lr`,
constant), so that the encoder's first updates follow a meaningful MLM loss instead of a random
head's gradients. Then the main run trains everything with the usual schedule.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from bertkit.data.examples import PretrainingDataset
from bertkit.data.masking import continuation_table
from bertkit.data.shards import ShardSet, vocab_hash
from bertkit.errors import ConfigError, DataError
from bertkit.io import iter_lines, reading_locks
from bertkit.model import BertConfig, BertForMaskedLM, BertForPreTraining
from bertkit.model.albert import albert_for_pretraining
from bertkit.tokenizers import Tokenizer
from bertkit.train import distributed as dist
from bertkit.train.checkpoint import list_checkpoints, read_trainer_state
from bertkit.train.config import RECIPES, PretrainConfig, TrainConfig
from bertkit.train.electra import ElectraForPreTraining, electra_eval_fn, electra_metrics
from bertkit.train.loop import Trainer, TrainResult
from bertkit.train.resume import refuse_earlier_run

if TYPE_CHECKING:
    from bertkit.classic.vectors import WordVectors

__all__ = ["PretrainConfig", "PretrainingLoss", "add_domain_tokens", "build_model", "init_token_embeddings",
           "make_dataset", "mlm_eval_fn", "pretrain", "pretraining_metrics", "read_token_file",
           "word2vec_on_shards"]


def read_token_file(path: str | os.PathLike) -> list[str]:
    tokens = [line.strip() for line in iter_lines(path) if line.strip()]
    if not tokens:
        raise DataError(f"{path}: no tokens (expected one token per line)")
    return tokens


def add_domain_tokens(model: nn.Module, tokenizer, tokens: list[str]) -> int:
    """Add `tokens` to the tokenizer and the model; each new embedding row is the mean of the rows
    of the sub-tokens the old tokenizer split it into (a better start than random)."""
    pieces = {t: tokenizer.runtime.encode(t, add_special_tokens=False).ids for t in tokens}
    added = tokenizer.add_tokens(tokens)
    if added == 0:
        return 0
    old = model.get_input_embeddings()
    new_size = tokenizer.vocab_size
    emb = nn.Embedding(new_size, old.embedding_dim, padding_idx=old.padding_idx)
    with torch.no_grad():
        emb.weight[: old.num_embeddings] = old.weight
        for token in tokens:
            i = tokenizer.token_to_id(token)
            if i is not None and i >= old.num_embeddings and pieces[token]:
                emb.weight[i] = old.weight[pieces[token]].mean(0)
    model.bert.embeddings.word = emb
    if hasattr(model, "mlm"):
        bias = torch.zeros(new_size)
        bias[: model.mlm.bias.numel()] = model.mlm.bias.detach()
        model.mlm.bias = nn.Parameter(bias)
    model.config.vocab_size = new_size
    return added


WORD2VEC_MAX_TOKENS = 50_000_000     # --init-embeddings word2vec reads at most this many tokens


def init_token_embeddings(model: nn.Module, tokenizer, cfg: PretrainConfig, shards: ShardSet,
                          out_dir: Path, seed: int) -> int:
    """Start `model`'s token embeddings (the tied MLM decoder's too) from word vectors; returns the
    number of rows set.

    `cfg.init_embeddings` is "word2vec" (skip-gram on the shards' own tokens, saved in
    out_dir/word2vec/) or a word2vec file or directory keyed by this tokenizer's tokens. The vectors
    are rescaled to std `cfg.init_embeddings_std`; special tokens and tokens without a vector keep
    their random start. Why: a masked LM spends its first thousands of steps learning which tokens
    are alike (the unigram plateau); word2vec learns that in seconds (measured: docs/pretraining.md).
    """
    from bertkit.classic.vectors import WordVectors

    emb = getattr(model, "discriminator", model).get_input_embeddings()
    if cfg.init_embeddings == "word2vec":
        vectors, source = word2vec_on_shards(shards, tokenizer, emb.embedding_dim, seed,
                                              out_dir / "word2vec"), "word2vec on the shards"
    else:
        path = Path(cfg.init_embeddings)
        source = str(path / "vectors.bin" if path.is_dir() else path)
        vectors = WordVectors.load(source)
    if vectors.dim != emb.embedding_dim:
        raise ConfigError(f"{source}: the vectors have {vectors.dim} dimensions, the model's hidden "
                          f"size is {emb.embedding_dim}; train them with --vector-size {emb.embedding_dim}")
    vocab = tokenizer.get_vocab()
    specials = set(tokenizer.all_special_ids)
    pairs = [(vocab[w], k) for k, w in enumerate(vectors.words) if vocab.get(w) not in (None, *specials)]
    if not pairs or len(pairs) < len(vectors.words) / 2:     # keyed by plain words, another tokenizer
        raise DataError(f"{source}: only {len(pairs):,} of its {len(vectors.words):,} words are tokens of "
                        f"the shards' tokenizer; train the vectors on its tokens: `bertkit word2vec "
                        f"train --tokenizer {shards.dir} ...`")
    ids, rows = (list(x) for x in zip(*pairs, strict=True))
    picked = torch.from_numpy(vectors.vectors[rows]).float()
    with torch.no_grad():
        emb.weight[ids] = picked * (cfg.init_embeddings_std / picked.std().clamp_min(1e-12))
    return len(ids)


def word2vec_on_shards(shards: ShardSet, tokenizer, dim: int, seed: int, out: Path) -> WordVectors:
    """Skip-gram vectors (gensim's defaults, every token kept) of the shards' sentences, saved in `out`."""
    from bertkit.classic.config import Word2VecConfig
    from bertkit.classic.word2vec import Word2Vec

    token = [""] * tokenizer.vocab_size
    for t, i in tokenizer.get_vocab().items():
        token[i] = t
    sentences, total = [], 0
    for s, bounds in shards.documents():
        ids = [token[i] for i in shards.tokens[s][bounds[0]:bounds[-1]].tolist()]
        cuts = (bounds - bounds[0]).tolist()
        sentences += [ids[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
        total += len(ids)
        if total >= WORD2VEC_MAX_TOKENS:
            break
    config = Word2VecConfig(vector_size=dim, min_count=1, seed=seed)
    model = Word2Vec.train(sentences, config, progress=dist.is_main(), source=str(shards.dir))
    model.save(out)
    return model.wv


def _dropout(p: float | None) -> dict[str, float]:
    return {} if p is None else {"hidden_dropout_prob": p, "attention_probs_dropout_prob": p}


def build_model(cfg: PretrainConfig, shards: ShardSet, tokenizer) -> nn.Module:
    recipe = RECIPES[cfg.recipe]
    cls = BertForPreTraining if recipe.objective in ("mlm+nsp", "mlm+sop") else BertForMaskedLM
    drop = _dropout(cfg.dropout if cfg.dropout is not None else recipe.dropout)
    if cfg.init_from:
        model = cls.from_pretrained(cfg.init_from, **drop)
        if cfg.add_tokens:
            add_domain_tokens(model, tokenizer, read_token_file(cfg.add_tokens))
    else:
        norm = {"norm_position": recipe.norm_position} if recipe.norm_position else {}
        config = BertConfig.preset(cfg.preset, vocab_size=shards.vocab_size,
                                   pad_token_id=shards.special_ids.get("pad", 0),
                                   max_position_embeddings=max(512, cfg.seq_len), **drop, **norm)
        electra = recipe.objective == "electra"
        model = (ElectraForPreTraining(config, cfg.rtd_weight) if electra
                 else albert_for_pretraining(config) if recipe.objective == "mlm+sop" else cls(config))
    if model.config.vocab_size != shards.vocab_size:
        raise DataError(f"the model's vocab_size is {model.config.vocab_size} but the shards in "
                        f"{shards.dir} use a {shards.vocab_size}-token vocabulary; prepare the data "
                        f"with the model's tokenizer (plus --add-tokens, if any)")
    return model


def make_dataset(cfg: PretrainConfig, shards: ShardSet, tokenizer, seed: int,
                 dynamic: bool) -> PretrainingDataset:
    table = None
    if cfg.whole_word:
        table = continuation_table(tokenizer.get_vocab(), tokenizer.all_special_ids)
    return PretrainingDataset(shards, RECIPES[cfg.recipe].examples, cfg.seq_len, mask_rate=cfg.mask_rate,
                              whole_word=cfg.whole_word, continuation=table, dynamic=dynamic,
                              dupe_factor=cfg.dupe_factor, max_predictions=cfg.max_predictions, seed=seed)


def mlm_eval_fn(dataset: PretrainingDataset, n_examples: int, batch_size: int):
    """Held-out MLM loss/accuracy (token-weighted) and NSP accuracy on fixed (static) masks."""
    n = min(n_examples, len(dataset))

    def evaluate(model: nn.Module) -> dict[str, float]:
        loss_sum = correct = count = nsp_correct = nsp_count = 0.0
        for start in range(0, n, batch_size):
            rows = [dataset[i] for i in range(start, min(n, start + batch_size))]
            batch = torch.utils.data.default_collate(rows)
            out = model(**batch)
            target = batch["labels"][batch["labels"] != -100]
            loss_sum += float(nn.functional.cross_entropy(out.logits, target, reduction="sum"))
            correct += float((out.logits.argmax(-1) == target).sum())
            count += target.numel()
            if "next_sentence_label" in batch:
                nsp_correct += float((out.nsp_logits.argmax(-1) == batch["next_sentence_label"]).sum())
                nsp_count += batch["next_sentence_label"].numel()
        metrics = {"loss": loss_sum / max(count, 1), "mlm_accuracy": correct / max(count, 1)}
        metrics["perplexity"] = math.exp(min(metrics["loss"], 50.0))
        if nsp_count:
            metrics["nsp_accuracy"] = nsp_correct / nsp_count
        return metrics

    return evaluate


def _masked_targets(labels: torch.Tensor, n: int) -> torch.Tensor:
    """The labels at the n masked positions (labels != -100), in order, without a host sync.

    The model's sparse MLM logits hold one row per masked position in this order; a stable sort
    that puts the masked positions first finds them without `labels[labels != -100]`, whose
    output size the host would have to wait for.
    """
    flat = labels.reshape(-1)
    order = torch.sort((flat == -100).to(torch.uint8), stable=True).indices[:n]
    return flat[order]


def pretraining_metrics(out: Any, batch: dict[str, torch.Tensor]) -> dict[str, tuple[torch.Tensor, Any]]:
    """The loop's metrics_fn for pretraining: the MLM and NSP losses and accuracies, and tokens."""
    metrics: dict[str, tuple[torch.Tensor, Any]] = {}
    for key in ("mlm_loss", "nsp_loss"):
        value = getattr(out, key, None)
        if value is not None:
            metrics[key] = (value, 1)
    n = out.logits.shape[0]  # sparse: one row per masked token
    target = _masked_targets(batch["labels"], n)
    metrics["mlm_accuracy"] = ((out.logits.argmax(-1) == target).sum(), n)
    nsp_logits, nsp_labels = getattr(out, "nsp_logits", None), batch.get("next_sentence_label")
    if nsp_logits is not None and nsp_labels is not None:
        metrics["nsp_accuracy"] = ((nsp_logits.argmax(-1) == nsp_labels.view(-1)).sum(), nsp_labels.numel())
    metrics["tokens"] = (batch["attention_mask"].sum(), 1)
    return metrics


class PretrainingLoss:
    """Pretraining's loss as the loop's weighted terms (`bertkit.train.loop.LossTerms`): MLM is a
    mean over masked tokens, NSP/SOP over sequences, ELECTRA's detection over real tokens. So
    gradient accumulation and DDP give a step exactly the loss of its whole batch, however the
    masked tokens fall between micro-batches and processes."""

    def __init__(self, rtd_weight: float | None = None) -> None:
        self.rtd_weight = rtd_weight            # ELECTRA: loss = MLM + rtd_weight x RTD

    def counts(self, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        counts: dict[str, Any] = {"mlm": (batch["labels"] != -100).sum()}
        if batch.get("next_sentence_label") is not None:
            counts["sentence"] = batch["next_sentence_label"].numel()
        if self.rtd_weight is not None:
            counts["rtd"] = batch["attention_mask"].sum()
        return counts

    def means(self, out: Any, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        mlm = getattr(out, "mlm_loss", None)
        means = {"mlm": out.loss if mlm is None else mlm}
        if batch.get("next_sentence_label") is not None:
            means["sentence"] = out.nsp_loss
        if self.rtd_weight is not None:
            means["rtd"] = self.rtd_weight * out.rtd_loss
        return means


def freeze_encoder(model: nn.Module, frozen: bool) -> None:
    """Freeze (or unfreeze) the encoder, embeddings included: what the head-only phase leaves alone.

    The MLM decoder is tied to the word embeddings, so it stays as loaded too; the head's transform,
    LayerNorm and bias (and an NSP head) learn.
    """
    for p in model.bert.parameters():
        p.requires_grad_(not frozen)


def has_mlm_head(directory: str | os.PathLike) -> bool:
    """Whether a Hugging Face BERT directory's weights include the MLM head (cls.predictions.*)."""
    from safetensors import safe_open

    path = Path(directory) / "model.safetensors"
    if not path.is_file():
        return True     # a .bin checkpoint: assume a full pretraining checkpoint
    with safe_open(str(path), "pt") as f:
        return any(k.startswith("cls.predictions.") for k in f.keys())


def total_steps(train: TrainConfig, n_examples: int) -> int:
    """The optimizer steps of a run, as the loop plans them (one process)."""
    if train.max_steps is not None:
        return train.max_steps
    per_epoch = math.ceil(n_examples / train.batch_size) // train.grad_accum
    return max(1, round(train.epochs * per_epoch))


def head_warmup_steps(cfg: PretrainConfig, train: TrainConfig, n_examples: int) -> int:
    """The head-only steps: as set, or by default a fifth of the main run's steps, at most 100, for a
    checkpoint without an MLM head; none otherwise. Measured (bench_adaptation.py --task head_probe):
    against all-MiniLM-L6-v2's frozen encoder the head's held-out loss levels off within 50-75 steps
    of 16-32 sequences at any lr from 1e-3 to 1e-2, and longer only overfits."""
    if not cfg.init_from:
        return 0
    if cfg.head_warmup_steps is not None:
        return cfg.head_warmup_steps
    return 0 if has_mlm_head(cfg.init_from) else min(100, total_steps(train, n_examples) // 5)


def data_fingerprint(shards: ShardSet) -> str:
    """A hash of the shards' contents (their checksums) and vocabulary."""
    parts = [shards.meta.get("tokenizer_hash")]
    parts += [[shard["sha256"], shard["index_sha256"]] for shard in shards.meta["shards"]]
    return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()[:16]


def run_setup(cfg: PretrainConfig, model: nn.Module, shards: ShardSet,
              head_warmup: int = 0) -> dict[str, Any]:
    """Everything besides TrainConfig that a resume must find unchanged."""
    options = {k: v for k, v in asdict(cfg).items() if k != "train"}
    if cfg.init_from:
        options["head_warmup_steps"] = head_warmup       # the resolved default
    return {"pretrain": options, "model": model.config.to_dict(), "data": data_fingerprint(shards)}


def pretrain(data_dir: str | os.PathLike, out_dir: str | os.PathLike, cfg: PretrainConfig,
             train: TrainConfig | None = None, model: nn.Module | None = None
             ) -> tuple[nn.Module, TrainResult]:
    """Pretrain on the shards in `data_dir` (multi-process when launched by torchrun).

    `train` overrides `cfg.train`, the loop's settings (pretraining's defaults live there). The
    shards (and `cfg.eval_data`) are held with a shared lock while they are read: other runs may
    read them too, but `bertkit data prepare` into them is refused until the run ends.
    """
    with reading_locks((data_dir, cfg.eval_data), what="pretrain"):
        return _pretrain(data_dir, out_dir, cfg, train, model)


def _pretrain(data_dir: str | os.PathLike, out_dir: str | os.PathLike, cfg: PretrainConfig,
              train: TrainConfig | None, model: nn.Module | None) -> tuple[nn.Module, TrainResult]:
    train = train if train is not None else cfg.train
    dist.init_from_env()
    tokenizer = Tokenizer.from_pretrained(cfg.init_from or data_dir)
    torch.manual_seed(train.seed)
    if model is None:
        model = build_model(cfg, ShardSet(data_dir, verify=False), tokenizer)
    shards = ShardSet(data_dir, tokenizer_hash=vocab_hash(tokenizer.runtime))
    dataset = make_dataset(cfg, shards, tokenizer, train.seed, cfg.dynamic_masking)
    electra = isinstance(model, ElectraForPreTraining)
    eval_fn = None
    if cfg.eval_data:
        held_out = ShardSet(cfg.eval_data, tokenizer_hash=vocab_hash(tokenizer.runtime))
        make_eval = electra_eval_fn if electra else mlm_eval_fn
        eval_fn = make_eval(make_dataset(cfg, held_out, tokenizer, 12345, dynamic=False),
                            cfg.eval_examples, train.batch_size)

    def save(m: nn.Module, directory: Path) -> None:
        kept = m.discriminator if electra else m        # ELECTRA keeps the discriminator
        config = kept.config
        if cfg.dropout is None and RECIPES[cfg.recipe].dropout is not None and not cfg.init_from:
            # no dropout was a pretraining choice: fine-tuning gets BERT's default back
            kept.config = config.replace(**_dropout(BertConfig().hidden_dropout_prob))
        try:
            kept.save_pretrained(directory)
        finally:
            kept.config = config
        tokenizer.save(directory)

    warm = head_warmup_steps(cfg, train, len(dataset))
    resuming = train.resume and bool(list_checkpoints(Path(out_dir) / "checkpoints"))
    if resuming:
        saved = read_trainer_state(list_checkpoints(Path(out_dir) / "checkpoints")[-1][1]).get("setup") or {}
        if "head_warmup_steps" not in saved.get("pretrain", {}):
            warm = 0                # a RUN from before the head-only phase: resume it as it ran
    if cfg.init_embeddings and not resuming and dist.is_main():     # DDP copies rank 0's weights to all
        refuse_earlier_run(Path(out_dir), train)                     # before minutes of word2vec
        rows = init_token_embeddings(model, tokenizer, cfg, shards, Path(out_dir), train.seed)
        print(f"token embeddings: {rows:,} rows start from {cfg.init_embeddings} "
              f"(std {cfg.init_embeddings_std:g})", flush=True)
    if dist.is_main():
        head = f", after {warm} steps that train only the new MLM head (lr {cfg.head_lr:g})" if warm else ""
        print(f"pretraining a {cfg.preset if not cfg.init_from else cfg.init_from} BERT "
              f"({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters) on {len(dataset):,} "
              f"{cfg.recipe} examples of <= {cfg.seq_len} tokens from {data_dir}{head}", flush=True)
    setup = run_setup(cfg, model, shards, warm)
    if warm and not resuming:
        _head_phase(model, cfg, train, warm, dataset, Path(out_dir), setup)
        # the main run starts after the head phase (which checked for an earlier run already)
        train = dataclasses.replace(train, resume=False, overwrite=True)
    loss = PretrainingLoss(model.rtd_weight if electra else None)
    trainer = Trainer(model, train, dataset, out_dir, eval_fn=eval_fn,
                      metrics_fn=electra_metrics if electra else pretraining_metrics,
                      save_model=save, setup=setup, loss_terms=loss)
    return model, trainer.fit()


def _head_phase(model: nn.Module, cfg: PretrainConfig, train: TrainConfig, steps: int,
                dataset: PretrainingDataset, out_dir: Path, setup: dict[str, Any]) -> None:
    """The head-only phase in out_dir/head/: `steps` steps at `head_lr` (constant), encoder frozen.

    Resumable like any run (its own checkpoints); a main run that has checkpoints skips it.
    """
    refuse_earlier_run(out_dir, train)
    head_dir = out_dir / "head"
    resume = train.resume and bool(list_checkpoints(head_dir / "checkpoints"))
    phase = dataclasses.replace(train, lr=cfg.head_lr, max_steps=steps, warmup_steps=0, warmup_ratio=0.0,
                                schedule="constant", eval_every=None, layerwise_lr_decay=None,
                                resume=resume, overwrite=not resume)
    freeze_encoder(model, True)
    try:
        Trainer(model, phase, dataset, head_dir, metrics_fn=pretraining_metrics,
                save_model=lambda m, d: None, setup=setup, loss_terms=PretrainingLoss()).fit()
    finally:
        freeze_encoder(model, False)
