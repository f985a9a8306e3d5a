"""BPE: the course's worked example, the fast learner equal to the reference one, exact vocabulary
sizes, options and bad input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit.errors import ConfigError, DataError
from bertkit.tokenizers.bpe import learn_merges, train_bpe
from bertkit.tokenizers.config import ALGORITHMS
from bertkit.tokenizers.normalizers import NormalizerOptions
from bertkit.tokenizers.reference import bpe_merges, reference_encode
from bertkit.tokenizers.specials import BERT_SPECIALS, ROBERTA_SPECIALS
from bertkit.tokenizers.trainers import count_words, train_runtime
from bertkit.tokenizers.vocab import build_table, initial_vocab

# The classic worked example (issue 3 / course): word counts and base vocabulary a b i m t u ú.
WORKED = {"mau": 10, "baú": 5, "itaú": 7, "uau": 10}


def test_worked_example_merges_and_segmentation(capsys):
    model = train_bpe(WORKED, vocab_size=9, special_tokens=(), min_frequency=1, verbose=True)
    assert list(model.vocab)[:7] == ["a", "b", "i", "m", "t", "u", "ú"]
    assert model.merges == [("a", "u"), ("a", "ú")]
    out = capsys.readouterr().out
    assert "'a' + 'u' -> 'au' (count 20)" in out
    assert "'a' + 'ú' -> 'aú' (count 12)" in out
    assert [model.tokenize(w) for w in WORKED] == [["m", "au"], ["b", "aú"], ["i", "t", "aú"], ["u", "au"]]


def fast_merges(word_counts: dict[str, int], min_frequency: int) -> list[tuple[str, str]]:
    """The fast learner from the reference learner's initial vocabulary, run until it stops."""
    tokens, ids = initial_vocab((), sorted({ch for w in word_counts for ch in w}), 10**9)
    words, counts = build_table(word_counts, ids)
    return learn_merges(words, counts, tokens, ids, 10**9, min_frequency=min_frequency)


def test_reference_learner_on_the_worked_example():
    assert bpe_merges(WORKED, vocab_size=9, min_frequency=1) == [("a", "u"), ("a", "ú")]


@settings(max_examples=200, deadline=None)
@given(counts=st.dictionaries(st.text(alphabet="abcd", min_size=1, max_size=8), st.integers(1, 30),
                              min_size=1, max_size=25),
       min_frequency=st.integers(1, 3))
def test_fast_learner_equals_the_reference(counts, min_frequency):
    """Same merges in the same order, repeated merged strings ("a"+"bc" = "ab"+"c") included."""
    assert fast_merges(counts, min_frequency) == bpe_merges(counts, 10**9, min_frequency)


def test_fast_learner_equals_the_reference_on_real_text(corpus_pt):
    lines = corpus_pt.read_text(encoding="utf-8").splitlines()[:150]
    counts = dict(count_words(lines, NormalizerOptions(), "bert"))
    merges = fast_merges(counts, 2)
    assert len(merges) > 300
    assert merges == bpe_merges(counts, 10**9, 2)
    size = 5 + len({ch for w in counts for ch in w}) + 200
    assert train_bpe(counts, vocab_size=size, special_tokens=tuple(BERT_SPECIALS.values())).merges == \
        merges[:200]


