"""Interpretation: attention views and head patterns, integrated gradients, the self-attention trace,
and embedding inspection. Every view is one offline HTML file, a PNG, or terminal text.
"""

from __future__ import annotations

from bertkit.explain.attention import AttentionMap, extract_attention
from bertkit.explain.inputs import Encoded, encode, load
from bertkit.explain.patterns import PATTERNS, HeadScores, score_heads

__all__ = ["AttentionMap", "Encoded", "HeadScores", "PATTERNS", "encode", "extract_attention", "load",
           "score_heads"]
