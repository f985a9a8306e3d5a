"""The model behind the server, loaded once at start-up and called with whole batches.

Plain Python, no web: the app calls these methods from one worker thread, so the model never runs
two batches at once (integrated gradients hooks the model while it runs; nothing may share it then).

    engine = Engine.load("run/")
    engine.predict(["a wonderful film"])           # what FineTuned.predict gives
    engine.embed(["a wonderful film"])             # (vectors, token counts)

A RUN with task.json serves its task (POST /predict, /answer for question answering) and, from
the same encoder weights, embeddings; any other BERT directory serves embeddings only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from bertkit.errors import CheckpointError, ConfigError
from bertkit.explain.html import attention_payload, score_colour
from bertkit.explain.inputs import base_model, load_tokenizer
from bertkit.explain.report import explain_text
from bertkit.model.embedder import Embedder
from bertkit.tasks.predict import FineTuned
from bertkit.tasks.spec import TASK_FILE

PAIR_TASKS = ("pair", "qa")     # tasks whose every input is two texts
PREDICT_TASKS = ("classification", "pair", "multilabel", "regression", "ner")
EXPLAIN_TASKS = ("classification", "pair", "multilabel", "regression", "ner")


@dataclass
class Engine:
    """A loaded RUN: the fine-tuned model (None for an encoder directory) and an embedder."""

    path: Path
    embedder: Embedder
    tokenizer: Any                      # bertkit's Tokenizer (word ids and specials for explanations)
    finetuned: FineTuned | None = None

    @classmethod
    def load(cls, model_dir: str | Path) -> Engine:
        """Load everything now, so a directory that cannot serve fails at start-up with the reason."""
        path = Path(model_dir)
        if not path.is_dir():
            raise CheckpointError(f"--model {path}: no such directory")
        if not (path / "config.json").is_file():
            raise CheckpointError(f"--model {path}: no config.json (is this a model or RUN directory?)")
        finetuned = FineTuned.load(path) if (path / TASK_FILE).is_file() else None
        encoder = base_model(finetuned.model) if finetuned else None   # one copy of the weights
        embedder = Embedder(path, normalize=False, model=encoder)
        tokenizer = finetuned.tokenizer if finetuned else load_tokenizer(path)
        return cls(path, embedder, tokenizer, finetuned)

    # --- what the model is ----------------------------------------------------------------------

    @property
    def task(self) -> str:
        """The RUN's task ("classification", "ner", "qa"...), or "embeddings" for a plain encoder."""
        return self.finetuned.spec.task if self.finetuned else "embeddings"

    @property
    def takes_pairs(self) -> bool:
        """True when each input is two texts; a classifier trained on single texts takes one."""
        if self.finetuned is None:
            return False
        spec = self.finetuned.spec
        return spec.task in PAIR_TASKS or spec.columns.text_pair is not None

    @property
    def max_length(self) -> int:
        return self.finetuned.spec.max_length if self.finetuned else self.embedder.max_length

    @property
    def labels(self) -> list[str]:
        return list(self.finetuned.spec.labels) if self.finetuned else []

    def describe(self) -> dict[str, Any]:
        """What GET /health reports about the model."""
        cfg = self.embedder.model.config
        return {"model": str(self.path), "task": self.task, "labels": self.labels,
                "pairs": self.takes_pairs, "max_length": self.max_length,
                "embedding_dim": self.embedder.dim, "layers": cfg.num_hidden_layers,
                "heads": cfg.num_attention_heads,
                "endpoints": sorted(self.endpoints())}

    def endpoints(self) -> set[str]:
        """The model endpoints this RUN can answer."""
        out = {"embed"}
        if self.task in PREDICT_TASKS:
            out.add("predict")
        if self.task == "qa":
            out.add("answer")
        if self.task in EXPLAIN_TASKS or self.finetuned is None:
            out.add("explain")
        return out

    # --- batches --------------------------------------------------------------------------------

    def predict(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """One prediction per text (labels and probabilities, values, or entity spans)."""
        return self._need_finetuned().predict(texts, pairs, batch_size=len(texts))

    def answer(self, questions: Sequence[str], contexts: Sequence[str]) -> list[dict[str, Any]]:
        """Extractive answers: the span of each context that answers its question."""
        return self._need_finetuned().predict(questions, contexts, batch_size=len(questions))

    def embed(self, texts: Sequence[str]) -> tuple[torch.Tensor, list[int]]:
        """(len(texts), dim) unnormalised sentence embeddings and each text's token count."""
        vectors = self.embedder.encode(list(texts), batch_size=max(1, len(texts)))
        counts = [len(e.ids) for e in self.embedder.tokenizer.encode_batch(list(texts))]
        return vectors, counts

    @staticmethod
    def normalize(vectors: torch.Tensor) -> torch.Tensor:
        return F.normalize(vectors, p=2, dim=-1)

    def explain(self, text: str, pair: str | None = None, target: int | str | None = None,
                n_steps: int = 32, attention: bool = False, top: int = 3) -> dict[str, Any]:
        """Word attributions (integrated gradients, coloured as the HTML report colours them), the
        top heads per attention pattern, and with `attention` the weights the head view draws."""
        model = self.finetuned.model if self.finetuned else self.embedder.model
        report = explain_text(model, text, self.tokenizer, pair, target=target, n_steps=n_steps,
                              internal_batch_size=n_steps)
        out: dict[str, Any] = {"heads": report.heads.to_dict(top), "attribution": None,
                               "tokens": report.attention.tokens}
        if report.attribution is not None:
            attr = report.attribution
            words = attr.word_scores()
            scale = max((abs(s) for _, s in words), default=0.0)
            out["attribution"] = {**attr.to_dict(), "probabilities": dict(zip(
                attr.labels, [round(float(p), 6) for p in attr.probs], strict=True)),
                "colours": [score_colour(s, scale) for _, s in words],
                "legend": {"for": score_colour(1, 1), "against": score_colour(-1, 1)}}
        if attention:
            out["attention"] = attention_payload(report.attention)
        return out

    def _need_finetuned(self) -> FineTuned:
        if self.finetuned is None:
            raise ConfigError(f"{self.path} has no task head (no {TASK_FILE}); it serves embeddings only")
        return self.finetuned


def set_threads(threads: int | None) -> None:
    """Torch's intra-op threads for inference; None keeps torch's default."""
    if threads is not None:
        torch.set_num_threads(threads)

