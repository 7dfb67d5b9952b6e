"""An optional cross-encoder reranking stage: used when the settings name a reranker model.

No cross-encoder ships offline with newsqa today; `NEWSQA_RERANKER_MODEL=/path/to/cross-encoder` (a
sentence-transformers CrossEncoder folder) turns the stage on. Tests use a fake with the same `score` method.
"""

from __future__ import annotations

import threading
from typing import Protocol, Sequence


class Reranker(Protocol):
    def score(self, question: str, texts: Sequence[str]) -> list[float]:
        """Relevance of each text to the question (higher is better)."""


class CrossEncoderReranker:
    """sentence-transformers CrossEncoder on the CPU, one call at a time."""

    def __init__(self, model_path: str, *, batch_size: int = 16) -> None:
        from sentence_transformers import CrossEncoder

        self._model = CrossEncoder(model_path, device="cpu")
        self._batch_size = batch_size
        self._lock = threading.Lock()

    def score(self, question: str, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        with self._lock:
            scores = self._model.predict([(question, t) for t in texts], batch_size=self._batch_size)
        return [float(s) for s in scores]
