"""`bertkit embed`: sentence embeddings and their cosine similarities from the command line."""

from __future__ import annotations

import argparse


def _embed(args: argparse.Namespace) -> int:
    from bertkit.model.embedder import Embedder

    embedder = Embedder(args.model, pooling=args.pooling, normalize=not args.no_normalize)
    vectors = embedder.encode(args.texts, batch_size=args.batch_size)
    width = max(len(t) for t in args.texts)
    shown = [t if len(t) <= 40 else t[:37] + "..." for t in args.texts]
    width = min(width, 40)
    print(f"{len(args.texts)} embeddings of dimension {vectors.shape[1]} ({args.pooling} pooling"
          f"{', L2-normalised' if not args.no_normalize else ''})")
    for text, v in zip(shown, vectors, strict=True):
        print(f"  {text:<{width}}  norm {v.norm():.4f}")
    sim = embedder.similarity(vectors)
    print("\ncosine similarity")
    labels = [str(i + 1) for i in range(len(shown))]
    print(" " * (width + 6) + "".join(f"{label:>8}" for label in labels))
    for i, text in enumerate(shown):
        print(f"  {labels[i]:>2}  {text:<{width}}" + "".join(f"{x:8.3f}" for x in sim[i].tolist()))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("embed", help="sentence embeddings and cosine similarities of texts")
    p.add_argument("--model", required=True, help="a BERT model directory (bertkit or Hugging Face layout)")
    p.add_argument("--pooling", choices=("mean", "cls"), default="mean",
                   help="how to pool token vectors (default: mean)")
    p.add_argument("--no-normalize", action="store_true", help="keep raw vectors (default: L2-normalised)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("texts", nargs="+", metavar="TEXT")
    p.set_defaults(func=_embed)
