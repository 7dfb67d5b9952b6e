"""The LLM on an OpenAI-compatible server (vLLM, llama.cpp's llama-server, Ollama's /v1, LM Studio, hosted APIs).

LangChain's `ChatOpenAI` speaks the protocol; `ServerChat` adds what newsqa needs from any such server:
- failures become named errors (qa/remote/errors.py) in whole and streamed calls alike;
- the answer budget goes out as `max_tokens`, which every such server reads (ChatOpenAI sends OpenAI's newer
  `max_completion_tokens`, which some servers ignore);
- a reply the server stopped because its context window was full (finish reason "length" before the answer
  budget was spent), and a stream that ends without a finish reason (cut), are errors, not short answers.
Token log-probabilities come back in the same shape as the local runtime's (OpenAI's), when bound.
"""

from __future__ import annotations

from typing import Any, Iterator

from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_openai import ChatOpenAI
from pydantic import ConfigDict

from qa.errors import ServerContextError, ServerReplyError
from qa.remote.errors import Server, translated


class ServerChat(ChatOpenAI):
    """ChatOpenAI against `server`, with its failures as newsqa errors."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    server: Server

    def _get_request_payload(self, input_: Any, *, stop: list[str] | None = None, **kwargs: Any) -> dict:
        payload = super()._get_request_payload(input_, stop=stop, **kwargs)
        if "max_completion_tokens" in payload:
            payload["max_tokens"] = payload.pop("max_completion_tokens")
        return payload

    def _check_finish(self, reason: str | None, completion_tokens: int | None) -> None:
        if reason is None:
            raise ServerReplyError(
                f"{self.server.describe()} ended the reply without a finish reason (a stream cut mid-answer): the "
                "server may have crashed or restarted; see its log and ask again")
        if reason == "length" and completion_tokens is not None and self.max_tokens \
                and completion_tokens < self.max_tokens:
            raise ServerContextError(
                f"{self.server.describe()} stopped the reply after {completion_tokens} tokens, at the end of its "
                "context window: start it with a larger context (llama.cpp: -c 8192; vLLM: --max-model-len 8192;"
                " Ollama: num_ctx), or lower NEWSQA_LLM_CONTEXT to what it serves")

    def _generate(self, messages, stop=None, run_manager=None, **kwargs: Any) -> ChatResult:
        with translated(self.server):
            result = super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)
        generation = result.generations[0]
        message = generation.message
        usage = getattr(message, "usage_metadata", None) or {}
        reason = (generation.generation_info or {}).get("finish_reason") or message.response_metadata.get(
            "finish_reason")
        self._check_finish(reason, usage.get("output_tokens"))
        return result

    def _stream(self, messages, stop=None, run_manager=None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        reason, tokens = None, None
        with translated(self.server):
            for chunk in super()._stream(messages, stop=stop, run_manager=run_manager, **kwargs):
                info = chunk.generation_info or {}
                reason = info.get("finish_reason") or chunk.message.response_metadata.get("finish_reason") or reason
                usage = getattr(chunk.message, "usage_metadata", None) or {}
                tokens = usage.get("output_tokens", tokens)
                yield chunk
        self._check_finish(reason, tokens)


def server_chat(server: Server, *, api_key: str | None, max_tokens: int, temperature: float,
                retries: int) -> ServerChat:
    """A chat model on `server` (no request is made until it is asked)."""
    return ServerChat(
        server=server, model=server.model, base_url=server.base_url, api_key=api_key or "none",
        max_tokens=max_tokens, temperature=temperature, timeout=server.timeout, max_retries=retries,
        stream_usage=True, seed=42,
    )
