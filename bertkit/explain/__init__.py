"""Interpretation: attention views and head patterns, integrated gradients, the self-attention trace,
and embedding inspection. Every view is one offline HTML file, a PNG, or terminal text.
"""

from bertkit._modules import lazy_exports

_EXPORTS = {
    "AttentionMap": "bertkit.explain.attention",
    "extract_attention": "bertkit.explain.attention",
    "Attribution": "bertkit.explain.attributions",
    "integrated_gradients": "bertkit.explain.attributions",
    "contextual_similarity": "bertkit.explain.embeddings",
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
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
