"""A LangChain chat model over ik_llama.cpp (a llama.cpp fork with faster CPU matrix kernels).

The `ik-llama-cpp-python` wheel is prebuilt; with its weights repacked at load time it reached the first token
of an 849-token answer prompt in 0.50x the time of stock llama.cpp (the xllamacpp wheel) on 2 AVX2 cores, with
the same replies (bench/RESULTS.md, 2026-12-03, e2079de). It is the one local runtime: a build compiled for AVX-512 VNNI
CPUs answered in 0.8x the wheel's time but took 5 minutes to compile at install and does nothing on AVX2.
Its Python layer is thin, so the pieces an answer needs live here: the chat template (the GGUF's own, rendered
with Jinja), reuse of the KV cache for the prompt prefix an earlier request shared (the fixed instructions;
four slots, so answers and each language's question translations keep theirs), greedy or seeded top-k/top-p sampling in
NumPy, stop strings, streaming with UTF-8 pieces joined, token counts.

`IkEngine` (qa/llm/ik_engine.py) holds the native calls; `ChatIkLlama` holds the logic and is tested with a
scripted engine.
"""

from __future__ import annotations

import codecs
import functools
import time
from typing import Any, Callable, Iterator, Protocol

import numpy as np
from langchain_core.messages import BaseMessage
from pydantic import PrivateAttr

from qa.errors import ModelError
from qa.llm.base import PiecedGGUFChat, _to_openai, threaded

# Used only when a GGUF carries no chat template (Qwen's ChatML, the default model's format).
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# A cached prompt is worth taking over only when it shares at least this many tokens (more than the template's
# opening, which every prompt shares); otherwise the new prompt goes to the least recently used slot.
MIN_REUSE = 32


class CacheFull(ModelError):
    """The KV cache has no free run of cells for a batch: other cached prompts must go first."""


class Engine(Protocol):
    """The native side: one context whose cache holds several sequences (slots), positions counted from 0."""

    chat_template: str | None
    eos_text: str
    n_ctx: int

    def tokenize(self, text: str) -> list[int]: ...
    def piece(self, token: int) -> bytes: ...
    def is_end(self, token: int) -> bool: ...
    def forget_from(self, position: int, seq: int) -> None: ...
    def clear(self) -> None: ...
    def feed(self, tokens: list[int], position: int, seq: int) -> None: ...  # raises CacheFull
    def logits(self) -> np.ndarray: ...


@functools.lru_cache(maxsize=8)
def _compiled(template: str):
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def fail(message: str) -> None:
        raise ModelError(f"the model's chat template refused the messages: {message}")

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.globals["raise_exception"] = fail
    return env.from_string(template)


def render_chat(template: str | None, messages: list[dict[str, str]], eos_text: str = "") -> str:
    """The prompt text for `messages`, as the model was trained to read it. `bos_token` renders empty: the
    tokenizer adds a BOS where the model's vocabulary asks for one."""
    from jinja2 import TemplateError

    try:
        return _compiled(template or CHATML).render(messages=messages, add_generation_prompt=True, tools=None,
                                                    bos_token="", eos_token=eos_text)
    except TemplateError as exc:
        raise ModelError(f"the model's chat template failed ({exc}); use a GGUF whose chat template is standard "
                         "Jinja, such as the default model") from exc


def shared_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def pick(logits: np.ndarray, temperature: float, rng: np.random.Generator, top_k: int = 40,
         top_p: float = 0.95) -> int:
    """Greedy at temperature 0; else a draw among the `top_k` likeliest tokens cut to `top_p` of the mass
    (llama.cpp's defaults)."""
    if temperature <= 0:
        return int(np.argmax(logits))
    k = min(top_k, len(logits))
    best = np.argpartition(logits, -k)[-k:]
    best = best[np.argsort(logits[best])[::-1]]
    p = np.exp((logits[best].astype(np.float64) - float(logits[best[0]])) / temperature)
    p /= p.sum()
    keep = int(np.searchsorted(np.cumsum(p), top_p)) + 1
    p = p[:keep] / p[:keep].sum()
    return int(best[rng.choice(keep, p=p)])


