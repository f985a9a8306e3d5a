"""Interpretation: attention views and head patterns, integrated gradients, the self-attention trace,
and embedding inspection. Every view is one offline HTML file, a PNG, or terminal text.
"""

from __future__ import annotations

from bertkit.explain.attention import AttentionMap, extract_attention
from bertkit.explain.attributions import Attribution, integrated_gradients
from bertkit.explain.embeddings import contextual_similarity, nearest_tokens
from bertkit.explain.inputs import Encoded, encode, load
from bertkit.explain.patterns import PATTERNS, HeadScores, score_heads
from bertkit.explain.report import Report, explain_text
from bertkit.explain.trace import Trace, toy_model, trace_attention

__all__ = ["AttentionMap", "Attribution", "Encoded", "HeadScores", "PATTERNS", "Report", "Trace",
           "contextual_similarity", "encode", "explain_text", "extract_attention", "integrated_gradients",
           "load", "nearest_tokens", "score_heads", "toy_model", "trace_attention"]
