"""A LangChain chat model over llama.cpp, through the xllamacpp bindings (a prebuilt wheel).

xllamacpp runs llama.cpp's server engine in-process and takes OpenAI-style chat requests as dicts;
this adapter maps LangChain messages to such requests and streams tokens back through a queue.
"""

from __future__ import annotations

import os
import queue
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, PrivateAttr

from qa.errors import ModelError

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "user": "user", "assistant": "assistant"}


def _to_openai(messages: list[BaseMessage]) -> list[dict[str, str]]:
    return [{"role": _ROLES.get(m.type, "user"), "content": str(m.content)} for m in messages]


def threaded(produce: Callable[[Callable[[Any], bool]], None]) -> Iterator[Any]:
    """Run `produce(emit)` in a worker thread and yield what it emits, in order. `emit` returns True once the
    reader has stopped reading (a client gone): the producer should end, so no lock stays held by a generator
    nobody advances. An exception in the worker is raised in the reader's thread."""
    items: queue.Queue = queue.Queue()
    gone = threading.Event()
    done = object()

    def emit(item: Any) -> bool:
        items.put(item)
        return gone.is_set()

    def work() -> None:
        try:
            produce(emit)
        except BaseException as exc:  # surfaced in the reader's thread
            items.put(exc)
        finally:
            items.put(done)

    threading.Thread(target=work, daemon=True, name="llm-generate").start()
    try:
        while (item := items.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        gone.set()


def usage_of(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    """LangChain's usage metadata from llama.cpp's two counts."""
    return {"input_tokens": prompt_tokens, "output_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


class LocalGGUFChat(BaseChatModel):
    """What both llama.cpp runtimes share: the settings of a local GGUF chat model and the chunks they stream."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_path: str
    n_ctx: int = 4096
    n_threads: int = 2
    max_tokens: int = 256
    temperature: float = 0.0
    seed: int = 42

    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "n_ctx": self.n_ctx, "temperature": self.temperature}

    def _model_file(self) -> Path:
        """The GGUF file, or an error that names the fix."""
        path = Path(self.model_path)
        if not path.is_file():
            raise ModelError(f"GGUF model not found at {path}. Run `newsqa models pull` or set NEWSQA_LLM_MODEL.")
        return path

    @staticmethod
    def _usage_chunk(usage: dict[str, int]) -> ChatGenerationChunk:
        return ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=usage))

    @staticmethod
    def _text_chunk(text: str, run_manager: CallbackManagerForLLMRun | None) -> ChatGenerationChunk:
        chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
        if run_manager:
            run_manager.on_llm_new_token(text, chunk=chunk)
        return chunk


class PiecedGGUFChat(LocalGGUFChat):
    """A runtime whose `_pieces` yields the answer's text pieces, then one dict of token counts, timings and the
    finish reason (ik_llama.cpp, OpenVINO GenAI): LangChain's whole and streamed calls are built on it."""

    def _pieces(self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any) -> Iterator[str | dict]:
        """Each runtime's own generation (abstract: ChatIkLlama and ChatOpenVinoGenAI define it)."""
        raise NotImplementedError(f"{type(self).__name__} must define _pieces")

    @staticmethod
    def _usage(info: dict) -> dict[str, int]:
        return usage_of(info["prompt_tokens"], info["completion_tokens"])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        parts: list[str] = []
        info: dict = {}
        for item in self._pieces(messages, stop, **kwargs):
            if isinstance(item, dict):
                info = item
            else:
                parts.append(item)
        message = AIMessage(content="".join(parts), usage_metadata=self._usage(info),
                            response_metadata={"finish_reason": info["finish_reason"], "timings": info})
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for item in self._pieces(messages, stop, **kwargs):
            if isinstance(item, dict):
                yield self._usage_chunk(self._usage(item))
            else:
                yield self._text_chunk(item, run_manager)


class ChatXLlamaCpp(LocalGGUFChat):
    """Chat with a local GGUF model on the CPU. One request runs at a time per model instance."""

    _server: Any = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "xllamacpp"

    def _ensure_server(self) -> Any:
        if self._server is not None:
            return self._server
        path = self._model_file()
        os.environ.setdefault("LLAMA_LOG_VERBOSITY", "1")
        import xllamacpp as xlc

        params = xlc.CommonParams()
        params.model.path = str(path)
        params.n_ctx = self.n_ctx
        params.n_parallel = 1
        params.cpuparams.n_threads = self.n_threads
        params.cpuparams_batch.n_threads = self.n_threads
        params.cache_prompt = True
        params.verbosity = -1
        params.warmup = False
        try:
            self._server = xlc.Server(params)
        except Exception as exc:  # the binding raises plain RuntimeError on a bad file
            raise ModelError(f"llama.cpp could not load {path}: {exc}") from exc
        return self._server

    def load(self) -> "ChatXLlamaCpp":
        """Load the model now instead of on the first question."""
        self._ensure_server()
        return self

    def _request(self, messages: list[BaseMessage], stop: list[str] | None, stream: bool, **kwargs: Any) -> dict:
        req: dict[str, Any] = {
            "messages": _to_openai(messages),
            "max_tokens": kwargs.get("max_tokens", self.max_tokens),
            "temperature": kwargs.get("temperature", self.temperature),
            "seed": self.seed,
            "stream": stream,
        }
        if stop:
            req["stop"] = list(stop)
        if stream:
            req["stream_options"] = {"include_usage": True}  # token counts arrive in the last chunk
        return req

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        server = self._ensure_server()
        with self._lock:
            result = server.handle_chat_completions(self._request(messages, stop, False, **kwargs))
        if "error" in result:
            raise ModelError(f"llama.cpp failed: {result['error']}")
        choice = result["choices"][0]
        usage = result.get("usage", {})
        message = AIMessage(
            content=choice["message"].get("content") or "",
            usage_metadata=usage_of(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)),
            response_metadata={"finish_reason": choice.get("finish_reason"), "timings": result.get("timings", {})},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        server = self._ensure_server()
        req = self._request(messages, stop, True, **kwargs)

        def produce(emit: Callable[[Any], bool]) -> None:
            def on_data(data: Any) -> bool:
                emit(data)
                return False  # llama.cpp's server finishes the answer; the reader's pace does not stop it

            with self._lock:
                server.handle_chat_completions(req, on_data)

        try:
            for item in threaded(produce):
                if isinstance(item, dict) and "error" in item:
                    raise ModelError(f"llama.cpp failed while streaming: {item['error']}")
                if isinstance(item, dict) and item.get("usage"):
                    usage = item["usage"]
                    yield self._usage_chunk(usage_of(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)))
                for choice in item.get("choices", []):
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        yield self._text_chunk(text, run_manager)
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(f"llama.cpp failed while streaming: {exc}") from exc
