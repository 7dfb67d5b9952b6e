"""A model server's failures as newsqa's named errors (qa/errors.py), each with the fix in its message.

The OpenAI client (under langchain-openai) raises its own exceptions, httpx's for a connection cut mid-stream,
and json's for a body that is not JSON. `translated` turns each into one ServerError subclass that names the
server's role ("LLM" or "embedding"), its address and the model, and never the key.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from qa.errors import (ServerAuthError, ServerContextError, ServerError, ServerModelMissing, ServerReplyError,
                       ServerTimeout, ServerUnreachable)

# Phrases of the context-window errors of llama.cpp ("exceeds the available context size"), vLLM ("maximum
# context length") and OpenAI ("context_length_exceeded").
_CONTEXT_PHRASES = ("context size", "context length", "context_length", "context window", "too many tokens")


@dataclass(frozen=True)
class Server:
    """Where a model is served: what newsqa uses it for ("LLM" / "embedding"), its base URL, the model's name,
    and the settings that point at it (for messages)."""

    role: str
    base_url: str
    model: str
    timeout: float

    @property
    def variable(self) -> str:
        return "NEWSQA_LLM" if self.role == "LLM" else "NEWSQA_EMBEDDING"

    def describe(self) -> str:
        return f"the {self.role} server at {self.base_url}"


def _detail(exc: Exception) -> str:
    """The server's own words, short: the error message of an OpenAI-style error body, else the exception's."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
        if message:
            return str(message)[:300]
    return (str(exc) or type(exc).__name__)[:300]


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and its causes, outermost first."""
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def _is(exc: BaseException, *names: str) -> bool:
    """Whether an exception in the chain is of a class so named (or derives from one): the OpenAI client's HTTP
    layer (httpx, or httpx2 in openai 3.x) is matched by name, whichever package it comes from."""
    return any(k.__name__ in names for e in _chain(exc) for k in type(e).__mro__)


def as_server_error(exc: BaseException, server: Server) -> ServerError | None:
    """The named error for an exception raised while talking to `server`, or None when it is not such a failure."""
    import openai

    where, var = server.describe(), server.variable
    if isinstance(exc, openai.APITimeoutError) or _is(exc, "TimeoutException", "ReadTimeout", "ConnectTimeout"):
        return ServerTimeout(
            f"{where} did not answer within {server.timeout:g} s (model {server.model!r}, after retries): a busy "
            f"or overloaded server; raise NEWSQA_SERVER_TIMEOUT or give the server more capacity")
    if isinstance(exc, openai.APIConnectionError) or _is(exc, "TransportError"):
        root = _chain(exc)[-1]
        if _is(exc, "ConnectError", "ConnectionRefusedError", "gaierror"):
            return ServerUnreachable(
                f"{where} cannot be reached ({_detail(root)}): start the server, or fix {var}_BASE_URL "
                f"(an OpenAI-compatible address ending in /v1, e.g. http://127.0.0.1:8080/v1)")
        return ServerReplyError(
            f"{where} broke off the connection mid-reply ({_detail(root)}): the server may have crashed "
            "or restarted; see its log and ask again")
    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return ServerAuthError(
            f"{where} refused the key (HTTP {exc.status_code}: {_detail(exc)}): set {var}_API_KEY to a key this "
            f"server accepts (it is read from the environment only)")
    if isinstance(exc, openai.NotFoundError):
        return ServerModelMissing(
            f"{where} does not serve the model {server.model!r} (HTTP 404: {_detail(exc)}): set "
            f"{var}_MODEL to a name from the server's /models list, or check that {var}_BASE_URL ends in /v1")
    if isinstance(exc, openai.APIStatusError):
        detail = _detail(exc)
        if exc.status_code in (400, 413, 422) and any(p in detail.lower() for p in _CONTEXT_PHRASES):
            return ServerContextError(
                f"{where} says the prompt does not fit its context window ({detail}): start it with a larger "
                "context (llama.cpp: -c 8192; vLLM: --max-model-len 8192; Ollama: num_ctx), or lower "
                "NEWSQA_LLM_CONTEXT to what it serves so fewer passages are sent")
        return ServerReplyError(f"{where} answered HTTP {exc.status_code} for model {server.model!r}: {detail}")
    if isinstance(exc, (openai.APIError, json.JSONDecodeError)):  # a reply that is not valid JSON, or malformed
        return ServerReplyError(
            f"{where} sent a reply that is not valid OpenAI-compatible JSON ({_detail(exc)}): check that "
            f"{var}_BASE_URL points at the server's OpenAI-compatible API (usually ending in /v1)")
    return None  # not a server failure (a bug of ours stays a bug)


@contextmanager
def translated(server: Server) -> Iterator[None]:
    """Raise the named ServerError for a server failure inside the block; anything else passes unchanged."""
    try:
        yield
    except ServerError:
        raise
    except Exception as exc:
        named = as_server_error(exc, server)
        if named is None:
            raise
        raise named from exc
