"""The task heads, on any encoder of the BERT family: MLM, pretraining (NSP or ALBERT's SOP), sequence
and token classification, question answering, multiple choice.

A head class holds its encoder as `.bert`, built from the class attribute `encoder_class`
(BertModel here). A family's heads are these classes on its encoder, one line each:

    RobertaForSequenceClassification = for_family(BertForSequenceClassification, RobertaModel)

What differs between the families' Hugging Face heads is names, not computation, and lives in the
family's layout (family.py): RoBERTa's sequence classifier keeps its [CLS] projection in
`classifier.dense` (bertkit's pooler) and its output layer in `classifier.out_proj`; DistilBERT's is
`pre_classifier` with a ReLU (DistilBertModel pools with ReLU); ALBERT's MLM transform maps the
hidden size down to its embedding size, so the decoder stays tied to the word embeddings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bertkit.errors import DataError
from bertkit.model.bert import (
    BertModel,
    BertPreTrainedModel,
    ClassifierOutput,
    MaskedLMOutput,
    PreTrainingOutput,
    QuestionAnsweringOutput,
)
from bertkit.model.config import BertConfig
from bertkit.model.layers import activation

Tensor = torch.Tensor


class HeadModel(BertPreTrainedModel):
    """An encoder (`.bert`, of class `encoder_class`) under a head; `pooled`: the head reads the
    pooled [CLS], so the encoder keeps its pooler."""

    encoder_class: type[BertModel] = BertModel
    pooled: bool = False

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.bert = self.encoder_class(config, add_pooling_layer=self.pooled)

    def encode(self, input_ids: Tensor | None, attention_mask: Tensor | None, token_type_ids: Tensor | None,
               position_ids: Tensor | None, inputs_embeds: Tensor | None, output_attentions: bool,
               output_hidden_states: bool):
        return self.bert(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                         output_attentions, output_hidden_states)


def for_family(head: type[HeadModel], encoder: type[BertModel]) -> type[HeadModel]:
    """`head` on another family's encoder, named as transformers names it (RobertaForMaskedLM)."""
    name = encoder.layout.name + head.head
    return type(name, (head,), {"encoder_class": encoder, "layout": encoder.layout,
                                "__module__": encoder.__module__, "__qualname__": name,
                                "__doc__": f"{head.__doc__}\n\n    On the {encoder.__name__} encoder."})


def _dropout(config: BertConfig) -> nn.Dropout:
    p = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
    return nn.Dropout(p)


class MaskedLMHead(nn.Module):
    """transform (dense + activation + LayerNorm) to the width of the word embeddings, then the decoder
    tied to them, plus a bias. `act`: the activation (default: the config's hidden_act)."""

    def __init__(self, config: BertConfig, width: int | None = None, act: str | None = None):
        super().__init__()
        width = width or config.hidden_size
        self.transform = nn.Linear(config.hidden_size, width)
        self.act = activation(act or config.hidden_act)
        self.norm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, h: Tensor, word_embeddings: Tensor) -> Tensor:
        return F.linear(self.norm(self.act(self.transform(h))), word_embeddings, self.bias)


def _mlm_head(model: HeadModel) -> MaskedLMHead:
    return MaskedLMHead(model.config, model.bert.embeddings.word.embedding_dim, model.layout.mlm_act)


def _mlm(model: nn.Module, hidden: Tensor, labels: Tensor | None,
         ) -> tuple[Tensor | None, Tensor, Tensor | None]:
    """(loss, logits, masked_positions); with labels, logits only at the masked positions."""
    weight = model.bert.embeddings.word.weight
    if labels is None:
        return None, model.mlm(hidden, weight), None
    if tuple(labels.shape) != tuple(hidden.shape[:2]):
        raise DataError(f"MLM labels have shape {tuple(labels.shape)}, expected {tuple(hidden.shape[:2])}")
    masked = labels != -100
    logits = model.mlm(hidden[masked], weight)                        # (n_masked, vocab)
    if logits.shape[0] == 0:
        return logits.sum() * 0.0, logits, masked                      # nothing masked: zero, not NaN
    return F.cross_entropy(logits, labels[masked]), logits, masked