def test_worked_example_through_the_runtime():
    lines = [" ".join([w] * c) for w, c in WORKED.items()]
    tok = train_runtime(lines, algorithm="bpe", vocab_size=5 + 7 + 2, show_progress=False)
    assert tok.encode("itaú mau", add_special_tokens=False).tokens == ["i", "t", "aú", "m", "au"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("vocab_size", [200, 333])
def test_vocab_size_is_exact(algorithm, vocab_size, corpus_pt):
    lines = corpus_pt.read_text(encoding="utf-8").splitlines()[:300]
    specials = None if algorithm == "byte_bpe" else BERT_SPECIALS
    if algorithm == "byte_bpe":
        vocab_size += 256
    if algorithm == "char":
        vocab_size = 30
    tok = train_runtime(lines, algorithm=algorithm, vocab_size=vocab_size, special_tokens=specials,
                        min_frequency=1, show_progress=False)
    assert tok.get_vocab_size(with_added_tokens=True) == vocab_size
    expected = list((specials or ROBERTA_SPECIALS).values())
    assert [tok.token_to_id(t) for t in expected] == list(range(len(expected)))
    text = "o rato de roma"
    assert reference_encode(tok, text) == tok.encode(text, add_special_tokens=False).ids


def test_min_frequency_and_limit_alphabet():
    counts = {"aaab": 3, "cd": 1}
    model = train_bpe(counts, vocab_size=5, special_tokens=("[UNK]",), min_frequency=1, limit_alphabet=2)
    # alphabet cut to the 2 most frequent characters (a: 9, b: 3); merges a+a (6), then a+b (3)
    assert list(model.vocab) == ["[UNK]", "a", "b", "aa", "ab"]
    assert "c" not in model.vocab and model.tokenize("ca") == ["[UNK]", "a"]
    with pytest.raises(DataError, match="min_frequency=3"):
        train_bpe(counts, vocab_size=20, special_tokens=(), min_frequency=3)


def test_bad_input_errors():
    with pytest.raises(DataError, match="empty corpus"):
        train_runtime(["", "   "], algorithm="bpe", vocab_size=100, show_progress=False)
    with pytest.raises(ConfigError, match="at least 12"):  # 5 specials + 7 characters
        train_runtime(["mau baú itaú uau"], algorithm="bpe", vocab_size=10, show_progress=False)
    with pytest.raises(ConfigError, match="algorithm must be one of bpe, wordpiece, unigram, byte_bpe"):
        train_runtime(["x"], algorithm="sentencepiece", vocab_size=100, show_progress=False)


def test_bpe_compression_within_2_percent_of_hf(corpus_pt):
    """Held-out tokens per character at equal vocabulary size vs Hugging Face's BpeTrainer."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from bertkit.datasets import corpus_file
    from bertkit.tokenizers.normalizers import NormalizerOptions, runtime_normalizer

    train = corpus_pt.read_text(encoding="utf-8").splitlines()
    held_out = [x for x in corpus_file("pt", "valid").read_text(encoding="utf-8").splitlines() if x]
    ours = train_runtime(train, algorithm="bpe", vocab_size=2000, show_progress=False)
    hf = Tokenizer(models.BPE(unk_token="[UNK]"))
    hf.normalizer = runtime_normalizer(NormalizerOptions())
    hf.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    hf.train_from_iterator(train, trainers.BpeTrainer(vocab_size=2000, special_tokens=specials,
                                                      show_progress=False))

    def tokens_per_char(tok):
        return sum(len(e.ids) for e in tok.encode_batch(held_out, add_special_tokens=False)) / sum(
            map(len, held_out))

    assert abs(tokens_per_char(ours) / tokens_per_char(hf) - 1) < 0.02


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="aé Σ.,\x1c\x1f\t\n\u3000\xa0\x85中", max_size=20), max_size=6))
def test_fast_bert_word_counts_equal_plain_regex(lines):
    """count_words' per-distinct-piece path equals the regex over the whole normalized text."""
    from collections import Counter

    from bertkit.tokenizers.normalizers import NormalizerOptions, runtime_normalizer
    from bertkit.tokenizers.pretokenizers import bert_split_regex
    from bertkit.tokenizers.trainers import count_words

    for opts in (NormalizerOptions(), NormalizerOptions(clean_text=False), None):
        norm = runtime_normalizer(opts)
        text = "\n".join(lines)
        plain = Counter(bert_split_regex().findall(norm.normalize_str(text) if norm else text))
        if not plain:
            continue
        fast = count_words(lines, opts, "bert")
        assert fast == plain and list(fast) == list(plain)
