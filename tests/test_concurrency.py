"""20 concurrent askers through the REST API on loopback, with and without an ingest running beside them.

Real uvicorn, real Chroma on disk, the keyword index; designed embeddings and a chat model that echoes the
asker's marker (one generation at a time, like llama.cpp).
"""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from fakes import DesignedEmbeddings, EchoChatModel
from load_askers import free_port, run_load
from qa.api import create_api
from qa.service import QAService
from qa.settings import Recipe, Settings
from vectorstore.locks import QueryFirstLock


class LockedSlowEmbeddings(DesignedEmbeddings):
    """Like the real embedder: one model behind the same QueryFirstLock, taken per batch of 8 documents
    (0.15 s each) and per query."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = QueryFirstLock()

    def embed_documents(self, texts):
        vectors = []
        for start in range(0, len(texts), 8):
            with self.lock.documents():
                time.sleep(0.15)
                vectors.extend(super().embed_documents(texts[start:start + 8]))
        return vectors

    def embed_query(self, text):
        with self.lock.query():
            return super().embed_query(text)

    def embed_documents_for_query(self, texts):
        with self.lock.query():
            return DesignedEmbeddings.embed_documents(self, texts)



@pytest.fixture
def server(tmp_path):
    import uvicorn

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(20):
        (corpus / f"r{i}.txt").write_text(f"date 2025-10-{10 + i}\nReport {i}\n\nThe report Q{i:02d} covers the ECB "
                                          f"rate and the Louvre jewels, item {i}.", encoding="utf-8")
    service = QAService(settings=Settings(index_dir=tmp_path / "index", k=3), recipe=Recipe(checks=False),
                        embeddings=LockedSlowEmbeddings(), llm=EchoChatModel(delay=0.05))
    service.ingest([corpus])
    port = free_port()
    config = uvicorn.Config(create_api(service), host="127.0.0.1", port=port, log_level="warning")
    app_server = uvicorn.Server(config)
    thread = threading.Thread(target=app_server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield base, service
    app_server.should_exit = True
    thread.join(10)


@pytest.mark.timeout(120)
def test_twenty_concurrent_askers_all_answered_without_crosstalk(server):
    base, _service = server
    result = run_load(base, 20, as_of="2025-12-01", timeout=60)
    assert result.errors == []
    assert result.answered == 20
    assert result.crosstalk == 0
    # How fast is a benchmark's question (bench/concurrency.py); an absolute bound here failed on a loaded machine.


@pytest.mark.timeout(120)
def test_ingest_beside_questions_neither_corrupts_the_index_nor_blocks_answers(server):
    base, service = server
    before = service.store.count()
    records = [{"id": f"new-{i}", "title": f"Late story {i}", "published": "2025-11-01",
                "text": f"Late story {i} about the weather. " * 20} for i in range(120)]
    ingest_done = {}

    def ingest() -> None:
        start = time.perf_counter()
        res = httpx.post(f"{base}/api/ingest/records", json={"records": records}, timeout=120)
        ingest_done.update(status=res.status_code, body=res.json(), seconds=time.perf_counter() - start)

    writer = threading.Thread(target=ingest)
    writer.start()
    time.sleep(0.5)  # the ingest is embedding now
    result = run_load(base, 20, as_of="2025-12-01", timeout=60)
    writer.join(120)
    assert ingest_done["status"] == 200 and ingest_done["body"]["added"] == 120
    assert ingest_done["seconds"] > result.percentile(95)  # answers did not wait for the whole ingest
    assert result.errors == [] and result.answered == 20 and result.crosstalk == 0
    # The index is whole: every new article, no duplicates, and the keyword index agrees with Chroma.
    ids = service.store.ids()
    assert len(ids) == len(set(ids)) == before + ingest_done["body"]["chunks_written"]
    assert sorted(service.keyword.ids()) == sorted(ids)
    health = httpx.get(f"{base}/api/health", timeout=5).json()
    assert health["articles"] == 140
    assert json.dumps(health)
