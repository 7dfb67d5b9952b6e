"""BM25 scores for chunks added to a keyword index after its bm25s build (its tail), without a rebuild.

bm25s precomputes each (token, chunk) score at build time; chunks added later are scored here with the formula
bm25s uses by default (Lucene's idf, log(1 + (N - df + 0.5) / (df + 0.5)), times tf / (tf + k1 (1 - b + b dl / avgdl)),
no (k1 + 1) factor) and the build's average length, so both sets of scores rank together."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Sequence

import numpy as np


class Tail:
    """Term counts of the chunks added since the build, in the order added (tail row 0, 1, ...)."""

    def __init__(self) -> None:
        self.tf: list[Counter] = []
        self.lengths: list[int] = []
        self.postings: dict[str, list[int]] = {}

    def __len__(self) -> int:
        return len(self.tf)

    def add(self, counts: dict[str, int]) -> None:
        tf = Counter({str(t): int(c) for t, c in counts.items()})
        row = len(self.tf)
        self.tf.append(tf)
        self.lengths.append(max(1, sum(tf.values())))
        for token in tf:
            self.postings.setdefault(token, []).append(row)

    def scores(self, tokens: Sequence[str], df_main: dict[str, int], n_docs: int, avgdl: float, k1: float,
               b: float) -> dict[int, float]:
        """{tail row: BM25 score} of the tail chunks holding any of these tokens; df counts the build's chunks
        and the tail's, N is every chunk held."""
        scores: dict[int, float] = {}
        for token in set(tokens):
            rows = self.postings.get(token)
            if not rows:
                continue
            df = df_main.get(token, 0) + len(rows)
            idf = math.log(1 + (max(n_docs, df) - df + 0.5) / (df + 0.5))
            for row in rows:
                tf = self.tf[row][token]
                norm = k1 * ((1 - b) + b * self.lengths[row] / avgdl)
                scores[row] = scores.get(row, 0.0) + idf * tf / (norm + tf)
        return scores


def build_df(bm25: Any) -> dict[str, int]:
    """Per token of a bm25s build, how many chunks hold it (the length of its column in the score matrix)."""
    if bm25 is None:
        return {}
    counts = np.diff(np.asarray(bm25.scores["indptr"]))
    return {t: int(counts[i]) for t, i in bm25.vocab_dict.items() if i < len(counts)}
