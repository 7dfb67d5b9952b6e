"""A LangChain chat model over ik_llama.cpp (a llama.cpp fork with faster CPU matrix kernels).

The `ik-llama-cpp-python` wheel is prebuilt; with its weights repacked at load time it reads prompts about
1.5x as fast as the stock llama.cpp in `xllamacpp` on the same 2 cores (bench/RESULTS.md, tenth session).
Its Python layer is thin, so the pieces an answer needs live here: the chat template (the GGUF's own, rendered
with Jinja), reuse of the KV cache for the prompt prefix the last request shared (the fixed instructions),
greedy or seeded sampling in NumPy, stop strings, streaming with UTF-8 pieces joined, token counts.

`IkEngine` holds the native calls; `ChatIkLlama` holds the logic and is tested with a scripted engine.
"""

from __future__ import annotations

import codecs
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Protocol

import numpy as np
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, PrivateAttr

from qa.errors import ModelError
from qa.llm import _to_openai

# Used only when a GGUF carries no chat template (Qwen's ChatML, the default model's format).
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# A cached prompt is worth taking over only when it shares at least this many tokens (more than the template's
# opening, which every prompt shares); otherwise the new prompt goes to the least recently used slot.
MIN_REUSE = 32


class Engine(Protocol):
    """The native side: one context, one sequence, positions counted from 0."""

    chat_template: str | None
    n_ctx: int

    def tokenize(self, text: str) -> list[int]: ...
    def piece(self, token: int) -> bytes: ...
    def is_end(self, token: int) -> bool: ...
    def forget_from(self, position: int, seq: int) -> None: ...
    def clear(self) -> None: ...
    def feed(self, tokens: list[int], position: int, seq: int) -> None: ...
    def logits(self) -> np.ndarray: ...


