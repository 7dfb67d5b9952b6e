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


def embed_records(embeddings: Any, batch: Sequence[Record], *, for_query: bool = False) -> list[list[float]]:
    """The records' vectors. Records with an `embed_text` (already in the model's document format) go through
    `embed_raw` when the embedder has it, so no second prompt is added; the rest through embed_documents.
    `for_query`: while a question waits (a pending chunk scored for it), with the question's priority over an
    ingest's batches (the `*_for_query` methods of vectorstore/embeddings.py, when the embedder has them)."""
    def method(name: str):
        return (getattr(embeddings, f"{name}_for_query", None) if for_query else None) or getattr(embeddings, name, None)

    raw, documents = method("embed_raw"), method("embed_documents")
    if raw is None or all(r.embed_text is None for r in batch):
        return documents([r.encoder_input for r in batch])
    vectors: list[list[float] | None] = [None] * len(batch)
    formatted = [i for i, r in enumerate(batch) if r.embed_text is not None]
    plain = [i for i, r in enumerate(batch) if r.embed_text is None]
    for i, v in zip(formatted, raw([batch[i].embed_text for i in formatted])):
        vectors[i] = v
    for i, v in zip(plain, documents([batch[i].text for i in plain]) if plain else []):
        vectors[i] = v
    return vectors  # type: ignore[return-value]
