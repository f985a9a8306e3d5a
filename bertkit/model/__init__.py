"""The Transformer encoder and BERT with its heads, Hugging Face checkpoint interop, sentence embeddings."""

from bertkit._modules import lazy_exports

_EXPORTS = {
    **dict.fromkeys(
        ["BertModel", "BertOutput", "BertPreTrainedModel", "ClassifierOutput", "MaskedLMOutput",
         "PreTrainingOutput", "QuestionAnsweringOutput"], "bertkit.model.bert"),
    **dict.fromkeys(
        ["BertForMaskedLM", "BertForMultipleChoice", "BertForPreTraining", "BertForQuestionAnswering",
         "BertForSequenceClassification", "BertForTokenClassification"], "bertkit.model.heads"),
    "PRESETS": "bertkit.model.config",
    "BertConfig": "bertkit.model.config",
    "Embedder": "bertkit.model.embedder",
    **dict.fromkeys(["GPTConfig", "GPTLanguageModel", "GPT_PRESETS"], "bertkit.model.gpt"),
    **dict.fromkeys(["TransformerConfig", "Seq2SeqTransformer"], "bertkit.model.seq2seq"),
    "load_model": "bertkit.model.auto",
    **{f"{stem}{head}": module
       for stem, module in (("Roberta", "bertkit.model.roberta"), ("DistilBert", "bertkit.model.distilbert"),
                            ("Albert", "bertkit.model.albert"))
       for head in ("Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification",
                    "ForQuestionAnswering", "ForMultipleChoice")},
    "AlbertForPreTraining": "bertkit.model.albert",
    "generate": "bertkit.model.generation",
    "sinusoidal_positions": "bertkit.model.layers",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
