"""Dense retrieval over the VectorStore, with the as-of date applied, as a LangChain runnable."""

from __future__ import annotations

from datetime import date

from langchain_core.embeddings import Embeddings

from qa.dates import annotate_dates
from qa.types import Chunk, Passage
from vectorstore.base import VectorStore


def as_of_filter(as_of: date | None) -> dict | None:
    """Chroma filter that keeps articles published on or before `as_of` (undated articles too)."""
    if as_of is None:
        return None
    return {"published_int": {"$lte": int(as_of.strftime("%Y%m%d"))}}


class Retriever:
    """Embeds the question, fetches the nearest chunks published by the as-of date, numbers them 1..k."""

    def __init__(
        self, store: VectorStore, embeddings: Embeddings, *, k: int = 5, fetch_k: int = 40, resolve_dates: bool = True
    ) -> None:
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        self.store = store
        self.embeddings = embeddings
        self.k = k
        self.fetch_k = max(fetch_k, k)
        self.resolve_dates = resolve_dates

    def retrieve(self, question: str, as_of: date | None = None, k: int | None = None) -> list[Passage]:
        k = k or self.k
        vector = self.embeddings.embed_query(question)
        hits = self.store.search(vector, k=max(self.fetch_k, k), where=as_of_filter(as_of))
        passages = []
        for hit in hits[:k]:
            chunk = Chunk.from_metadata(hit.record.id, hit.record.text, hit.record.metadata)
            passages.append(
                Passage(
                    n=len(passages) + 1,
                    chunk=chunk,
                    score=hit.score,
                    display_text=annotate_dates(chunk.text, chunk.published) if self.resolve_dates else chunk.text,
                )
            )
        return passages
