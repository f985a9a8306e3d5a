"""`bertkit embed`: sentence embeddings and their cosine similarities from the command line;
`bertkit generate`: a GPT's continuation of a prompt, streamed as it comes.

Options are declared once on `EmbedOptions` / `GenerateOptions` (bertkit/options.py). The decoding
settings are not range-checked here: `generate()` checks them, for Python callers and the CLI alike.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from bertkit.options import add_options, from_args, option


def _stop_ids(text: str) -> tuple[int, ...]:
    """"50256,13" -> (50256, 13)"""
    return tuple(int(t) for t in text.split(",") if t.strip())


@dataclass
class EmbedOptions:
    model: str = option(help="a BERT model directory (bertkit or Hugging Face layout)", metavar="DIR")
    pooling: str = option("mean", "how to pool token vectors", choices=("mean", "cls"))
    no_normalize: bool = option(False, "keep raw vectors (default: L2-normalised)")
    batch_size: int = option(32, "texts per forward pass", low=1)


@dataclass
class GenerateOptions:
    model: str = option(help="a GPT-2 model directory (from bertkit pretrain-gpt, or Hugging Face)",
                        metavar="DIR")
    max_new_tokens: int = option(50, "tokens to generate at most")
    num_beams: int = option(1, "beam search with N beams (1: no beams)")
    length_penalty: float = option(1.0, "beam score / length**this")
    sample: bool = option(False, "sample instead of taking the most probable token")
    temperature: float = option(1.0, "divide the logits by this before sampling")
    top_k: int = option(0, "sample among the k most probable (0: all)")
    top_p: float = option(1.0, "sample within the nucleus of mass p")
    seed: int | None = option(None, "make sampling reproducible")
    stop_ids: tuple[int, ...] | None = option(None, "token ids that end the text, comma-separated "
                                              "(default: the model's eos_token_id)", parse=_stop_ids,
                                              metavar="ID,ID")
    truncate_left: bool = option(False, "keep only the prompt's last tokens when it does not fit the "
                                        "context window")


def _embed(args: argparse.Namespace) -> int:
    from bertkit.model.embedder import Embedder

    opts = from_args(EmbedOptions, args)
    texts = args.texts
    embedder = Embedder(opts.model, pooling=opts.pooling, normalize=not opts.no_normalize)
    vectors = embedder.encode(texts, batch_size=opts.batch_size)
    width = min(max(len(t) for t in texts), 40)
    shown = [t if len(t) <= 40 else t[:37] + "..." for t in texts]
    print(f"{len(texts)} embeddings of dimension {vectors.shape[1]} ({opts.pooling} pooling"
          f"{', L2-normalised' if not opts.no_normalize else ''})")
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

    opts = from_args(GenerateOptions, args)
    prompt = args.prompt
    if not prompt.strip():
        raise ConfigError("the prompt is empty; give the text to continue")
    model = load_model(opts.model)
    if not hasattr(model, "generate"):
        raise CheckpointError(f"{opts.model}: a {type(model).__name__} does not generate text; "
                              f"give a GPT directory")
    tokenizer = Tokenizer.from_pretrained(opts.model)
    if tokenizer.vocab_size > model.config.vocab_size:
        raise CheckpointError(f"{opts.model}: the tokenizer has {tokenizer.vocab_size} tokens but the model "
                              f"only {model.config.vocab_size}; they do not belong together")
    ids = tokenizer.encode(prompt, add_special_tokens=False).ids
    if opts.truncate_left:
        ids = ids[-(model.context_window - opts.max_new_tokens):]
    shown: list[int] = []
    printed = ""

    def stream(token: torch.Tensor) -> None:   # print the text as each token arrives
        nonlocal printed
        if not shown:
            sys.stdout.write(prompt)
        shown.append(int(token[0]))
        text = tokenizer.decode(shown, skip_special_tokens=True)
        sys.stdout.write(text[len(printed):])
        sys.stdout.flush()
        printed = text

    stop = -1 if opts.stop_ids is None else list(opts.stop_ids)
    try:
        out = model.generate(torch.tensor([ids]), max_new_tokens=opts.max_new_tokens,
                             num_beams=opts.num_beams, length_penalty=opts.length_penalty,
                             do_sample=opts.sample, temperature=opts.temperature, top_k=opts.top_k,
                             top_p=opts.top_p, seed=opts.seed, eos_token_id=stop,
                             on_token=stream if opts.num_beams == 1 else None)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if opts.num_beams > 1:
        sys.stdout.write(prompt + tokenizer.decode(out[0, len(ids):].tolist(), skip_special_tokens=True))
    print()
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("embed", help="sentence embeddings and cosine similarities of texts")
    add_options(p, EmbedOptions)
    p.add_argument("texts", nargs="+", metavar="TEXT")
    p.set_defaults(func=_embed)

    p = sub.add_parser("generate", help="continue a prompt with a GPT model (greedy, sampling, beams)")
    add_options(p, GenerateOptions)
    p.add_argument("prompt", metavar="PROMPT")
    p.set_defaults(func=_generate)
