"""How to train a tokenizer, as one dataclass: the options of `Tokenizer.train`, `train_runtime`
and `bertkit tokenizer train`, each declared once with its default, help text and valid range.

    cfg = TokenizerTrainConfig(algorithm="bpe", vocab_size=8000, min_frequency=2)
    cfg.specials      # {"pad": "[PAD]", "unk": "[UNK]", ...}: BERT's, RoBERTa's for byte_bpe
    cfg.normalizer()  # NormalizerOptions(lowercase=True, strip_accents=False, ...), None for byte_bpe

Building one checks every field (`ConfigError` naming the field), so the learners can trust it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bertkit.errors import ConfigError
from bertkit.options import check_options, option
from bertkit.tokenizers.normalizers import UNICODE_FORMS, NormalizerOptions
from bertkit.tokenizers.specials import REQUIRED_ROLES, default_specials

ALGORITHMS = ("bpe", "wordpiece", "unigram", "byte_bpe", "word", "char")
# The default first: the log-likelihood gain, then the course's ratio (wordpiece.py says why).
WORDPIECE_SCORES = ("log_likelihood_gain", "likelihood_ratio")
ENCODING_ERRORS = ("strict", "replace")


@dataclass(frozen=True)
class TokenizerTrainConfig:
    """Options for training a tokenizer (see trainers.py for what each algorithm does with them)."""

    algorithm: str = option("wordpiece", "the learning algorithm", choices=ALGORITHMS)
    vocab_size: int = option(8000, "exact size, special tokens included", low=1, metavar="N")
    min_frequency: int = option(2, "ignore pairs/pieces rarer than this", low=1, metavar="N")
    limit_alphabet: int | None = option(None, "keep only the N most frequent characters", low=1,
                                        metavar="N")
    lowercase: bool | None = option(None, "lowercase (keeping accents); default: on, off for byte_bpe")
    strip_accents: bool | None = option(None, "also remove accents (Você -> voce)")
    unicode_form: str | None = option("NFC", "Unicode normal form applied first", choices=UNICODE_FORMS,
                                      cli=False)
    encoding_errors: str = option("strict", "'replace' turns undecodable bytes into U+FFFD instead of "
                                  "stopping", choices=ENCODING_ERRORS)
    wordpiece_score: str = option("log_likelihood_gain", "WordPiece merge score: the log-likelihood "
                                  "gain (compresses like BPE), or likelihood_ratio, the course's "
                                  "freq(ab)/(freq(a)*freq(b)) (teaching version; ~3x the tokens)",
                                  choices=WORDPIECE_SCORES)
    max_input_chars_per_word: int = option(100, "WordPiece: a longer word becomes the unknown token",
                                           low=1, cli=False)
    special_tokens: Mapping[str, str] | None = option(
        None, "role -> token ({'pad': ..., 'unk': ..., 'cls': ..., 'sep': ..., 'mask': ...}); "
        "default BERT's, RoBERTa's for byte_bpe", cli=False)
    model_max_length: int = option(512, "the longest input the model takes", low=1, cli=False)
    verbose: bool = option(False, "print each merge with its count as it is learned")
    show_progress: bool = option(True, "no progress bar", flag="--quiet")

    def __post_init__(self) -> None:
        check_options(self)
        specials = self.specials
        missing = [r for r in REQUIRED_ROLES if r not in specials]
        if missing:
            raise ConfigError(f"special_tokens must name the {', '.join(missing)} token(s); got {specials}")
        n = len(self.special_token_list)
        if self.vocab_size <= n:
            raise ConfigError(f"vocab_size={self.vocab_size} must exceed the {n} special tokens")

    @property
    def specials(self) -> dict[str, str]:
        """Role -> token: the given special tokens, else the algorithm's usual ones."""
        given = self.special_tokens
        return dict(given) if given is not None else default_specials(self.algorithm)

    @property
    def special_token_list(self) -> list[str]:
        """The distinct special tokens in id order (two roles may share a token)."""
        return list(dict.fromkeys(self.specials.values()))

    def normalizer(self) -> NormalizerOptions | None:
        """Lowercasing that keeps accents by default, and nothing at all for byte_bpe (so decoding
        gives back the exact input); `lowercase`, `strip_accents` or `unicode_form` override either."""
        if self.lowercase is None and self.strip_accents is None and self.unicode_form == "NFC":
            return None if self.algorithm == "byte_bpe" else NormalizerOptions()
        return NormalizerOptions(lowercase=True if self.lowercase is None else self.lowercase,
                                 strip_accents=bool(self.strip_accents), unicode_form=self.unicode_form)
