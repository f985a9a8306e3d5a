"""`bertkit pretrain`: options map one to one onto TrainConfig and PretrainConfig fields."""

from __future__ import annotations

import argparse


def _pretrain(args: argparse.Namespace) -> int:
    from bertkit.train import distributed as dist
    from bertkit.train.loop import TrainConfig
    from bertkit.train.pretrain import PretrainConfig, pretrain

    train = TrainConfig(lr=args.lr, eps=1e-6, weight_decay=args.weight_decay,
                        warmup_ratio=args.warmup_ratio, schedule=args.schedule,
                        max_steps=args.max_steps, epochs=args.epochs,
                        batch_size=args.batch_size, grad_accum=args.grad_accum, seed=args.seed,
                        log_every=args.log_every, eval_every=args.eval_every, save_every=args.save_every,
                        keep_last=args.keep_last, resume=args.resume)
    cfg = PretrainConfig(preset=args.preset, recipe=args.recipe, seq_len=args.seq_len,
                         mask_rate=args.mask_rate, whole_word=args.whole_word,
                         dynamic_masking=not args.static_masking,
                         dupe_factor=args.dupe_factor, max_predictions=args.max_predictions,
                         dropout=args.dropout, init_from=args.init_from, add_tokens=args.add_tokens,
                         eval_data=args.eval_data)
    _, result = pretrain(args.data, args.out, cfg, train)
    if dist.is_main():
        print(f"{args.out}: {result.global_step} steps; model, tokenizer, metrics.jsonl and loss.png written")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pretrain", help="pretrain a BERT on prepared shards (MLM, + NSP for --recipe bert)",
                       description="Multi-process: torchrun --nproc_per_node=N -m bertkit pretrain ...")
    p.add_argument("--data", required=True, help="shards directory from `bertkit data prepare`")
    p.add_argument("--out", required=True, help="RUN directory (a Hugging Face model dir + training state)")
    p.add_argument("--preset", default="mini", help="model size: tiny, mini, small, medium, base, large")
    p.add_argument("--recipe", default="bert", choices=("bert", "roberta"),
                   help="bert: sentence pairs + NSP; roberta: packed full sentences, MLM only")
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=32, help="per process")
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--warmup-ratio", type=float, default=0.06)
    p.add_argument("--schedule", default="linear", choices=("linear", "cosine", "constant"))
    p.add_argument("--max-steps", type=int, help="stop after N optimizer steps (wins over --epochs)")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mask-rate", type=float, default=0.15)
    p.add_argument("--whole-word", action="store_true", help="whole-word masking")
    p.add_argument("--static-masking", action="store_true", help="the same masks every epoch (BERT)")
    p.add_argument("--dupe-factor", type=int, default=1, help="copies of the data with different masks")
    p.add_argument("--max-predictions", type=int,
                   help="at most N masked tokens per sequence (BERT's max_predictions_per_seq)")
    p.add_argument("--dropout", type=float, help="hidden and attention dropout (default: the model's)")
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--eval-data", help="shards of a held-out split, evaluated every --eval-every steps")
    p.add_argument("--eval-every", type=int)
    p.add_argument("--save-every", type=int, help="checkpoint every N steps (and always at the end)")
    p.add_argument("--keep-last", type=int, default=2)
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    p.add_argument("--init-from", help="continue pretraining from a (Hugging Face) BERT directory")
    p.add_argument("--add-tokens", metavar="FILE",
                   help="with --init-from: add these domain tokens (one per line); prepare the data "
                        "with the same --add-tokens")
    p.set_defaults(func=_pretrain)
