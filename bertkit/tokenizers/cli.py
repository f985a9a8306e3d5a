"""`bertkit tokenizer train|encode|compare`."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bertkit.options import add_options, from_args
from bertkit.tokenizers.config import ENCODING_ERRORS, TokenizerTrainConfig


def _train(args: argparse.Namespace) -> int:
    from bertkit.tokenizers import Tokenizer

    start = time.perf_counter()
    tok = Tokenizer.train([Path(f) for f in args.files], config=from_args(TokenizerTrainConfig, args))
    out = tok.save(args.out)
    seconds = time.perf_counter() - start
    print(f"trained {args.algorithm} tokenizer: {tok.vocab_size:,} tokens in {seconds:.1f} s")
    print(f"saved to {out}/ ({', '.join(sorted(p.name for p in out.iterdir() if p.is_file()))})")
    return 0


def _encode(args: argparse.Namespace) -> int:
    from bertkit.tokenizers import Tokenizer

    tok = Tokenizer.from_pretrained(args.tokenizer)
    enc = tok.encode(args.text, args.pair, max_length=args.max_length)
    if args.json:
        fields = ("ids", "tokens", "type_ids", "attention_mask", "offsets", "special_tokens_mask", "word_ids")
        print(json.dumps({f: getattr(enc, f) for f in fields}, ensure_ascii=False))
        return 0
    rows = [("#", "token", "id", "type", "offsets", "text")]
    for i, (token, id_, type_id, (s, e), seq) in enumerate(
            zip(enc.tokens, enc.ids, enc.type_ids, enc.offsets, enc.sequence_ids, strict=True)):
        source = args.text if seq == 0 else args.pair if seq == 1 else ""
        rows.append((str(i), token, str(id_), str(type_id), f"{s}:{e}", source[s:e]))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) if c in (1, 5) else cell.rjust(w)
                        for c, (cell, w) in enumerate(zip(r, widths, strict=True))).rstrip())
    print(f"{len(enc)} tokens")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from bertkit.tokenizers import Tokenizer
    from bertkit.tokenizers.compare import compare_tokenizers, format_comparison

    tokenizers = {}
    for path in args.tokenizer:
        name = Path(path).name or str(path)
        while name in tokenizers:
            name += "'"
        tokenizers[name] = Tokenizer.from_pretrained(path)
    result = compare_tokenizers(tokenizers, args.file, max_lines=args.max_lines,
                                samples=args.sample or args.samples, errors=args.encoding_errors)
    print(json.dumps(result.to_dict(), ensure_ascii=False) if args.json else format_comparison(result))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tokenizer", help="train, inspect and compare tokenizers")
    tsub = p.add_subparsers(dest="tokenizer_command", metavar="{train,encode,compare}")
    p.set_defaults(func=lambda args: p.print_help() or 2)

    t = tsub.add_parser("train", help="train a tokenizer on text files (one sentence or paragraph per line)")
    t.add_argument("files", nargs="+", metavar="FILE")
    t.add_argument("--out", required=True, help="directory to write tokenizer.json (+ vocab.txt) into")
    add_options(t, TokenizerTrainConfig)
    t.set_defaults(func=_train)

    e = tsub.add_parser("encode", help="show how a text is split into tokens")
    e.add_argument("text", metavar="TEXT")
    e.add_argument("--tokenizer", required=True, metavar="DIR")
    e.add_argument("--pair", default=None, metavar="TEXT", help="a second text (sentence pair)")
    e.add_argument("--max-length", type=int, default=None, help="truncate to N tokens")
    e.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    e.set_defaults(func=_encode)

    c = tsub.add_parser("compare", help="compare tokenizers on a text file")
    c.add_argument("file", metavar="FILE")
    c.add_argument("--tokenizer", action="append", required=True, metavar="DIR", help="repeat for each")
    c.add_argument("--max-lines", type=int, default=20000, help="read at most N non-blank lines")
    c.add_argument("--samples", type=int, default=2, help="show the first N lines segmented")
    c.add_argument("--sample", action="append", metavar="TEXT", help="show this text segmented (repeatable)")
    c.add_argument("--encoding-errors", choices=ENCODING_ERRORS, default="strict")
    c.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    c.set_defaults(func=_compare)
