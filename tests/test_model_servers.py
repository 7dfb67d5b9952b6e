"""The LLM and the embedder on OpenAI-compatible servers, against a scripted loopback server (tests/scripted_server.py):
the protocol as newsqa speaks it, each failure as a named error in the CLI, the REST API and the chat page, and
an index that knows its embedder. The same paths against real servers: tests/test_model_servers_real.py."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fakes import DesignedEmbeddings, MemoryStore
from qa import errors
from qa.answer.confidence import token_entries
from qa.api import create_api
from qa.factory import build_embeddings, build_llm, build_store
from qa.remote.embeddings import DOCUMENT_PROMPT
from qa.service import QAService
from qa.settings import Settings
from scripted_server import ScriptedServer
from vectorstore.base import DimensionMismatch, EmbedderMismatch, Record
from vectorstore.chroma import ChromaVectorStore, persistent_client

ARTICLE = "date 2026-02-10\nBessent et He\n\nBessent a rencontré He Lifeng pour la dernière fois en Malaisie en octobre."
QUESTION = "When did Bessent last meet He Lifeng?"


def llm_settings(server: ScriptedServer, tmp_path: Path, **more) -> Settings:
    return Settings(index_dir=tmp_path / "idx", llm_backend="openai", llm_base_url=server.base_url,
                    llm_model=server.model, server_timeout=1.0, **more)


def embedding_settings(server: ScriptedServer, tmp_path: Path, **more) -> Settings:
    return Settings(index_dir=tmp_path / "idx", embedding_backend="openai", embedding_base_url=server.base_url,
                    embedding_model=server.model, server_timeout=1.0, **more)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


# -- the protocol ------------------------------------------------------------------------------------------

def test_whole_and_streamed_replies_carry_the_answer_budget_and_token_counts(tmp_path):
    with ScriptedServer(reply="Bessent met He in October 2025 [1].") as server:
        llm = build_llm(llm_settings(server, tmp_path, llm_max_tokens=77, llm_temperature=0.0))
        whole = llm.invoke("When?")
        streamed = list(llm.stream("When?"))
    assert whole.content == "Bessent met He in October 2025 [1]."
    assert "".join(str(c.content) for c in streamed) == whole.content
    sent = server.requests[0]
    assert sent["max_tokens"] == 77 and "max_completion_tokens" not in sent and sent["model"] == "served-model"
    assert sent["temperature"] == 0.0
    assert whole.usage_metadata["output_tokens"] == 7
    assert server.requests[1]["stream"] is True and server.requests[1]["stream_options"] == {"include_usage": True}
    assert sum((c.usage_metadata or {}).get("output_tokens", 0) for c in streamed) == 7


def test_token_log_probabilities_come_back_in_the_local_runtimes_shape(tmp_path):
    with ScriptedServer(reply="October 2025") as server:
        message = build_llm(llm_settings(server, tmp_path)).bind(logprobs=True, top_logprobs=5).invoke("When?")
    assert server.requests[0]["logprobs"] is True and server.requests[0]["top_logprobs"] == 5
    entries = token_entries(message.response_metadata)
    assert [e["token"] for e in entries] == ["October", "2025"] and entries[0]["logprob"] == -0.1


def test_the_key_comes_from_the_environment_and_is_never_shown(tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSQA_LLM_API_KEY", "sk-secret-4242")
    with ScriptedServer(key="sk-secret-4242") as server:
        settings = llm_settings(server, tmp_path)
        assert build_llm(settings).invoke("Hi").content
        assert server.headers[0]["authorization"] == "Bearer sk-secret-4242"
        server.key = "another"
        with pytest.raises(errors.ServerAuthError) as caught:
            build_llm(settings).invoke("Hi")
    assert "sk-secret" not in str(caught.value) and "NEWSQA_LLM_API_KEY" in str(caught.value)
    assert "sk-secret" not in settings.model_dump_json() and "sk-secret" not in repr(settings)


def test_a_server_backend_without_an_address_is_a_config_error_naming_the_setting(tmp_path):
    with pytest.raises(errors.ConfigError, match="NEWSQA_LLM_BASE_URL"):
        build_llm(Settings(index_dir=tmp_path, llm_backend="openai"))
    with pytest.raises(errors.ConfigError, match="NEWSQA_EMBEDDING_BASE_URL"):
        build_embeddings(Settings(index_dir=tmp_path, embedding_backend="openai", embedding_base_url="localhost:1"))


def test_the_embedder_sends_the_models_prompts_in_the_text_in_concurrent_batches(tmp_path):
    with ScriptedServer(embed=lambda text: [3.0, 4.0, float(len(text))]) as server:
        emb = build_embeddings(embedding_settings(server, tmp_path))
        emb._batch_size, emb._concurrency = 2, 3
        texts = [f"title: t{i} | text: chunk {'x' * i}" for i in range(7)]
        raw = emb.embed_raw(texts)
        query = emb.embed_query("When did Bessent last meet He?")
        doc = emb.embed_documents(["plain"])
    sent = [r["input"] for r in server.requests]
    assert sorted(t for batch in sent[:4] for t in batch) == sorted(texts) and max(len(b) for b in sent[:4]) == 2
    assert sent[4] == ["task: question answering | query: When did Bessent last meet He?"]
    assert sent[5] == [DOCUMENT_PROMPT + "plain"]
    for text, vector in zip(texts, raw):  # in the order asked, unit length
        expected = [3.0, 4.0, float(len(text))]
        norm = sum(x * x for x in expected) ** 0.5
        assert vector == pytest.approx([x / norm for x in expected])
    assert sum(x * x for x in query) == pytest.approx(1.0) and len(doc[0]) == 3
    assert emb.name == "served-model"


def test_matryoshka_dimensions_cut_server_vectors(tmp_path):
    with ScriptedServer(embed=lambda text: [1.0, 1.0, 5.0, 5.0]) as server:
        emb = build_embeddings(embedding_settings(server, tmp_path, embedding_dimensions=2))
        assert emb.embed_query("q") == pytest.approx([2 ** -0.5, 2 ** -0.5])


# -- failures, named ---------------------------------------------------------------------------------------

CHAT_FAILURES = [
    ("401", errors.ServerAuthError, 1),
    ("404", errors.ServerModelMissing, 1),
    ("500", errors.ServerReplyError, 3),  # retried twice
    ("hang", errors.ServerTimeout, 3),
    ("malformed", errors.ServerReplyError, None),
    ("context", errors.ServerContextError, 1),
    ("length", errors.ServerContextError, 1),
]


@pytest.mark.parametrize("mode,error,requests", CHAT_FAILURES)
def test_each_chat_failure_is_a_named_error(tmp_path, mode, error, requests):
    with ScriptedServer(hang_s=2.5) as server:
        server.mode = mode
        with pytest.raises(error) as caught:
            build_llm(llm_settings(server, tmp_path, llm_max_tokens=50)).invoke("When?")
    assert server.base_url in str(caught.value)
    if requests is not None:
        assert len(server.requests) == requests


@pytest.mark.parametrize("mode,error", [("cut", errors.ServerReplyError), ("401", errors.ServerAuthError),
                                        ("context", errors.ServerContextError)])
def test_streamed_failures_are_named_too(tmp_path, mode, error):
    with ScriptedServer(reply="Bessent met He in October 2025 [1].") as server:
        server.mode = mode
        got: list[str] = []
        with pytest.raises(error):
            for chunk in build_llm(llm_settings(server, tmp_path)).stream("When?"):
                got.append(str(chunk.content))
    if mode == "cut":
        assert "".join(got) == "Bessent met"  # what came before the cut, then the error


def test_an_unreachable_server_is_named_with_its_address(tmp_path):
    url = closed_port_url()
    settings = Settings(index_dir=tmp_path, llm_backend="openai", llm_base_url=url, embedding_backend="openai",
                        embedding_base_url=url, server_timeout=1.0)
    with pytest.raises(errors.ServerUnreachable, match="NEWSQA_LLM_BASE_URL"):
        build_llm(settings).invoke("Hi")
    with pytest.raises(errors.ServerUnreachable, match="NEWSQA_EMBEDDING_BASE_URL"):
        build_embeddings(settings).embed_query("Hi")


@pytest.mark.parametrize("mode,error", [("401", errors.ServerAuthError), ("404", errors.ServerModelMissing),
                                        ("500", errors.ServerReplyError), ("hang", errors.ServerTimeout),
                                        ("malformed", errors.ServerReplyError)])
def test_each_embedding_failure_is_a_named_error(tmp_path, mode, error):
    with ScriptedServer(hang_s=2.5) as server:
        server.mode = mode
        with pytest.raises(error):
            build_embeddings(embedding_settings(server, tmp_path)).embed_query("When?")


def test_an_embedder_failing_mid_ingest_writes_nothing_and_a_rerun_completes(tmp_path):
    designed = DesignedEmbeddings()
    folder = tmp_path / "articles"
    folder.mkdir()
    for i in range(6):
        (folder / f"a{i}.txt").write_text(f"Story {i}\n\n" + f"Paragraph {i} about the talks. " * 60,
                                          encoding="utf-8")
    with ScriptedServer(embed=designed.embed_query) as server:
        settings = embedding_settings(server, tmp_path, chunk_size=300)
        server.mode, server.ok_first = "500", 1  # one request answered, then server errors
        service = QAService(settings=settings, llm=object())
        with pytest.raises(errors.ServerReplyError):
            service.ingest([folder])
        assert service.store.count() == 0  # the failing batch was never written
        server.mode = "ok"
        first = QAService(settings=settings, llm=object()).ingest([folder])
        again = QAService(settings=settings, llm=object()).ingest([folder])
        store = QAService(settings=settings, llm=object()).store
    assert first.added == 6 and first.failed == 0 and again.unchanged == 6
    assert store.count() == first.chunks_written and len(set(store.ids())) == store.count()


# -- the edges: CLI, REST, chat page -----------------------------------------------------------------------

def _served_service(server: ScriptedServer, tmp_path: Path) -> QAService:
    emb = DesignedEmbeddings()
    svc = QAService(settings=llm_settings(server, tmp_path, k=2), embeddings=emb, store=MemoryStore(emb))
    folder = tmp_path / "a"
    folder.mkdir()
    (folder / "bessent.txt").write_text(ARTICLE, encoding="utf-8")
    svc.ingest([folder])
    return svc


def test_the_rest_api_answers_through_the_server_and_maps_its_failures_to_statuses(tmp_path):
    with ScriptedServer(reply="Bessent last met He Lifeng in October 2025 [1].", hang_s=2.5) as server:
        client = TestClient(create_api(_served_service(server, tmp_path)))
        ok = client.post("/api/ask", json={"question": QUESTION, "as_of": "2026-02-11"})
        assert ok.status_code == 200 and "October 2025" in ok.json()["answer"]
        statuses = {}
        for mode in ("401", "404", "hang", "500"):
            server.mode = mode
            res = client.post("/api/ask", json={"question": QUESTION, "as_of": "2026-02-11"})
            statuses[mode] = (res.status_code, res.json()["error"])
        server.mode = "cut"
        with client.stream("POST", "/api/ask/stream", json={"question": QUESTION, "as_of": "2026-02-11"}) as res:
            events = res.read().decode()
    assert statuses == {"401": (502, "ServerAuthError"), "404": (502, "ServerModelMissing"),
                        "hang": (504, "ServerTimeout"), "500": (502, "ServerReplyError")}
    assert "event: error" in events and "mid-reply" in events and '"status": 502' in events


def test_the_chat_page_shows_a_server_failure_as_a_message(tmp_path):
    from ui.app import _friendly

    with ScriptedServer() as server:
        svc = _served_service(server, tmp_path)
        server.mode = "404"
        with pytest.raises(errors.ServerModelMissing) as caught:
            svc.ask(QUESTION, as_of="2026-02-11")
    shown = _friendly(caught.value)
    assert shown.startswith("⚠️") and "does not serve the model 'served-model'" in shown


def test_the_cli_names_the_server_error_and_exits_non_zero(tmp_path, monkeypatch, capsys):
    from qa.cli import main

    with ScriptedServer() as server:
        monkeypatch.setenv("NEWSQA_EMBEDDING_BACKEND", "openai")
        monkeypatch.setenv("NEWSQA_EMBEDDING_BASE_URL", server.base_url)
        monkeypatch.setenv("NEWSQA_EMBEDDING_MODEL", server.model)
        monkeypatch.setenv("NEWSQA_SERVER_TIMEOUT", "1")
        server.mode = "401"
        folder = tmp_path / "a"
        folder.mkdir()
        (folder / "bessent.txt").write_text(ARTICLE, encoding="utf-8")
        code = main(["ingest", str(folder), "--index", str(tmp_path / "idx")])
    err = capsys.readouterr().err
    assert code == errors.ServerAuthError.exit_code == 5
    assert "ServerAuthError" in err and "NEWSQA_EMBEDDING_API_KEY" in err


# -- an index knows its embedder ---------------------------------------------------------------------------

def test_an_index_records_its_embedder_and_refuses_another(tmp_path):
    emb = DesignedEmbeddings()
    store = ChromaVectorStore(persistent_client(tmp_path / "idx"), emb, embedder="embeddinggemma-300m")
    store.upsert([Record("c1", "Bessent met He Lifeng in October.", {"article_id": "a"})])
    assert store.embedder == {"newsqa:embedder": "embeddinggemma-300m", "newsqa:dimension": len(emb.embed_query("x"))}
    # the same model on a server (a hub-style name) is the same embedder
    same = build_store(Settings(index_dir=tmp_path / "idx", embedding_model="google/embeddinggemma-300m"), emb)
    assert same.count() == 1
    with pytest.raises(errors.ConfigError) as caught:
        build_store(Settings(index_dir=tmp_path / "idx", embedding_model="all-minilm-l6-v2"), emb)
    assert "embeddinggemma-300m" in str(caught.value) and "all-minilm-l6-v2" in str(caught.value)
    with pytest.raises(EmbedderMismatch):
        ChromaVectorStore(persistent_client(tmp_path / "idx"), emb, embedder="other-model")


def test_vectors_of_another_length_are_refused_naming_both_lengths(tmp_path):
    emb = DesignedEmbeddings()
    store = ChromaVectorStore(persistent_client(tmp_path / "idx"), emb, embedder="m")
    store.upsert([Record("c1", "Bessent met He Lifeng in October.", {"article_id": "a"})])
    length = len(emb.embed_query("x"))
    with pytest.raises(DimensionMismatch, match=f"{length}-dimension.*have 2"):
        store.search([1.0, 0.0], k=1)