def render_chat(template: str | None, messages: list[dict[str, str]]) -> str:
    """The prompt text for `messages`, as the model was trained to read it."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def fail(message: str) -> None:
        raise ModelError(f"the model's chat template refused the messages: {message}")

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = fail
    return env.from_string(template or CHATML).render(messages=messages, add_generation_prompt=True, tools=None)


def shared_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def pick(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    if temperature <= 0:
        return int(np.argmax(logits))
    scaled = (logits.astype(np.float64) - float(np.max(logits))) / temperature
    p = np.exp(scaled)
    return int(rng.choice(len(p), p=p / p.sum()))


class StopWatch:
    """Holds back text that might be the start of a stop string; cuts at the first stop string."""

    def __init__(self, stops: list[str]):
        self.stops = [s for s in stops if s]
        self.pending = ""
        self.stopped = False

    def push(self, text: str) -> str:
        self.pending += text
        for stop in self.stops:
            at = self.pending.find(stop)
            if at >= 0:
                self.stopped = True
                out, self.pending = self.pending[:at], ""
                return out
        keep = max((k for s in self.stops for k in range(1, len(s)) if self.pending.endswith(s[:k])), default=0)
        out = self.pending[: len(self.pending) - keep]
        self.pending = self.pending[len(out):]
        return out

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return out


class ChatIkLlama(BaseChatModel):
    """Chat with a local GGUF model on the CPU through ik_llama.cpp. One request runs at a time per instance."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_path: str
    n_ctx: int = 4096
    n_threads: int = 2
    max_tokens: int = 256
    temperature: float = 0.0
    seed: int = 42
    repack: bool = True  # interleave the weights' rows at load time (ik's run-time repacking): faster prompts

    _engine: Any = PrivateAttr(default=None)
    slots: int = 2  # prompts kept in the cache at once: answers and translations each keep their instructions

    _slots: list = PrivateAttr(default_factory=list)  # per slot, the tokens whose keys and values it holds
    _last_use: list = PrivateAttr(default_factory=list)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "ik_llama.cpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "n_ctx": self.n_ctx, "temperature": self.temperature}

    def _ensure_engine(self) -> Engine:
        if self._engine is None:
            path = Path(self.model_path)
            if not path.is_file():
                raise ModelError(f"GGUF model not found at {path}. Run `newsqa models pull` or set NEWSQA_LLM_MODEL.")
            from qa.ik_engine import IkEngine

            self._engine = IkEngine(path, n_ctx=self.n_ctx, n_threads=self.n_threads, repack=self.repack,
                                    seqs=self.slots)
        return self._engine

    def load(self) -> "ChatIkLlama":
        """Load the model now instead of on the first question."""
        self._ensure_engine()
        return self

    def _choose_slot(self, tokens: list[int]) -> int:
        """The slot whose cached tokens share the longest prefix with `tokens`, when that prefix is more than the
        chat template's opening; else the least recently used slot (an empty one first)."""
        if len(self._slots) != self.slots:
            self._slots, self._last_use = [[] for _ in range(self.slots)], [0.0] * self.slots
        shared = [shared_prefix(cached, tokens) for cached in self._slots]
        best = max(range(self.slots), key=lambda i: (shared[i], -self._last_use[i]))
        if shared[best] >= MIN_REUSE:
            return best
        return min(range(self.slots), key=lambda i: self._last_use[i])

    def _prefill(self, engine: Engine, slot: int, tokens: list[int]) -> int:
        """Evaluate what `tokens` does not share with the slot's cached tokens; returns how many were reused."""
        from qa.ik_engine import CacheFull

        reused = min(shared_prefix(self._slots[slot], tokens), len(tokens) - 1)  # the last one gives the logits
        engine.forget_from(reused, slot)
        self._slots[slot] = self._slots[slot][:reused]
        try:
            engine.feed(tokens[reused:], reused, slot)
        except CacheFull:  # the other slots' prompts fill the cache: drop them all and evaluate afresh
            engine.clear()
            self._slots = [[] for _ in range(self.slots)]
            reused = 0
            engine.feed(tokens, 0, slot)
        self._slots[slot] = list(tokens)
        return reused

    def _make_room(self, engine: Engine, slot: int, max_tokens: int) -> None:
        """Drop the other slots' prompts when the answer might not fit beside them."""
        if sum(map(len, self._slots)) + max_tokens <= engine.n_ctx:
            return
        for other in range(self.slots):
            if other != slot and self._slots[other]:
                engine.forget_from(0, other)
                self._slots[other] = []

    def _run(self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any) -> Iterator[str | dict]:
        """Text pieces as they come, then one dict: token counts, timings, finish reason."""
        engine = self._ensure_engine()
        max_tokens = int(kwargs.get("max_tokens", self.max_tokens))
        temperature = float(kwargs.get("temperature", self.temperature))
        tokens = engine.tokenize(render_chat(engine.chat_template, _to_openai(messages)))
        if len(tokens) + 1 > engine.n_ctx:
            raise ModelError(f"the prompt has {len(tokens)} tokens, more than the model's context of "
                             f"{engine.n_ctx}; ask with fewer passages or raise NEWSQA_LLM_CONTEXT")
        rng = np.random.default_rng(self.seed)
        with self._lock:
            slot = self._choose_slot(tokens)
            self._last_use[slot] = time.monotonic()
            start = time.perf_counter()
            try:
                reused = self._prefill(engine, slot, tokens)
                self._make_room(engine, slot, max_tokens)
                cached = self._slots[slot]
                prompt_ms = (time.perf_counter() - start) * 1000
                decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
                watch = StopWatch(list(stop or []))
                produced, finish = 0, "length"
                while produced < max_tokens and sum(map(len, self._slots)) < engine.n_ctx:
                    token = pick(engine.logits(), temperature, rng)
                    if engine.is_end(token):
                        finish = "stop"
                        break
                    produced += 1
                    text = watch.push(decoder.decode(engine.piece(token)))
                    if text:
                        yield text
                    if watch.stopped:
                        finish = "stop"
                        break
                    engine.feed([token], len(cached), slot)
                    cached.append(token)
                if not watch.stopped:
                    tail = watch.push(decoder.decode(b"", final=True))
                    tail += "" if watch.stopped else watch.flush()
                    if tail:
                        yield tail
            except BaseException:
                self._slots = [[] for _ in range(self.slots)]  # what the cache holds is unknown now
                engine.clear()
                raise
        total_ms = (time.perf_counter() - start) * 1000
        yield {"prompt_tokens": len(tokens), "completion_tokens": produced, "cached_tokens": reused,
               "prompt_ms": prompt_ms, "predicted_ms": total_ms - prompt_ms, "finish_reason": finish}

    @staticmethod
    def _usage(info: dict) -> dict[str, int]:
        return {"input_tokens": info["prompt_tokens"], "output_tokens": info["completion_tokens"],
                "total_tokens": info["prompt_tokens"] + info["completion_tokens"]}

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        parts: list[str] = []
        info: dict = {}
        for item in self._run(messages, stop, **kwargs):
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
        for item in self._run(messages, stop, **kwargs):
            if isinstance(item, dict):
                yield ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=self._usage(item)))
                continue
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=item))
            if run_manager:
                run_manager.on_llm_new_token(item, chunk=chunk)
            yield chunk
