"""A LangChain chat model over OpenVINO GenAI, which reads the same GGUF file as the llama.cpp runtimes.

OpenVINO's CPU kernels use Intel's AMX tiles where the CPU has them (Xeon 4th generation and later); on such a
2-core machine it read answer prompts 2-4x as fast as ik_llama.cpp, whose prebuilt wheel stops at AVX2
(bench/RESULTS.md, twelfth session). Without AMX it is no faster than ik (eleventh session), so `llm_runtime=auto`
picks it only on AMX CPUs (`Settings.resolved_llm_runtime`).

The pipeline runs with paged attention and prefix caching: the fixed instructions of the answer prompt and of
each translation prompt stay evaluated between requests, as ik's slots keep them. Prompts are rendered here with
the GGUF's own chat template (the same text ik feeds), so both runtimes read identical tokens.

Generation is OpenVINO's slow side on such a machine (~250 ms a token against ik's ~90), so it runs with
prompt-lookup decoding when `draft_tokens` > 0: each step proposes the next few tokens by finding the last
n-gram of the text so far in the prompt and verifies them in one pass. Answers and quotes repeat the passages'
words, so whole runs of tokens are accepted at the cost of one; a proposal that fails costs about one step.
Greedy replies stay those of plain decoding (the verification keeps only tokens the model would have chosen).

With `ir_path` it loads an OpenVINO copy of the GGUF instead (qa/llm_ir.py): int8, the same weights expanded
once to 8 bits per channel (~1.6x faster generation, ~1.15x faster prompts on the AMX machine), or w8a8, which
also quantizes activations so that prompts are read with int8 AMX products (~1.6x faster again, less accurate).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterator

from langchain_core.messages import BaseMessage
from pydantic import PrivateAttr

from qa.errors import ModelError
from qa.llm import PiecedGGUFChat, _to_openai, threaded
from qa.llm_ik import StopWatch, render_chat


class ChatOpenVinoGenAI(PiecedGGUFChat):
    """Chat with a local GGUF model on the CPU through OpenVINO GenAI. One request runs at a time per instance."""

    cache_gb: int = 1  # room for the KV cache that prefix caching keeps (the default model: ~14 KB per token)
    top_k: int = 40
    top_p: float = 0.95
    draft_tokens: int = 0  # prompt-lookup decoding: tokens proposed per step from the prompt (0: off)
    draft_ngram: int = 3  # the longest n-gram looked up in the prompt to propose them
    ir_path: str | None = None  # an OpenVINO copy of the GGUF (int8 or w8a8, qa/llm_ir.py) to load instead

    _pipe: Any = PrivateAttr(default=None)
    _template: str | None = PrivateAttr(default=None)
    _eos_text: str = PrivateAttr(default="")

    @property
    def _llm_type(self) -> str:
        return "openvino_genai"

    def _ensure_pipe(self) -> Any:
        """The pipeline, loaded once; call with the lock held."""
        if self._pipe is not None:
            return self._pipe
        path = self._weights()
        try:
            import openvino_genai as og
        except ImportError as exc:
            raise ModelError(f"the OpenVINO runtime is not installed ({exc}): pip install -e '.[openvino]', or "
                             "set NEWSQA_LLM_RUNTIME=ik") from exc
        scheduler = og.SchedulerConfig()
        scheduler.enable_prefix_caching = True
        scheduler.cache_size = self.cache_gb
        properties: dict[str, Any] = {"INFERENCE_NUM_THREADS": self.n_threads}
        if self.draft_tokens > 0:
            properties["prompt_lookup"] = True
        try:
            pipe = og.LLMPipeline(str(path), "CPU", scheduler_config=scheduler, **properties)
        except RuntimeError as exc:
            raise ModelError(f"OpenVINO GenAI could not load {path} ({exc}); set NEWSQA_LLM_RUNTIME=ik to run it "
                             "with ik_llama.cpp") from exc
        tokenizer = pipe.get_tokenizer()
        self._template = tokenizer.chat_template or None
        self._eos_text = tokenizer.get_eos_token()
        self._pipe = pipe
        return pipe

    def _weights(self) -> Path:
        """What the pipeline loads: the OpenVINO copy's folder when one is named, else the GGUF; errors name the fix."""
        if not self.ir_path:
            return self._model_file()
        from qa.llm_ir import IR_GRAPH, KINDS

        folder = Path(self.ir_path)
        if not (folder / IR_GRAPH).is_file():
            fix = "quantize-llm --w8a8" if folder.name.endswith(KINDS["w8a8"]) else "quantize-llm"
            raise ModelError(f"no OpenVINO copy of the LLM at {folder}: run `newsqa models {fix}`, or set "
                             "NEWSQA_LLM_OPENVINO_WEIGHTS=gguf")
        return folder

    def load(self) -> "ChatOpenVinoGenAI":
        """Load the model now instead of on the first question, and run one token through it: OpenVINO prepares
        its kernels on the first request (about 10 s on 2 cores), which the first question should not wait for."""
        with self._lock:
            pipe = self._ensure_pipe()
            config = self._config(max_tokens=1)
            pipe.generate([render_chat(self._template, [{"role": "user", "content": "Hello."}], self._eos_text)],
                          config)
        return self

    def _config(self, **kwargs: Any) -> Any:
        import openvino_genai as og

        config = og.GenerationConfig()
        config.max_new_tokens = int(kwargs.get("max_tokens", self.max_tokens))
        config.apply_chat_template = False  # the prompt is rendered here, with the GGUF's template
        temperature = float(kwargs.get("temperature", self.temperature))
        config.do_sample = temperature > 0
        if self.draft_tokens > 0:
            # A request may ask for fewer proposals (`draft_tokens=1`: replies that copy little, such as
            # translations); a pipeline built for prompt lookup refuses 0.
            drafts = max(1, min(int(kwargs.get("draft_tokens", self.draft_tokens)), self.draft_tokens))
            config.num_assistant_tokens, config.max_ngram_size = drafts, self.draft_ngram
        if config.do_sample:
            config.temperature, config.top_k, config.top_p = temperature, self.top_k, self.top_p
            config.rng_seed = self.seed
        return config

    def _produce(self, messages: list[BaseMessage], stop: list[str] | None, emit: Callable[[Any], bool],
                 **kwargs: Any) -> None:
        """Emit text pieces as they come, then one dict of token counts, timings and the finish reason. The
        pipeline calls back with each piece from inside `generate`; a stop string or a reader gone ends it."""
        import openvino_genai as og

        config = self._config(**kwargs)
        watch = StopWatch(list(stop or []))
        state = {"gone": False}

        def on_text(text: str) -> Any:
            out = watch.push(text)
            if out and emit(out):
                state["gone"] = True
            return og.StreamingStatus.STOP if watch.stopped or state["gone"] else og.StreamingStatus.RUNNING

        with self._lock:
            pipe = self._ensure_pipe()
            prompt = render_chat(self._template, _to_openai(messages), self._eos_text)
            start = time.perf_counter()
            try:
                # a list of one prompt: the result then carries the token counts (a bare string returns text)
                result = pipe.generate([prompt], config, streamer=on_text)
            except RuntimeError as exc:
                raise ModelError(f"OpenVINO GenAI failed while answering: {exc}") from exc
        if not watch.stopped and not state["gone"]:
            tail = watch.flush()
            if tail:
                emit(tail)
        metrics = result.perf_metrics
        produced = int(metrics.get_num_generated_tokens())
        prompt_ms = float(metrics.get_ttft().mean)
        finish = "stop" if watch.stopped or produced < config.max_new_tokens else "length"
        emit({"prompt_tokens": int(metrics.get_num_input_tokens()), "completion_tokens": produced,
              "prompt_ms": prompt_ms, "generation_ms": (time.perf_counter() - start) * 1000 - prompt_ms,
              "finish_reason": finish})

    def _pieces(self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any) -> Iterator[str | dict]:
        return threaded(lambda emit: self._produce(messages, stop, emit, **kwargs))
