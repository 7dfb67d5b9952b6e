"""The default models behind real OpenAI-compatible servers on loopback ports: llama.cpp's server with the
project's GGUF for chat, Infinity with the EmbeddingGemma folder for /v1/embeddings (tests/model_servers.py;
`make servers` installs Infinity). Ingestion, rankings, answers and an evaluation run through them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import REPO, SAMPLE_DIR
from model_servers import infinity_server, llama_server
from qa.answer.confidence import token_entries
from qa.service import QAService
from qa.settings import Settings
from qa.types import Answer

pytestmark = pytest.mark.real_models

BESSENT = "When did Bessent last meet He Lifeng?"
QUESTIONS = [BESSENT, "What did Beijing agree to postpone?", "When is the US president expected to visit China?",
             "Who was arrested in Paris?", "What did the ECB decide about interest rates?"]


@pytest.fixture(scope="module")
def servers(tmp_path_factory, real_settings):
    from qa.factory import resolve_model

    gguf = resolve_model(real_settings.llm_model, real_settings, "llm")
    folder = resolve_model(real_settings.embedding_model, real_settings, "embedding")
    logs = tmp_path_factory.mktemp("server-logs")
    with llama_server(gguf, logs, alias="qwen2.5-coder-1.5b") as llm_url, infinity_server(folder, logs) as emb_url:
        yield {"llm_backend": "openai", "llm_base_url": llm_url, "llm_model": "qwen2.5-coder-1.5b",
               "embedding_backend": "openai", "embedding_base_url": emb_url, "embedding_model": "embeddinggemma-300m"}


@pytest.fixture(scope="module")
def served(tmp_path_factory, servers, seeds_dir):
    """The seeds and data/sample ingested through the embedding server, answered through the chat server."""
    svc = QAService(settings=Settings(index_dir=tmp_path_factory.mktemp("served"), **servers))
    report = svc.ingest(sorted(seeds_dir.glob("*.txt")) + [SAMPLE_DIR])
    assert report.failed == 0 and report.added >= 14
    return svc


@pytest.fixture(scope="module")
def local(tmp_path_factory, fp32_embeddings, seeds_dir, served):
    """The same articles through the local encoder (float32, as the server runs it); questions are translated by
    the same served model, so both retrievers search the same translations."""
    svc = QAService(settings=Settings(index_dir=tmp_path_factory.mktemp("local")), embeddings=fp32_embeddings,
                    llm=served.llm)
    svc.ingest(sorted(seeds_dir.glob("*.txt")) + [SAMPLE_DIR])
    return svc


def test_the_server_index_records_its_embedder(served):
    assert served.store.embedder == {"newsqa:embedder": "embeddinggemma-300m", "newsqa:dimension": 768}


@pytest.mark.parametrize("question", QUESTIONS)
def test_rankings_through_the_server_match_the_local_encoder(served, local, question):
    remote_vector = served.embeddings.embed_query(question)
    local_vector = local.embeddings.embed_query(question)
    assert sum(a * b for a, b in zip(remote_vector, local_vector)) > 0.999
    remote_hits = served.store.search(remote_vector, k=8)
    local_hits = local.store.search(local_vector, k=8)
    assert [h.record.id for h in remote_hits] == [h.record.id for h in local_hits]
    assert [h.score for h in remote_hits] == pytest.approx([h.score for h in local_hits], abs=2e-3)
    remote_passages = served.chain.retriever.retrieve(question, None, 5)
    local_passages = local.chain.retriever.retrieve(question, None, 5)
    assert [p.chunk.chunk_id for p in remote_passages] == [p.chunk.chunk_id for p in local_passages]


def test_the_bessent_question_through_both_servers_cites_the_french_article(served):
    answer = served.ask(BESSENT, as_of="2026-02-11")
    assert not answer.abstained, answer.text
    assert "october" in answer.text.lower() and "2025" in answer.text
    cited = [c.passage.chunk for c in answer.citations]
    assert any(c.language == "fr" and c.source.endswith("004_a88b1a08a186ee89.txt") for c in cited)


def test_a_streamed_answer_through_the_server_reports_its_tokens(served):
    items = list(served.stream(BESSENT, as_of="2026-02-11"))
    answer = items[-1]
    assert isinstance(answer, Answer) and [i for i in items[:-1] if isinstance(i, str)]
    assert answer.tokens["prompt"] > 200 and answer.tokens["completion"] > 0
    assert "october" in answer.text.lower()


def test_the_servers_token_log_probabilities_reach_the_answer(served):
    message = served.llm.bind(logprobs=True, top_logprobs=3).invoke("Reply with one word: the capital of France.")
    entries = token_entries(message.response_metadata)
    assert entries and all(e["logprob"] <= 0.0 for e in entries) and entries[0].get("top_logprobs")


def test_a_question_the_seeds_cannot_answer_is_abstained_through_the_server(served):
    answer = served.ask("Who won the 2026 Tour de France?", as_of="2026-02-11")
    assert answer.abstained, answer.text


def test_an_evaluation_with_a_config_file_naming_the_servers_writes_its_report(tmp_path, servers, seeds_dir):
    from qa.cli import main

    config = tmp_path / "servers.json"
    config.write_text(json.dumps({"name": "servers", "settings": servers}), encoding="utf-8")
    out = tmp_path / "out"
    args = ["eval", str(REPO / "data" / "eval" / "french_qa.jsonl"), "--limit", "2", "--index",
            str(tmp_path / "idx"), "--config", str(config), "--out", str(out)]
    for seed in sorted(seeds_dir.glob("*.txt")):
        args += ["--ingest", str(seed)]
    assert main(args) == 0
    results = [json.loads(line) for line in (out / "servers" / "results.jsonl").read_text().splitlines()]
    assert len(results) == 2 and all(r.get("answer") for r in results)
    written = {p.name for p in Path(out).rglob("*") if p.is_file()}
    assert "results.jsonl" in written and any(name.endswith(".md") for name in written)


def test_options_and_a_follow_up_rewritten_by_the_served_model(servers, served):
    """Multiple-choice options and an LLM-condensed follow-up, both through the chat server."""
    from qa.evaluation import metrics

    options = ["Prado", "Louvre", "Uffizi"]
    answer = served.ask("Which museum did thieves rob?", as_of="2025-10-20", options=options)
    assert not answer.abstained and answer.citations, answer.raw_text
    assert metrics.answer_correct(answer.text, ["Louvre"], options), answer.text
    condensing = QAService(settings=Settings(index_dir=served.settings.index_dir, condense_mode="llm", **servers))
    follow = condensing.ask("And where did they meet?", as_of="2026-02-11",
                            history=[{"role": "user", "content": BESSENT},
                                     {"role": "assistant", "content": "In October 2025 [1]."}])
    assert follow.standalone_question and "Bessent" in follow.standalone_question, follow.standalone_question
