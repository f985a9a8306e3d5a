"""WordPiece: the likelihood score (not raw frequency), greedy longest-match encoding."""

from __future__ import annotations

from bertkit.tokenizers.bpe import train_bpe
from bertkit.tokenizers.trainers import reference_encode, train_runtime
from bertkit.tokenizers.wordpiece import WordPieceModel, train_wordpiece

# Symbols: a ##b | a ##c | d ##b. freq(a)=22, freq(##b)=21, freq(##c)=10, freq(d)=9.
# Pair counts: (a,##b)=12, (a,##c)=10, (d,##b)=9  -> raw frequency picks a+##b.
# Likelihood scores: 12/(22*21)=0.0260, 10/(22*10)=0.0455, 9/(9*21)=0.0476 -> WordPiece picks d+##b.
COUNTS = {"ab": 12, "ac": 10, "db": 9}


def test_likelihood_beats_frequency():
    wp = train_wordpiece(COUNTS, vocab_size=5, special_tokens=(), min_frequency=1)
    assert sorted(wp.vocab) == ["##b", "##c", "a", "d", "db"]
    bpe = train_bpe(COUNTS, vocab_size=6, special_tokens=(), min_frequency=1)
    assert bpe.merges[0] == ("a", "b")  # frequency's choice, for contrast


def test_greedy_longest_match_first():
    vocab = {t: i for i, t in enumerate(["[UNK]", "un", "##aff", "##able", "##a", "u", "##n", "##ff"])}
    wp = WordPieceModel(vocab=vocab, max_input_chars_per_word=10)
    assert wp.tokenize("unaffable") == ["un", "##aff", "##able"]
    assert wp.tokenize("unx") == ["[UNK]"]  # one piece fails -> the whole word is unknown
    assert wp.tokenize("unaffableun") == ["[UNK]"]  # longer than max_input_chars_per_word


def test_runtime_parity_on_corpus(corpus_pt):
    lines = corpus_pt.read_text(encoding="utf-8").splitlines()[:2000]
    tok = train_runtime(lines, algorithm="wordpiece", vocab_size=600, show_progress=False,
                        max_input_chars_per_word=12)
    assert tok.get_vocab_size() == 600
    for text in lines[2000:2100] + ["Você não encontra a licença?", "anticonstitucionalissimamente"]:
        assert reference_encode(tok, text) == tok.encode(text, add_special_tokens=False).ids
    assert "##" in "".join(tok.get_vocab())

