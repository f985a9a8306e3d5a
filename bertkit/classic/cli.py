"""`bertkit word2vec train|similar|analogy|similarity|evaluate`, `bertkit vectorize` (bag of words /
TF-IDF tables) and `bertkit similar --index DOCS QUERY` (TF-IDF document search).

Handlers import numpy, torch and scikit-learn inside, so `bertkit --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bertkit.classic.config import SparseConfig, Word2VecConfig
from bertkit.errors import DataError
from bertkit.options import add_options, from_args


def _vectors(path: str):
    """Word vectors from a file (.bin = binary, else text) or a `word2vec train` directory."""
    from bertkit.classic.vectors import WordVectors

    p = Path(path)
    return WordVectors.load(p / "vectors.bin" if p.is_dir() else p)


def _train(args: argparse.Namespace) -> int:
    from bertkit.classic.word2vec import Word2Vec

    config = from_args(Word2VecConfig, args)
    start = time.perf_counter()
    model = Word2Vec.train_files(args.files, config, tokenizer=args.tokenizer, progress=not args.quiet)
    seconds = time.perf_counter() - start
    out = model.save(args.out)
    words = int(model.vocab.counts.sum()) * config.epochs
    print(f"{config.architecture}: {len(model.vocab.words)} words x {config.vector_size} dimensions, "
          f"{config.epochs} epochs over {words // config.epochs:,} words in {seconds:.1f} s "
          f"({words / seconds:,.0f} words/s)")
    print(f"wrote {out / 'vectors.txt'}, {out / 'vectors.bin'}, {out / 'word2vec.json'}")
    return 0


def _print_neighbours(rows: list[tuple[str, float]]) -> None:
    for word, sim in rows:
        print(f"  {word:<24} {sim:.4f}")


def _similar_words(args: argparse.Namespace) -> int:
    wv = _vectors(args.vectors)
    for word in args.words:
        print(f"nearest to {word!r}:")
        _print_neighbours(wv.most_similar(word, args.top))
    return 0


def _analogy(args: argparse.Namespace) -> int:
    wv = _vectors(args.vectors)
    print(f"{args.a} - {args.b} + {args.c}:")
    _print_neighbours(wv.analogy(args.a, args.b, args.c, args.top))
    return 0


def _similarity(args: argparse.Namespace) -> int:
    print(f"{_vectors(args.vectors).similarity(args.a, args.b):.4f}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from bertkit.classic.evaluate import evaluate

    models = {path: _vectors(path) for path in args.vectors}
    shared = set.intersection(*(set(wv.words) for wv in models.values()))
    scores = {path: evaluate(wv, shared) for path, wv in models.items()}
    if args.json:
        sys.stdout.write(json.dumps(scores) + "\n")
        return 0
    print(f"on the {len(shared):,} words {'all models share' if len(models) > 1 else 'of the model'}:")
    for path, s in scores.items():
        w, a = s["wordsim353"], s["analogy"]
        print(f"  {path}: WordSim-353 Spearman {w['value']:.3f} ({w['used']}/{w['total']} pairs), "
              f"analogy accuracy {a['value']:.3f} ({a['used']}/{a['total']} questions)")
    return 0


def _context(args: argparse.Namespace) -> int:
    """The one home of this comparison is `bertkit.explain.embeddings` (also `bertkit explain
    embeddings`): its text, and with --png its PCA plot."""
    from bertkit.explain.embeddings import compare_embeddings
    from bertkit.explain.inputs import load

    model, tok = load(args.model)
    print(compare_embeddings(model, tok, _vectors(args.vectors), args.word, args.sentences, args.layer,
                             plot=args.png))
    return 0


def _documents(path: str) -> tuple[list[str], list[str]]:
    """(names, texts): a directory's files one document each, or a file's non-blank lines."""
    from bertkit.io import iter_lines, read_text

    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file())
        return [f.name for f in files], [read_text(f) for f in files]
    lines = [(i, line) for i, line in enumerate(iter_lines(p), 1) if line.strip()]
    return [f"line {i}" for i, _ in lines], [line for _, line in lines]


def _search(args: argparse.Namespace) -> int:
    from bertkit.classic.sparse import DocumentIndex

    names, texts = _documents(args.index)
    if not texts:
        raise DataError(f"{args.index}: no documents (empty file or directory)")
    index = DocumentIndex(texts, from_args(SparseConfig, args), tokenizer=args.tokenizer)
    for query in args.queries:
        print(f"{query!r} ({len(texts)} documents, {index.vectorizer.config.kind} cosine):")
        for i, sim in index.search(query, args.top):
            text = " ".join(texts[i].split())
            print(f"  {sim:.4f}  {names[i]:<12} {text[:80] + ('...' if len(text) > 80 else '')}")
    return 0


def _vectorize(args: argparse.Namespace) -> int:
    from bertkit.classic.sparse import SparseVectorizer

    texts = args.texts if not args.file else _documents(args.file)[1]
    vec = SparseVectorizer(from_args(SparseConfig, args), tokenizer=args.tokenizer).fit(texts)
    print(vec.table(texts, max_terms=args.max_terms))
    if args.one_hot:
        units, m = vec.one_hot(texts[0])
        print(f"\none-hot vectors of {texts[0]!r} (one row per unit, {m.shape[1]} columns):")
        for unit, row in zip(units, m, strict=True):
            print(f"  {unit:<16} 1 in column {row.indices[0]}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    _register_word2vec(sub)
    _register_sparse(sub)


def _register_word2vec(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("word2vec", help="train and query static word vectors (skip-gram, CBOW)")
    wsub = p.add_subparsers(dest="word2vec_command",
                            metavar="{train,similar,analogy,similarity,evaluate,context}")
    p.set_defaults(func=lambda args: p.print_help() or 2)

    t = wsub.add_parser("train", help="train word2vec on text files (one sentence per line)")
    t.add_argument("files", nargs="+", metavar="FILE")
    t.add_argument("--out", required=True, metavar="DIR",
                   help="writes vectors.txt, vectors.bin (word2vec formats) and word2vec.json")
    t.add_argument("--tokenizer", metavar="DIR", help="learn vectors of a bertkit tokenizer's tokens")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    add_options(t, Word2VecConfig)
    t.set_defaults(func=_train)

    vec_help = "word vectors: a .txt/.bin word2vec file or a `word2vec train` directory"
    s = wsub.add_parser("similar", help="nearest words by cosine similarity")
    s.add_argument("words", nargs="+", metavar="WORD")
    s.add_argument("--vectors", required=True, help=vec_help)
    s.add_argument("--top", type=int, default=10)
    s.set_defaults(func=_similar_words)

    a = wsub.add_parser("analogy", help="words nearest to A - B + C (king - man + woman)")
    for name in ("a", "b", "c"):
        a.add_argument(name, metavar=name.upper())
    a.add_argument("--vectors", required=True, help=vec_help)
    a.add_argument("--top", type=int, default=5)
    a.set_defaults(func=_analogy)

    m = wsub.add_parser("similarity", help="cosine similarity of two words")
    m.add_argument("a", metavar="A")
    m.add_argument("b", metavar="B")
    m.add_argument("--vectors", required=True, help=vec_help)
    m.set_defaults(func=_similarity)

    e = wsub.add_parser("evaluate", help="WordSim-353 Spearman and Google analogy accuracy")
    e.add_argument("vectors", nargs="+", metavar="VECTORS",
                   help="one or more models; several are scored on the words they all share")
    e.add_argument("--json", action="store_true", help="one JSON object instead of text")
    e.set_defaults(func=_evaluate)

    c = wsub.add_parser("context", help="one word in several sentences: its static vector vs BERT's")
    c.add_argument("word", metavar="WORD")
    c.add_argument("sentences", nargs="+", metavar="SENTENCE")
    c.add_argument("--vectors", required=True, help=vec_help)
    c.add_argument("--model", required=True, metavar="DIR", help="a BERT model directory")
    c.add_argument("--layer", type=int, default=None, help="hidden-states index (default: the last layer)")
    c.add_argument("--png", help="also write a PCA plot of static and contextual vectors")
    c.set_defaults(func=_context)


def _register_sparse(sub: argparse._SubParsersAction) -> None:
    q = sub.add_parser("similar", help="find the documents most similar to a query (TF-IDF cosine)")
    q.add_argument("queries", nargs="+", metavar="QUERY")
    q.add_argument("--index", required=True, metavar="DOCS",
                   help="a file (one document per line) or a directory (one document per file)")
    q.add_argument("--top", type=int, default=5)
    q.add_argument("--tokenizer", metavar="DIR", help="units: a bertkit tokenizer's tokens (default: words)")
    add_options(q, SparseConfig)
    q.set_defaults(func=_search)

    v = sub.add_parser("vectorize", help="bag-of-words / TF-IDF document-by-term table of texts")
    v.add_argument("texts", nargs="*", metavar="TEXT")
    v.add_argument("--file", help="documents from a file (one per line) or a directory")
    v.add_argument("--tokenizer", metavar="DIR", help="units: a bertkit tokenizer's tokens (default: words)")
    v.add_argument("--max-terms", type=int, default=12, help="columns to show")
    v.add_argument("--one-hot", action="store_true", help="also show the first text's one-hot vectors")
    add_options(v, SparseConfig)
    v.set_defaults(func=_vectorize)
