"""bertkit: make your own BERT, from a raw corpus to an explained, fine-tuned model.

Public names are imported lazily so that `import bertkit` and `bertkit --help` stay fast.
"""

from bertkit._modules import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it
_PUBLIC = {
    "Tokenizer": "bertkit.tokenizers",
    "Encoding": "bertkit.tokenizers",
    "BertConfig": "bertkit.model",
    "BertModel": "bertkit.model",
    "BertForMaskedLM": "bertkit.model",
    "BertForPreTraining": "bertkit.model",
    "BertForSequenceClassification": "bertkit.model",
    "BertForTokenClassification": "bertkit.model",
    "BertForQuestionAnswering": "bertkit.model",
    "BertForMultipleChoice": "bertkit.model",
    "Embedder": "bertkit.model",
    "GPTConfig": "bertkit.model",
    "GPTLanguageModel": "bertkit.model",
    "TransformerConfig": "bertkit.model",
    "Seq2SeqTransformer": "bertkit.model",
    "load_model": "bertkit.model",
    "RobertaModel": "bertkit.model",
    "DistilBertModel": "bertkit.model",
    "AlbertModel": "bertkit.model",
    "BertkitError": "bertkit.errors",
}

__all__ = sorted(_PUBLIC) + ["__version__"]

__getattr__ = lazy_exports(__name__, _PUBLIC)
