"""The Transformer encoder and BERT with its heads, Hugging Face checkpoint interop, sentence embeddings."""

from bertkit._modules import lazy_exports

_EXPORTS = {
    **dict.fromkeys(
        ["BertForMaskedLM", "BertForMultipleChoice", "BertForPreTraining", "BertForQuestionAnswering",
         "BertForSequenceClassification", "BertForTokenClassification", "BertModel", "BertOutput",
         "BertPreTrainedModel", "ClassifierOutput", "MaskedLMOutput", "PreTrainingOutput",
         "QuestionAnsweringOutput"], "bertkit.model.bert"),
    "PRESETS": "bertkit.model.config",
    "BertConfig": "bertkit.model.config",
    "Embedder": "bertkit.model.embedder",
    **dict.fromkeys(["GPTConfig", "GPTLanguageModel", "GPT_PRESETS"], "bertkit.model.gpt"),
    **dict.fromkeys(["TransformerConfig", "Seq2SeqTransformer"], "bertkit.model.seq2seq"),
    "load_model": "bertkit.model.auto",
    "RobertaModel": "bertkit.model.roberta",
    "DistilBertModel": "bertkit.model.distilbert",
    "AlbertModel": "bertkit.model.albert",
    "generate": "bertkit.model.generation",
    "sinusoidal_positions": "bertkit.model.layers",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
