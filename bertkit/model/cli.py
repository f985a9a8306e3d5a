"""`bertkit embed`: sentence embeddings and their cosine similarities from the command line;
`bertkit generate`: a GPT's continuation of a prompt, streamed as it comes."""

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


def _generate(args: argparse.Namespace) -> int:
    import sys

    import torch

    from bertkit.errors import CheckpointError, ConfigError
    from bertkit.model.auto import load_model
    from bertkit.tokenizers import Tokenizer

    if not args.prompt.strip():
        raise ConfigError("the prompt is empty; give the text to continue")
    model = load_model(args.model)
    if not hasattr(model, "generate"):
        raise CheckpointError(f"{args.model}: a {type(model).__name__} does not generate text; "
                              f"give a GPT directory")
    tokenizer = Tokenizer.from_pretrained(args.model)
    if tokenizer.vocab_size > model.config.vocab_size:
        raise CheckpointError(f"{args.model}: the tokenizer has {tokenizer.vocab_size} tokens but the model "
                              f"only {model.config.vocab_size}; they do not belong together")
    ids = tokenizer.encode(args.prompt, add_special_tokens=False).ids
    if args.truncate_left:
        ids = ids[-(model.context_window - args.max_new_tokens):]
    shown: list[int] = []
    printed = ""

    def stream(token: torch.Tensor) -> None:   # print the text as each token arrives
        nonlocal printed
        if not shown:
            sys.stdout.write(args.prompt)
        shown.append(int(token[0]))
        text = tokenizer.decode(shown, skip_special_tokens=True)
        sys.stdout.write(text[len(printed):])
        sys.stdout.flush()
        printed = text

    try:
        out = model.generate(torch.tensor([ids]), max_new_tokens=args.max_new_tokens,
                             num_beams=args.num_beams, length_penalty=args.length_penalty,
                             do_sample=args.sample,
                             temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed,
                             on_token=stream if args.num_beams == 1 else None)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if args.num_beams > 1:
        sys.stdout.write(args.prompt + tokenizer.decode(out[0, len(ids):].tolist(), skip_special_tokens=True))
    print()
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

    p = sub.add_parser("generate", help="continue a prompt with a GPT model (greedy, sampling, beams)")
    p.add_argument("--model", required=True,
                   help="a GPT-2 model directory (from bertkit pretrain-gpt, or Hugging Face)")
    p.add_argument("--max-new-tokens", type=int, default=50)
    p.add_argument("--num-beams", type=int, default=1, help="beam search with N beams (default: 1, no beams)")
    p.add_argument("--length-penalty", type=float, default=1.0, help="beam score / length**this")
    p.add_argument("--sample", action="store_true", help="sample instead of taking the most probable token")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=0, help="sample among the k most probable (0: all)")
    p.add_argument("--top-p", type=float, default=1.0, help="sample within the nucleus of mass p")
    p.add_argument("--seed", type=int, default=None, help="make sampling reproducible")
    p.add_argument("--truncate-left", action="store_true",
                   help="keep only the prompt's last tokens when it does not fit the context window")
    p.add_argument("prompt", metavar="PROMPT")
    p.set_defaults(func=_generate)
