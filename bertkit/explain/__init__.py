"""Interpretation: attention views and head patterns, integrated gradients, the attention trace
(encoder self-attention; the decoders' masked self-attention and cross-attention), and embedding
inspection (static vs contextual). Every view is one offline HTML file, a PNG, or terminal text.
"""

from bertkit._modules import lazy_exports

_EXPORTS = {
    "AttentionMap": "bertkit.explain.attention",
    "extract_attention": "bertkit.explain.attention",
    "Attribution": "bertkit.explain.attributions",
    "integrated_gradients": "bertkit.explain.attributions",
    "AttentionView": "bertkit.explain.decoder",
    "DecoderAttention": "bertkit.explain.decoder",
    "decoder_attention": "bertkit.explain.decoder",
    "compare_embeddings": "bertkit.explain.embeddings",
    "contextual_similarity": "bertkit.explain.embeddings",
    "static_vs_contextual": "bertkit.explain.embeddings",
    "nearest_tokens": "bertkit.explain.embeddings",
    "Encoded": "bertkit.explain.inputs",
    "encode": "bertkit.explain.inputs",
    "load": "bertkit.explain.inputs",
    "PATTERNS": "bertkit.explain.patterns",
    "HeadScores": "bertkit.explain.patterns",
    "score_heads": "bertkit.explain.patterns",
    "Report": "bertkit.explain.report",
    "explain_text": "bertkit.explain.report",
    "Trace": "bertkit.explain.trace",
    "toy_model": "bertkit.explain.trace",
    "trace_attention": "bertkit.explain.trace",
    "toy_gpt": "bertkit.explain.trace_decoder",
    "toy_seq2seq": "bertkit.explain.trace_decoder",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
