"""What a local GGUF chat model shares with LangChain: its settings, message roles, token counts, and the
streaming of pieces that a worker thread produces (qa/llm/ik.py is the runtime built on it)."""

from __future__ import annotations

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
    """The settings of a local GGUF chat model and the chunks it streams."""

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
    finish reason (ik_llama.cpp): LangChain's whole and streamed calls are built on it."""

    def _pieces(self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any) -> Iterator[str | dict]:
        """Each runtime's own generation (abstract: ChatIkLlama defines it)."""
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
        timings = {k: v for k, v in info.items() if k != "logprobs"}
        metadata = {"finish_reason": info["finish_reason"], "timings": timings}
        if "logprobs" in info:
            metadata["logprobs"] = info["logprobs"]
        message = AIMessage(content="".join(parts), usage_metadata=self._usage(info), response_metadata=metadata)
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
                chunk = self._usage_chunk(self._usage(item))
                if "logprobs" in item:  # on the last chunk only, so merging the chunks keeps one list
                    chunk.message.response_metadata["logprobs"] = item["logprobs"]
                yield chunk
            else:
                yield self._text_chunk(item, run_manager)
