"""Fine-tuning tasks: classification, sentence pairs, multi-label, regression and NER.

From a CSV/TSV/JSONL/CoNLL file to a fine-tuned RUN directory (Hugging Face layout), its metrics,
and predictions. See docs/finetuning.md.
"""
