"""Demo stage: prepare the embedded corpus, pretrain a small BERT for a couple of minutes, and
show that it learned: fill-mask guesses before and after, and the held-out MLM loss going down."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from bertkit.data.shards import ShardSet, prepare
from bertkit.datasets import corpus_files
from bertkit.tokenizers import Tokenizer
from bertkit.train.config import PretrainConfig, TrainConfig
from bertkit.train.pretrain import build_model, pretrain

# Sentences in the style of the English news corpus the model is pretrained on.
FILL_MASK = (
    "The president of the united [MASK] said.",
    "The Senate [MASK] on the bill on Tuesday.",
    "Shares of the company fell 3 [MASK] on Monday.",
)


def run(ctx) -> None:
    train_files, valid_files = corpus_files("train"), corpus_files("valid")
    if ctx.quick:  # a slice of the corpus: tokenizing all of it takes most of a minute
        train_files = _head(train_files, ctx.workdir / "corpus-slice", 150_000)
        valid_files = _head(valid_files, ctx.workdir / "corpus-slice-valid", 30_000)
    tok_dir = ctx.artifacts.get("tokenizer_dir")
    if tok_dir is None:
        tok_dir = ctx.workdir / "tokenizer"
        Tokenizer.train([str(f) for f in train_files], algorithm="wordpiece",
                        vocab_size=2000 if ctx.quick else 8000).save(tok_dir)
    shards, held_out = ctx.workdir / "shards", ctx.workdir / "shards-valid"
    start = time.perf_counter()
    workers = 1 if ctx.quick else 2
    meta = prepare(train_files, tok_dir, shards, workers=workers, progress=not ctx.quick)
    prepare(valid_files, tok_dir, held_out, workers=workers, progress=False)
    print(f"shards: {meta['counts']['tokens']:,} tokens in {len(meta['shards'])} shard(s) "
          f"({time.perf_counter() - start:.1f} s) -> {shards}")
    steps = 8 if ctx.quick else 600  # about 90 s on 2 quiet cores
    run_dir = ctx.workdir / "pretrained"
    train = TrainConfig(lr=1e-3, eps=1e-6, max_steps=steps, batch_size=16 if ctx.quick else 32,
                        warmup_ratio=0.1, log_every=max(1, steps // 10), save_every=steps,
                        eval_every=steps // 2 if ctx.quick else 100, overwrite=True)
    cfg = PretrainConfig(preset="tiny", recipe="roberta", seq_len=64 if ctx.quick else 128,
                         eval_data=str(held_out), eval_examples=64 if ctx.quick else 256, train=train)
    tokenizer = Tokenizer.from_pretrained(tok_dir)
    torch.manual_seed(train.seed)  # as pretrain() does: the weights it starts from
    before = {text: fill_mask(build_model(cfg, ShardSet(shards, verify=False), tokenizer), tokenizer, text)
              for text in FILL_MASK}
    model, result = pretrain(shards, run_dir, cfg)
    evals = [r for r in result.history if r["split"] == "eval"]
    print("held-out MLM loss: " + ", ".join(f"step {r['step']}: {r['loss']:.2f}" for r in evals))
    print(f"loss curve (training and held-out): {run_dir / 'loss.png'}   "
          f"metrics: {run_dir / 'metrics.jsonl'}")
    print("\nfill-mask, top 5 guesses before -> after pretraining:")
    for text in FILL_MASK:
        print(f"  {text}\n    before: {' '.join(before[text])}\n    after:  "
              f"{' '.join(fill_mask(model, tokenizer, text))}")
    ctx.artifacts["pretrained_dir"] = Path(run_dir)
    ctx.artifacts["pretrained_steps"] = steps


def _head(files: list[Path], out_dir: Path, n_chars: int) -> list[Path]:
    """The first `n_chars` characters of each file, cut at a document boundary."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sliced = []
    for f in files:
        with open(f, encoding="utf-8") as src:
            text = src.read(n_chars)
        text = text.rsplit("\n\n", 1)[0] if "\n\n" in text else text
        (out_dir / f.name).write_text(text + "\n", encoding="utf-8")
        sliced.append(out_dir / f.name)
    return sliced


def fill_mask(model, tokenizer, text: str, k: int = 5) -> list[str]:
    """The model's top-k tokens for the [MASK] in `text`."""
    enc = tokenizer.encode(text.replace("[MASK]", tokenizer.id_to_token(tokenizer.mask_token_id)))
    ids = torch.tensor([enc.ids])
    position = enc.ids.index(tokenizer.mask_token_id)
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, position]
    return [tokenizer.id_to_token(i) for i in logits.topk(k).indices.tolist()]
