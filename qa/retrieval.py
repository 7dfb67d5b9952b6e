"""Dense retrieval over the VectorStore, with the as-of date applied, as a LangChain runnable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from langchain_core.embeddings import Embeddings

from qa.dates import annotate_dates, parse_as_of
from qa.types import Chunk, Passage
from vectorstore.base import VectorStore


def _day(d: date) -> int:
    return int(d.strftime("%Y%m%d"))


@dataclass(frozen=True)
class Filters:
    """Optional limits on what may be retrieved, besides the as-of date."""

    date_from: date | None = None
    date_to: date | None = None
    sources: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: dict | None) -> "Filters":
        data = data or {}
        return cls(
            date_from=parse_as_of(data.get("date_from")),
            date_to=parse_as_of(data.get("date_to")),
            sources=tuple(data.get("sources") or ()),
            languages=tuple(data.get("languages") or ()),
        )


def as_of_filter(as_of: date | None, filters: Filters | None = None) -> dict | None:
    """Chroma `where` clause: published on or before `as_of` (undated articles too), plus the filters."""
    clauses: list[dict] = []
    upper = min([d for d in (as_of, filters.date_to if filters else None) if d], default=None)
    if upper is not None:
        clauses.append({"published_int": {"$lte": _day(upper)}})
    if filters is not None:
        if filters.date_from is not None:
            clauses.append({"published_int": {"$gte": _day(filters.date_from)}})
        if filters.sources:
            clauses.append({"source": {"$in": list(filters.sources)}})
        if filters.languages:
            clauses.append({"language": {"$in": list(filters.languages)}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


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

    def retrieve(
        self, question: str, as_of: date | None = None, k: int | None = None, filters: Filters | None = None
    ) -> list[Passage]:
        k = k or self.k
        vector = self.embeddings.embed_query(question)
        hits = self.store.search(vector, k=max(self.fetch_k, k), where=as_of_filter(as_of, filters))
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