class BertForMaskedLM(HeadModel):
    """BERT with the masked-language-model head (no pooler, as in transformers)."""

    head = "ForMaskedLM"

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.mlm = _mlm_head(self)
        self.init_weights()

    def forward(self, input_ids: Tensor | None = None, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None, position_ids: Tensor | None = None,
                inputs_embeds: Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False, labels: Tensor | None = None) -> MaskedLMOutput:
        out = self.encode(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                          output_attentions, output_hidden_states)
        loss, logits, masked = _mlm(self, out.last_hidden_state, labels)
        return MaskedLMOutput(loss, logits, masked, out.hidden_states, out.attentions)


class BertForPreTraining(HeadModel):
    """Both pretraining heads: MLM and a two-way sentence objective on the pooled [CLS]: BERT's
    next-sentence prediction (0: B follows A, 1: B is random) or, for ALBERT, sentence-order
    prediction (0: A then B as in the text, 1: the two swapped; Lan et al. 2020, 4.1). The label
    is `next_sentence_label`; ALBERT's `sentence_order_label` is accepted as the same thing."""

    head = "ForPreTraining"
    pooled = True

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.mlm = _mlm_head(self)
        self.nsp = nn.Linear(config.hidden_size, 2)
        self.init_weights()

    def forward(self, input_ids: Tensor | None = None, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None, position_ids: Tensor | None = None,
                inputs_embeds: Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False, labels: Tensor | None = None,
                next_sentence_label: Tensor | None = None,
                sentence_order_label: Tensor | None = None) -> PreTrainingOutput:
        out = self.encode(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                          output_attentions, output_hidden_states)
        mlm_loss, logits, masked = _mlm(self, out.last_hidden_state, labels)
        nsp_logits = self.nsp(out.pooler_output)
        sentence_label = next_sentence_label if next_sentence_label is not None else sentence_order_label
        nsp_loss = None
        if sentence_label is not None:
            nsp_loss = F.cross_entropy(nsp_logits, sentence_label.view(-1))
        losses = [x for x in (mlm_loss, nsp_loss) if x is not None]
        loss = sum(losses[1:], losses[0]) if losses else None
        return PreTrainingOutput(loss, mlm_loss, nsp_loss, logits, nsp_logits, masked,
                                 out.hidden_states, out.attentions)


def classification_loss(logits: Tensor, labels: Tensor, problem_type: str | None,
                        weights: Tensor | None = None) -> Tensor:
    """The loss of a sequence classifier; problem_type None is inferred as transformers does."""
    num_labels = logits.shape[-1]
    if problem_type is None:
        if num_labels == 1:
            problem_type = "regression"
        elif not labels.is_floating_point():
            problem_type = "single_label_classification"
        else:
            problem_type = "multi_label_classification"
    if problem_type == "regression":
        if num_labels == 1:
            return F.mse_loss(logits.view(-1), labels.view(-1).to(logits.dtype))
        return F.mse_loss(logits, labels.to(logits.dtype).view_as(logits))
    if problem_type == "single_label_classification":
        w = None if weights is None else weights.to(logits)
        return F.cross_entropy(logits.view(-1, num_labels), labels.view(-1).long(), weight=w)
    if tuple(labels.shape) != tuple(logits.shape):
        raise DataError(f"multi-label labels must have shape {tuple(logits.shape)} (one 0/1 column per "
                        f"label), got {tuple(labels.shape)}")
    w = None if weights is None else weights.to(logits)
    return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype), weight=w)


