"""The narrow interface the rest of newsqa uses to store and search chunks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence, runtime_checkable


@dataclass(frozen=True)
class Record:
    """One stored item: id, text and flat metadata (str/int/float/bool values).

    `embed_text`, when set, is what the encoder sees instead of `text` (e.g. the text with its article title).
    """

    id: str
    text: str
    metadata: dict[str, Any]
    embed_text: str | None = None

    @property
    def encoder_input(self) -> str:
        return self.embed_text if self.embed_text is not None else self.text


class DimensionMismatch(ValueError):
    """Vectors of another length than the index's (another model, or other embedding_dimensions)."""


class EmbedderMismatch(ValueError):
    """The index was built with another embedding model than the one it is opened with."""


@dataclass(frozen=True)
class Hit:
    """A search result: the record and its cosine similarity to the query (higher is closer)."""

    record: Record
    score: float


@runtime_checkable
class VectorStore(Protocol):
    """What answering and ingestion need from a store. Implementations: ChromaVectorStore."""

    def upsert(self, records: Sequence[Record]) -> None:
        """Embed and write records; an id that exists is overwritten."""

    def search(self, query_vector: Sequence[float], k: int, where: dict[str, Any] | None = None,
               *, keep: Callable[[Sequence[str]], list[bool] | None] | None = None,
               among: Callable[[], Sequence[str] | None] | None = None, partial: bool = False) -> list[Hit]:
        """The k nearest records to the query vector, closest first, optionally filtered by metadata. `keep`, when
        given, answers the filter for a list of ids (True: the record matches `where`; None: cannot tell) from
        the caller's own copy of the metadata; a store may use it instead of reading metadata for candidates.
        `among`, when given, lists every id that matches `where` (None: cannot tell), from the same copy; a
        store may search among those ids instead of filtering. `partial`: with `keep`, fewer than k may come back
        (the matching ones among a store's wider unfiltered candidates), when a filtered search would be slow."""

    def ids(self, where: dict[str, Any] | None = None) -> list[str]:
        """Ids of the stored records that match the metadata filter (all when None)."""

    def get(self, ids: Sequence[str]) -> list[Record]:
        """The records with these ids (missing ids are skipped)."""

    def metadata(self, where: dict[str, Any] | None = None) -> list[tuple[str, dict[str, Any]]]:
        """(id, metadata) of the records that match the filter, without texts or vectors."""

    def delete(self, ids: Sequence[str]) -> None:
        """Remove these ids; unknown ids are ignored."""

    def count(self) -> int:
        """Number of stored records."""