def token_logprobs(logits: np.ndarray, token: int, top: int, text: Callable[[int], str]) -> dict[str, Any]:
    """The chosen token's log-probability and the `top` likeliest alternatives, in the shape of OpenAI's
    `logprobs.content` items (what LangChain's ChatOpenAI returns too)."""
    shifted = logits.astype(np.float64) - float(logits.max())
    logp = shifted - np.log(np.exp(shifted).sum())
    entry: dict[str, Any] = {"token": text(token), "logprob": float(logp[token])}
    if top > 0:
        best = np.argpartition(logp, -top)[-top:]
        best = best[np.argsort(logp[best])[::-1]]
        entry["top_logprobs"] = [{"token": text(int(t)), "logprob": float(logp[t])} for t in best]
    return entry


class StopWatch:
    """Holds back text that might be the start of a stop string; cuts at the earliest stop string."""

    def __init__(self, stops: list[str]):
        self.stops = [s for s in stops if s]
        self.pending = ""
        self.stopped = False

    def push(self, text: str) -> str:
        self.pending += text
        hits = [at for at in (self.pending.find(s) for s in self.stops) if at >= 0]
        if hits:
            self.stopped = True
            out, self.pending = self.pending[: min(hits)], ""
            return out
        keep = max((k for s in self.stops for k in range(1, len(s)) if self.pending.endswith(s[:k])), default=0)
        out = self.pending[: len(self.pending) - keep]
        self.pending = self.pending[len(out):]
        return out

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return out