class _Classifier(HeadModel):
    """encoder -> dropout -> linear. Subclasses say what is classified (`pooled`: the pooled [CLS],
    else every token) and the loss; `class_weights` (a tensor, num_labels) weighs each class, and
    a `loss_weights` argument to forward takes precedence for that call."""

    labels_from = "classifier.weight"      # a config without num_labels/id2label: one row per label

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.dropout = _dropout(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.class_weights: Tensor | None = None
        self.init_weights()

    def loss(self, logits: Tensor, labels: Tensor, weights: Tensor | None) -> Tensor:
        raise NotImplementedError

    def forward(self, input_ids: Tensor | None = None, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None, position_ids: Tensor | None = None,
                inputs_embeds: Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False, labels: Tensor | None = None,
                loss_weights: Tensor | None = None) -> ClassifierOutput:
        out = self.encode(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                          output_attentions, output_hidden_states)
        features = out.pooler_output if self.pooled else out.last_hidden_state
        logits = self.classifier(self.dropout(features))
        loss = None
        if labels is not None:
            weights = loss_weights if loss_weights is not None else self.class_weights
            loss = self.loss(logits, labels, weights)
        return ClassifierOutput(loss, logits, out.hidden_states, out.attentions)


class BertForSequenceClassification(_Classifier):
    """Pooled [CLS] -> dropout -> linear: single-label, multi-label or (multi-output) regression."""

    head = "ForSequenceClassification"
    pooled = True

    def loss(self, logits: Tensor, labels: Tensor, weights: Tensor | None) -> Tensor:
        return classification_loss(logits, labels, self.config.problem_type, weights)


class BertForTokenClassification(_Classifier):
    """Each token's hidden state -> dropout -> linear; labels -100 are ignored (sub-words, padding)."""

    head = "ForTokenClassification"
    pooled = False

    def loss(self, logits: Tensor, labels: Tensor, weights: Tensor | None) -> Tensor:
        w = None if weights is None else weights.to(logits)
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1), weight=w,
                               ignore_index=-100)


class BertForQuestionAnswering(HeadModel):
    """Each token's hidden state -> linear(hidden, 2): the logits of the answer starting and ending there.

    Loss (Devlin et al. 2019, 4.2): the mean of the start and end cross-entropies; target positions
    outside the sequence are clamped to `seq` and ignored, as in transformers. Padding positions get
    the lowest logit, so no answer is scored there; transformers scores them, so its loss on a
    padded batch differs slightly (on unpadded inputs the two agree to float precision).
    """

    head = "ForQuestionAnswering"

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.qa_outputs = nn.Linear(config.hidden_size, 2)
        self.init_weights()

    def forward(self, input_ids: Tensor | None = None, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None, position_ids: Tensor | None = None,
                inputs_embeds: Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False, start_positions: Tensor | None = None,
                end_positions: Tensor | None = None) -> QuestionAnsweringOutput:
        out = self.encode(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                          output_attentions, output_hidden_states)
        logits = self.qa_outputs(out.last_hidden_state)                    # (batch, seq, 2)
        if attention_mask is not None:   # no answer in the padding (transformers scores it: equal unpadded)
            logits = logits.masked_fill(~attention_mask.bool().unsqueeze(-1), torch.finfo(logits.dtype).min)
        start, end = logits.unbind(-1)                                     # (batch, seq) each
        loss = None
        if start_positions is not None and end_positions is not None:
            seq = start.shape[1]
            loss = (F.cross_entropy(start, start_positions.view(-1).clamp(0, seq), ignore_index=seq)
                    + F.cross_entropy(end, end_positions.view(-1).clamp(0, seq), ignore_index=seq)) / 2
        return QuestionAnsweringOutput(loss, start.contiguous(), end.contiguous(), out.hidden_states,
                                       out.attentions)


class BertForMultipleChoice(HeadModel):
    """(batch, choices, seq) inputs flattened to (batch * choices, seq); each pooled [CLS] -> dropout ->
    linear(hidden, 1), reshaped to (batch, choices) logits; cross-entropy over the choices."""

    head = "ForMultipleChoice"
    pooled = True

    def __init__(self, config: BertConfig):
        super().__init__(config)
        self.dropout = _dropout(config)
        self.classifier = nn.Linear(config.hidden_size, 1)
        self.init_weights()

    def forward(self, input_ids: Tensor | None = None, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None, position_ids: Tensor | None = None,
                inputs_embeds: Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False, labels: Tensor | None = None) -> ClassifierOutput:
        ref = input_ids if input_ids is not None else inputs_embeds
        batch, choices = ref.shape[:2]

        def flat(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.reshape(batch * choices, *t.shape[2:])

        out = self.encode(flat(input_ids), flat(attention_mask), flat(token_type_ids), flat(position_ids),
                          flat(inputs_embeds), output_attentions, output_hidden_states)
        logits = self.classifier(self.dropout(out.pooler_output)).view(batch, choices)
        loss = None if labels is None else F.cross_entropy(logits, labels.view(-1))
        return ClassifierOutput(loss, logits, out.hidden_states, out.attentions)
