"""The Chroma implementation of VectorStore, through langchain-chroma.

The chromadb client and the embedding function are passed in; `persistent_client` builds the default
embedded, on-disk client and `http_client` a client of a Chroma server, both with telemetry off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from langchain_core.embeddings import Embeddings

from vectorstore.base import DimensionMismatch, EmbedderMismatch, Hit, Record, embed_records
from vectorstore.filters import matches

# Chroma refuses larger add calls (client.get_max_batch_size() is 5461 in 1.5.x).
_PAGE = 5000  # records per read: well under SQLite's limit on query variables
_MAX_BATCH = 5000
# Collection metadata keys: the embedding model an index was built with and its vectors' length.
EMBEDDER_KEY = "newsqa:embedder"
DIMENSION_KEY = "newsqa:dimension"


def persistent_client(path: str | Path):
    """An embedded Chroma client that keeps its data in `path` and sends no telemetry."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    Path(path).mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(
        path=str(path), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    )


def http_client(url: str):
    """A client for a Chroma server (`chroma run --path DIR --host H --port N`) at `url`, telemetry off."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from urllib.parse import urlsplit

    parts = urlsplit(url if "://" in url else f"http://{url}")
    if not parts.hostname:
        raise ValueError(f"not a Chroma server address: {url!r} (expected http://HOST:PORT)")
    return chromadb.HttpClient(
        host=parts.hostname, port=parts.port or 8000, ssl=parts.scheme == "https",
        settings=ChromaSettings(anonymized_telemetry=False),
    )


def _cosine_similarity(distance: float) -> float:
    return 1.0 - float(distance)


def _raise_if_dimensions(exc: Exception, length: int, doing: str) -> None:
    """chromadb's error for vectors of the wrong length (InvalidArgumentError, a ValueError in some versions)
    as a DimensionMismatch that names the fix; other errors are left to the caller."""
    if "dimension" in str(exc).lower():
        raise DimensionMismatch(
            f"this index holds vectors of another length than these ({length}): {exc}. {doing} with the "
            "embedding model and embedding_dimensions it was built with, or into a new index folder."
        ) from exc


class ChromaVectorStore:
    """Stores records in one Chroma collection with cosine distance.

    With `embedder` (the embedding model's name), the collection records the model and its vectors' length on
    the first write, and opening it with another model, or searching it with vectors of another length, is an
    error naming both: vectors of two models are not comparable, so the rankings would be garbage. An index
    made before this record was kept gets it on its next write."""

    # Unfiltered candidates per wanted hit before falling back to Chroma's filtered search (see `search`).
    overfetch = 4
    # Below this many records Chroma's own filter is faster (1k chunks: 13 ms against 26 ms; 10k: 80 against 33).
    wide_search_from = 5000
    # At most this many listed ids go to one search among ids (`among`); more: Chroma's filter (SQLite caps the
    # variables of one statement at ~32k).
    among_limit = 5000
    # `partial`: those of the nearest k x this that match, however few (no filtered search after).
    partial_overfetch = 10

    def __init__(self, client: Any, embeddings: Embeddings, collection: str = "newsqa",
                 embedder: str | None = None) -> None:
        from langchain_chroma import Chroma

        self._client = client
        self._embeddings = embeddings
        self._embedder = embedder
        self._lc = Chroma(
            collection_name=collection,
            embedding_function=embeddings,
            client=client,
            collection_metadata={"hnsw:space": "cosine"},
            relevance_score_fn=_cosine_similarity,
        )
        self._recorded: dict[str, Any] = {}
        if embedder is not None:
            meta = dict(self._lc._collection.metadata or {})
            self._recorded = {k: meta[k] for k in (EMBEDDER_KEY, DIMENSION_KEY) if k in meta}
            built_with = self._recorded.get(EMBEDDER_KEY)
            if built_with is not None and str(built_with).lower() != embedder.lower():
                raise EmbedderMismatch(
                    f"this index ({collection!r}) was built with the embedding model {built_with!r} "
                    f"({self._recorded.get(DIMENSION_KEY, '?')} dimensions) and is opened with {embedder!r}: "
                    f"set NEWSQA_EMBEDDING_MODEL={built_with} (locally or on the server), or ingest into a new "
                    "index folder or collection")

    @property
    def embedder(self) -> dict[str, Any]:
        """What the collection records of its embedder: {"newsqa:embedder": name, "newsqa:dimension": n}."""
        return dict(self._recorded)

    def _check_length(self, length: int, doing: str) -> None:
        built = self._recorded.get(DIMENSION_KEY)
        if built is not None and int(built) != length:
            raise DimensionMismatch(
                f"this index holds {built}-dimension vectors of {self._recorded.get(EMBEDDER_KEY)!r} and these "
                f"have {length} (from {self._embedder!r}): {doing} with the embedding model and "
                "embedding_dimensions it was built with, or into a new index folder")

    def _record_embedder(self, length: int) -> None:
        """Write the embedder's name and vector length into the collection's metadata, once."""
        if self._embedder is None or self._recorded:
            return
        meta = {k: v for k, v in (self._lc._collection.metadata or {}).items() if not k.startswith("hnsw:")}
        meta.update({EMBEDDER_KEY: self._embedder, DIMENSION_KEY: length})
        self._lc._collection.modify(metadata=meta)  # the distance (cosine) stays in the configuration
        self._recorded = {EMBEDDER_KEY: self._embedder, DIMENSION_KEY: length}

    @property
    def langchain(self):
        """The langchain-chroma vector store over the same collection, for LangChain users."""
        return self._lc

    def upsert(self, records: Sequence[Record]) -> None:
        for start in range(0, len(records), _MAX_BATCH):
            batch = records[start:start + _MAX_BATCH]
            vectors = self._embed(batch)
            self._check_length(len(vectors[0]), "Ingest")
            try:
                self._lc._collection.upsert(
                    ids=[r.id for r in batch],
                    embeddings=vectors,
                    documents=[r.text for r in batch],
                    metadatas=[dict(r.metadata) for r in batch],
                )
            except Exception as exc:
                _raise_if_dimensions(exc, len(vectors[0]), "Ingest")
                raise
            self._record_embedder(len(vectors[0]))

    def _embed(self, batch: Sequence[Record]) -> list[list[float]]:
        return embed_records(self._embeddings, batch)

    def _query(self, query_vector: Sequence[float], k: int, where: dict[str, Any] | None,
               documents: bool = True) -> list[Hit]:
        include = ["metadatas", "distances"] + (["documents"] if documents else [])
        self._check_length(len(query_vector), "Search")
        try:
            got = self._lc._collection.query(query_embeddings=[list(query_vector)], n_results=k, where=where,
                                             include=include)
        except Exception as exc:
            _raise_if_dimensions(exc, len(query_vector), "Search")
            raise
        texts = got["documents"][0] if documents else [""] * len(got["ids"][0])
        return [Hit(Record(id=str(i), text=t or "", metadata=dict(m or {})), _cosine_similarity(d))
                for i, t, m, d in zip(got["ids"][0], texts, got["metadatas"][0], got["distances"][0])]

    def search(self, query_vector: Sequence[float], k: int, where: dict[str, Any] | None = None,
               *, keep: Callable[[Sequence[str]], list[bool] | None] | None = None,
               among: Callable[[], Sequence[str] | None] | None = None, partial: bool = False) -> list[Hit]:
        """The k nearest records that match `where`. A filter that lets most records through (an as-of date)
        is applied to an unfiltered search of `overfetch` x k, without texts: Chroma's own filtered search
        first lists every matching id from SQLite, which grows with the index (72 ms at 10k chunks against
        28 ms, bench/query.py). With `keep` (the caller's copy of the metadata: the keyword index's) those
        candidates are searched for ids alone, at any index size, and judged by it, and only the k kept are read:
        at 100k chunks reading the candidates' metadata cost ~18 ms of ~25. When fewer than k candidates match
        (a narrow filter: one week of articles), the search runs among the ids `among` gives (the caller's list
        of every id that matches; 10 ms against Chroma's 105 ms for 643 of 38k chunks, but ~100 ms for a few hundred
        ids at 100k), else Chroma filters.
        All ways give the same k nearest. `partial`: those of the nearest k x `partial_overfetch` that match, however
        few, and no filtered search after (a second, date-scoped search: ~10 ms at 100k chunks where a search among
        one week's ids took ~100)."""
        if keep is not None and where is not None:
            # No count first (14 ms at 100k chunks): fewer candidates than asked for means all were seen.
            wide = k * (self.partial_overfetch if partial else self.overfetch)
            nearest = self._nearest(query_vector, wide)
            flags = keep([i for i, _ in nearest])
            if flags is not None:
                chosen = [(i, score) for (i, score), ok in zip(nearest, flags) if ok][:k]
                if len(chosen) < k and len(nearest) == wide and not partial:
                    listed = among() if among is not None else None
                    if listed is None or len(listed) > self.among_limit:
                        return self._query(query_vector, k, where)
                    chosen = self._nearest(query_vector, min(k, len(listed)), listed) if listed else []
                records = {r.id: r for r in self.get([i for i, _ in chosen])}
                return [Hit(records[i], score) for i, score in chosen if i in records]
        n = self.count()
        if n == 0:
            return []
        if where is None or n < self.wide_search_from:
            return self._query(query_vector, min(k, n), where)
        wide = min(n, k * self.overfetch)
        hits = [h for h in self._query(query_vector, wide, None, documents=False) if matches(h.record.metadata, where)]
        if len(hits) < k and wide < n:
            return self._query(query_vector, min(k, n), where)
        hits = hits[:k]
        got = self._lc._collection.get(ids=[h.record.id for h in hits], include=["documents"])
        texts = dict(zip(got["ids"], got["documents"]))
        return [Hit(Record(h.record.id, texts.get(h.record.id) or "", h.record.metadata), h.score) for h in hits]

    def _nearest(self, query_vector: Sequence[float], n: int,
                 among: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """(id, cosine similarity) of the n nearest records (among these ids, when given), nothing else read."""
        self._check_length(len(query_vector), "Search")
        try:
            got = self._lc._collection.query(query_embeddings=[list(query_vector)], n_results=n,
                                             include=["distances"], ids=list(among) if among is not None else None)
        except Exception as exc:
            _raise_if_dimensions(exc, len(query_vector), "Search")
            raise
        return [(str(i), _cosine_similarity(d)) for i, d in zip(got["ids"][0], got["distances"][0])]

    def _pages(self, where: dict[str, Any] | None, include: list[str]):
        """The collection's records a page at a time: one `get` of a whole large collection fails in Chroma's
        SQLite ("too many SQL variables", from ~32k records with their metadata)."""
        offset = 0
        while True:
            got = self._lc._collection.get(where=where, include=include, limit=_PAGE, offset=offset)
            yield got
            if len(got["ids"]) < _PAGE:
                return
            offset += _PAGE

    def ids(self, where: dict[str, Any] | None = None) -> list[str]:
        return [i for page in self._pages(where, []) for i in page["ids"]]

    def get(self, ids: Sequence[str]) -> list[Record]:
        ids = list(dict.fromkeys(ids))  # Chroma refuses a repeated id
        records = []
        for start in range(0, len(ids), _PAGE):
            got = self._lc._collection.get(ids=list(ids[start:start + _PAGE]), include=["documents", "metadatas"])
            records.extend(Record(id=i, text=t or "", metadata=dict(m or {}))
                           for i, t, m in zip(got["ids"], got["documents"], got["metadatas"]))
        return records

    def metadata(self, where: dict[str, Any] | None = None) -> list[tuple[str, dict[str, Any]]]:
        return [(i, dict(m or {})) for page in self._pages(where, ["metadatas"])
                for i, m in zip(page["ids"], page["metadatas"])]

    def delete(self, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), _MAX_BATCH):
            self._lc.delete(ids=list(ids[start:start + _MAX_BATCH]))

    def count(self) -> int:
        return self._lc._collection.count()
