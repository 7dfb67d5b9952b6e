"""newsqa as an MCP server (qa/mcp_server.py), reached by the SDK's own client: in process, over stdio (a
`newsqa mcp` subprocess whose models are a scripted OpenAI-compatible server in this process) and over HTTP
(/mcp on a running `newsqa serve` app). The same with the real models: tests/test_mcp_real.py."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from conftest import REPO
from fakes import DesignedEmbeddings, MemoryStore, scripted_llm
from live_api import running
from qa.api import create_api
from qa.mcp_server import build_mcp
from qa.service import QAService
from qa.settings import Settings
from scripted_server import ScriptedServer

ARTICLE = "date 2026-02-10\nBessent et He\n\nBessent a rencontré He Lifeng pour la dernière fois en Malaisie en octobre."
REPLY = "Bessent last met He Lifeng in October 2025 [1]."
QUESTION = "When did Bessent last meet He Lifeng?"
TOOLS = {"ask", "search", "list_articles", "ingest"}


def _articles(tmp_path: Path) -> Path:
    folder = tmp_path / "a"
    folder.mkdir(exist_ok=True)
    (folder / "bessent.txt").write_text(ARTICLE, encoding="utf-8")
    (folder / "ecb.txt").write_text("date 2026-02-09\nECB\n\nThe ECB kept its rate at 2%.", encoding="utf-8")
    return folder


def _service(tmp_path, *replies, **settings) -> QAService:
    emb = DesignedEmbeddings()
    svc = QAService(settings=Settings(index_dir=tmp_path / "idx", k=2, translate_queries=False, **settings),
                    embeddings=emb, store=MemoryStore(emb), llm=scripted_llm(*replies))
    svc.ingest([_articles(tmp_path)])
    return svc


def text_of(result) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


async def _exercise(client: Client, *, answer: bool = True) -> dict:
    """What every transport must do: list, search, ask, list articles, read one, refuse bad input."""
    seen = {"tools": {t.name for t in (await client.list_tools()).tools}}
    found = await client.call_tool("search", {"query": QUESTION, "k": 2, "as_of": "2026-02-11"})
    seen["search"] = found.structured_content["passages"]
    if answer:
        asked = await client.call_tool("ask", {"question": QUESTION, "as_of": "2026-02-11"})
        seen["ask"], seen["ask_text"] = asked.structured_content, text_of(asked)
    listed = await client.call_tool("list_articles", {"limit": 1})
    seen["list"] = listed.structured_content
    bessent = next(p for p in seen["search"] if "Malaisie" in p["text"])
    read = await client.read_resource(f"newsqa://articles/{bessent['article_id']}")
    seen["article"] = read.contents[0].text
    seen["empty"] = await client.call_tool("ask", {"question": "   "})
    seen["ingest"] = await client.call_tool("ingest", {"paths_or_urls": [str(REPO / "data" / "sample")]})
    seen["big_k"] = await client.call_tool("search", {"query": QUESTION, "k": 500})
    return seen


def _check(seen: dict, *, answer: bool = True) -> None:
    assert TOOLS <= seen["tools"]
    assert seen["search"][0]["id"] and {"title", "published", "score", "article_id"} <= set(seen["search"][0])
    if answer:
        assert seen["ask"]["answer"] == REPLY and seen["ask"]["abstained"] is False
        cited = seen["ask"]["citations"][0]
        assert cited["language"] == "fr" and "Malaisie" in cited["quote"] and cited["source"].endswith("bessent.txt")
        assert "Sources:\n[1]" in seen["ask_text"]
    assert seen["list"]["total"] == 2 and len(seen["list"]["articles"]) == 1
    assert "Malaisie en octobre" in seen["article"]
    assert seen["empty"].is_error and "empty" in text_of(seen["empty"]).lower()
    assert seen["ingest"].is_error and "NEWSQA_MCP_INGEST" in text_of(seen["ingest"])
    assert seen["big_k"].is_error and "between 1 and 50" in text_of(seen["big_k"])


def test_the_tools_in_process(tmp_path):
    server = build_mcp(_service(tmp_path, REPLY))

    async def main():
        async with Client(server) as client:
            return await _exercise(client)

    _check(anyio.run(main))


def test_ingest_works_when_writes_are_allowed_and_says_what_it_refuses(tmp_path):
    service = _service(tmp_path, REPLY)
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "pope.txt").write_text("date 2026-02-08\nPope\n\nThe pope visited Lyon.", encoding="utf-8")

    async def main():
        async with Client(build_mcp(service, allow_ingest=True)) as client:
            added = await client.call_tool("ingest", {"paths_or_urls": [str(extra)]})
            url = await client.call_tool("ingest", {"paths_or_urls": ["https://example.org/a"]})
            missing = await client.call_tool("ingest", {"paths_or_urls": [str(tmp_path / "nope")]})
            return added, url, missing

    added, url, missing = anyio.run(main)
    assert not added.is_error and added.structured_content["added"] == 1
    assert url.is_error and "local files" in text_of(url)
    assert missing.is_error and "no such file" in text_of(missing)
    assert service.stats()["articles"] == 3


def test_the_article_resource_rebuilds_the_text_without_the_chunk_overlap(tmp_path):
    service = _service(tmp_path, REPLY, chunk_size=120, chunk_overlap=40)
    long = " ".join(f"Sentence {i} about the talks in Kuala Lumpur." for i in range(12))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "long.txt").write_text(f"date 2026-02-01\nTalks\n\n{long}", encoding="utf-8")
    service.ingest([tmp_path / "b"])
    article_id = next(a["article_id"] for a in service.articles() if a["chunks"] > 2)
    text = service.article(article_id)["text"]
    assert text.count("Sentence 5 about") == 1 and "Sentence 11 about the talks in Kuala Lumpur." in text
    assert service.article("no-such-id") is None


def test_stdio_newsqa_mcp_subprocess(tmp_path):
    designed = DesignedEmbeddings()
    with ScriptedServer(reply=REPLY, embed=designed.embed_query) as models:
        env = {"NEWSQA_INDEX_DIR": str(tmp_path / "idx"), "NEWSQA_EMBEDDING_BACKEND": "openai",
               "NEWSQA_EMBEDDING_BASE_URL": models.base_url, "NEWSQA_EMBEDDING_MODEL": models.model,
               "NEWSQA_LLM_BACKEND": "openai", "NEWSQA_LLM_BASE_URL": models.base_url,
               "NEWSQA_LLM_MODEL": models.model, "NEWSQA_TRANSLATE_QUERIES": "false", "NEWSQA_K": "2"}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            QAService(settings=Settings()).ingest([_articles(tmp_path)])
        finally:
            for k, v in saved.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
        params = StdioServerParameters(command=sys.executable, args=["-m", "qa", "mcp"], env=env, cwd=str(REPO))

        async def main():
            async with Client(params) as client:
                return await _exercise(client)

        seen = anyio.run(main)
    _check(seen)


def test_http_mcp_on_the_serve_app_needs_the_token(tmp_path):
    from ui.server import build_server

    service = _service(tmp_path, REPLY)

    async def main(url: str, token: str | None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                return await _exercise(client)

    with running(build_server(service, token="t0ken")) as base:
        seen = anyio.run(main, f"{base}/mcp/", "t0ken")
        refused = httpx2.post(f"{base}/mcp/", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        wrong = httpx2.post(f"{base}/mcp/", json={}, headers={"Authorization": "Bearer nope"})
        lower = httpx2.post(f"{base}/mcp/", json={}, headers={"Authorization": "bearer t0ken"})
        odd = httpx2.post(f"{base}/mcp/", json={}, headers={"Authorization": "Bearer t\u00f6ken".encode("utf-8")})
        v1 = httpx2.get(f"{base}/v1/models", headers={"Authorization": "Bearer t\u00f6ken".encode("utf-8")})
    _check(seen)
    assert refused.status_code == 401 and wrong.status_code == 401 and odd.status_code == 401
    assert lower.status_code != 401 and v1.status_code == 401


def test_http_mcp_without_a_token_on_loopback(tmp_path):
    service = _service(tmp_path, REPLY)

    async def main(url: str):
        async with Client(url) as client:
            tools = await client.list_tools()
            listed = await client.call_tool("list_articles", {})
            return {t.name for t in tools.tools}, listed.structured_content

    with running(create_api(service)) as base:
        names, listed = anyio.run(main, f"{base}/mcp/")
    assert TOOLS <= names and listed["total"] == 2
