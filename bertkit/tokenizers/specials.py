"""The special tokens, by role: BERT's layout and RoBERTa's, defined once.

A role is what the model does with the token: `pad` fills a batch, `unk` stands for what the
vocabulary cannot spell, `cls` starts the input, `sep` ends each segment, `mask` hides a token
for masked-language-model pretraining. Dict order is id order in a trained vocabulary.
"""

from __future__ import annotations

ROLES = ("pad", "unk", "cls", "sep", "mask")
# BERT's layout: [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4.
BERT_SPECIALS = {"pad": "[PAD]", "unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"}
# RoBERTa's layout for byte-level BPE: <s>=0, <pad>=1, </s>=2, <unk>=3, <mask>=4.
ROBERTA_SPECIALS = {"cls": "<s>", "pad": "<pad>", "sep": "</s>", "unk": "<unk>", "mask": "<mask>"}
# The roles every trained tokenizer needs: unknown text, and the [CLS] A [SEP] template.
REQUIRED_ROLES = ("unk", "cls", "sep")
# Names tried for each role when a file does not say (BERT's first, then RoBERTa's).
ROLE_CANDIDATES = {role: (BERT_SPECIALS[role], ROBERTA_SPECIALS[role]) for role in ROLES}
ROLE_NAMES = {"pad": "padding", "unk": "unknown", "cls": "classifier", "sep": "separator", "mask": "mask"}


def default_specials(algorithm: str) -> dict[str, str]:
    """RoBERTa's special tokens for byte-level BPE (as GPT-2/RoBERTa files have them), else BERT's."""
    return dict(ROBERTA_SPECIALS if algorithm == "byte_bpe" else BERT_SPECIALS)
