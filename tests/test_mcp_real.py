"""`newsqa mcp` with the real models, reached over stdio by the MCP SDK's client: the Bessent question answered
from the seed articles, the French article cited."""

from __future__ import annotations

import sys

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from conftest import REPO
from qa.service import QAService
from qa.settings import Settings

pytestmark = pytest.mark.real_models


def test_the_bessent_question_over_stdio_cites_the_french_article(tmp_path, real_embeddings, seeds_dir):
    index = tmp_path / "idx"
    report = QAService(settings=Settings(index_dir=index), embeddings=real_embeddings, llm=object()).ingest(
        sorted(seeds_dir.glob("*.txt")))
    assert report.added == 2
    params = StdioServerParameters(command=sys.executable, args=["-m", "qa", "mcp", "--index", str(index)],
                                   cwd=str(REPO))

    async def main():
        async with Client(params, read_timeout_seconds=300) as client:
            return await client.call_tool("ask", {"question": "When did Bessent last meet He Lifeng?",
                                                  "as_of": "2026-02-11"})

    result = anyio.run(main)
    data = result.structured_content
    assert not result.is_error and not data["abstained"], data
    assert "October" in data["answer"] and "2025" in data["answer"]
    assert any(c["language"] == "fr" and c["source"].endswith("004_a88b1a08a186ee89.txt") for c in data["citations"])