class ChatIkLlama(PiecedGGUFChat):
    """Chat with a local GGUF model on the CPU through ik_llama.cpp. One request runs at a time per instance."""

    repack: bool = True  # interleave the weights' rows at load time (ik's run-time repacking): faster prompts
    # prompts kept in the cache at once (they share its n_ctx cells): answers, and the translation prompt of each
    # of the corpus's other languages (data/sample: French and Spanish), each keep their instructions evaluated
    slots: int = 4

    _engine: Any = PrivateAttr(default=None)
    _slots: list = PrivateAttr(default_factory=list)  # per slot, the tokens whose keys and values it holds
    _last_use: list = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "ik_llama.cpp"

    def _ensure_engine(self) -> Engine:
        """The engine, loaded once; call with the lock held."""
        if self._engine is None:
            path = self._model_file()
            from qa.llm.ik_engine import IkEngine

            self._engine = IkEngine(path, n_ctx=self.n_ctx, n_threads=self.n_threads, repack=self.repack,
                                    seqs=self.slots)
        if len(self._slots) != self.slots:
            self._slots, self._last_use = [[] for _ in range(self.slots)], [0.0] * self.slots
        return self._engine

    def load(self) -> "ChatIkLlama":
        """Load the model now instead of on the first question."""
        with self._lock:
            self._ensure_engine()
        return self

    def _choose_slot(self, tokens: list[int]) -> int:
        """The slot whose cached tokens share the longest prefix with `tokens`, when that prefix is more than the
        chat template's opening; else the least recently used slot (an empty one first)."""
        shared = [shared_prefix(cached, tokens) for cached in self._slots]
        best = max(range(self.slots), key=lambda i: (shared[i], -self._last_use[i]))
        if shared[best] >= MIN_REUSE:
            return best
        return min(range(self.slots), key=lambda i: self._last_use[i])

    def _drop_others(self, engine: Engine, slot: int) -> None:
        for other in range(self.slots):
            if other != slot and self._slots[other]:
                engine.forget_from(0, other)
                self._slots[other] = []

    def _prefill(self, engine: Engine, slot: int, tokens: list[int], max_tokens: int) -> int:
        """Evaluate what `tokens` does not share with the slot's cached tokens; returns how many were reused.
        Other slots' prompts make way when the prompt and its answer would not fit beside them."""
        reused = min(shared_prefix(self._slots[slot], tokens), len(tokens) - 1)  # the last one gives the logits
        engine.forget_from(reused, slot)
        self._slots[slot] = self._slots[slot][:reused]
        others = sum(len(cached) for i, cached in enumerate(self._slots) if i != slot)
        if others + len(tokens) + max_tokens > engine.n_ctx:
            self._drop_others(engine, slot)
        try:
            engine.feed(tokens[reused:], reused, slot)
        except CacheFull:  # no free run of cells beside the other prompts: they go, this slot's prefix stays
            engine.forget_from(reused, slot)
            self._drop_others(engine, slot)
            try:
                engine.feed(tokens[reused:], reused, slot)
            except CacheFull:  # fragmented even so: start from an empty cache
                engine.clear()
                self._slots = [[] for _ in range(self.slots)]
                reused = 0
                engine.feed(tokens, 0, slot)
        self._slots[slot] = list(tokens)
        return reused

    def _run(self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any) -> Iterator[str | dict]:
        """Text pieces as they come, then one dict: token counts, timings, finish reason. Holds the lock while
        it runs; closing it early (GeneratorExit) keeps the cache, whose bookkeeping is exact at each yield."""
        max_tokens = int(kwargs.get("max_tokens", self.max_tokens))
        # logprobs / top_logprobs: as OpenAI's API takes them (a chain asks for them with `llm.bind(logprobs=True)`)
        want_logprobs = bool(kwargs.get("logprobs"))
        top_logprobs = int(kwargs.get("top_logprobs") or 0)
        logprobs: list[dict[str, Any]] = []
        temperature = float(kwargs.get("temperature", self.temperature))
        rng = np.random.default_rng(self.seed)
        with self._lock:
            engine = self._ensure_engine()
            tokens = engine.tokenize(render_chat(engine.chat_template, _to_openai(messages), engine.eos_text))
            if len(tokens) + 1 > engine.n_ctx:
                raise ModelError(f"the prompt has {len(tokens)} tokens, more than the model's context of "
                                 f"{engine.n_ctx}; ask with fewer passages or raise NEWSQA_LLM_CONTEXT")
            slot = self._choose_slot(tokens)
            self._last_use[slot] = time.monotonic()
            start = time.perf_counter()
            try:
                reused = self._prefill(engine, slot, tokens, max_tokens)
                cached = self._slots[slot]
                prompt_ms = (time.perf_counter() - start) * 1000
                decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
                watch = StopWatch(list(stop or []))
                produced, finish = 0, "length"
                while len(cached) < engine.n_ctx:
                    logits = engine.logits()
                    token = pick(logits, temperature, rng)
                    if engine.is_end(token):
                        finish = "stop"
                        break
                    if want_logprobs:
                        logprobs.append(token_logprobs(
                            logits, token, top_logprobs,
                            lambda t: engine.piece(t).decode("utf-8", errors="replace")))
                    produced += 1
                    text = watch.push(decoder.decode(engine.piece(token)))
                    if text:
                        yield text
                    if watch.stopped:
                        finish = "stop"
                        break
                    if produced >= max_tokens:
                        break
                    engine.feed([token], len(cached), slot)
                    cached.append(token)
                if not watch.stopped:
                    tail = watch.push(decoder.decode(b"", final=True))
                    tail += "" if watch.stopped else watch.flush()
                    if tail:
                        yield tail
            except GeneratorExit:
                raise
            except BaseException:
                self._slots = [[] for _ in range(self.slots)]  # what the cache holds is unknown now
                engine.clear()
                raise
        total_ms = (time.perf_counter() - start) * 1000
        yield {"prompt_tokens": len(tokens), "completion_tokens": produced, "cached_tokens": reused,
               "prompt_ms": prompt_ms, "generation_ms": total_ms - prompt_ms, "finish_reason": finish,
               **({"logprobs": {"content": logprobs}} if want_logprobs else {})}

    def _pieces(self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any) -> Iterator[str | dict]:
        """`_run` in a worker thread: a reader that stops reading (a client gone) never keeps the lock; the
        worker notices at the next token and ends the generation."""
        def produce(emit: Callable[[Any], bool]) -> None:
            for item in self._run(messages, stop, **kwargs):
                if emit(item):
                    break

        return threaded(produce)
