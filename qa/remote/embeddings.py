"""The embedding model on an OpenAI-compatible `/v1/embeddings` server (TEI, Infinity, vLLM, llama.cpp's server
with --embedding, Ollama's /v1, hosted APIs), through LangChain's `OpenAIEmbeddings`.

Such a server embeds the text it is sent, so the model's prompts travel in the text: questions get the
recipe's query prompt, chunks already carry their document template ("title: … | text: …"), and other
documents get the model's document prompt. Chunks go out in batches, several at once (bounded), so a GPU server
stays busy while newsqa waits; any failure is a named error (qa/remote/errors.py) before anything is written.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from langchain_core.embeddings import Embeddings

from qa.errors import ServerReplyError
from qa.remote.errors import Server, translated
from vectorstore.embeddings import leading_dimensions

# EmbeddingGemma's document prompt (its sentence-transformers config), for documents that are not chunks.
DOCUMENT_PROMPT = "title: none | text: "


class ServerEmbeddings(Embeddings):
    """Vectors from `server`, normalised, optionally cut to their leading `dimensions` (Matryoshka)."""

    def __init__(self, server: Server, *, api_key: str | None, query_prompt: str = "",
                 document_prompt: str = DOCUMENT_PROMPT, batch_size: int = 32, concurrency: int = 4,
                 retries: int = 2, dimensions: int | None = None) -> None:
        from langchain_openai import OpenAIEmbeddings

        self.server = server
        self.name = server.model.rstrip("/").rsplit("/", 1)[-1]
        self._query_prompt = query_prompt
        self._document_prompt = document_prompt
        self._batch_size = max(1, batch_size)
        self._concurrency = max(1, concurrency)
        self._dimensions = dimensions
        # check_embedding_ctx_length=False: send the text itself (not OpenAI's tiktoken ids, which other servers
        # cannot read and which would need a download); encoding_format float: not every server sends base64.
        self._client = OpenAIEmbeddings(
            model=server.model, base_url=server.base_url, api_key=api_key or "none", timeout=server.timeout,
            max_retries=retries, check_embedding_ctx_length=False, chunk_size=self._batch_size,
            model_kwargs={"encoding_format": "float"},
        )

    def _vectors(self, texts: list[str]) -> list[list[float]]:
        with translated(self.server):
            vectors = self._client.embed_documents(texts)
        if len(vectors) != len(texts) or any(not v for v in vectors):
            raise ServerReplyError(f"{self.server.describe()} returned {len(vectors)} vectors for {len(texts)} texts")
        # normalised (a server need not send unit vectors), cut to the leading dimensions when asked
        return [leading_dimensions(v, self._dimensions or len(v)) for v in vectors]

    def _batched(self, texts: list[str]) -> list[list[float]]:
        """All texts, `batch_size` a request, up to `concurrency` requests in flight; in order. The first failure
        is raised (the other requests are let finish; nothing is returned, so nothing is written)."""
        if not texts:
            return []
        batches = [texts[i:i + self._batch_size] for i in range(0, len(texts), self._batch_size)]
        if len(batches) == 1 or self._concurrency == 1:
            return [v for batch in batches for v in self._vectors(batch)]
        with ThreadPoolExecutor(max_workers=min(self._concurrency, len(batches)),
                                thread_name_prefix="embed-server") as pool:
            results = list(pool.map(self._vectors, batches))
        return [v for part in results for v in part]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._batched([self._document_prompt + t for t in texts])

    def embed_raw(self, texts: list[str]) -> list[list[float]]:
        """Texts already in the model's document format (chunks with their template): sent as they are."""
        return self._batched(list(texts))

    def embed_documents_for_query(self, texts: list[str]) -> list[list[float]]:
        return self.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self._vectors([self._query_prompt + text])[0]
