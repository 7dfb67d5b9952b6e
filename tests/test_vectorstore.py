"""One conformance suite for VectorStore implementations: embedded Chroma and the in-memory test store."""

import pytest

from fakes import DesignedEmbeddings, MemoryStore
from vectorstore.base import Record, VectorStore


def _records():
    return [
        Record("a", "Thieves stole jewels from the Louvre.", {"article_id": "louvre", "published_int": 20251019,
                                                            "source": "louvre.txt", "language": "en"}),
        Record("b", "La BCE a laissé son taux inchangé.", {"article_id": "bce", "published_int": 20250724,
                                                          "source": "bce.txt", "language": "fr"}),
        Record("c", "Bessent met He Lifeng in Malaysia.", {"article_id": "bessent", "published_int": 20251026,
                                                          "source": "kl.txt", "language": "en"}),
    ]


@pytest.fixture(params=["chroma", "memory"])
def store(request, tmp_path) -> VectorStore:
    emb = DesignedEmbeddings()
    if request.param == "memory":
        return MemoryStore(emb)
    from vectorstore.chroma import ChromaVectorStore, persistent_client

    return ChromaVectorStore(persistent_client(tmp_path / f"idx-{request.node.name}"), emb, collection="conf")


class TestVectorStoreConformance:
    def test_empty_store(self, store):
        assert store.count() == 0 and store.ids() == [] and store.search([1.0] * 11, k=3) == []

    def test_upsert_is_idempotent(self, store):
        store.upsert(_records())
        store.upsert(_records())
        assert store.count() == 3 and sorted(store.ids()) == ["a", "b", "c"]

    def test_search_ranks_by_similarity(self, store):
        store.upsert(_records())
        emb = DesignedEmbeddings()
        hits = store.search(emb.embed_query("Where are the Louvre jewels?"), k=2)
        assert hits[0].record.id == "a" and hits[0].score > hits[1].score
        assert hits[0].record.metadata["article_id"] == "louvre"

    def test_filters(self, store):
        store.upsert(_records())
        q = DesignedEmbeddings().embed_query("jewels")
        before = {h.record.id for h in store.search(q, k=3, where={"published_int": {"$lte": 20251020}})}
        assert before == {"a", "b"}
        both = {"$and": [{"published_int": {"$gte": 20251001}}, {"language": {"$in": ["en"]}}]}
        assert {h.record.id for h in store.search(q, k=3, where=both)} == {"a", "c"}
        assert store.ids(where={"article_id": "bce"}) == ["b"]

    def test_get_metadata_and_delete(self, store):
        store.upsert(_records())
        assert [r.text for r in store.get(["c", "missing"])] == ["Bessent met He Lifeng in Malaysia."]
        assert dict(store.metadata())["b"]["language"] == "fr"
        store.delete(["a", "unknown"])
        assert sorted(store.ids()) == ["b", "c"] and store.count() == 2
