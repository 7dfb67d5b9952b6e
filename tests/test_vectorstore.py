"""One conformance suite for VectorStore implementations: embedded Chroma, a Chroma server the tests start on
a free loopback port (`chroma run`, stopped by its pid), and the in-memory test store."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from load_askers import free_port

from fakes import DesignedEmbeddings, MemoryStore
from vectorstore.base import Record, VectorStore
from vectorstore.chroma import ChromaVectorStore
from vectorstore.filters import matches


def _records():
    return [
        Record("a", "Thieves stole jewels from the Louvre.", {"article_id": "louvre", "published_int": 20251019,
                                                            "source": "louvre.txt", "language": "en"}),
        Record("b", "La BCE a laissé son taux inchangé.", {"article_id": "bce", "published_int": 20250724,
                                                          "source": "bce.txt", "language": "fr"}),
        Record("c", "Bessent met He Lifeng in Malaysia.", {"article_id": "bessent", "published_int": 20251026,
                                                          "source": "kl.txt", "language": "en"}),
    ]



@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    """`chroma run` on a free loopback port; yields its URL; stopped by its pid."""
    import httpx

    chroma = Path(sys.executable).with_name("chroma")
    port = free_port()
    proc = subprocess.Popen([str(chroma), "run", "--path", str(tmp_path_factory.mktemp("chroma-server")),
                             "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, "chroma run exited at start"
            time.sleep(0.2)
        else:
            pytest.fail("the Chroma server did not answer within 30 s")
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(params=["chroma", "chroma-server", "memory"])
def store(request, tmp_path) -> VectorStore:
    emb = DesignedEmbeddings()
    if request.param == "memory":
        return MemoryStore(emb)
    from vectorstore.chroma import ChromaVectorStore, http_client, persistent_client

    if request.param == "chroma-server":
        url = request.getfixturevalue("chroma_server")
        collection = "conf-" + request.node.name.split("[")[0].replace("_", "-")[:40]  # one per test
        return ChromaVectorStore(http_client(url), emb, collection=collection)
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

    def test_filtered_search_equals_exact_search_over_the_matching_records(self, store):
        import numpy as np

        rng = np.random.default_rng(3)
        vectors = rng.standard_normal((300, 8)).astype("float32")
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        days = [20250101 + int(d) for d in rng.integers(0, 28, 300)]
        records = [Record(f"r{i}", f"text {i}", {"article_id": f"a{i}", "published_int": days[i],
                                                   "language": "fr" if i % 10 == 0 else "en"})
                   for i in range(300)]

        class Fixed(DesignedEmbeddings):
            def embed_documents(self, texts):
                return [vectors[int(t.split()[1])].tolist() for t in texts]

        store._embeddings = store.embeddings = Fixed()
        store.upsert(records)
        query = vectors[5] * 0.6 + vectors[7] * 0.4
        from vectorstore.keyword import KeywordIndex

        keyword = KeywordIndex()
        keyword.build(records)
        behind = KeywordIndex()  # not yet synced with the store's last 50 records: cannot tell for those
        behind.build(records[:250])
        keeps = {"store's metadata": None, "keyword index's columns": keyword.matching,
                 "a keep that cannot tell": lambda ids, where: None, "a keyword index behind": behind.matching}
        assert behind.matching(["r1", "r299"], {"language": "en"}) is None
        assert keyword.matching(["r1", "r10"], {"language": "en"}) == [True, False]
        assert keyword.matching(["r1"], {"title": "x"}) is None  # a key not kept there
        assert keyword.matching(["r1"], {"language": {"$like": "e%"}}) is None  # an operator it cannot evaluate
        # 0: the unfiltered-then-filtered path large collections take; huge: Chroma's filter, as small ones do
        for store.wide_search_from in (0, 10**9):
            for where in ({"published_int": {"$lte": 20250125}},  # most records pass
                          {"language": "fr"},  # a tenth: too few among the wide candidates, Chroma filters
                          {"published_int": {"$lte": 20250101}}):  # almost none
                allowed = [i for i in range(300) if matches(records[i].metadata, where)]
                exact = sorted(allowed, key=lambda i: -float(vectors[i] @ query))[:10]
                for name, judge in keeps.items():
                    keep = None if judge is None else (lambda ids, where=where, judge=judge: judge(ids, where))
                    hits = store.search(query.tolist(), k=10, where=where, keep=keep)
                    assert [h.record.id for h in hits] == [f"r{i}" for i in exact], (where, store.wide_search_from,
                                                                                     name)
                    assert all(h.record.text == f"text {h.record.id[1:]}" and h.record.metadata["published_int"]
                               == days[int(h.record.id[1:])] for h in hits)
                    scores = [h.score for h in hits]
                    if judge is None:
                        reference = scores
                    assert max(abs(a - b) for a, b in zip(scores, reference)) < 1e-6
                # the caller's list of every matching id: searched among when the wide candidates fall short
                listed = []
                among = lambda where=where, listed=listed: listed.append(where) or keyword.ids_where(where)
                hits = store.search(query.tolist(), k=10, where=where,
                                    keep=lambda ids, where=where: keyword.matching(ids, where), among=among)
                assert [h.record.id for h in hits] == [f"r{i}" for i in exact]
                assert max(abs(h.score - r) for h, r in zip(hits, reference)) < 1e-6
                assert all(h.record.text == f"text {h.record.id[1:]}" for h in hits)
                if isinstance(store, ChromaVectorStore) and store.wide_search_from == 0:
                    # a tenth are French: too few among the 40 nearest, so the list is asked for; most records
                    # pass the date: enough among the wide candidates, no list needed
                    if where == {"language": "fr"}:
                        assert listed == [where]
                    elif where == {"published_int": {"$lte": 20250125}}:
                        assert listed == []
                # partial: the matching ones among the wider unfiltered candidates, nearest first, however few
                some = store.search(query.tolist(), k=10, where=where, partial=True,
                                    keep=lambda ids, where=where: keyword.matching(ids, where))
                assert [h.record.id for h in some] == [f"r{i}" for i in exact][: len(some)] and len(some) <= 10
                if where == {"published_int": {"$lte": 20250125}}:
                    assert len(some) == 10
                if isinstance(store, ChromaVectorStore):  # a longer list than it takes: Chroma filters, same hits
                    store.among_limit, limit = 5, store.among_limit
                    again = store.search(query.tolist(), k=10, where=where,
                                         keep=lambda ids, where=where: keyword.matching(ids, where), among=among)
                    store.among_limit = limit
                    assert [h.record.id for h in again] == [f"r{i}" for i in exact]

    def test_search_with_keep_on_an_empty_or_small_collection(self, store):
        from vectorstore.keyword import KeywordIndex

        q = DesignedEmbeddings().embed_query("jewels")
        where = {"published_int": {"$lte": 20251020}}
        assert store.search(q, k=3, where=where, keep=lambda ids: [True] * len(ids)) == []
        store.upsert(_records())
        keyword = KeywordIndex()
        keyword.build(store.get(store.ids()))
        store.wide_search_from = 0  # fewer records than 4 x k: every one is a candidate, no fallback needed
        kept = store.search(q, k=10, where=where, keep=lambda ids: keyword.matching(ids, where))
        assert [h.record.id for h in kept] == [h.record.id for h in store.search(q, k=10, where=where)]
        assert {h.record.id for h in kept} == {"a", "b"}

    def test_get_metadata_and_delete(self, store):
        store.upsert(_records())
        assert [r.text for r in store.get(["c", "missing"])] == ["Bessent met He Lifeng in Malaysia."]
        assert dict(store.metadata())["b"]["language"] == "fr"
        store.delete(["a", "unknown"])
        assert sorted(store.ids()) == ["b", "c"] and store.count() == 2

    def test_reads_of_a_whole_collection_go_page_by_page(self, store, monkeypatch):
        # Chroma fails one `get` of ~32k records with their metadata ("too many SQL variables", found on the
        # 38,379-chunk realtimeqa index); with a page of 7 records, 40 records take 6 reads.
        import vectorstore.chroma

        monkeypatch.setattr(vectorstore.chroma, "_PAGE", 7)
        records = [Record(f"p{i:02d}", f"Passage number {i} about the ECB.", {"article_id": f"a{i % 3}", "n": i})
                   for i in range(40)]
        store.upsert(records)
        assert sorted(i for i, _ in store.metadata()) == sorted(r.id for r in records)
        assert sorted(store.ids(where={"article_id": "a1"})) == sorted(r.id for r in records[1::3])
        assert sorted(r.id for r in store.get([r.id for r in records])) == sorted(r.id for r in records)


def test_settings_switch_the_service_to_a_chroma_server(chroma_server, tmp_path):
    from qa.service import QAService
    from qa.settings import Settings

    (tmp_path / "a.txt").write_text("date 2025-10-19\nLouvre\n\nThieves took jewels from the Louvre.", encoding="utf-8")
    settings = Settings(index_dir=tmp_path / "local", chroma_url=chroma_server, collection="service-test")
    service = QAService(settings=settings, embeddings=DesignedEmbeddings())
    assert service.ingest([tmp_path / "a.txt"]).added == 1
    assert not (tmp_path / "local" / "chroma.sqlite3").exists()  # the vectors live in the server
    reopened = QAService(settings=settings, embeddings=DesignedEmbeddings())
    assert reopened.store.count() == 1
    assert reopened.chain.retriever.retrieve("Louvre jewels", None)[0].chunk.title == "Louvre"


def test_an_unreachable_chroma_server_is_a_clear_error(tmp_path):
    from qa.errors import ConfigError
    from qa.service import QAService
    from qa.settings import Settings

    settings = Settings(index_dir=tmp_path, chroma_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ConfigError, match="chroma run"):
        QAService(settings=settings, embeddings=DesignedEmbeddings()).store


def test_leading_dimensions_are_cut_and_normalised_again():
    from vectorstore.embeddings import leading_dimensions

    assert leading_dimensions([3.0, 4.0, 12.0], None) == [3.0, 4.0, 12.0]
    assert leading_dimensions([3.0, 4.0, 12.0], 2) == pytest.approx([0.6, 0.8])
    assert leading_dimensions([0.0, 0.0, 1.0], 2) == [0.0, 0.0]  # no division by zero


class _Cut(DesignedEmbeddings):
    """Designed embeddings cut to 3 dimensions: what a service with other embedding_dimensions would send."""

    def embed_query(self, text):
        return super().embed_query(text)[:3]

    def embed_documents(self, texts):
        return [v[:3] for v in super().embed_documents(texts)]


def test_vectors_of_another_length_than_the_index_are_a_clear_error(tmp_path):
    from qa.errors import ConfigError
    from qa.ingest.chunking import Chunker
    from qa.ingest.pipeline import Ingestor
    from qa.retrieve.retriever import Retriever
    from vectorstore.chroma import ChromaVectorStore, persistent_client

    client = persistent_client(tmp_path / "idx")
    full = ChromaVectorStore(client, DesignedEmbeddings(), collection="dims")
    full.upsert([Record("a", "The ECB held its rate.", {"article_id": "a", "published_int": 0})])
    cut = ChromaVectorStore(client, _Cut(), collection="dims")
    with pytest.raises(ConfigError, match="embedding_dimensions it was built with"):
        Retriever(cut, cut._embeddings).retrieve("ECB rate")
    article = tmp_path / "news.txt"
    article.write_text("The ECB held its deposit rate at 2% on Thursday in Frankfurt, its president said.")
    with pytest.raises(ConfigError, match="new index folder"):
        Ingestor(cut, Chunker(), progress=False).ingest([article])
    assert full.count() == 1


def test_question_encoder_falls_back_to_pytorch_without_a_usable_export(tmp_path, capsys):
    from vectorstore.onnx_encoder import exported_folder, is_exported, load_encoder

    model = tmp_path / "embeddinggemma-300m"
    assert exported_folder(model) == tmp_path / "embeddinggemma-300m.onnx"
    assert not is_exported(model) and load_encoder(model, tokenizer=None) is None
    broken = exported_folder(model)
    broken.mkdir()
    (broken / "model.onnx").write_bytes(b"not a graph")
    (broken / "export.json").write_text("{}")
    assert is_exported(model)
    assert load_encoder(model, tokenizer=None) is None
    assert "the model runs on PyTorch" in capsys.readouterr().err
    with pytest.raises(Exception):
        load_encoder(model, tokenizer=None, required=True)


def test_encoder_setting_is_checked():
    from pydantic import ValidationError

    from qa.settings import Settings

    assert Settings().encoder == "auto"
    with pytest.raises(ValidationError, match="encoder"):
        Settings(encoder="openvino")


def test_auto_runs_chunks_on_the_export_only_in_float32(tmp_path):
    from vectorstore.embeddings import chunks_on_onnx
    from vectorstore.onnx_encoder import GRAPH, MARKER

    model = tmp_path / "model"
    assert not chunks_on_onnx("auto", "float32", model)  # no export yet
    export = tmp_path / "model.onnx"
    export.mkdir()
    (export / GRAPH).write_bytes(b"")
    (export / MARKER).write_text("{}")
    assert chunks_on_onnx("auto", "float32", model) and chunks_on_onnx("onnx", "bfloat16", model)
    assert not chunks_on_onnx("auto", "bfloat16", model) and not chunks_on_onnx("torch", "float32", model)


def test_onnx_encoder_batches_by_length_and_returns_rows_in_input_order():
    import numpy as np

    from vectorstore.onnx_encoder import OnnxEncoder

    class Tokenizer:  # one token per word, padded with 0 to the longest text of the batch
        def __call__(self, texts, padding, truncation, max_length, return_tensors):
            ids = [[len(w) for w in t.split()][:max_length] for t in texts]
            width = max(len(row) for row in ids)
            return {"input_ids": np.array([row + [0] * (width - len(row)) for row in ids]),
                    "attention_mask": np.array([[1] * len(row) + [0] * (width - len(row)) for row in ids])}

    class Session:  # vector = (number of words, sum of word lengths) scaled by 3, as a graph would not normalise
        def __init__(self):
            self.batches = []

        def run(self, outputs, feed):
            self.batches.append(feed["input_ids"].shape)
            words = feed["attention_mask"].sum(axis=1)
            return [np.stack([3.0 * words, 3.0 * feed["input_ids"].sum(axis=1)], axis=1).astype(np.float32)]

    encoder = object.__new__(OnnxEncoder)
    encoder._session, encoder._tokenizer = Session(), Tokenizer()
    texts = ["aa", "b c d e", "ccc ddd", "one two three four five"]
    rows = encoder.encode_many(texts)
    assert rows.shape == (4, 2)
    for text, row in zip(texts, rows):
        words = text.split()
        expected = np.array([len(words), sum(len(w) for w in words)], dtype=float)
        assert np.allclose(row, expected / np.linalg.norm(expected))
    # longest first, two per run: the two long texts share a batch, the two short ones the other
    assert encoder._session.batches == [(2, 5), (2, 2)]
    assert encoder.encode("x y") == pytest.approx([1 / 2 ** 0.5, 1 / 2 ** 0.5])
    assert encoder.encode_many([]).shape[0] == 0




def test_a_newsqa_variable_that_names_no_setting_is_reported_once(monkeypatch, capsys):
    import qa.settings
    from qa.settings import Settings

    monkeypatch.setattr(qa.settings, "_warned", set())
    monkeypatch.setenv("NEWSQA_LLM_RUNTIME", "openvino")  # retired on 2026-12-07
    monkeypatch.setenv("NEWSQA_K", "7")
    monkeypatch.setenv("NEWSQA_DEBUG", "1")
    assert Settings().k == 7
    Settings()
    err = capsys.readouterr().err
    assert err.count("NEWSQA_LLM_RUNTIME is not a setting") == 1
    assert "NEWSQA_K " not in err and "NEWSQA_DEBUG" not in err
