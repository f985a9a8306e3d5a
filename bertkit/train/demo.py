"""Demo stage: prepare the embedded corpus, pretrain a small BERT for a couple of minutes, and
show its loss curve and a fill-mask guess."""

from __future__ import annotations

import time
from pathlib import Path

import torch


def run(ctx) -> None:
    from bertkit.data.shards import prepare
    from bertkit.datasets import corpus_files
    from bertkit.tokenizers import Tokenizer
    from bertkit.train.loop import TrainConfig
    from bertkit.train.pretrain import PretrainConfig, pretrain

    tok_dir = ctx.artifacts.get("tokenizer_dir")
    if tok_dir is None:
        tok_dir = ctx.workdir / "tokenizer"
        files = [str(f) for f in corpus_files()]
        Tokenizer.train(files, algorithm="wordpiece", vocab_size=8000).save(tok_dir)
    shards = ctx.workdir / "shards"
    start = time.perf_counter()
    meta = prepare(corpus_files(), tok_dir, shards, workers=2, progress=not ctx.quick)
    print(f"shards: {meta['counts']['tokens']:,} tokens in {len(meta['shards'])} shard(s) "
          f"({time.perf_counter() - start:.1f} s) -> {shards}")
    steps = 8 if ctx.quick else 150
    run_dir = ctx.workdir / "pretrained"
    cfg = PretrainConfig(preset="tiny" if ctx.quick else "mini", recipe="roberta",
                         seq_len=64 if ctx.quick else 128)
    train = TrainConfig(lr=1e-3, eps=1e-6, max_steps=steps, batch_size=16 if ctx.quick else 32,
                        warmup_ratio=0.1, log_every=max(1, steps // 10), save_every=steps)
    model, _ = pretrain(shards, run_dir, cfg, train)
    print(f"loss curve: {run_dir / 'loss.png'}   metrics: {run_dir / 'metrics.jsonl'}")
    _fill_mask(model, Tokenizer.from_pretrained(run_dir), "The president of the united [MASK] said.")
    ctx.artifacts["pretrained_dir"] = Path(run_dir)


def _fill_mask(model, tokenizer, text: str) -> None:
    enc = tokenizer.encode(text.replace("[MASK]", tokenizer.id_to_token(tokenizer.mask_token_id)))
    ids = torch.tensor([enc.ids])
    position = enc.ids.index(tokenizer.mask_token_id)
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, position]
    top = logits.topk(5).indices.tolist()
    print(f"fill-mask: {text!r} -> {[tokenizer.id_to_token(i) for i in top]}")
